"""genlab.data.gaussians: the exact and Monte-Carlo Bayes error, class means, the dataset."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from genlab.data.gaussians import (
    bayes_error,
    bayes_error_mc,
    class_means,
    make_gaussians,
    sample_gaussians,
    true_posteriors,
)


def test_bayes_error_two_classes_exact() -> None:
    means = np.array([[1.0, 0.0], [-1.0, 0.0]])  # separation 2
    out = bayes_error(means, 1.0, 1000, np.random.default_rng(0))
    assert out["value"] == pytest.approx(0.15865525393145707, abs=1e-12)  # Phi(-1)
    assert out["stderr"] == 0.0 and out["method"].startswith("exact")
    s = make_gaussians(2, 3, 2.0, 1.0, 10, 10, 10, seed=0)
    assert s.info["bayes_error"] == pytest.approx(norm.cdf(-1.0))
    assert s.info["bayes_error_method"] == "exact: Phi(-Delta/(2 sigma))"


def test_bayes_error_mc_agrees_with_exact_for_two_classes() -> None:
    means = np.array([[0.75, 0.0, 0.0], [-0.75, 0.0, 0.0]])
    exact = norm.cdf(-1.5 / (2 * 0.8))
    mc = bayes_error_mc(means, 0.8, 100_000, np.random.default_rng(0))
    assert mc["method"].startswith("monte-carlo")
    assert 0 < mc["stderr"] < 2e-3
    assert abs(mc["value"] - exact) < 4 * mc["stderr"]


def test_class_means_min_distance_is_separation() -> None:
    for k, d in [(2, 1), (3, 2), (5, 3), (4, 1)]:
        means = class_means(k, d, 2.5, np.random.default_rng(0))
        diff = means[:, None] - means[None]
        dist = np.sqrt((diff**2).sum(-1))[np.triu_indices(k, 1)]
        assert means.shape == (k, d) and dist.min() == pytest.approx(2.5)


def test_three_classes_mc_and_true_posterior_classifier() -> None:
    s = make_gaussians(3, 2, 2.0, 1.0, 300, 300, 300, seed=0, bayes_mc_samples=200_000)
    info = s.info
    assert info["bayes_error_method"] == "monte-carlo: E[1 - max_k p(k|x)]"
    assert 0 < info["bayes_error_stderr"] < 1e-3
    assert 0.05 < info["bayes_error"] < 0.6
    # The Bayes classifier (argmax of the true posterior) on fresh data errs at the Bayes rate.
    means = np.asarray(info["means"])
    n = 200_000
    x, y = sample_gaussians(np.full(3, n // 3), means, info["sigma"], np.random.default_rng(99))
    err = np.mean(true_posteriors(x, means, info["sigma"]).argmax(1) != y)
    p = info["bayes_error"]
    stderr = np.sqrt(p * (1 - p) / len(y) + info["bayes_error_stderr"] ** 2)
    assert abs(err - p) < 4 * stderr


def test_gaussians_balanced_and_validated() -> None:
    s = make_gaussians(3, 2, 2.0, 1.0, 10, 7, 3, seed=0, bayes_mc_samples=1000)
    np.testing.assert_array_equal(np.bincount(s.y_train, minlength=3), [4, 3, 3])
    np.testing.assert_array_equal(np.bincount(s.y_val, minlength=3), [3, 2, 2])
    np.testing.assert_array_equal(np.bincount(s.y_test, minlength=3), [1, 1, 1])
    assert not np.array_equal(s.y_train, np.sort(s.y_train))  # shuffled
    for kwargs in ({"n_classes": 1}, {"dim": 0}, {"sigma": 0.0}):
        args = {"n_classes": 2, "dim": 2, "separation": 1.0, "sigma": 1.0} | kwargs
        with pytest.raises(ValueError):
            make_gaussians(**args, n_train=4, n_val=4, n_test=4, seed=0)
