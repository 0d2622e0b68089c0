"""Figures saved as PNG for DVC plots and MLflow artifacts (headless: the Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write and close a figure: every PNG of the pipeline goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def learning_curves(history: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Loss (and accuracy, when present) per epoch for train, val and test."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    has_acc = bool(history) and "train/acc" in history[0]
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 4))
    axes = list(axes) if has_acc else [axes]
    epochs = [r["epoch"] for r in history]
    for metric, ax in zip(["loss", "acc"], axes, strict=False):
        for split in ("train", "val", "test"):
            ax.plot(epochs, [r[f"{split}/{metric}"] for r in history], label=f"{split}/{metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def learning_curves_compared(
    models: dict[str, tuple[list[dict[str, float]], int]], path: str | Path
) -> Path:
    """Several models' curves side by side, one row each (loss | accuracy), on shared axes.

    `models` maps a title to (history, selected epoch); the selected epoch is marked, since the
    numbers a model reports are that epoch's, not the last one's. Models with no history
    (a skipped stage, a fit that diverged at once) are left out; with none left, the figure
    says so rather than failing the stage.
    """
    rows = {name: h for name, h in models.items() if h[0]}
    if not rows:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no model has a training history", ha="center", va="center")
        ax.set_axis_off()
        return save_figure(fig, path)
    has_acc = all("train/acc" in h[0][0] for h in rows.values())
    metrics = ["loss", "acc"] if has_acc else ["loss"]
    fig, axes = plt.subplots(
        len(rows), len(metrics), figsize=(5 * len(metrics), 3.3 * len(rows)),
        squeeze=False, sharey="col",
    )
    for (name, (history, best)), row in zip(rows.items(), axes, strict=True):
        epochs = [r["epoch"] for r in history]
        for metric, ax in zip(metrics, row, strict=True):
            for split in ("train", "val", "test"):
                ax.plot(epochs, [r[f"{split}/{metric}"] for r in history], label=split)
            if best >= 0:
                ax.axvline(best, color="grey", ls="--", lw=1, label=f"selected (epoch {best})")
            ax.set_title(f"{name}: {metric}")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    return save_figure(fig, path)
