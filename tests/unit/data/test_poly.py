"""genlab.data.poly: the true functions, the noise, the dataset it makes."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.data.poly import TRUE_FUNCTIONS, make_poly, sample_poly


@pytest.mark.parametrize("function", sorted(TRUE_FUNCTIONS))
def test_poly_noise_free_is_exactly_f(function: str) -> None:
    x, y = sample_poly(function, 0.0, 200, np.random.default_rng(0))
    assert x.shape == (200, 1) and x.dtype == np.float32 and y.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_array_equal(y, TRUE_FUNCTIONS[function](x[:, 0]).astype(np.float32))


def test_poly_known_values() -> None:
    x = np.array([-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(TRUE_FUNCTIONS["sine"](x), [0.0, 0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(TRUE_FUNCTIONS["cubic"](x), [-0.5, 0.0, -0.125, 0.5])
    np.testing.assert_allclose(TRUE_FUNCTIONS["runge"](x), [1 / 26, 1.0, 1 / 7.25, 1 / 26])


def test_poly_noise_variance_matches_sigma() -> None:
    sigma, n = 0.3, 100_000
    x, y = sample_poly("cubic", sigma, n, np.random.default_rng(1), x_min=-2.0, x_max=2.0)
    assert x.min() >= -2.0 and x.max() <= 2.0
    resid = y.astype(np.float64) - TRUE_FUNCTIONS["cubic"](x[:, 0].astype(np.float64))
    var = resid.var()
    # sd of the sample variance is sigma^2 * sqrt(2 / n), about 0.4% here.
    assert abs(var - sigma**2) < 5 * sigma**2 * np.sqrt(2 / n)
    assert abs(resid.mean()) < 5 * sigma / np.sqrt(n)


def test_make_poly_info_and_sizes() -> None:
    s = make_poly("runge", 0.2, 30, 10, 5, -1.0, 1.0, seed=0)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (30, 10, 5)
    assert s.info["function"] == "runge" and s.info["noise_sigma"] == 0.2
    assert s.info["irreducible_error"] == pytest.approx(0.04)
    assert (s.info["x_min"], s.info["x_max"]) == (-1.0, 1.0)


def test_poly_unknown_function_lists_names() -> None:
    with pytest.raises(ValueError, match="cubic.*runge.*sine"):
        make_poly("tanh", 0.1, 10, 10, 10, -1.0, 1.0, 0)
