"""The polyfit study (genlab.stages.polyfit): exact least squares and GD through Lightning.

The data (prepared train/val points, a larger fresh test sample), least squares as the true
minimiser, the effective number of parameters GD has fitted, the validated variants, and config
errors. The real stage: tests/integration/test_polyfit.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from genlab.config import ConfigError, parse_params, with_overrides
from genlab.data import make_splits
from genlab.stages import polyfit as pf


@pytest.fixture
def poly_params(tiny_params):
    return with_overrides(tiny_params, {"polyfit.n_test": 700})


def test_train_and_val_are_the_prepared_points_and_test_is_fresh(poly_params):
    splits = pf.polyfit_splits(poly_params)
    prepared = make_splits(
        with_overrides(
            poly_params, {"data.name": "poly", "model.name": "poly", "train.loss": "mse"}
        ).data,
        poly_params.seed,
    )
    np.testing.assert_array_equal(splits.x_train, prepared.x_train)
    np.testing.assert_array_equal(splits.y_val, prepared.y_val)
    assert len(splits.y_test) == 700
    assert not np.isin(splits.x_test, splits.x_train).any()


def test_least_squares_is_the_minimiser_and_matches_monomials_at_low_degree(poly_params):
    splits = pf.polyfit_splits(poly_params)
    x, y = splits.x_train[:, 0].astype(np.float64), splits.y_train.astype(np.float64)
    for degree in (1, 3, 6):
        coef, m = pf.least_squares(splits, degree)
        mono = np.polyval(np.polyfit(x, y, degree), x)  # same space, another basis
        assert m["train/loss"] == pytest.approx(np.mean((mono - y) ** 2), rel=1e-9)
        # any perturbation of the coefficients raises the training MSE
        phi = pf.legendre_design(splits.x_train, degree, -1.0, 1.0)
        worse = np.mean((phi @ (coef + 1e-3) - y) ** 2)
        assert worse > m["train/loss"]
        assert m["gap/loss"] == pytest.approx(m["test/loss"] - m["train/loss"])
    # Legendre stays better conditioned than raw powers at high degree
    _, high = pf.least_squares(splits, 20)
    assert high["cond/legendre"] * 100 < high["cond/monomial"]


def test_effective_params_counts_the_directions_gd_has_fitted(poly_params):
    splits = pf.polyfit_splits(poly_params)
    assert pf.effective_params(splits, 3, 0.5, 10_000) == pytest.approx(4.0)
    assert pf.effective_params(splits, 3, 0.5, 0) == pytest.approx(0.0)
    few = pf.effective_params(splits, 20, 0.5, 100)
    assert 5 < few < 20  # the slow directions of degree 20 are not fitted in 100 updates


def test_gd_variant_is_validated_like_params_yaml(poly_params):
    v = pf.gd_params(poly_params, 7)
    assert (v.model.name, v.model.poly.degree, v.train.loss) == ("poly", 7, "mse")
    assert v.train.optimizer.name == "gd" and not v.train.early_stopping.enabled
    with pytest.raises(ConfigError, match="less than or equal to 60"):
        pf.gd_params(poly_params, 61)


def test_sweep_always_includes_the_curve_degrees():
    p = parse_params({"polyfit": {"degrees": [2, 3], "curve_degrees": [1, 4]}})
    assert p.polyfit.sweep() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "section,message",
    [
        ({"polyfit": {"degrees": [1, 1]}}, "polyfit.degrees = [1, 1]: repeats an entry"),
        ({"polyfit": {"gd": {"lr": 0}}}, "polyfit.gd.lr = 0: Input should be greater than 0"),
        ({"polyfit": {"n_tset": 5}}, "polyfit.n_tset: unknown key"),
        ({"polyfit": {"curve_degrees": [61]}}, "polyfit.curve_degrees.0 = 61"),
    ],
)
def test_bad_values_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        parse_params(section)
    assert message in str(err.value)

