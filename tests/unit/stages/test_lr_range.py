"""Study `lr_range` (genlab.stages.lr_range.study): slopes and answers by hand, Lightning's LR
finder on genlab's manual-optimization module, the GPU batch-size finder's CPU behaviour. The
real stage: tests/integration/test_lr_range.py."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.config import ConfigError, parse_params
from genlab.config.lr_range import MaxBatchSizeConfig
from genlab.gd_study import study_splits
from genlab.stages.lr_range import batch_size_finder as bsf
from genlab.stages.lr_range import study
from tests.conftest import tiny_raw


def _test(b, seed, s):
    return study.RangeTest(b, seed, [0.1], [1.0], s, True)


def test_spread_and_local_slopes():
    tests = [_test(8, 1, 0.1), _test(8, 2, 0.4), _test(8, 3, 0.2), _test(32, 1, None)]
    tests += [_test(32, 2, 0.8), _test(32, 3, 0.8)]
    sp = study.spread(tests)
    assert sp[8] == {"median": 0.2, "min": 0.1, "max": 0.4, "n": 3, "n_seeds": 3}
    assert sp[32]["median"] == 0.8 and sp[32]["n"] == 2 and sp[32]["n_seeds"] == 3
    # 0.2 -> 0.8 over 8 -> 32: lr* ∝ B^1
    assert study.local_slopes(sp) == {"8-32": pytest.approx(1.0)}


def _training(b, kind, val):
    return study.Training(b, kind, 0.1, None, {"val/loss": val})


def test_answer_reads_slope_and_val_losses():
    tr = [_training(8, "fixed", 0.2), _training(8, "suggested", 0.1)]
    tr += [_training(512, "fixed", 2.0), _training(512, "suggested", float("nan"))]
    a = study.answer({"slope": 0.3, "slope_stderr": 0.1}, tr)
    assert a == {
        "lr_grows_with_batch_size": True,
        "suggested_beats_fixed": {"8": True, "512": False},
    }
    a = study.answer({"slope": 0.3, "slope_stderr": 0.2}, tr)  # within two standard errors
    assert a["lr_grows_with_batch_size"] is False


def test_batch_sizes_above_the_training_set_are_refused():
    study.check_batch_sizes([8, 120], 120)
    with pytest.raises(ValueError, match=r"lr_range.batch_sizes \[512\] exceed the 120"):
        study.check_batch_sizes([8, 512], 120)


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, "min_lr (1.0) must be below max_lr (0.1)"),
        ({"batch_sizes": [32, 32]}, "at least two different sizes"),
        ({"batch_sizes": [1, 32]}, "lr_range.batch_sizes.0 = 1"),
        ({"seeds": [1, 1]}, "seeds [1, 1] has duplicates"),
        ({"num_training": 5}, "lr_range.num_training = 5"),
        ({"optimizer": "gd"}, "lr_range.optimizer = 'gd'"),
        ({"max_batch_size": {"mode": "linear"}}, "lr_range.max_batch_size.mode = 'linear'"),
    ],
)
def test_bad_lr_range_params_name_the_key(update, expected):
    raw = tiny_raw()
    raw["lr_range"].update(update)
    with pytest.raises(ConfigError) as err:
        parse_params(raw, "params.yaml")
    assert expected in str(err.value)


@pytest.fixture(scope="module")
def tiny_base():
    p = study.base_params(parse_params(tiny_raw()))
    return p, study_splits(p)


def test_lightning_lr_finder_drives_the_manual_optimization_module(tiny_base):
    p, splits = tiny_base
    cfg = p.lr_range
    t = study.range_test(p, splits, 8, seed=1)
    # the finder's exponential schedule reached the optimizer: one loss per step, lr from
    # min_lr growing by a constant factor (it stops early only if the loss explodes)
    assert 12 < len(t.lrs) <= cfg.num_training and len(t.losses) == len(t.lrs)
    assert t.lrs[0] == pytest.approx(cfg.min_lr)
    ratio = (cfg.max_lr / cfg.min_lr) ** (1 / cfg.num_training)
    assert t.lrs[2] / t.lrs[1] == pytest.approx(ratio)
    assert all(math.isfinite(v) for v in t.losses[:10])
    assert t.suggestion is not None and cfg.min_lr < t.suggestion < cfg.max_lr
    assert t.restored  # the fresh initialisation is back after the test
    again = study.range_test(p, splits, 8, seed=1)
    assert again.losses == t.losses  # seeded: same init, same shuffling, same curve


def test_max_batch_size_is_skipped_without_a_gpu(tiny_base, monkeypatch):
    p, splits = tiny_base
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bsf.max_batch_size(p, splits, p.lr_range.max_batch_size) == {
        "status": "skipped",
        "reason": bsf.NO_GPU,
    }
    off = MaxBatchSizeConfig(enabled=False)
    assert bsf.max_batch_size(p, splits, off)["status"] == "disabled"


def test_batch_size_finder_code_path_runs_on_cpu(tiny_base):
    """Lightning's finder with genlab's module on random batches (no OOM on a CPU: the search
    stops at max_val); the GPU run itself only happens on a machine that has one."""
    p, splits = tiny_base
    cfg = MaxBatchSizeConfig(mode="power", init_val=4, max_trials=10, max_val=32)
    out = bsf.find_max_batch_size(p, splits, cfg, accelerator="cpu")
    assert out["status"] == "ok" and out["max_batch_size"] == 32 and out["stopped_at_max_val"]
