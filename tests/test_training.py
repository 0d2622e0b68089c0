"""One real Lightning fit on tiny data: determinism, batching semantics, divergence."""

from __future__ import annotations

import math

import pytest

from genlab.config import parse_params
from genlab.data import make_splits
from genlab.training import fit
from tests.conftest import tiny_raw


def _fit(raw: dict, **kw):
    params = parse_params(raw)
    return fit(params, make_splits(params.data, params.seed), **kw)


def test_same_params_same_metrics():
    a, b = _fit(tiny_raw()), _fit(tiny_raw())
    assert a.history[-1]["test/loss"] == b.history[-1]["test/loss"]
    assert [r["train/loss"] for r in a.history] == [r["train/loss"] for r in b.history]


def test_history_has_every_split_and_the_gap():
    res = _fit(tiny_raw())
    last = res.history[-1]
    for key in ("train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc"):
        assert 0 <= last[key] < 10
    assert last["gap/loss"] == pytest.approx(last["test/loss"] - last["train/loss"])
    assert res.status == "ok" and res.epochs_run == 4


@pytest.mark.parametrize(("name", "updates_per_epoch"), [("gd", 1), ("sgd", 120), ("minibatch", 4)])
def test_batching_modes_count_updates(name, updates_per_epoch):
    raw = tiny_raw()
    raw["train"]["max_epochs"] = 2
    raw["train"]["optimizer"].update(name=name, lr=0.05, batch_size=32)
    res = _fit(raw)
    assert res.history[0]["updates"] == updates_per_epoch
    assert res.history[1]["updates"] == 2 * updates_per_epoch


def test_divergence_is_recorded_not_raised():
    raw = tiny_raw()
    raw["train"]["max_epochs"] = 5
    raw["train"]["early_stopping"]["enabled"] = False
    raw["train"]["optimizer"].update(name="sgd", lr=10.0)
    raw["data"]["gaussians"]["separation"] = 50.0  # huge inputs make lr=10 blow up at once
    res = _fit(raw)
    assert res.status == "diverged"
    assert "became" in res.reason
    assert res.epochs_run < 5
    assert not math.isfinite(res.history[-1]["train/loss"])


def test_fit_leaves_the_stages_thread_setting_alone():
    """A study sets its own threads once; `train.torch_threads` must not override them per fit."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        raw = tiny_raw()
        raw["train"]["torch_threads"] = 1
        _fit(raw)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
