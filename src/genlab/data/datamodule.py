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

    For training (`drop_single`), a trailing batch of one sample is dropped when batches are
    larger than one, so batch norm never sees a single sample (shuffling means a different
    sample sits out each epoch). Evaluation keeps every sample: eval mode uses running stats.

    Under DDP (`world` > 1) every rank draws the same permutation (same seed) and takes its
    `rank`-th part of each *global* batch: DDP's gradient average is then the gradient of the
    whole global batch, as in one process. A trailing batch too small to give every rank two
    samples is dropped, and every rank yields the same number of batches (else DDP waits).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        drop_single: bool = True,
    ) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.rank, self.world = rank, world
        self.generator = torch.Generator().manual_seed(seed)
        n, last = len(x), len(x) % batch_size
        if world == 1:
            single = drop_single and batch_size > 1 and n > 1 and last == 1
            self._n = n - 1 if single else n
        else:
            self._n = n - last if 0 < last < 2 * world and n > last else n

    def __len__(self) -> int:
        return -(-self._n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        x, y, bs = self.x, self.y, self.batch_size
        if self.shuffle:
            idx = torch.randperm(len(x), generator=self.generator)
            x, y = x[idx], y[idx]
        for start in range(0, self._n, bs):
            stop = min(start + bs, self._n)
            yield self._mine(x[start:stop]), self._mine(y[start:stop])

    def _mine(self, batch: Tensor) -> Tensor:
        return batch if self.world == 1 else batch.tensor_split(self.world)[self.rank]


def shard(x: Tensor, y: Tensor, rank: int, world: int) -> tuple[Tensor, Tensor]:
    """This rank's contiguous part of a split, for evaluation (sums are all-reduced after)."""
    if world == 1:
        return x, y
    return x.tensor_split(world)[rank], y.tensor_split(world)[rank]


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

    def rank_and_world(self) -> tuple[int, int]:
        """(global rank, number of processes) of the Trainer this serves; (0, 1) outside one."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> InMemoryBatches:
        x, y = self.tensors["train"]
        rank, world = self.rank_and_world()
        return InMemoryBatches(
            x, y, self.batch_size, shuffle=True, seed=self.seed, rank=rank, world=world
        )

    def eval_loader(self, split: str) -> InMemoryBatches:
        x, y = shard(*self.tensors[split], *self.rank_and_world())
        return InMemoryBatches(x, y, self.eval_batch_size, shuffle=False, drop_single=False)

    def val_dataloader(self) -> list[InMemoryBatches]:
        return [self.eval_loader(name) for name in SPLIT_NAMES]
