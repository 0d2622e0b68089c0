"""The underfit / overfit / good-fit rule against hand-computed cases, and its MLflow tags."""

from __future__ import annotations

import math

import pytest

from genlab.config import ConfigError, parse_params
from genlab.config.diagnosis import DiagnosisConfig
from genlab.diagnosis import REASON_TAG, TAG, Diagnosis, diagnose, known_baseline, tag_run

CFG = DiagnosisConfig()  # classification: margin 0.10, gap on error 0.10; regression: 0.05/0.05


def clf(train_acc: float, test_acc: float, train_loss=0.1, test_loss=0.5) -> dict:
    return {
        "train/loss": train_loss,
        "test/loss": test_loss,
        "train/acc": train_acc,
        "test/acc": test_acc,
        "gap/loss": test_loss - train_loss,
    }


def test_large_accuracy_gap_is_overfit_with_the_numbers_in_the_reasoning():
    d = diagnose(clf(1.0, 0.6), None, CFG)
    assert d.label == "overfit"
    assert d.train_error == 0.0 and d.gap == pytest.approx(0.4)
    assert d.baseline_source == "params"
    assert d.reasoning == (
        "train error 0.000 ≤ baseline 0.000 (params) + 0.1; "
        "gap (test − train error) 0.400 > 0.1 → overfit"
    )


def test_when_both_are_large_the_larger_excess_decides():
    d = diagnose(clf(0.5, 0.4), None, CFG)  # train error 0.5 (0.4 over), gap 0.1 (0 over)
    assert d.label == "underfit" and not d.gap_large
    d = diagnose(clf(0.7, 0.4), None, CFG)  # train error 0.3 (0.2 over), gap 0.3 (0.2 over)
    assert d.train_error_high and d.gap_large
    d = diagnose(clf(0.75, 0.3), None, CFG)  # 0.15 over vs gap 0.45: 0.35 over
    assert d.label == "overfit"
    assert "(both are large; the gap exceeds its threshold more: 0.350 vs 0.150)" in d.reasoning
    d = diagnose(clf(0.6, 0.45), None, CFG)  # 0.3 over vs gap 0.15: 0.05 over
    assert d.label == "underfit" and "the training error exceeds" in d.reasoning


# Runs built from known curves: (train accuracy, test accuracy) at the selected epoch, and the
# label a reader of those curves gives. The flagship MLP's numbers (train 0.83, test 0.58) read
# as overfit: its validation loss rises from epoch ~5 while the training loss keeps falling.
KNOWN_CURVES = [
    ("clearly underfit: both errors high, small gap", 0.55, 0.52, "underfit"),
    ("clearly overfit: train perfect, test far worse", 1.00, 0.60, "overfit"),
    ("good fit: both errors low, small gap", 0.97, 0.93, "good_fit"),
    ("both, gap dominating (the flagship MLP)", 0.827, 0.58, "overfit"),
    ("both, training error dominating", 0.55, 0.40, "underfit"),
]


@pytest.mark.parametrize(("case", "train_acc", "test_acc", "label"), KNOWN_CURVES)
def test_labels_agree_with_known_curves(case, train_acc, test_acc, label):
    assert diagnose(clf(train_acc, test_acc), None, CFG).label == label, case


def test_small_error_and_small_gap_is_good_fit():
    d = diagnose(clf(0.95, 0.9), None, CFG)
    assert d.label == "good_fit" and not (d.train_error_high or d.gap_large)
    assert d.reasoning.endswith("→ good_fit")


def test_thresholds_are_inclusive_on_the_good_side():
    # exact binary fractions: train error 0.25 = baseline 0.125 + margin 0.125
    cfg = DiagnosisConfig.model_validate(
        {"classification": {"underfit_margin": 0.125, "overfit_gap": 0.25}}
    )
    d = diagnose(clf(0.75, 0.5), 0.125, cfg, "Bayes error")
    assert d.label == "good_fit", d.reasoning
    assert "0.250 ≤ baseline 0.125 (Bayes error) + 0.125" in d.reasoning


def test_bayes_error_raises_the_bar_for_underfitting():
    m = clf(0.75, 0.7)  # train error 0.25
    assert diagnose(m, None, CFG).label == "underfit"
    assert diagnose(m, 0.2, CFG, "Bayes error").label == "good_fit"  # 0.25 <= 0.2 + 0.1


def test_gap_can_be_measured_on_the_loss():
    cfg = DiagnosisConfig.model_validate(
        {"classification": {"gap_measure": "loss", "overfit_gap": 0.2}}
    )
    m = clf(0.98, 0.95, train_loss=0.05, test_loss=0.64)  # accuracy gap 0.03, loss gap 0.59
    assert diagnose(m, None, CFG).label == "good_fit"
    d = diagnose(m, None, cfg)
    assert d.label == "overfit" and "gap/loss 0.590 > 0.2" in d.reasoning


