"""Measuring a trained model on every split, the same way training measured it per epoch."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import SPLIT_NAMES, Splits
from genlab.module import GenLabModule
from genlab.quiet import quiet_libraries

quiet_libraries()  # the evaluate stage loads Lightning modules without importing training


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


def load_module(checkpoint: str | Path, fix: str) -> GenLabModule:
    """The selected epoch's module, rebuilt from the checkpoint `fit` saved alone (it holds the
    hyperparameters that build the network); a missing or unreadable file, or one written
    before checkpoints held them, names itself and the stage that writes it."""
    try:
        return GenLabModule.load_from_checkpoint(checkpoint, map_location="cpu")
    except (OSError, RuntimeError, KeyError, TypeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{checkpoint} is missing or unreadable ({err}): {fix}") from None


# What the MNIST-1D paper reports (Greydanus & Kobak, "Scaling down deep learning with
# MNIST-1D", arXiv:2011.14439; the table of github.com/greydanus/mnist1d's README): test
# accuracy of its baselines with 4000 training and 1000 test signals. A reference to read our
# numbers against, never a result of ours.
MNIST1D_PAPER = {
    "source": "Greydanus & Kobak, arXiv:2011.14439 (github.com/greydanus/mnist1d README)",
    "n_train": 4000,
    "n_test": 1000,
    "test/acc": {"logistic regression": 0.32, "mlp": 0.68, "cnn1d": 0.94, "gru": 0.91},
}


def comparison_row(results: Mapping, reference: Mapping | None = None) -> dict[str, object]:
    """One model of `evaluate` as a table row: what it fits, how it generalizes, its label.

    Classification shows accuracies and the error gap (test − train error, the number the
    diagnosis reads by default); regression the losses. `reference` (MNIST1D_PAPER on MNIST-1D)
    adds the published test accuracy of the same kind of model.
    """
    row: dict[str, object] = {"model": results.get("model", "")}
    status = results.get("status")
    if status != "ok":
        return {**row, "diagnosis": status, "note": results.get("reason", "")}
    if "train/acc" in results:
        row["train/acc"] = results["train/acc"]
        row["test/acc"] = results["test/acc"]
        row["gap (test − train error)"] = results["train/acc"] - results["test/acc"]
    else:
        row["train/loss"] = results["train/loss"]
        row["test/loss"] = results["test/loss"]
        row["gap/loss"] = results["gap/loss"]
    row["diagnosis"] = results.get("diagnosis", "")
    row["best epoch"] = results.get("best_epoch")
    row["epochs run"] = results.get("epochs_run")
    if reference is not None:
        row["paper test/acc"] = reference["test/acc"].get(str(results.get("model")), "")
    return row
