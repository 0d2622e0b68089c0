"""What a finished study shows: per-trial tables, parameter importances, the best learning rate
per batch size, and the three figures (optimization history, importances, LR × batch size)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import optuna.visualization.matplotlib as ovm
from optuna.trial import TrialState

from genlab.config.tune import TuneConfig
from genlab.plotting import plt, save_figure
from genlab.slopes import loglog_fit
from genlab.stages.tune.study import EPOCHS, REASON, hp_from_params, status


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
    """Least-squares slope of log(y) on log(x) (`genlab.slopes.loglog_fit`, the fit lr_range
    uses): 1 = linear scaling, 0.5 = square-root scaling. None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    return loglog_fit([x for x, _ in points], [y for _, y in points])["slope"]


# fANOVA needs a few complete trials to fit its forest at all; below this it says nothing.
_FANOVA_MIN_TRIALS = 3
# Optuna searches log2 of the batch size (powers of two); figures and results say batch_size.
_SHOWN_AS = {"batch_size_log2": "batch_size"}


def importances(study: optuna.Study, seed: int) -> dict[str, float]:
    """fANOVA importance of each searched parameter over the complete trials (sums to 1);
    empty when there are too few complete trials to tell."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < _FANOVA_MIN_TRIALS:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {_SHOWN_AS.get(k, k): float(v) for k, v in raw.items()}


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


@contextmanager
def _optuna_plot() -> Iterator[None]:
    """Optuna's matplotlib plots are experimental (a warning each call) and switch the global
    style to ggplot; both stay inside this block, so save the figure within it."""
    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def history_figure(study: optuna.Study, metric: str, direction: str, path: str | Path) -> Path:
    """Optuna's optimization history (complete trials, best so far), plus what it leaves out:
    pruned trials at the last value they reported (crosses) and diverged trials (lines)."""
    with _optuna_plot():
        ax = ovm.plot_optimization_history(study, target_name=metric)
        trials = study.get_trials(deepcopy=False)
        pruned = [
            (t.number, t.intermediate_values[max(t.intermediate_values)])
            for t in trials
            if status(t) == "pruned" and t.intermediate_values
        ]
        pruned = [(n, v) for n, v in pruned if math.isfinite(v)]
        if pruned:
            ax.scatter(*zip(*pruned, strict=True), marker="x", color="0.45", label="pruned (last)")
        diverged = [t.number for t in trials if status(t) == "diverged"]
        for i, number in enumerate(diverged):
            ax.axvline(number, color="C1", alpha=0.5, lw=1, label="diverged" if i == 0 else None)
        ax.set_title(f"Optimization history ({direction} {metric})")
        ax.legend(fontsize=8)
        ax.figure.set_size_inches(6.5, 4)
        return save_figure(ax.figure, path)


def importance_figure(
    study: optuna.Study, seed: int, path: str | Path, complete: int, reliable: bool
) -> Path:
    """Optuna's importance bars from the seeded fANOVA evaluator `importances` uses (same
    numbers), titled with the complete trials they come from; grey and titled as noise where
    there are too few of them (`importance_record`)."""
    title = importance_title(complete, reliable)
    with _optuna_plot():
        ax = None
        if complete >= _FANOVA_MIN_TRIALS:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ax = ovm.plot_param_importances(study, evaluator=evaluator)
            except (RuntimeError, ValueError, ZeroDivisionError):
                plt.close("all")
        if ax is None:
            fig, ax = plt.subplots(figsize=(5.5, 1.5))
            ax.text(0.5, 0.5, "too few complete trials", ha="center", va="center")
            ax.set_axis_off()
            ax.set_title(title)
            return save_figure(fig, path)
        labels = [_SHOWN_AS.get(t.get_text(), t.get_text()) for t in ax.get_yticklabels()]
        ax.set_yticks(ax.get_yticks(), labels)
        if not reliable:
            for bar in ax.patches:
                bar.set_color("0.6")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.set_xlabel("fANOVA importance (sums to 1)")
        ax.set_title("", loc="left")  # Optuna's title, replaced by ours (centred)
        ax.set_title(title, fontsize=10)
        ax.figure.set_size_inches(6, 1.4 + 0.5 * len(labels))
        return save_figure(ax.figure, path)


def importance_title(complete: int, reliable: bool) -> str:
    if reliable:
        return f"Hyperparameter importance from {complete} complete trials"
    return f"Hyperparameter importance from {complete} complete trials:\nnoise, not a ranking"


def landscape_figure(
    rows: list[dict], metric: str, direction: str, slope: float | None, path: str | Path
) -> Path:
    """Every trial at (learning rate, batch size), coloured by its value; stars mark the best
    learning rate of each batch size, the question being whether it rises with batch size.

    Ours, not Optuna's: `plot_contour` interpolates a surface between a few dozen trials (it
    invents the landscape between them) and, like `plot_slice`, shows neither pruned and
    diverged trials nor the best lr per batch size and its fitted slope, which this answers."""
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
