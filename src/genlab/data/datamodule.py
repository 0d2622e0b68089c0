"""The Lightning DataModule: splits held in memory, served as tensor slices.

A worker-process DataLoader that indexes one sample at a time and collates costs more than a
forward/backward pass of the small models here; slicing a shuffled tensor costs almost nothing,
which keeps Lightning's per-step overhead low (see benchmarks/lightning_overhead.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning.pytorch as pl
import torch
from torch import Tensor

from genlab.data.splits import SPLIT_NAMES, Splits


class InMemoryBatches:
    """Batches of (x, y) sliced from tensors, reshuffled every epoch by a seeded generator.

    A trailing batch of one sample is dropped when batches are larger than one, so batch norm
    never sees a single sample (shuffling means a different sample sits out each epoch).
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        n = len(x)
        self._n = n - 1 if (batch_size > 1 and n > 1 and n % batch_size == 1) else n

    def __len__(self) -> int:
        return -(-self._n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        x, y, bs = self.x, self.y, self.batch_size
        if self.shuffle:
            idx = torch.randperm(len(x), generator=self.generator)
            x, y = x[idx], y[idx]
        if bs >= self._n:
            yield x[: self._n], y[: self._n]
            return
        for start in range(0, self._n, bs):
            yield x[start : start + bs], y[start : start + bs]


def to_tensors(splits: Splits, split: str) -> tuple[Tensor, Tensor]:
    x, y = splits.split(split)
    xt = torch.from_numpy(x).float()
    yt = torch.from_numpy(y).long() if splits.task == "classification" else torch.from_numpy(y)
    return xt, yt.float() if splits.task == "regression" else yt


class SplitsDataModule(pl.LightningDataModule):
    """Train batches for fitting; whole-split evaluation batches for train, val and test.

    The validation loop walks all three splits (in SPLIT_NAMES order) so that training error is
    measured like the others: on the whole training set, in eval mode, at the end of each epoch.
    """

    def __init__(
        self, splits: Splits, batch_size: int, eval_batch_size: int = 4096, seed: int = 0
    ) -> None:
        super().__init__()
        self.splits, self.batch_size, self.eval_batch_size, self.seed = (
            splits,
            batch_size,
            eval_batch_size,
            seed,
        )
        self.tensors = {name: to_tensors(splits, name) for name in SPLIT_NAMES}

    @property
    def n_train(self) -> int:
        return len(self.tensors["train"][0])

    def train_dataloader(self) -> InMemoryBatches:
        x, y = self.tensors["train"]
        return InMemoryBatches(x, y, self.batch_size, shuffle=True, seed=self.seed)

    def eval_loader(self, split: str) -> InMemoryBatches:
        x, y = self.tensors[split]
        return InMemoryBatches(x, y, self.eval_batch_size, shuffle=False)

    def val_dataloader(self) -> list[InMemoryBatches]:
        return [self.eval_loader(name) for name in SPLIT_NAMES]
