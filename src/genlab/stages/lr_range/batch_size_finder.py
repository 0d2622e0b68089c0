"""'Set the batch size large, subject to GPU memory': Lightning's batch-size finder.

`Tuner.scale_batch_size` doubles the batch (then bisects, in `binsearch` mode) until a step
runs out of GPU memory. The study's data are far smaller than what a GPU holds for these
models, so the finder trains on random inputs of the data's shape, generated on the device:
the answer is the memory limit of this model, not the size of this dataset. On a machine
without a GPU it records that it was skipped and why; the stage never fails over it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import lightning.pytorch as pl
import torch
from lightning.pytorch.tuner import Tuner
from torch import Tensor

from genlab.config import Params
from genlab.config.lr_range import MaxBatchSizeConfig
from genlab.data import Splits
from genlab.data.splits import SPLIT_NAMES
from genlab.training import build_module

NO_GPU = "no GPU: torch.cuda.is_available() is False"
MARGIN = 0.05  # binsearch: the found size is cut by 5% as a safety buffer (Lightning's default)


class RandomBatches:
    """`steps` batches of `batch_size` random inputs and labels, made directly on `device`."""

    def __init__(
        self, batch_size: int, shape: tuple[int, ...], n_classes: int, device: str, steps: int
    ) -> None:
        self.batch_size, self.shape, self.n_classes = batch_size, shape, n_classes
        self.device, self.steps = device, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for _ in range(self.steps):
            x = torch.randn(self.batch_size, *self.shape, device=self.device)
            y = torch.randint(0, self.n_classes, (self.batch_size,), device=self.device)
            yield x, y


class RandomDataModule(pl.LightningDataModule):
    """Training batches of the size the finder sets (`batch_size`); tiny evaluation batches."""

    def __init__(
        self, batch_size: int, shape: tuple[int, ...], n_classes: int, device: str, steps: int
    ) -> None:
        super().__init__()
        self.batch_size, self.shape, self.n_classes = batch_size, shape, n_classes
        self.device_name, self.steps = device, steps

    def train_dataloader(self) -> RandomBatches:
        return RandomBatches(
            self.batch_size, self.shape, self.n_classes, self.device_name, self.steps
        )

    def val_dataloader(self) -> list[RandomBatches]:
        return [
            RandomBatches(2, self.shape, self.n_classes, self.device_name, 1) for _ in SPLIT_NAMES
        ]


def find_max_batch_size(
    p: Params, splits: Splits, cfg: MaxBatchSizeConfig, accelerator: str = "gpu"
) -> dict[str, object]:
    """Run Lightning's finder for the model in `p`; the largest batch size a step survived."""
    device = "cuda" if accelerator == "gpu" else "cpu"
    module = build_module(p, splits)
    shape = tuple(splits.x_train.shape[1:])
    n_classes = int(splits.n_classes or 2)
    dm = RandomDataModule(cfg.init_val, shape, n_classes, device, cfg.steps_per_trial)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="genlab-bs-find-") as root:
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator=accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=root,  # the finder's temporary checkpoint goes here
        )
        found = Tuner(trainer).scale_batch_size(
            module,
            datamodule=dm,
            mode=cfg.mode,
            steps_per_trial=cfg.steps_per_trial,
            init_val=cfg.init_val,
            max_trials=cfg.max_trials,
            max_val=cfg.max_val,
            margin=MARGIN,
        )
    cap = cfg.max_val if cfg.mode == "power" else int(cfg.max_val * (1 - MARGIN))
    out: dict[str, object] = {
        "status": "ok",
        "max_batch_size": int(found) if found is not None else None,
        "mode": cfg.mode,
        "stopped_at_max_val": bool(found is not None and found >= cap),
        "n_train": len(splits.x_train),
        "accelerator": accelerator,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        out["device"] = props.name
        out["memory_total_gib"] = round(props.total_memory / 2**30, 2)
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def max_batch_size(p: Params, splits: Splits, cfg: MaxBatchSizeConfig) -> dict[str, object]:
    """The stage option: find it on a GPU, otherwise say why not (never an error)."""
    if not cfg.enabled:
        return {"status": "disabled", "reason": "lr_range.max_batch_size.enabled is false"}
    if p.train.accelerator == "cpu":
        return {"status": "skipped", "reason": "train.accelerator is 'cpu'"}
    if not torch.cuda.is_available():
        return {"status": "skipped", "reason": NO_GPU}
    return find_max_batch_size(p, splits, cfg, accelerator="gpu")
