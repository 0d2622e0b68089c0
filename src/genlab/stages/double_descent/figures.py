"""Figures of the double-descent study: error and loss over width, error over epochs.

Every curve is the mean over the K seeds with a band of ± one standard deviation; the seeds
themselves are drawn as small dots, so a reader sees how much of a bump is seed noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.plotting import plt, save_figure
from genlab.stages.double_descent.study import DoubleDescentResult, Measure, Reading

COLORS = {"train": "C0", "test": "C3"}


def _band(ax, x, values: list[np.ndarray], color: str, label: str, dots: bool = True) -> None:
    v = np.stack(values)  # (points, K)
    mean = v.mean(axis=1)
    std = v.std(axis=1, ddof=1) if v.shape[1] > 1 else np.zeros_like(mean)
    ax.plot(x, mean, "-o", ms=3, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    if dots:
        for k in range(v.shape[1]):
            ax.plot(x, v[:, k], ".", ms=2, color=color, alpha=0.5)


def _marks(ax, result: DoubleDescentResult, r: Reading) -> None:
    """The interpolation threshold as a line; classical minimum and peak as labelled points."""
    widths = [w.width for w in result.widths]
    test = result.mean("test/error")
    if r.threshold is not None:
        ax.axvline(
            widths[r.threshold],
            color="grey",
            ls="--",
            lw=1,
            label=f"interpolation threshold (train error ≤ {result.cfg.interpolation_tol:g})",
        )
    for index, text, marker in ((r.classical_min, "classical minimum", "v"), (r.peak, "peak", "^")):
        if index is not None:
            ax.plot(widths[index], test[index], marker, ms=9, mfc="none", color="k")
            ax.annotate(
                f"{text}\n{test[index]:.3f}",
                (widths[index], test[index]),
                textcoords="offset points",
                xytext=(0, 10 if marker == "^" else -26),
                ha="center",
                fontsize=7,
            )


def plot_width(result: DoubleDescentResult, path: str | Path) -> Path:
    """Left: 0-1 error over width (train on noisy labels, test on clean); right: the losses."""
    r = result.reading()
    widths = [w.width for w in result.widths]
    fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for split in ("train", "test"):
        errors = [w.final.values()[f"{split}/error"] for w in result.widths]
        losses = [w.final.values()[f"{split}/loss"] for w in result.widths]
        what = "noisy labels" if split == "train" else "clean labels"
        _band(ax_err, widths, errors, COLORS[split], f"{split} error ({what})")
        _band(ax_loss, widths, losses, COLORS[split], f"{split} cross-entropy")
    ax_err.axhline(
        result.cfg.label_noise, color="C0", ls=":", lw=1, label="fraction of corrupted labels"
    )
    _marks(ax_err, result, r)
    verdict = "second descent observed" if r.second_descent else f"no second descent: {r.reason}"
    ax_err.set_title(verdict, fontsize=9)
    ax_err.set_ylabel("0-1 error (mean ± std over seeds)")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("cross-entropy (mean ± std over seeds)")
    for ax in (ax_err, ax_loss):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width (one-hidden-layer MLP)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(_title(result))
    return save_figure(fig, path)


def plot_epochs(result: DoubleDescentResult, path: str | Path) -> Path:
    """Train and test error of the epoch-curve width over training epochs."""
    curve: list[Measure] = result.curve
    epochs = [m.epoch for m in curve]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    _band(ax, epochs, [m.train_error for m in curve], COLORS["train"], "train error (noisy)")
    _band(ax, epochs, [m.test_error for m in curve], COLORS["test"], "test error (clean)")
    ax.axhline(result.cfg.label_noise, color="C0", ls=":", lw=1, label="fraction corrupted")
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("0-1 error (mean ± std over seeds)")
    ax.set_title(f"width {result.curve_width}: error over training time", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(_title(result), fontsize=9)
    return save_figure(fig, path)


def _title(result: DoubleDescentResult) -> str:
    t, cfg = result.task, result.cfg
    return (
        f"MNIST-1D, {t.n_train} training signals, {cfg.label_noise:.0%} labels corrupted, "
        f"K = {t.seeds} seeds\nAdam lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs} epochs, "
        "no weight decay, no early stopping"
    )
