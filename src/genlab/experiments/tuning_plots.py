"""What a finished study shows: per-trial tables, parameter importances, the best learning rate
per batch size, and the three figures (optimization history, importances, LR × batch size)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from genlab.config.tune import TuneConfig
from genlab.experiments.tuning import EPOCHS, REASON, hp_from_params, status
from genlab.plotting import plt, save_figure


def trial_rows(study: optuna.Study, tune: TuneConfig) -> list[dict[str, object]]:
    """One row per finished or interrupted trial: its status, value and hyperparameters.

    `value` is the objective of complete trials; `last` the last value reported to the pruner
    (pruned trials have no objective, only the epoch where they stopped)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        steps = sorted(t.intermediate_values)
        hp = hp_from_params(t.params)
        rows.append(
            {
                "trial": t.number,
                "status": status(t),
                "value": float(t.value) if t.state == TrialState.COMPLETE else math.nan,
                "last": float(t.intermediate_values[steps[-1]]) if steps else math.nan,
                "epochs": int(t.user_attrs.get(EPOCHS, len(steps))),
                "lr": float(hp.get("lr", math.nan)),
                "batch_size": int(hp.get("batch_size", 0)),
                "strength": float(hp.get(tune.space.penalty, math.nan)),
                **({"dropout": float(hp.get("dropout", math.nan))} if tune.space.dropout else {}),
                "reason": str(t.user_attrs.get(REASON, "")),
            }
        )
    return rows


def _better(direction: str):
    return max if direction == "maximize" else min


def history_rows(rows: list[dict], direction: str) -> list[dict[str, float]]:
    """Complete trials in order, with the best value found so far (the optimization history)."""
    out, best = [], None
    pick = _better(direction)
    for r in sorted(rows, key=lambda r: r["trial"]):
        if r["status"] != "complete":
            continue
        best = r["value"] if best is None else pick(best, r["value"])
        out.append({"trial": r["trial"], "value": r["value"], "best_so_far": best})
    return out


def best_lr_per_batch(rows: list[dict], direction: str) -> list[dict[str, float]]:
    """For each batch size, the learning rate of its best complete trial."""
    by_bs: dict[int, dict] = {}
    better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)
    for r in rows:
        if r["status"] != "complete":
            continue
        cur = by_bs.get(r["batch_size"])
        if cur is None or better(r["value"], cur["value"]):
            by_bs[r["batch_size"]] = r
    return [
        {"batch_size": bs, "lr": by_bs[bs]["lr"], "value": by_bs[bs]["value"]}
        for bs in sorted(by_bs)
    ]


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x): 1 = linear scaling, 0.5 = square-root scaling.
    None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    lx = [math.log(x) for x, _ in points]
    ly = [math.log(y) for _, y in points]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sxx


def importances(study: optuna.Study, seed: int) -> dict[str, float]:
    """fANOVA importance of each searched parameter over the complete trials (sums to 1);
    empty when there are too few complete trials to tell."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    names = {"batch_size_log2": "batch_size"}
    return {names.get(k, k): float(v) for k, v in raw.items()}


def importance_record(study: optuna.Study, seed: int, min_trials: int) -> dict[str, object]:
    """The results' importance keys: the fANOVA values, how many complete trials they come
    from, and whether that is enough (`tune.min_trials_for_importance`) to read them as a
    ranking. Below it they are noise: on the 5 complete trials of a default study, 20 fANOVA
    seeds gave 5 of the 6 possible orders of its 3 parameters."""
    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return {
        "importance": importances(study, seed),
        "importance_reliable": n >= min_trials,
        "importance_trials": n,
        "importance_min_trials": min_trials,
    }


# --------------------------------------------------------------------------------- figures


def history_figure(rows: list[dict], metric: str, direction: str, path: str | Path) -> Path:
    """Objective per trial (complete: dots; pruned: last reported value, crosses) and the best
    so far."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    done = [r for r in rows if r["status"] == "complete"]
    pruned = [r for r in rows if r["status"] == "pruned" and math.isfinite(r["last"])]
    ax.scatter([r["trial"] for r in done], [r["value"] for r in done], label="complete", zorder=3)
    ax.scatter(
        [r["trial"] for r in pruned],
        [r["last"] for r in pruned],
        marker="x",
        color="0.55",
        label="pruned (last reported)",
    )
    hist = history_rows(rows, direction)
    if hist:  # extended to the last trial: the best stays the best until beaten
        last = max(r["trial"] for r in rows)
        ax.step(
            [h["trial"] for h in hist] + [last],
            [h["best_so_far"] for h in hist] + [hist[-1]["best_so_far"]],
            where="post",
            color="C3",
            label="best so far",
        )
    for r in rows:
        if r["status"] == "diverged":
            ax.axvline(r["trial"], color="C1", alpha=0.4, lw=1)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimization history ({direction} {metric})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def importance_figure(
    imp: dict[str, float],
    path: str | Path,
    complete: int | None = None,
    reliable: bool = True,
) -> Path:
    """The fANOVA bars, titled with the complete trials they come from; grey and titled as
    noise where there are too few of them (`importance_record`)."""
    fig, ax = plt.subplots(figsize=(5.5, 0.7 + 0.5 * max(1, len(imp))))
    if imp:
        names = sorted(imp, key=imp.get)
        ax.barh(names, [imp[n] for n in names], color="C0" if reliable else "0.6")
        ax.set_xlabel("fANOVA importance (sums to 1)")
    else:
        ax.text(0.5, 0.5, "too few complete trials", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(importance_title(complete, reliable))
    return save_figure(fig, path)


def importance_title(complete: int | None, reliable: bool) -> str:
    if complete is None:
        return "Hyperparameter importance"
    if reliable:
        return f"Hyperparameter importance from {complete} complete trials"
    return f"Hyperparameter importance from {complete} complete trials:\nnoise, not a ranking"


def landscape_figure(
    rows: list[dict], metric: str, direction: str, slope: float | None, path: str | Path
) -> Path:
    """Every trial at (learning rate, batch size), coloured by its value; stars mark the best
    learning rate of each batch size, the question being whether it rises with batch size."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    done = [r for r in rows if r["status"] == "complete"]
    if done:
        sc = ax.scatter(
            [r["lr"] for r in done],
            [r["batch_size"] for r in done],
            c=[r["value"] for r in done],
            cmap="viridis" if direction == "maximize" else "viridis_r",
            s=60,
            edgecolors="k",
            linewidths=0.4,
            zorder=3,
        )
        fig.colorbar(sc, ax=ax, label=f"{metric} (complete trials)")
    for state, marker, color in (("pruned", "x", "0.55"), ("diverged", "X", "C3")):
        sel = [r for r in rows if r["status"] == state]
        if sel:
            ax.scatter(
                [r["lr"] for r in sel],
                [r["batch_size"] for r in sel],
                marker=marker,
                color=color,
                label=state,
            )
    best = best_lr_per_batch(rows, direction)
    if best:
        ax.plot(
            [b["lr"] for b in best],
            [b["batch_size"] for b in best],
            "*-",
            color="C3",
            ms=14,
            label="best lr per batch size",
            zorder=4,
        )
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("batch size")
    title = "Learning rate × batch size"
    if slope is not None:
        title += f": d log(best lr) / d log(batch) = {slope:.2f}"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)
