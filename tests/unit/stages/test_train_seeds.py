"""The flagship over seeds: which models and seeds, means and spreads, claims seed by seed."""

from __future__ import annotations

import math

import pytest

from genlab.config import parse_params
from genlab.data import make_splits
from genlab.stages import train_seeds as study
from genlab.stages.train_seeds import SeedRow


def test_the_cnn_joins_the_main_model_on_mnist1d_only(raw_params):
    raw_params["data"]["name"] = "mnist1d"
    assert study.flagship_models(parse_params(raw_params)) == ["mlp", "cnn1d"]
    raw_params["data"]["name"] = "gaussians"
    assert study.flagship_models(parse_params(raw_params)) == ["mlp"]
    raw_params["train_seeds"]["seeds"] = 4
    assert study.other_seeds(parse_params(raw_params)) == [43, 44, 45]  # 42: from evaluate


def test_a_single_seed_is_refused_with_the_key(raw_params):
    from genlab.config import ConfigError

    raw_params["train_seeds"]["seeds"] = 1
    with pytest.raises(ConfigError, match="train_seeds.seeds"):
        parse_params(raw_params)


def _row(model, seed, test_acc, gap, status="ok"):
    numbers = {"test/acc": test_acc, "gap/acc": gap, "train/acc": test_acc + gap}
    return SeedRow(model, seed, status, 3, 5, numbers if status == "ok" else {})


def test_means_and_spreads_count_only_seeds_that_trained():
    rows = [
        _row("mlp", 1, 0.60, 0.40), _row("mlp", 2, 0.70, 0.30), _row("mlp", 3, 0, 0, "diverged")
    ]
    s = study.summarize(rows)["mlp"]
    assert s["seeds"] == 3 and s["seeds_ok"] == 2
    assert s["test/acc"] == pytest.approx(0.65) and s["test/acc_std"] == pytest.approx(0.0707, 1e-3)


def test_the_story_holds_only_where_every_seed_tells_it():
    rows = [
        _row("mlp", 1, 0.65, 0.33), _row("cnn1d", 1, 0.95, 0.04),
        _row("mlp", 2, 0.66, 0.30), _row("cnn1d", 2, 0.60, 0.35),  # a seed where it fails
    ]
    c = study.claims(rows, ["mlp", "cnn1d"])
    assert c["cnn_higher_test_acc"] == {"holds": None, "seeds_holding": 1, "seeds": 2}
    assert c["cnn_smaller_gap"]["holds"] is None
    c = study.claims(rows[:2], ["mlp", "cnn1d"])
    assert c["cnn_higher_test_acc"]["holds"] is True and c["cnn_smaller_gap"]["holds"] is True
    assert study.claims(rows, ["mlp"]) == {}


def test_params_own_seed_is_the_selected_epoch_of_what_train_wrote(tiny_params):
    history = [{"epoch": e, "test/acc": 0.5 + e / 10, "train/acc": 0.9} for e in range(4)]
    record = {"status": "ok", "best_epoch": 2, "epochs_run": 4}
    mlp = study.from_training(record, history, tiny_params, "mlp")
    assert (mlp.seed, mlp.source, mlp.best_epoch) == (42, "train", 2)
    assert mlp.numbers == {"test/acc": 0.7, "train/acc": 0.9}
    cnn = study.from_training(record, history, tiny_params, "cnn1d")
    assert cnn.source == "train_cnn"
    assert study.training_stage(tiny_params, "cnn1d") == "train_cnn"
    assert study.training_stage(tiny_params, "mlp") == "train"


def test_a_seed_fit_reports_its_selected_epoch_and_is_stored_for_the_diagnosis(tiny_params):
    splits = make_splits(tiny_params.data, tiny_params.seed)
    row = study.fit_seed(tiny_params, splits, "mlp", 43)
    assert row.seed == 43 and row.status == "ok" and 0 <= row.best_epoch < row.epochs_run
    assert set(row.numbers) >= {"train/acc", "test/acc", "gap/loss"}
    again = study.fit_seed(tiny_params, splits, "mlp", 43)
    assert again.numbers == row.numbers  # a seed is a seed: same numbers
    other = study.fit_seed(tiny_params, splits, "mlp", 44)
    assert other.numbers != row.numbers
    block = study.models_to_judge([row], splits)
    (model,) = block["models"]
    assert model["model"] == "mlp-s43" and model["test/acc"] == row.numbers["test/acc"]
    assert block["baseline_source"] == "Bayes error"  # gaussians record theirs
    assert not math.isnan(block["baseline_error"])
