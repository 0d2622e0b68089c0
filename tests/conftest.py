"""Shared fixtures: the real params schema, shrunk so the true code path runs in seconds."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from genlab.config import Params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def tiny_raw() -> dict:
    """The project's own params.yaml with budgets cut down (few samples, epochs, units)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["data"]["name"] = "gaussians"
    raw["data"]["gaussians"].update(n_train=120, n_val=60, n_test=200, bayes_mc_samples=5000)
    raw["data"]["mnist1d"]["num_samples"] = 400
    raw["model"]["mlp"]["hidden"] = [16]
    raw["train"]["max_epochs"] = 4
    raw["train"]["optimizer"].update(name="adam", lr=0.01, batch_size=32)
    # Study sections, shrunk so each study stage runs in seconds (one block per study).
    return raw


@pytest.fixture
def raw_params() -> dict:
    return tiny_raw()


@pytest.fixture
def tiny_params() -> Params:
    return parse_params(tiny_raw())
