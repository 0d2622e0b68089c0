"""`genlab.slopes.loglog_fit`: the power-law exponent both scaling questions read (tune's best
lr per batch size, lr_range's suggestions), checked against known laws and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genlab.slopes import loglog_fit
from genlab.stages.tune.results import loglog_slope


def test_fit_recovers_an_exact_power_law():
    b = [8, 8, 32, 32, 128, 128]
    lrs = [0.01 * (x / 8) ** 0.5 for x in b]  # square-root scaling
    fit = loglog_fit(b, lrs)
    assert fit["slope"] == pytest.approx(0.5)
    assert fit["slope_stderr"] == pytest.approx(0.0, abs=1e-9)
    assert fit["intercept"] == pytest.approx(math.log(0.01) - 0.5 * math.log(8))
    assert fit["r2"] == pytest.approx(1.0) and fit["n_points"] == 6


def test_fit_standard_error_matches_the_textbook_formula():
    b = np.array([8, 8, 32, 32, 128, 128, 512, 512])
    y = np.log([0.2, 0.3, 0.5, 0.6, 0.6, 0.7, 0.7, 0.65])
    fit = loglog_fit(b.tolist(), np.exp(y).tolist())
    x = np.log(b)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    se = math.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
    assert fit["slope"] == pytest.approx(slope)
    assert fit["slope_stderr"] == pytest.approx(se)


def test_fit_needs_two_batch_sizes_and_three_points_for_an_error():
    assert math.isnan(loglog_fit([8, 8], [0.1, 0.2])["slope"])
    two = loglog_fit([8, 32], [0.1, 0.2])
    assert two["slope"] == pytest.approx(0.5) and math.isnan(two["slope_stderr"])


def test_tune_slope_is_the_same_fit():
    """tune's `loglog_slope` on (batch size, best lr) pairs is loglog_fit's slope, None when
    there is no slope to fit (one batch size)."""
    pairs = [(16, 0.0012), (64, 0.003), (256, 0.0011)]
    fit = loglog_fit(*zip(*pairs, strict=True))
    assert loglog_slope(pairs) == fit["slope"]
    assert loglog_slope([(1, 1), (2, 2), (4, 2)]) == pytest.approx(0.5)  # by hand
    assert loglog_slope([(32, 1e-3), (32, 2e-3)]) is None
