"""Recording which params keys a stage reads (genlab.config.reads): named by their dotted key,
dumps read what they include, and neither validation, MLflow-only reads nor a study's own
override counts as a read of params.yaml."""

from __future__ import annotations

import pytest

from genlab.config import parse_params, reads, with_overrides
from genlab.config.base import Strict
from genlab.tracking import run_params
from genlab.training import one_device
from tests.conftest import tiny_raw


@pytest.fixture
def recording(monkeypatch):
    """Record reads for one test; the hooks and the keys are put back after it."""
    for name in ("__getattribute__", "model_dump", "model_copy"):
        monkeypatch.setattr(Strict, name, getattr(Strict, name))
    monkeypatch.setattr(reads, "_keys", None)
    params = parse_params(tiny_raw())  # validated before: its checks are not reads
    reads.start()
    return params


def test_a_read_is_named_by_its_key_and_a_section_is_descended_not_read(recording):
    params = recording
    assert params.train.optimizer.lr > 0
    assert params.seed >= 0
    assert reads.recorded() == ["seed", "train.optimizer.lr"]


def test_applied_reads_only_what_applies(recording):
    params = recording  # adam, no schedule, no penalty; mlp without group norm
    assert "momentum" not in params.train.optimizer.applied()
    params.train.regularization.applied()
    params.model.mlp.applied()
    got = set(reads.recorded())
    assert {"train.optimizer.lr", "train.optimizer.betas", "train.optimizer.name",
            "train.regularization.l2", "model.mlp.hidden", "model.mlp.norm"} <= got
    assert not got & {"train.optimizer.momentum", "train.optimizer.step_size",
                      "train.regularization.penalize_bias_and_norm", "model.mlp.norm_groups"}


def test_a_study_override_and_a_one_device_copy_are_not_reads_of_params(recording):
    params = recording
    variant = with_overrides(params, {"train.optimizer.lr": 0.5, "model.mlp.dropout": 0.1})
    assert reads.recorded() == []  # the copy's dump and validation
    single = one_device(variant)
    assert (single.train.optimizer.lr, single.train.devices, single.model.mlp.dropout) == (
        0.5, 1, 0.1)
    assert single.train.optimizer.name == "adam"  # params.yaml's: a read
    assert reads.recorded() == ["train.optimizer.name"]


def test_a_dump_reads_every_value_it_keeps_and_mlflow_params_are_not_reads(recording):
    params = recording
    run_params(params)
    assert reads.recorded() == []
    params.train.optimizer.model_dump(exclude={"lr"})
    keys = reads.recorded()
    assert "train.optimizer.batch_size" in keys and "train.optimizer.lr" not in keys


def test_equal_values_are_equal_params_however_they_were_made(recording):
    params = recording
    assert with_overrides(params, {"seed": params.seed}) == params
