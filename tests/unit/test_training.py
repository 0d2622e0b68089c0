"""One real Lightning fit on tiny data: determinism, batching semantics, divergence."""

from __future__ import annotations

import math

import pytest

from genlab.config import parse_params
from genlab.data import make_splits
from genlab.training import best_row, fit
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


# ------------------------------------------------------------------ selection of the epoch
def test_best_row_takes_the_earliest_of_tied_epochs():
    from genlab.config.train import SelectedMetric

    acc, loss = SelectedMetric("val/acc", "max"), SelectedMetric("val/loss", "min")
    h = [
        {"epoch": 0.0, "val/acc": 0.5, "val/loss": 0.9},
        {"epoch": 1.0, "val/acc": 0.75, "val/loss": 0.6},
        {"epoch": 2.0, "val/acc": 0.75, "val/loss": 0.5},  # ties on accuracy, lower loss
        {"epoch": 3.0, "val/acc": 0.5, "val/loss": 0.7},
    ]
    assert best_row(h, acc)["epoch"] == 1  # what a strict-improvement callback keeps
    assert best_row(h, loss)["epoch"] == 2
    # values compared as Lightning logs them (float32): a float64-only difference is a tie
    h[2]["val/acc"] = 0.75 + 1e-12
    assert best_row(h, acc)["epoch"] == 1
    # non-finite values never win; no finite value at all selects nothing
    h[0]["val/loss"] = math.nan
    assert best_row(h, loss)["epoch"] == 2
    assert best_row([{"epoch": 0.0, "val/loss": math.inf}], loss) is None


def test_selection_metric_drives_early_stopping_checkpoint_and_best_epoch(tmp_path):
    """Over-confidence on the tiny gaussians: val/loss bottoms out early while val/acc keeps
    improving, in steps of 1/60 with ties. Each selection metric must stop, save and report
    the same epoch: the earliest best one, patience epochs before the stop."""
    import torch

    from genlab.config.train import SelectedMetric

    raw = tiny_raw()
    raw["model"]["mlp"]["hidden"] = [64, 64]
    raw["train"]["max_epochs"] = 80
    raw["train"]["early_stopping"].update(enabled=True, patience=20)
    picked = {}
    for metric, mode in (("val/acc", "max"), ("val/loss", "min")):
        raw["train"]["selection"]["metric"] = metric
        ckpt_dir = tmp_path / metric.replace("/", "_")
        res = _fit(raw, checkpoint_dir=ckpt_dir)
        best = best_row(res.history, SelectedMetric(metric, mode))
        assert res.best_epoch == best["epoch"]
        saved = torch.load(res.best_checkpoint, map_location="cpu", weights_only=True)
        assert saved["epoch"] == res.best_epoch  # the checkpoint agrees with the history
        assert res.epochs_run == res.best_epoch + 20 + 1 < 80  # stopped on this metric
        after = [r[metric] for r in res.history if r["epoch"] > res.best_epoch]
        assert all(v <= best[metric] if mode == "max" else v >= best[metric] for v in after)
        picked[metric] = res.best_epoch
        if metric == "val/acc":  # the tie case is really exercised: a later epoch equals it
            assert best[metric] in after
    assert picked["val/acc"] > picked["val/loss"]
