"""GenLabModule's checkpoint is self-describing: `load_from_checkpoint(path)` alone rebuilds the
trained network (classification MLP and the Legendre polynomial, whose input range comes from
the data), with the same predictions and the same numbers on every split."""

from __future__ import annotations

import pytest
import torch

from genlab.config import parse_params
from genlab.data import make_splits
from genlab.evaluation import evaluate_splits, load_module
from genlab.module import GenLabModule
from genlab.training import fit
from tests.conftest import tiny_raw


def _poly(raw: dict) -> dict:
    """Regression on the poly data with the Legendre model on a range that is not [-1, 1]: the
    rebuilt network must take x_min / x_max from the checkpoint, not from defaults."""
    raw["data"]["name"], raw["model"]["name"], raw["train"]["loss"] = "poly", "poly", "mse"
    raw["data"]["poly"].update(x_min=-2.0, x_max=3.0)
    raw["train"]["selection"]["metric"] = "auto"
    return raw


@pytest.mark.parametrize("shape", [lambda raw: raw, _poly], ids=["mlp", "poly"])
def test_checkpoint_alone_rebuilds_the_trained_module(tmp_path, shape):
    params = parse_params(shape(tiny_raw()))
    splits = make_splits(params.data, params.seed)
    res = fit(params, splits, checkpoint_dir=tmp_path)

    saved = torch.load(res.best_checkpoint, map_location="cpu", weights_only=True)
    hp = saved["hyper_parameters"]  # plain values: loads without unpickling any class
    assert hp["model"]["name"] == params.model.name and hp["loss"] == params.train.loss
    assert hp["optimizer"]["lr"] == params.train.optimizer.lr
    assert hp["input_shape"] == list(splits.x_train.shape[1:])

    loaded = GenLabModule.load_from_checkpoint(res.best_checkpoint, map_location="cpu")
    assert loaded.opt_cfg == params.train.optimizer
    assert loaded.reg_cfg == params.train.regularization
    x = torch.as_tensor(splits.x_test, dtype=torch.float32)
    res.module.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), res.module(x))
    assert evaluate_splits(loaded, splits) == evaluate_splits(res.module, splits)


def test_a_checkpoint_without_hyperparameters_names_the_fix(tmp_path):
    """A checkpoint written before they were stored (weights only) cannot rebuild a module."""
    params = parse_params(tiny_raw())
    splits = make_splits(params.data, params.seed)
    res = fit(params, splits)
    old = tmp_path / "model.ckpt"
    torch.save({"state_dict": res.module.state_dict()}, old)
    with pytest.raises(ValueError, match=r"model.ckpt is missing or unreadable .*: run dvc repro"):
        load_module(old, "run dvc repro train")
    with pytest.raises(ValueError, match="missing or unreadable"):
        load_module(tmp_path / "absent.ckpt", "run dvc repro train")
