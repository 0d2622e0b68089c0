"""The report's sentences read the keys the stages write."""

from __future__ import annotations

import pytest

from genlab.stages.report.sections import batch_scaling, lr_range_text, polyfit_text


def test_lr_range_reports_the_batch_size_the_finder_wrote():
    found = {"status": "ok", "max_batch_size": 63753420, "mode": "binsearch"}
    assert "63753420" in lr_range_text({"max_batch_size": found})
    skipped = {"status": "skipped", "reason": "no GPU: torch.cuda.is_available() is False"}
    text = lr_range_text({"max_batch_size": skipped})
    assert "skipped (no GPU" in text


def test_batch_scaling_follows_the_slope_and_its_error():
    assert "no clear dependence" in batch_scaling(0.1, 0.2)
    assert "consistent with linear" in batch_scaling(0.95, 0.05)
    assert "consistent with square-root" in batch_scaling(0.5, 0.05)
    assert "less than square-root" in batch_scaling(0.2, 0.02)
    assert "lower" in batch_scaling(-0.5, 0.1)


def test_polyfit_labels_come_from_the_numbers_not_the_degree():
    ls = {
        "degree1/train/loss": 0.30, "degree1/test/loss": 0.35,
        "degree20/train/loss": 0.02, "degree20/test/loss": 0.05,  # fits: test not above 1.5 sigma^2
        "best_degree": 20,
    }
    gd = {"degree20/test/loss": 0.09}
    text = polyfit_text({"ls": ls, "gd": gd, "noise_var": 0.04, "n_train": 30})
    assert "degree 1 underfits" in text and "degree 20 fits" in text
    assert "no implicit regularization visible" in text
    ls["degree20/test/loss"] = 4.0
    text = polyfit_text({"ls": ls, "gd": gd, "noise_var": 0.04, "n_train": 30})
    assert "degree 20 overfits" in text and "implicit regularization." in text


def _model(name: str, train_acc: float, test_acc: float, label: str) -> dict:
    return {
        "model": name, "status": "ok", "train/acc": train_acc, "test/acc": test_acc,
        "train/loss": 0.01, "test/loss": 1.0, "gap/loss": 0.99, "diagnosis": label,
        "best_epoch": 20, "epochs_run": 41,
    }


def test_the_mlp_cnn_sentence_follows_the_numbers():
    from genlab.evaluation import MNIST1D_PAPER
    from genlab.stages.report.sections import flagship_text, models_compared

    mlp, cnn = _model("mlp", 1.0, 0.67, "overfit"), _model("cnn1d", 1.0, 0.96, "good_fit")
    text = models_compared({**mlp, "n_train": 3900}, cnn, MNIST1D_PAPER)
    assert "the 1-D CNN generalizes better, 0.290 more test accuracy than the MLP" in text
    assert "same 3900 training samples" in text and "<b>overfit</b>" in text
    assert "paper reports 0.68 (MLP) and 0.94 (1-D CNN)" in text and "-0.010 and +0.020" in text
    flipped = models_compared(mlp, _model("cnn1d", 0.9, 0.5, "overfit"))
    assert "the MLP generalizes better" in flipped and "paper" not in flipped
    assert "about equally" in models_compared(mlp, _model("cnn1d", 1.0, 0.7, "overfit"))
    skipped = {"model": "cnn1d", "status": "skipped", "reason": "needs 1-D signals"}
    assert "no numbers (skipped: needs 1-D signals)" in models_compared(mlp, skipped)
    page = flagship_text({**mlp, "selected_by": "val/acc", "cnn": cnn})
    assert page.startswith("Side by side, the MLP fits its training set to accuracy 1.000")
    assert page.endswith("best val/acc (MLP epoch 20 of 41, test/loss 1.000; 1-D CNN epoch 20 "
                         "of 41, test/loss 1.000).")
    alone = flagship_text({**mlp, "cnn": skipped})
    assert alone.startswith("MLP: The model selected at epoch 20 (best validation metric of 41")


def test_the_cnn_adds_one_short_headline_column():
    from genlab.headline import check_short, companion_model

    cnn = {**_model("cnn1d", 1.0, 0.96, "good_fit"), "diagnosis_reason": "x" * 200}
    shown = companion_model(cnn)
    assert shown == {"cnn": {"test/acc": 0.96}}  # label and reason stay in results/
    check_short(shown)
    assert companion_model({"status": "skipped", "reason": "..."}) == {"cnn": {"status": "skipped"}}


def test_the_comparison_row_shows_the_error_gap_and_the_paper():
    from genlab.evaluation import MNIST1D_PAPER, comparison_row

    row = comparison_row(_model("mlp", 1.0, 0.67, "overfit"), MNIST1D_PAPER)
    assert row["gap (test − train error)"] == pytest.approx(0.33)
    assert row["paper test/acc"] == 0.68 and row["diagnosis"] == "overfit"
    assert "paper test/acc" not in comparison_row(_model("mlp", 1.0, 0.67, "overfit"))
    skipped = comparison_row({"model": "cnn1d", "status": "skipped", "reason": "why"})
    assert skipped == {"model": "cnn1d", "diagnosis": "skipped", "note": "why"}


def test_the_side_by_side_figure_leaves_out_a_model_without_history(tmp_path, monkeypatch):
    """A skipped CNN (no epochs) must not fail `evaluate`: the figure shows what was trained."""
    from genlab.plotting import learning_curves_compared, plt

    rows = [{"epoch": e, "train/loss": 1 / (e + 1), "val/loss": 1.0, "test/loss": 1.1}
            for e in range(5)]
    grids, real = [], plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: grids.append(a) or real(*a, **k))
    learning_curves_compared({"mlp": (rows, 2), "cnn": ([], -1)}, tmp_path / "a.png")
    learning_curves_compared({"cnn": ([], -1)}, tmp_path / "b.png")
    assert grids[0] == (1, 1)  # one model (row), loss only (no accuracy in a regression history)
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").is_file()


