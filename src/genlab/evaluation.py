"""Measuring a trained model on every split, the same way training measured it per epoch."""

from __future__ import annotations

import torch

from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import SPLIT_NAMES, Splits
from genlab.module import GenLabModule


@torch.no_grad()
def evaluate_splits(module: GenLabModule, splits: Splits, eval_batch_size: int = 4096) -> dict:
    """train/val/test loss (+ accuracy) and the gap, whole splits, eval mode."""
    dm = SplitsDataModule(splits, batch_size=1, eval_batch_size=eval_batch_size)
    module.eval()
    module.on_validation_epoch_start()
    for idx, name in enumerate(SPLIT_NAMES):
        for batch in dm.eval_loader(name):
            module.validation_step(batch, 0, idx)
    return module.split_metrics()


@torch.no_grad()
def predictions(module: GenLabModule, splits: Splits, split: str) -> tuple[list, list]:
    """(actual, predicted) labels on one split, for a confusion matrix."""
    from genlab.losses import predict_labels

    x, y = SplitsDataModule(splits, 1).tensors[split]
    module.eval()
    pred = predict_labels(module.loss_name, module(x))
    return y.tolist(), pred.tolist()
