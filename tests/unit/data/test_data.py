"""Every dataset generator (poly, gaussians, digits, MNIST-1D): same seed same data, shapes,
dtypes, the global RNG untouched. Each generator's ground truth: test_poly, test_gaussians;
splitting and the on-disk format: test_splits."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import numpy as np
import pytest

from genlab.data.digits import make_digits
from genlab.data.gaussians import (
    make_gaussians,
)
from genlab.data.mnist1d_signals import make_mnist1d
from genlab.data.poly import make_poly
from genlab.data.splits import Splits

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")

GENERATORS: dict[str, Callable[[int], Splits]] = {
    "poly": lambda seed: make_poly("sine", 0.1, 40, 20, 20, -1.0, 1.0, seed),
    "gaussians": lambda seed: make_gaussians(3, 4, 2.0, 1.0, 60, 30, 30, seed, 20_000),
    "digits": lambda seed: make_digits(0.15, 0.15, seed),
    "mnist1d": lambda seed: make_mnist1d(500, 0.15, 0.15, seed),
}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def generated(request: pytest.FixtureRequest) -> tuple[str, Splits, Splits, Splits]:
    """(name, seed 0, seed 0 again, seed 1), built once per module."""
    make = GENERATORS[request.param]
    return request.param, make(0), make(0), make(1)


def _assert_same(a: Splits, b: Splits) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.task, a.n_classes, a.info) == (b.task, b.n_classes, b.info)


# ---------------------------------------------------------------- all generators


def test_same_seed_same_data_other_seed_differs(generated) -> None:
    _, a, b, c = generated
    _assert_same(a, b)
    assert not np.array_equal(a.x_train, c.x_train)


def test_shapes_and_dtypes(generated) -> None:
    name, s, _, _ = generated
    width = {"poly": 1, "gaussians": 4, "digits": 64, "mnist1d": 40}[name]
    for split in ("train", "val", "test"):
        x, y = s.split(split)
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == width
        assert y.shape == (len(x),)
        if s.task == "regression":
            assert y.dtype == np.float32 and s.n_classes is None
        else:
            assert s.task == "classification" and y.dtype == np.int64
            assert y.min() >= 0 and y.max() < s.n_classes
    json.dumps(s.info)  # must be JSON-serialisable


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_global_rng_untouched(name: str) -> None:
    np.random.seed(1234)
    random.seed(1234)
    np_before, py_before = np.random.get_state(), random.getstate()
    GENERATORS[name](3)
    np_after = np.random.get_state()
    assert np_before[0] == np_after[0] and np_before[2:] == np_after[2:]
    np.testing.assert_array_equal(np_before[1], np_after[1])
    assert random.getstate() == py_before


def test_mnist1d_uses_all_samples_and_every_class() -> None:
    s = make_mnist1d(500, 0.2, 0.2, 0)
    ys = [s.y_train, s.y_val, s.y_test]
    assert sum(len(y) for y in ys) == 500
    for y in ys:
        assert set(np.unique(y)) == set(range(10))