@pytest.mark.parametrize(
    "claim, words",
    [
        (True, "holds in 1/1 seeds"),
        (False, "fails in 1/1 seeds"),
        ({"holds": True, "seeds_holding": 3, "seeds": 3}, "holds in 3/3 seeds"),
        ({"holds": False, "seeds_holding": 0, "seeds": 3}, "fails in 3/3 seeds"),
        ({"holds": None, "seeds_holding": 1, "seeds": 3}, "seeds disagree (1/3): not established"),
        (
            {"holds": None, "seeds_holding": 1, "seeds": 3, "seeds_decided": 2},
            "decided in only 2/3 seeds (1 hold): not established",
        ),
        (None, "not checked"),
        ({"seeds": 3}, "not checked"),
    ],
)
def test_a_claim_is_stated_with_how_many_seeds_agree(claim, words):
    from genlab.stages.report.sections import seeds_verdict

    assert seeds_verdict(claim) == words


@pytest.mark.parametrize(
    "train, test, label",
    [
        (0.07, 0.08, "underfits"),  # training error above 1.5 σ² (σ² = 0.04)
        (0.01, 0.09, "overfits"),  # test over twice train and above the floor
        (0.01, 0.05, "fits"),  # over twice train, but within the floor
        (0.04, 0.05, "fits"),
        (None, 0.05, "n/a"),
    ],
)
def test_fit_label_reads_the_numbers_against_the_noise_floor(train, test, label):
    from genlab.stages.report.sections import fit_label

    assert fit_label(train, test, 0.04) == label


def test_importances_are_ranked_only_when_reliable():
    from genlab.stages.report.sections import importance_text

    few = {"importance": {"lr": 0.9}, "importance_trials": 3, "importance_reliable": False,
           "importance_min_trials": 10}
    assert importance_text(few).startswith("The parameter importances are not shown as a ranking")
    assert "only 3 trials completed (need 10)" in importance_text(few)
    enough = {"importance": {"lr": 0.712, "batch_size": 0.288}, "importance_trials": 12,
              "importance_reliable": True}
    assert importance_text(enough) == (
        "Importance (fANOVA from 12 complete trials): lr 0.71, batch_size 0.29."
    )
    assert importance_text({}) == "No parameter importances: too few complete trials."


def test_the_main_model_sentence_follows_its_numbers_or_says_it_diverged():
    from genlab.stages.report.sections import main_model_text

    m = {"status": "ok", "best_epoch": 7, "epochs_run": 12, "selected_by": "val/acc",
         "train/loss": 0.1, "val/loss": 0.4, "test/loss": 0.45, "gap/loss": 0.35,
         "train/acc": 0.99, "val/acc": 0.9, "test/acc": 0.88, "diagnosis": "overfit",
         "diagnosis_reason": "gap 0.11 > 0.1"}
    text = main_model_text(m)
    assert text.startswith("The model selected at epoch 7 (best val/acc of 12 epochs) has ")
    assert "train/loss 0.100, val/loss 0.400 and test/loss 0.450: a generalization gap of 0.350" \
        in text
    assert "Accuracy: train 0.990, val 0.900, test 0.880." in text
    assert text.endswith("Diagnosis: <b>overfit</b> (gap 0.11 > 0.1).")
    assert main_model_text({"status": "diverged", "reason": "loss nan at epoch 3"}) == (
        "The main model diverged: loss nan at epoch 3."
    )


def test_the_report_depends_on_exactly_the_files_its_sections_read():
    """Each section finds its stage's results file and plots folder in that stage's own cmd
    (dvc.yaml); the report stage's data deps must be exactly those, or a study's new output
    would not rerun the report."""
    import yaml

    from genlab.stages.report.sections import SECTIONS
    from tests.repo_copy import ROOT

    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]["deps"]
    data = {d for d in deps if d.startswith(("results/", "plots/"))}
    read = {s.results(ROOT) for s in SECTIONS}
    read |= {path.rsplit("/", 1)[0] for s in SECTIONS for path in s.plots(ROOT, ["x"])}
    assert data == read
    for s in SECTIONS:
        for path in s.figures(ROOT) + s.plots(ROOT, s.tables):
            assert (ROOT / path).is_file(), f"section '{s.stage}' shows {path}: not written"


def test_every_figure_a_stage_writes_is_in_dvc_yaml_plots_and_in_the_report():
    """A figure's file name is written in the study's code and in dvc.yaml's `plots:` only; the
    report shows what dvc.yaml lists. A new figure left out of dvc.yaml would be missing from
    `dvc plots show` and the report: the committed outputs say what each stage writes."""
    import subprocess

    import yaml

    from genlab import stage_paths
    from genlab.stages.report.sections import SECTIONS
    from tests.repo_copy import ROOT

    written = subprocess.run(
        ["git", "ls-files", "plots/*.png"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    listed = [p for p in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
              if isinstance(p, str)]
    assert written and sorted(written) == sorted(listed)
    shown = [f for s in SECTIONS for f in s.figures(ROOT)]
    assert len(shown) == len(set(shown))
    assert set(listed) - set(shown) == set(), "figures of a stage no section shows"
    assert stage_paths.figures("polyfit", ROOT) == ["plots/polyfit/curves.png",
                                                    "plots/polyfit/errors.png"]
