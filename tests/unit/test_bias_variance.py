"""The decomposition math (genlab.bias_variance) on cases with a known answer.

Hand-computed squared-error and Domingos 0-1 examples, the exact identity on random inputs, the
Monte-Carlo standard error against repeated label draws, the closed form of OLS on a linear f
(bias 0, variance σ² x_gᵀ(AᵀA)⁻¹x_g), and mlxtend's `bias_variance_decomp` protocol, rewritten
here from its documentation, on the same data and seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from genlab.bias_variance import (
    bias_variance_decomp,
    bootstrap_sets,
    main_prediction,
    squared_error_decomposition,
    zero_one_decomposition,
)

# ------------------------------------------------------------------- hand-computed cases


def test_squared_error_hand_example():
    preds = np.array([[1.0, 3.0], [3.0, 5.0]])  # two models, two points
    d = squared_error_decomposition(preds, np.array([1.0, 5.0]), noise_var=0.5)
    # main = [2, 4]: bias² = ((2-1)² + (4-5)²)/2 = 1; every model is 1 from the main: var = 1
    assert d.bias == pytest.approx(1.0)
    assert d.variance == pytest.approx(1.0)
    assert d.noise == 0.5 and d.total == pytest.approx(2.5)
    # exact expected loss: mean((f - M)²) + σ² = mean(0, 4, 4, 0) + 0.5
    assert d.expected_loss == pytest.approx(2.5) and d.mc_stderr == 0.0
    assert d.extra["bias_corrected"] == pytest.approx(0.0)  # 1 - var/(K-1)


def test_zero_one_hand_example_matches_domingos_two_class_form():
    """Two classes: Domingos' c1 = 2 P_D(M = y*) − 1, c2 = ±1 (Theorem 3, two-class case)."""
    post = np.array([[0.8, 0.2], [0.3, 0.7]])
    preds = np.array([[0, 0], [0, 0], [0, 0], [1, 1]])  # 4 models; mode 0 at both points
    d = zero_one_decomposition(preds, post.argmax(1), post)
    # point 0: y* = 0 = mode, V = .25, N = .2, c1 = .5;  point 1: y* = 1 != mode, V = .25,
    # N = .3, c1 = 2 * .25 - 1 = -.5, c2 = -1
    assert d.bias == pytest.approx(0.5)
    assert d.variance == pytest.approx(0.25)
    assert d.noise == pytest.approx(0.25)
    assert d.extra["noise_term"] == pytest.approx((0.5 * 0.2 - 0.5 * 0.3) / 2)
    assert d.extra["variance_unbiased"] == pytest.approx(0.125)
    assert d.extra["variance_biased"] == pytest.approx(0.125)
    assert d.extra["net_variance"] == pytest.approx((0.25 - 0.25) / 2)
    # E[L] = 1 - Σ_c q_c p_c per point: 1 - (.75*.8 + .25*.2) and 1 - (.75*.3 + .25*.7)
    assert d.expected_loss == pytest.approx((0.35 + 0.6) / 2)
    assert d.total == pytest.approx(d.expected_loss)


