"""Building the Trainer and running one fit: seeding, callbacks, logger, accelerator.

`fit` is the one path every experiment trains through, so that selection (on the validation
split only), divergence handling and logging behave the same everywhere.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from genlab.config import Params
from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import Splits
from genlab.losses import output_dim
from genlab.models import build_model
from genlab.module import GenLabModule
from genlab.quiet import quiet_libraries

quiet_libraries()


@dataclass
class FitResult:
    """What one training run produced; `status` is "ok" or "diverged"."""

    module: GenLabModule
    history: list[dict[str, float]]
    status: str
    reason: str = ""
    best_epoch: int = -1
    best_checkpoint: str = ""
    epochs_run: int = 0
    extra: dict = field(default_factory=dict)


def build_module(params: Params, splits: Splits) -> GenLabModule:
    """Model sized for the data, wrapped with the loss, optimizer and regularization in params."""
    out = output_dim(params.train.loss, splits.n_classes)
    net = build_model(params.model, tuple(splits.x_train.shape[1:]), out, splits.info)
    t = params.train
    return GenLabModule(net, t.loss, t.optimizer, t.regularization, t.max_epochs)


def accelerator(choice: str) -> str:
    """`auto` takes the GPU when present; an explicit `gpu` without one is an error."""
    if choice == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("train.accelerator is 'gpu' but no CUDA device is visible: use 'auto'")
    if choice == "cpu" or not torch.cuda.is_available():
        return "cpu"
    return "gpu"


def fit(
    params: Params,
    splits: Splits,
    logger=None,
    checkpoint_dir: str | Path | None = None,
    extra_callbacks: list[pl.Callback] | None = None,
    max_epochs: int | None = None,
    train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> FitResult:
    """Seed everything from params.seed, train, and restore the epoch with the best val/loss.

    `train_transform` (e.g. data augmentation) maps each training batch's inputs; the per-epoch
    evaluation of train/val/test never goes through it.
    """
    if params.train.torch_threads:
        torch.set_num_threads(params.train.torch_threads)
    pl.seed_everything(params.seed, workers=True, verbose=False)
    module = build_module(params, splits)
    module.train_transform = train_transform
    t = params.train
    dm = SplitsDataModule(
        splits,
        t.optimizer.effective_batch_size(len(splits.x_train)),
        t.eval_batch_size,
        seed=params.seed,
    )
    callbacks: list[pl.Callback] = list(extra_callbacks or [])
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = ModelCheckpoint(
            dirpath=str(checkpoint_dir),
            filename="model",
            monitor="val/loss",
            mode="min",
            save_top_k=1,
            enable_version_counter=False,
            save_weights_only=True,
        )
        callbacks.append(ckpt)
    if t.early_stopping.enabled:
        callbacks.append(
            EarlyStopping(
                monitor="val/loss",
                mode="min",
                patience=t.early_stopping.patience,
                min_delta=t.early_stopping.min_delta,
                check_finite=False,
            )
        )
    accel = accelerator(t.accelerator)
    trainer = pl.Trainer(
        max_epochs=max_epochs or t.max_epochs,
        accelerator=accel,
        devices=1,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=ckpt is not None,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # CPU kernels here are deterministic already; the global switch only slows them down.
        deterministic=accel != "cpu",
        log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=dm)
    history = module.history
    status = "diverged" if module.diverged else "ok"
    finite = [r for r in history if math.isfinite(r["val/loss"])]
    best = min(finite, key=lambda r: r["val/loss"]) if finite else None
    result = FitResult(
        module=module,
        history=history,
        status=status,
        reason=module.diverged or "",
        best_epoch=int(best["epoch"]) if best else -1,
        epochs_run=len(history),
    )
    if ckpt is not None:
        if ckpt.best_model_path:
            result.best_checkpoint = ckpt.best_model_path
        else:  # diverged before any finite epoch: keep the state so the output still exists
            path = Path(checkpoint_dir) / "model.ckpt"
            trainer.save_checkpoint(path, weights_only=True)
            result.best_checkpoint = str(path)
        state = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
    result.extra["trainer"] = trainer
    return result
