"""The report's sentences read the keys the stages write."""

from __future__ import annotations

from genlab.report_sections import batch_scaling, lr_range_text, polyfit_text


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