def test_regression_uses_mse_against_the_noise_variance():
    sigma2 = 0.04
    under = diagnose({"train/loss": 0.30, "test/loss": 0.32}, sigma2, CFG, "noise variance")
    assert under.label == "underfit" and under.measure == "MSE"
    assert "train MSE 0.300 > baseline 0.040 (noise variance) + 0.05" in under.reasoning
    over = diagnose({"train/loss": 0.01, "test/loss": 0.50}, sigma2, CFG, "noise variance")
    assert over.label == "overfit" and over.gap == pytest.approx(0.49)
    good = diagnose({"train/loss": 0.035, "test/loss": 0.05}, sigma2, CFG, "noise variance")
    assert good.label == "good_fit"


def test_diverged_runs_and_non_finite_numbers_get_no_fit_label():
    d = diagnose({"status": "diverged", "reason": "train/loss became nan at epoch 2"}, None, CFG)
    assert d.label == "diverged" and "epoch 2" in d.reasoning
    assert diagnose(clf(math.nan, 0.5), None, CFG).label == "diverged"
    assert diagnose({"train/loss": None, "test/loss": 1.0}, None, CFG).label == "diverged"


def test_missing_metrics_are_an_error_not_a_label():
    with pytest.raises(ValueError, match="train/loss and test/loss"):
        diagnose({"train/acc": 1.0}, None, CFG)


def test_known_baseline_reads_the_recorded_floor():
    assert known_baseline({"bayes_error": 0.1}) == (0.1, "Bayes error")
    assert known_baseline({"irreducible_error": 0.04}) == (0.04, "noise variance")
    assert known_baseline({"source": "sklearn"}) == (None, "")


def test_tag_run_sets_label_and_reason():
    class FakeClient:
        def __init__(self):
            self.tags: dict[tuple[str, str], str] = {}

        def set_tag(self, run_id, key, value):
            self.tags[(run_id, key)] = value

    d = Diagnosis("overfit", "x" * 9000)
    c = FakeClient()
    tag_run(c, "run1", d)
    assert c.tags[("run1", TAG)] == "overfit"
    assert len(c.tags[("run1", REASON_TAG)]) == 5000  # cut to MLflow's tag limit
    assert d.as_metrics() == {"diagnosis": "overfit", "diagnosis_reason": "x" * 9000}


def test_bad_diagnosis_params_name_key_value_and_choices(raw_params):
    raw_params["diagnosis"]["classification"]["gap_measure"] = "acc"
    raw_params["diagnosis"]["regression"]["overfit_gap"] = -1
    with pytest.raises(ConfigError) as err:
        parse_params(raw_params)
    msg = str(err.value)
    assert "diagnosis.classification.gap_measure = 'acc'" in msg and "'error'" in msg
    assert "diagnosis.regression.overfit_gap = -1" in msg and "greater than 0" in msg


# ------------------------------------------------ labels from stored numbers (`diagnosis` stage)
def test_a_study_stores_what_the_rule_reads_and_labels_come_back_from_it():
    from genlab.diagnosis import judge, tags_for
    from genlab.judged import judged, to_judge

    stored = to_judge(
        [
            judged("wide", {**clf(1.0, 0.6), "val/acc": 0.61, "epochs": 9}, "run-a"),
            judged("tiny", {**clf(0.5, 0.48), "status": "ok"}, ""),
            judged("lost", {"status": "diverged", "reason": "loss became nan"}, "run-c"),
        ],
        (None, ""),
    )
    models = stored["models"]
    assert "val/acc" not in models[0] and "epochs" not in models[0]  # only what the rule reads
    assert models[1]["run_id"] is None and models[0]["tag"] == TAG
    labels = {m["model"]: d for m, d in judge(stored, CFG)}
    assert labels["wide"].label == "overfit" and labels["tiny"].label == "underfit"
    assert labels["lost"].label == "diverged" and "became nan" in labels["lost"].reasoning
    # a threshold change relabels the same stored numbers: nothing is retrained
    loose = CFG.model_copy(
        update={"classification": CFG.classification.model_copy(update={"overfit_gap": 0.5})}
    )
    assert {m["model"]: d.label for m, d in judge(stored, loose)}["wide"] == "good_fit"
    assert tags_for(labels["wide"], "genlab.diagnosis_ls") == {
        "genlab.diagnosis_ls": "overfit",
        "genlab.diagnosis_ls_reason": labels["wide"].reasoning,
    }


def test_the_recorded_floor_is_the_baseline_of_every_stored_model():
    from genlab.diagnosis import judge
    from genlab.judged import judged, to_judge

    stored = to_judge([judged("m", clf(0.75, 0.72))], (0.2, "Bayes error"))
    (_, d), = judge(stored, CFG)
    assert d.baseline_error == 0.2 and d.baseline_source == "Bayes error"
    assert d.label == "good_fit"  # train error 0.25 ≤ 0.2 + 0.1, gap 0.03
