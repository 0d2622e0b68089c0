"""Figures of the regularization study: per-variant train/test curves and final errors."""

from __future__ import annotations

import math
from pathlib import Path

from genlab.plotting import plt, save_figure


def _error_name(rows: list[dict]) -> tuple[str, str]:
    """(key suffix, label): error = 1 − accuracy for classification, else the loss."""
    if rows and "train/acc" in rows[0]:
        return "acc", "error (1 − accuracy)"
    return "loss", "loss"


def regularization_curves(results, path: str | Path, seed: int | None = None) -> Path:
    """One panel per variant: train and test loss per epoch, the unregularized run in grey.

    The marker is the reported epoch (last, or best-val for early stopping). A log axis shows
    the training loss heading to zero.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(results)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.0 * rows), sharex=True, sharey=True, squeeze=False
    )
    base = next(r for r in results if r.plan.name == "none")
    for ax, r in zip(axes.flat, results, strict=False):
        if r is not base:
            ep = [h["epoch"] for h in base.history]
            ax.plot(ep, [h["train/loss"] for h in base.history], color="0.75", lw=1)
            ax.plot(ep, [h["test/loss"] for h in base.history], color="0.75", lw=1, ls="--")
        ep = [h["epoch"] for h in r.history]
        ax.plot(ep, [h["train/loss"] for h in r.history], color="C0", label="train/loss")
        ax.plot(ep, [h["test/loss"] for h in r.history], color="C3", ls="--", label="test/loss")
        if r.final:
            ax.plot(
                [r.reported_epoch] * 2, [r.final["train/loss"], r.final["test/loss"]], "ko", ms=3
            )
        ax.set_title(r.plan.name, fontsize=10)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss")
    axes.flat[0].legend(fontsize=8)
    which = f" (seed {seed})" if seed is not None else ""
    fig.suptitle(
        f"Train (solid) and test (dashed) loss per variant{which}; grey: no regularization"
    )
    return save_figure(fig, path, dpi=100)


def regularization_summary(rows: list[dict], path: str | Path) -> Path:
    """Final train and test error per variant, side by side, with the gap between them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key, label = _error_name(rows)
    names = [r["variant"] for r in rows]

    def err(r: dict, split: str) -> float:
        v = r.get(f"{split}/{key}", math.nan)
        v = math.nan if v is None else float(v)
        return 1.0 - v if key == "acc" else v

    def spread(r: dict, split: str) -> float:  # std over seeds (NaN with one seed: no bar)
        v = r.get(f"{split}/{key}_std", math.nan)
        return math.nan if v is None else float(v)

    train = [err(r, "train") for r in rows]
    test = [err(r, "test") for r in rows]
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    bars = {"height": 0.4, "capsize": 2}
    ax.barh([i - 0.2 for i in y], train, xerr=[spread(r, "train") for r in rows], color="C0",
            label=f"train {label}", **bars)
    ax.barh([i + 0.2 for i in y], test, xerr=[spread(r, "test") for r in rows], color="C3",
            label=f"test {label}", **bars)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    seeds = rows[0].get("seeds", 1) if rows else 1
    ax.set_title(f"Final train vs test per variant: mean ± std over {seeds} seeds")
    return save_figure(fig, path, dpi=100)