def test_main_prediction_ties_go_to_the_smallest_label():
    preds = np.array([[2, 1], [0, 1], [2, 0], [0, 0]])
    assert main_prediction(preds, 3).tolist() == [0, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identities_are_exact_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    k, g, c = 7, 40, 4
    sq = squared_error_decomposition(rng.normal(size=(k, g)), rng.normal(size=g), 0.3)
    assert sq.expected_loss == pytest.approx(sq.total, rel=1e-12)
    post = rng.dirichlet(np.ones(c), size=g)
    d = zero_one_decomposition(rng.integers(0, c, size=(k, g)), post.argmax(1), post)
    assert d.expected_loss == pytest.approx(d.total, rel=1e-12)
    assert d.extra["variance_unbiased"] + d.extra["variance_biased"] == pytest.approx(d.variance)


def test_noise_free_zero_one_reduces_to_bias_plus_net_variance():
    rng = np.random.default_rng(3)
    preds, target = rng.integers(0, 3, size=(9, 30)), rng.integers(0, 3, size=30)
    d = zero_one_decomposition(preds, target)
    assert d.noise == 0 and d.extra["noise_term"] == 0
    assert d.expected_loss == pytest.approx(np.mean(preds != target))
    assert d.expected_loss == pytest.approx(d.bias + d.extra["net_variance"])
    # any labels work without posteriors: strings give the same numbers
    names = np.array(["a", "b", "c"])
    s = zero_one_decomposition(names[preds], names[target])
    assert s.as_tuple() == pytest.approx(d.as_tuple())


# ----------------------------------------------------------------- Monte-Carlo error


def test_mc_stderr_matches_the_spread_of_repeated_label_draws():
    """The reported standard error of (measured − sum) is the real spread over label draws."""
    rng = np.random.default_rng(4)
    k, g, sigma = 20, 60, 0.5
    f = np.sin(np.linspace(-1, 1, g))
    preds = f + rng.normal(0, 0.3, size=(k, g)) + 0.2
    post = rng.dirichlet(np.ones(3) * 2, size=g)
    labels = rng.integers(0, 3, size=(k, g))
    diffs_sq, se_sq, diffs_01, se_01 = [], [], [], []
    for _ in range(300):
        y = f + sigma * rng.standard_normal((k, g))
        d = squared_error_decomposition(preds, f, sigma**2, y_draws=y)
        diffs_sq.append(d.expected_loss - d.total)
        se_sq.append(d.mc_stderr)
        t = (rng.random((k, g, 1)) > np.cumsum(post, 1)[None, :, :-1]).sum(2)
        z = zero_one_decomposition(labels, post.argmax(1), post, y_draws=t)
        diffs_01.append(z.expected_loss - z.total)
        se_01.append(z.mc_stderr)
    for diffs, se in ((diffs_sq, se_sq), (diffs_01, se_01)):
        assert abs(np.mean(diffs)) < 4 * np.std(diffs) / np.sqrt(len(diffs))  # unbiased
        assert np.mean(se) == pytest.approx(np.std(diffs), rel=0.15)


# ---------------------------------------------- closed form: OLS on a linear function


def test_ols_on_linear_f_has_zero_bias_and_the_closed_form_variance():
    """Fixed design A = [1, x], y = 2 + 3x + ε: OLS is unbiased and
    Var(x_g) = σ² [1, x_g] (AᵀA)⁻¹ [1, x_g]ᵀ, averaged over the grid."""
    sigma, n, k = 0.5, 12, 1000
    x_train = np.linspace(-1, 1, n)[:, None]
    x_grid = np.linspace(-1.5, 1.5, 25)[:, None]

    def sampler(m, rng):
        return x_train, 2 + 3 * x_train[:, 0] + sigma * rng.standard_normal(m)

    f_grid = 2 + 3 * x_grid[:, 0]
    d = bias_variance_decomp(
        LinearRegression(),
        x_grid,
        loss="mse",
        sampler=sampler,
        n_train=n,
        num_rounds=k,
        random_seed=0,
        f_test=f_grid,
        noise_var=sigma**2,
    )
    a = np.hstack([np.ones((n, 1)), x_train])
    g = np.hstack([np.ones((len(x_grid), 1)), x_grid])
    closed = sigma**2 * np.mean(np.einsum("gi,ij,gj->g", g, np.linalg.inv(a.T @ a), g))
    se = d.stderr["variance"]
    assert 0.5 * np.sqrt(2 / k) * closed < se < 2 * np.sqrt(2 / k) * closed  # jackknife is sane
    assert d.variance == pytest.approx(closed, abs=4 * se)
    assert abs(d.extra["bias_corrected"]) < 4 * d.stderr["bias"] + 1e-12
    assert d.bias < 5 * closed / k  # the plug-in bias² is only the Var/K of the mean
    assert d.expected_loss == pytest.approx(closed + sigma**2, abs=4 * d.stderr["expected_loss"])


# ------------------------------------------------- mlxtend's protocol, written out here


def mlxtend_reference(estimator, x_train, y_train, x_test, y_test, loss, num_rounds, seed):
    """mlxtend.evaluate.bias_variance_decomp as its documentation and source describe it:
    RandomState(seed); per round a bootstrap `rng.choice(arange(n), size=n, replace=True)`,
    refit the estimator, predict x_test; mode (argmax of bincount) or mean as main prediction;
    the test labels are the target."""
    rng = np.random.RandomState(seed)
    preds = []
    for _ in range(num_rounds):
        idx = rng.choice(np.arange(len(x_train)), size=len(x_train), replace=True)
        preds.append(estimator.fit(x_train[idx], y_train[idx]).predict(x_test))
    preds = np.array(preds)
    if loss == "0-1_loss":
        preds = preds.astype(np.int64)
        main = np.array([np.argmax(np.bincount(col)) for col in preds.T])
        expected = np.mean([(row != y_test).mean() for row in preds])
        bias = np.sum(main != y_test) / y_test.size
        var = sum((row != main).astype(np.int64) for row in preds) / num_rounds
        return expected, bias, var.sum() / y_test.size
    main = preds.mean(axis=0)
    expected = np.mean([((row - y_test) ** 2).mean() for row in preds])
    return (
        expected,
        np.sum((main - y_test) ** 2) / y_test.size,
        np.sum((main - preds) ** 2) / preds.size,
    )


def test_bootstrap_protocol_matches_mlxtend_on_a_regression_tree():
    x, y = make_regression(n_samples=120, n_features=3, noise=10.0, random_state=1)
    xtr, ytr, xte, yte = x[:80], y[:80], x[80:], y[80:]
    tree = DecisionTreeRegressor(max_depth=3, random_state=0)
    ref = mlxtend_reference(tree, xtr, ytr, xte, yte, "mse", 50, 123)
    ours = bias_variance_decomp(
        tree, xte, yte, x_train=xtr, y_train=ytr, loss="mse", num_rounds=50, random_seed=123
    )
    assert ours.as_tuple() == pytest.approx(ref, rel=1e-12)
    assert ours.expected_loss == pytest.approx(ours.bias + ours.variance, rel=1e-12)


def test_bootstrap_protocol_matches_mlxtend_on_a_classification_tree():
    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    xtr, ytr, xte, yte = x[:100], y[:100], x[100:], y[100:]
    tree = DecisionTreeClassifier(random_state=123)
    ref = mlxtend_reference(tree, xtr, ytr, xte, yte, "0-1_loss", 60, 7)
    ours = bias_variance_decomp(
        tree, xte, yte, x_train=xtr, y_train=ytr, loss="0-1", num_rounds=60, random_seed=7
    )
    assert ours.as_tuple() == pytest.approx(ref, rel=1e-12)
    assert ref[2] > 0  # the check is not vacuous: the trees do disagree


def test_bootstrap_sets_draw_mlxtend_indices():
    x, y = np.arange(10)[:, None], np.arange(10)
    rng = np.random.RandomState(5)
    for xb, yb in bootstrap_sets(x, y, 3, random_seed=5):
        idx = rng.choice(np.arange(10), size=10, replace=True)
        assert yb.tolist() == idx.tolist() and xb[:, 0].tolist() == idx.tolist()


def test_bad_calls_say_what_is_missing():
    with pytest.raises(ValueError, match="sampler"):
        bias_variance_decomp(LinearRegression(), np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="loss"):
        bias_variance_decomp(LinearRegression(), np.zeros((3, 1)), loss="hinge")
    with pytest.raises(ValueError, match=r"\(K, G\)"):
        squared_error_decomposition(np.zeros(3), np.zeros(3))
