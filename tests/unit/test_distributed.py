"""genlab.distributed: the sharding arithmetic, what is refused. The
`train` stage on two processes: tests/integration/test_distributed.py."""

from __future__ import annotations

import pytest
import torch

from genlab.config import parse_params
from genlab.data.datamodule import InMemoryBatches, shard
from genlab.distributed import check_splittable, peer_failure
from genlab.training import accelerator, one_device
from tests.conftest import tiny_raw

# One process vs two: the same global batches, so only float summation order differs.


# ------------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(("n", "batch", "world"), [(600, 64, 2), (601, 64, 2), (100, 32, 3)])
def test_ranks_split_each_global_batch_and_agree_on_the_count(n, batch, world):
    x, y = torch.arange(n).float().unsqueeze(1), torch.arange(n)
    ranks = [
        list(InMemoryBatches(x, y, batch, True, seed=3, rank=r, world=world)) for r in range(world)
    ]
    assert len({len(r) for r in ranks}) == 1  # same number of steps on every rank, else DDP waits
    one = list(InMemoryBatches(x, y, batch, True, seed=3))
    for step, parts in enumerate(zip(*ranks, strict=True)):
        joined = torch.cat([xb for xb, _ in parts])
        assert all(len(xb) >= 2 for xb, _ in parts)
        if step < len(one):
            assert torch.equal(joined, one[step][0])  # rank parts make up the global batch


def test_one_process_keeps_the_trailing_batch_rule():
    x, y = torch.zeros(66, 1), torch.zeros(66)
    assert [len(b[0]) for b in InMemoryBatches(x[:65], y[:65], 64, shuffle=False)] == [64]
    assert [len(b[0]) for b in InMemoryBatches(x, y, 64, shuffle=False)] == [64, 2]


def test_evaluation_shards_cover_the_split_once():
    x, y = torch.arange(11).float(), torch.arange(11)
    parts = [shard(x, y, r, 3)[1] for r in range(3)]
    assert torch.equal(torch.cat(parts), y)


def test_too_small_batches_and_sgd_are_refused_with_the_key(tiny_params):
    two = tiny_params.train.model_copy(update={"devices": 2})
    with pytest.raises(ValueError, match="batch_size 3 is too small.*use ≥ 4"):
        check_splittable(two, 3)
    sgd = two.model_copy(update={"optimizer": two.optimizer.model_copy(update={"name": "sgd"})})
    with pytest.raises(ValueError, match="'sgd' updates on one sample"):
        check_splittable(sgd, 1)
    check_splittable(two, 4)


def test_mixed_precision_on_cpu_is_refused():
    raw = tiny_raw()
    raw["train"].update(accelerator="cpu", precision="bf16-mixed")
    with pytest.raises(ValueError, match="precision 'bf16-mixed' needs a GPU"):
        parse_params(raw)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.precision '16-mixed' needs a GPU"):
            accelerator("auto", "16-mixed")


def test_studies_stay_on_one_process(tiny_params, monkeypatch, capsys):
    two = tiny_params.model_copy(
        update={"train": tiny_params.train.model_copy(update={"devices": 2})}
    )
    assert one_device(two).train.world_size == 1
    assert "apply to the train and train_best stages" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="without torchrun"):
        one_device(tiny_params)


def test_a_dead_peer_is_told_apart_from_a_bug():
    gone = RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]")
    assert peer_failure(gone)
    assert not peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_one_process_gets_no_process_group(tiny_params):
    from genlab.distributed import strategy

    auto = tiny_params.train.model_copy(update={"devices": "auto"})
    assert strategy(auto, "cpu") == "auto"  # `devices: auto` on a CPU is one process
    assert strategy(tiny_params.train, "cpu") == "auto"
    two = tiny_params.train.model_copy(update={"devices": 2})
    assert type(strategy(two, "cpu")).__name__ == "DDPStrategy"
