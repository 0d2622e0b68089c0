"""The study's three figures: optimization history, hyperparameter importances, and learning
rate × batch size. They draw what `results` computed; none recomputes a number."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import optuna.visualization.matplotlib as ovm

from genlab.plotting import plt, save_figure
from genlab.stages.tune.results import best_lr_per_batch


@contextmanager
def _optuna_plot() -> Iterator[None]:
    """Optuna's matplotlib plots are experimental (a warning each call) and switch the global
    style to ggplot; both stay inside this block, so save the figure within it."""
    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def history_figure(
    study: optuna.Study, rows: list[dict], metric: str, direction: str, path: str | Path
) -> Path:
    """Optuna's optimization history (complete trials, best so far), plus what it leaves out:
    pruned trials at the last value they reported (crosses) and diverged trials (lines), both
    read from `results.trial_rows`."""
    with _optuna_plot():
        ax = ovm.plot_optimization_history(study, target_name=metric)
        pruned = [
            (r["trial"], r["last"])
            for r in rows
            if r["status"] == "pruned" and math.isfinite(r["last"])
        ]
        if pruned:
            ax.scatter(*zip(*pruned, strict=True), marker="x", color="0.45", label="pruned (last)")
        diverged = [r["trial"] for r in rows if r["status"] == "diverged"]
        for i, number in enumerate(diverged):
            ax.axvline(number, color="C1", alpha=0.5, lw=1, label="diverged" if i == 0 else None)
        ax.set_title(f"Optimization history ({direction} {metric})")
        ax.legend(fontsize=8)
        ax.figure.set_size_inches(6.5, 4)
        return save_figure(ax.figure, path)


class _Recorded(optuna.importance.BaseImportanceEvaluator):
    """Hands Optuna's importance plot the numbers `results.importances` already computed, so
    the figure shows exactly those without fitting fANOVA's forest a second time."""

    def __init__(self, importance: dict[str, float]) -> None:
        self.importance = dict(importance)

    def evaluate(self, study, params=None, *, target=None) -> dict[str, float]:
        return dict(self.importance)


def importance_figure(study: optuna.Study, record: dict, path: str | Path) -> Path:
    """Optuna's importance bars for the importances `record` holds (`results.importance_record`),
    titled with the complete trials they come from; grey and titled as noise where there are
    too few of them to rank. Optuna's plot needs the study only to find its complete trials."""
    importance = record["importance"]
    complete, reliable = record["importance_trials"], record["importance_reliable"]
    title = importance_title(complete, reliable)
    with _optuna_plot():
        if not importance:  # too few complete trials for fANOVA (`results.importances`)
            fig, ax = plt.subplots(figsize=(5.5, 1.5))
            ax.text(0.5, 0.5, "too few complete trials", ha="center", va="center")
            ax.set_axis_off()
            ax.set_title(title)
            return save_figure(fig, path)
        ax = ovm.plot_param_importances(study, evaluator=_Recorded(importance))
        labels = [t.get_text() for t in ax.get_yticklabels()]
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
