"""params.yaml validation: bad values stop with one message naming key, value and what's allowed."""

from __future__ import annotations

import pytest

from genlab.config import ConfigError, load_params, parse_params
from tests.conftest import ROOT


def test_project_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.train.optimizer.lr > 0


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_params(raw, "params.yaml")
    return str(exc.value)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        (("train", "optimizer"), "lr", -0.1, "greater than 0"),
        (("train", "optimizer"), "batch_size", 0, "greater than 0"),
        (("model", "mlp"), "dropout", 1.0, "less than 1"),
        (("train",), "loss", "hinge", "'bce', 'ce' or 'mse'"),
        (("train", "optimizer"), "name", "rmsprop", "'gd', 'sgd', 'minibatch'"),
        (("data",), "name", "cifar10", "'poly', 'gaussians', 'digits' or 'mnist1d'"),
        (("train",), "max_epochs", "many", "valid integer"),
    ],
)
def test_bad_value_names_key_value_and_allowed(raw_params, section, key, value, expected):
    node = raw_params
    for s in section:
        node = node[s]
    node[key] = value
    msg = _error(raw_params)
    assert ".".join((*section, key)) in msg
    assert repr(value) in msg
    assert expected in msg


def test_unknown_key_is_an_error(raw_params):
    raw_params["train"]["optimiser"] = {"lr": 0.1}
    msg = _error(raw_params)
    assert "train.optimiser: unknown key" in msg


def test_incompatible_choices(raw_params):
    raw_params["data"]["name"] = "poly"  # classification loss on regression data
    assert "use 'mse'" in _error(raw_params)
    raw_params["train"]["loss"] = "mse"
    raw_params["model"]["name"] = "cnn1d"
    assert "cnn1d" in _error(raw_params)


def test_bce_needs_two_classes(raw_params):
    raw_params["train"]["loss"] = "bce"
    assert "two classes" in _error(raw_params)
    raw_params["data"]["gaussians"]["n_classes"] = 2
    assert parse_params(raw_params).train.loss == "bce"


def test_weight_decay_with_adam_is_refused(raw_params):
    raw_params["train"]["regularization"]["weight_decay"] = 0.01
    assert "adamw" in _error(raw_params)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_effective_batch_size(tiny_params):
    opt = tiny_params.train.optimizer
    assert opt.model_copy(update={"name": "gd"}).effective_batch_size(120) == 120
    assert opt.model_copy(update={"name": "sgd"}).effective_batch_size(120) == 1
    assert opt.model_copy(update={"name": "minibatch"}).effective_batch_size(120) == 32


# ------------------------------------------------------------ train.selection.metric
@pytest.mark.parametrize(
    ("loss", "metric", "name", "mode"),
    [
        ("ce", "auto", "val/acc", "max"),
        ("bce", "auto", "val/acc", "max"),
        ("mse", "auto", "val/loss", "min"),
        ("ce", "val/loss", "val/loss", "min"),
        ("mse", "val/loss", "val/loss", "min"),
        ("ce", "val/acc", "val/acc", "max"),
    ],
)
def test_selection_metric_resolves_for_the_loss(loss, metric, name, mode):
    from genlab.config.train import TrainConfig

    train = TrainConfig(loss=loss, selection={"metric": metric})
    assert (train.selected.name, train.selected.mode) == (name, mode)
    assert train.selected.direction == {"max": "maximize", "min": "minimize"}[mode]


def test_the_project_selects_its_classifier_on_validation_accuracy():
    params = load_params(ROOT / "params.yaml")
    assert params.train.selection.metric == "auto" and params.train.loss == "ce"
    assert params.train.selected.name == "val/acc"


def test_accuracy_selection_with_mse_is_one_line_naming_the_key(raw_params):
    raw_params["data"]["name"] = "poly"
    raw_params["train"]["loss"] = "mse"
    raw_params["model"]["name"] = "poly"
    raw_params["train"]["selection"]["metric"] = "val/acc"
    lines = _error(raw_params).splitlines()
    assert len(lines) == 2 and lines[1].startswith("  train.selection = {'metric': 'val/acc'}: ")
    assert "needs a classification loss" in lines[1] and "'mse'" in lines[1]
    raw_params["train"]["selection"]["metric"] = "val/lost"
    assert "train.selection.metric = 'val/lost'" in _error(raw_params)


def test_min_delta_is_in_the_selected_metrics_units(raw_params):
    raw_params["train"]["early_stopping"]["min_delta"] = 1.0  # a whole loss unit: allowed
    raw_params["train"]["selection"]["metric"] = "val/loss"
    assert parse_params(raw_params).train.early_stopping.min_delta == 1.0
    raw_params["train"]["selection"]["metric"] = "auto"  # val/acc: no epoch can gain 100 %
    msg = _error(raw_params)
    assert "train.early_stopping = " in msg and "val/acc units" in msg


def test_tune_metric_is_refused_with_its_successor(raw_params):
    raw_params["tune"]["metric"] = "val/acc"
    lines = _error(raw_params).splitlines()
    assert len(lines) == 2 and lines[1].startswith("  tune.metric = 'val/acc': ")
    assert "train.selection.metric" in lines[1]
