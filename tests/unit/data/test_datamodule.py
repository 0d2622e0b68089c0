"""genlab.data.datamodule: training batches of the configured size, reshuffled each epoch the
same way for the same seed; evaluation batches cover each split in order, unshuffled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.data.datamodule import SplitsDataModule, to_tensors
from genlab.data.splits import SPLIT_NAMES, Splits


def _splits(n_train: int = 10, n_val: int = 6, n_test: int = 5, task: str = "classification"):
    """Sample i of a split has feature i (so batches say which samples they hold)."""

    def part(n: int, offset: int):
        x = np.arange(offset, offset + n, dtype=np.float64)[:, None]
        y = np.arange(n) % 3 if task == "classification" else x[:, 0] / 10
        return x, y

    (xtr, ytr), (xva, yva), (xte, yte) = part(n_train, 0), part(n_val, 100), part(n_test, 200)
    n_classes = 3 if task == "classification" else None
    return Splits(xtr, ytr, xva, yva, xte, yte, task=task, n_classes=n_classes)


def _epoch(loader) -> list[list[int]]:
    return [x[:, 0].int().tolist() for x, _ in loader]


@pytest.mark.parametrize(
    "n_train, batch_size, sizes",
    [
        (10, 3, [3, 3, 3]),  # a trailing batch of one sample is dropped (batch norm)
        (11, 3, [3, 3, 3, 2]),
        (12, 4, [4, 4, 4]),
        (5, 1, [1, 1, 1, 1, 1]),  # batch size 1 keeps every sample
    ],
)
def test_train_batches_have_the_batch_size(n_train, batch_size, sizes):
    loader = SplitsDataModule(_splits(n_train), batch_size, seed=0).train_dataloader()
    batches = _epoch(loader)
    assert [len(b) for b in batches] == sizes and len(loader) == len(sizes)
    seen = [i for b in batches for i in b]
    assert len(set(seen)) == len(seen) == sum(sizes)  # no sample twice in an epoch


def test_seeded_shuffling_is_reproducible_and_reshuffles_every_epoch():
    def two_epochs(seed: int) -> list[list[list[int]]]:
        loader = SplitsDataModule(_splits(40), 8, seed=seed).train_dataloader()
        return [_epoch(loader), _epoch(loader)]

    first, second = two_epochs(3)
    assert two_epochs(3) == [first, second]  # same seed, same batches, epoch after epoch
    assert first != second  # a new order each epoch
    assert sorted(sum(first, [])) == list(range(40)) != sum(first, [])  # shuffled, all there
    assert two_epochs(4)[0] != first  # the seed matters


def test_the_sample_left_out_by_the_trailing_rule_changes_between_epochs():
    loader = SplitsDataModule(_splits(9), 2, seed=0).train_dataloader()
    left_out = {(set(range(9)) - {i for b in _epoch(loader) for i in b}).pop() for _ in range(8)}
    assert len(left_out) > 1


@pytest.mark.parametrize("eval_batch_size", [4096, 2])
def test_eval_loaders_are_train_val_test_in_order_unshuffled(eval_batch_size):
    dm = SplitsDataModule(_splits(10, 6, 4), 3, eval_batch_size=eval_batch_size, seed=5)
    loaders = dm.val_dataloader()
    assert len(loaders) == len(SPLIT_NAMES) == 3
    for name, loader in zip(SPLIT_NAMES, loaders, strict=True):
        x, y = dm.tensors[name]
        batches = list(loader)
        assert all(len(bx) <= eval_batch_size for bx, _ in batches)
        assert torch.equal(torch.cat([bx for bx, _ in batches]), x)  # every sample, in order
        assert torch.equal(torch.cat([by for _, by in batches]), y)
        assert _epoch(loader) == _epoch(loader)  # never reshuffled


def test_eval_loaders_never_drop_a_sample():
    dm = SplitsDataModule(_splits(10, 7, 4), 3, eval_batch_size=3)
    assert [sum(len(bx) for bx, _ in loader) for loader in dm.val_dataloader()] == [10, 7, 4]


def test_tensors_have_the_dtypes_the_losses_expect():
    x, y = to_tensors(_splits(), "train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (10, 1)
    x, y = to_tensors(_splits(task="regression"), "val")
    assert x.dtype == y.dtype == torch.float32 and x[0, 0] == 100


def test_outside_a_trainer_the_module_is_one_process():
    dm = SplitsDataModule(_splits(10), 4)
    assert dm.rank_and_world() == (0, 1) and dm.n_train == 10
