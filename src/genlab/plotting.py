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
