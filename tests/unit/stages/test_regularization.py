"""The regularization study (genlab.stages.regularization.study): variant construction, the
claims' verdicts, divergence handling. The real stage: tests/integration/test_regularization.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genlab.config import ConfigError, parse_params
from genlab.data import make_splits
from genlab.data.splits import Splits
from genlab.stages.regularization.study import (
    VariantPlan,
    VariantResult,
    claim_verdict,
    plan_study,
    plan_variants,
    reported_row,
    run_study,
    seed_rows,
    subsample_train,
    summary_rows,
    variant_overrides,
)
from tests.conftest import tiny_raw

R = "train.regularization"


def test_none_switches_every_regularizer_off_even_when_params_turn_them_on(raw_params):
    raw_params["model"]["name"] = "cnn1d"  # cnn1d has batch norm on by default
    raw_params["data"]["name"] = "mnist1d"
    raw_params["model"]["cnn1d"]["dropout"] = 0.2
    raw_params["train"]["regularization"]["l2"] = 0.5
    params = parse_params(raw_params)
    ov = variant_overrides([], params)
    assert ov["model.cnn1d.norm"] == "none" and ov["model.cnn1d.dropout"] == 0.0
    assert "model.cnn1d.dropconnect" not in ov  # an mlp option
    assert ov[f"{R}.l2"] == 0.0 and ov["train.early_stopping.enabled"] is False
    assert ov["train.max_epochs"] == params.regularization.max_epochs


def test_each_regularizer_sets_its_own_strength(tiny_params):
    cfg = tiny_params.regularization
    assert variant_overrides(["l2"], tiny_params)[f"{R}.l2"] == cfg.l2
    assert variant_overrides(["l1"], tiny_params)[f"{R}.l1"] == cfg.l1
    assert variant_overrides(["dropout"], tiny_params)["model.mlp.dropout"] == cfg.dropout
    assert variant_overrides(["dropconnect"], tiny_params)["model.mlp.dropconnect"] == 0.3
    norms = (("batch_norm", "batch"), ("layer_norm", "layer"), ("group_norm", "group"))
    for variant, norm in norms:
        assert variant_overrides([variant], tiny_params)["model.mlp.norm"] == norm
    assert variant_overrides([], tiny_params)["model.mlp.dropconnect"] == 0.0
    es = variant_overrides(["early_stopping"], tiny_params)
    assert es["train.early_stopping.enabled"] and es["train.early_stopping.patience"] == 1
    wd = variant_overrides(["weight_decay"], tiny_params)  # base optimizer is adam
    assert wd[f"{R}.weight_decay"] == cfg.weight_decay and wd["train.optimizer.name"] == "adamw"


def test_weight_decay_keeps_an_sgd_family_optimizer(raw_params):
    raw_params["train"]["optimizer"]["name"] = "momentum"
    ov = variant_overrides(["weight_decay"], parse_params(raw_params))
    assert "train.optimizer.name" not in ov


def test_plans_are_validated_before_training(raw_params):
    raw_params["regularization"]["variants"] = ["none", "combined"]
    raw_params["regularization"]["combined"] = ["l1", "augmentation", "early_stopping"]
    plans = plan_variants(parse_params(raw_params), {"signal_length": 40})
    combined = plans[1]
    assert combined.params.train.regularization.l1 > 0 and combined.early_stopping
    assert combined.augmentation is not None and combined.augmentation.kind == "signal"
    assert plans[0].augmentation is None and not plans[0].early_stopping

    raw_params["train"]["optimizer"]["name"] = "sgd"
    raw_params["regularization"]["variants"] = ["none", "batch_norm"]
    with pytest.raises(ConfigError, match="(?s)variant 'batch_norm'.*batch norm needs batches"):
        plan_variants(parse_params(raw_params), {})
    raw_params["regularization"]["variants"] = ["none", "layer_norm", "group_norm"]
    assert len(plan_variants(parse_params(raw_params), {})) == 3  # per-sample norms: fine


def test_dropconnect_is_refused_for_the_cnn_with_the_reason(raw_params):
    raw_params["model"]["name"], raw_params["data"]["name"] = "cnn1d", "mnist1d"
    with pytest.raises(ConfigError, match="DropConnect is an option of model 'mlp'"):
        variant_overrides(["dropconnect"], parse_params(raw_params))


def test_study_params_errors_name_the_key(raw_params):
    cases = [
        ({"variants": ["l2", "l1"]}, "must include 'none'"),
        ({"variants": ["none", "l2", "l2"]}, "variants lists ['l2'] more than once"),
        ({"combined": ["l2"]}, "two or more regularizers"),
        ({"variants": ["none", "mixup"]}, "regularization.variants.1 = 'mixup'"),
        ({"dropout": 1.0}, "regularization.dropout = 1.0"),
        ({"augmentation": {"image_shift": 9}}, "regularization.augmentation.image_shift = 9"),
    ]
    for change, message in cases:
        raw = tiny_raw()
        raw["regularization"].update(change)
        with pytest.raises(ConfigError) as err:
            parse_params(raw)
        assert message in str(err.value), (change, str(err.value))


def _splits(n_per_class: int = 30, n_classes: int = 3) -> Splits:
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = np.arange(len(y), dtype=np.float32)[:, None]
    return Splits(x, y, x[:3], y[:3], x[:3], y[:3], "classification", n_classes)


def test_subsample_is_stratified_and_keeps_everything_when_asked_for_more():
    small = subsample_train(_splits(), 30, seed=0)
    assert len(small.x_train) == 30 and np.bincount(small.y_train).tolist() == [10, 10, 10]
    assert set(small.x_train[:, 0].astype(int)) <= set(range(90))
    assert len(subsample_train(_splits(), 1000, 0).x_train) == 90
    assert len(subsample_train(_splits(), None, 0).x_train) == 90
    with pytest.raises(ConfigError, match="one sample per class"):
        subsample_train(_splits(), 2, 0)


def test_reported_row_is_last_epoch_unless_the_variant_stops_early():
    history = [{"epoch": float(e), "val/loss": v} for e, v in enumerate([3.0, 1.0, 2.0])]
    assert reported_row(history, best_epoch=1, early_stopping=False)["epoch"] == 2
    assert reported_row(history, best_epoch=1, early_stopping=True)["epoch"] == 1


def test_claim_verdicts():
    assert claim_verdict(0.2, -1.0) == "holds"
    assert claim_verdict(0.0, -0.1) == "test only"
    assert claim_verdict(0.3, 0.1) == "train only"
    assert claim_verdict(-0.1, 0.2) == "neither"
    assert claim_verdict(math.nan, -1.0) == "n/a"


def _result(
    name: str, train_loss, test_loss, train_acc, test_acc, best_epoch=4, seed=0
) -> VariantResult:
    final = {
        "train/loss": train_loss,
        "test/loss": test_loss,
        "train/acc": train_acc,
        "test/acc": test_acc,
        "gap/loss": test_loss - train_loss,
    }
    plan = VariantPlan(name, [] if name == "none" else [name], None, name)  # type: ignore[arg-type]
    return VariantResult(plan, "ok", [], final, 9, best_epoch, 10, 0.0, seed=seed)


def test_summary_compares_every_variant_with_none():
    rows = summary_rows(
        [
            _result("none", 0.02, 3.0, 1.0, 0.35),
            _result("l2", 0.25, 1.9, 1.0, 0.40),
            _result("batch_norm", 0.01, 2.5, 1.0, 0.30, best_epoch=-1),
        ]
    )
    none, l2, bn = rows
    assert none["claim_loss"] == "baseline" and none["epochs_to_best"] == 5
    assert l2["d_train_loss"] == pytest.approx(0.23) and l2["d_test_loss"] == pytest.approx(-1.1)
    assert l2["claim_loss"] == "holds"
    assert l2["d_train_error"] == pytest.approx(0.0) and l2["d_test_error"] == pytest.approx(-0.05)
    assert l2["claim_error"] == "test only"
    assert bn["claim_loss"] == "test only" and bn["claim_error"] == "neither"
    assert math.isnan(bn["epochs_to_best"])
    assert l2["seeds"] == 1 and math.isnan(l2["test/loss_std"])  # one seed: no spread


def test_over_seeds_the_table_gives_mean_and_std_and_a_claim_holds_only_if_every_seed_agrees():
    results = [  # seed 1: l2 holds on the loss; seed 2: its test loss goes up
        _result("none", 0.02, 3.0, 1.0, 0.35, seed=1),
        _result("l2", 0.25, 1.9, 1.0, 0.40, seed=1),
        _result("dropout", 0.10, 2.0, 1.0, 0.40, seed=1),
        _result("none", 0.04, 2.0, 1.0, 0.37, seed=2),
        _result("l2", 0.30, 2.2, 1.0, 0.36, seed=2),
        _result("dropout", 0.12, 1.5, 1.0, 0.41, seed=2),
    ]
    none, l2, dropout = summary_rows(results)
    assert none["seeds"] == l2["seeds"] == 2 and none["test/loss"] == pytest.approx(2.5)
    assert none["test/loss_std"] == pytest.approx(0.7071, abs=1e-4)  # sample std (ddof 1)
    # deltas are paired by seed: l2 − none of the same seed, then averaged
    assert l2["d_test_loss"] == pytest.approx(((1.9 - 3.0) + (2.2 - 2.0)) / 2)
    assert l2["claim_loss"] == "seeds disagree" and l2["claim_loss_seeds"] == "1/2"
    assert dropout["claim_loss"] == "holds" and dropout["claim_loss_seeds"] == "2/2"
    per_seed = seed_rows(results)
    assert [(r["variant"], r["seed"]) for r in per_seed][:2] == [("none", 1), ("l2", 1)]


def test_dropout_needs_more_epochs_only_when_every_seed_says_so():
    from genlab.stages.regularization.study import epochs_claim

    def rows(none, dropout):
        return [
            {"variant": v, "seed": s, "epochs_to_train_loss": e}
            for s, (n, d) in enumerate(zip(none, dropout, strict=True))
            for v, e in (("none", n), ("dropout", d))
        ]

    agreed = epochs_claim(rows([20, 22, 21], [30, 35, 33]), 0.5)
    assert agreed["dropout_needs_more"] is True and agreed["dropout_needs_more_seeds"] == "3/3"
    assert agreed["none"] == pytest.approx(21) and agreed["dropout"] == pytest.approx(98 / 3)
    mixed = epochs_claim(rows([20, 22, 21], [30, 19, 33]), 0.5)
    assert mixed["dropout_needs_more"] is None and mixed["dropout_needs_more_seeds"] == "2/3"


def test_a_diverging_variant_is_recorded_and_the_study_goes_on(raw_params, capsys):
    # SGD on λ/2·‖W‖² multiplies W by (1 − lr·λ) = −9999 per step: certain overflow
    raw_params["train"]["optimizer"].update(name="minibatch", lr=1.0)
    raw_params["regularization"].update(variants=["none", "l2", "dropout"], l2=1e4)
    params = parse_params(raw_params)
    study = run_study(params, plan_study(params, make_splits(params.data, params.seed)))
    rows = {r["variant"]: r for r in summary_rows(study.results)}
    assert rows["l2"]["status"] == "diverged" and rows["l2"]["claim_loss"] == "n/a"
    assert rows["none"]["status"] == rows["dropout"]["status"] == "ok"
    judged = {m["model"]: m for m in study.to_judge()["models"]}  # for the `diagnosis` stage
    assert judged["l2-s42"]["status"] == "diverged" and "became" in judged["l2-s42"]["reason"]
    assert judged["none-s42"]["run_id"] is None and judged["none-s42"]["tag"] == "genlab.diagnosis"
    assert judged["none-s42"]["test/acc"] == rows["none"]["test/acc"]
    assert study.n_train == 80 and study.parent_run_id is None
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("regularization: ")]
    assert [x.split(" done in ")[0] for x in lines] == [
        "regularization: 1/3 none", "regularization: 2/3 l2", "regularization: 3/3 dropout"
    ]
    assert ", ETA " in lines[0] and ", ETA " not in lines[-1]



def test_epochs_to_a_train_loss_and_the_dropout_claim():
    from genlab.stages.regularization.study import epochs_claim, epochs_to_train_loss

    history = [{"epoch": e, "train/loss": loss} for e, loss in enumerate([2.0, 0.9, 0.4, 0.1])]
    assert epochs_to_train_loss(history, 0.5) == 3
    assert math.isnan(epochs_to_train_loss(history, 0.01))
    rows = [
        {"variant": "none", "epochs_to_train_loss": 3},
        {"variant": "dropout", "epochs_to_train_loss": 7},
        {"variant": "dropconnect", "epochs_to_train_loss": math.nan},
    ]
    claim = epochs_claim(rows, 0.5)
    assert claim["dropout_needs_more"] is True and claim["dropconnect_needs_more"] is None
    from genlab.stages.report.sections import regularization_text

    text = regularization_text({"variants": {}, "epochs_to_train_loss": claim})
    assert "dropout 7.0 (more epochs, 1/1 seeds)" in text and "none 3.0" in text
