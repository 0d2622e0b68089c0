"""Dataset generators: determinism, shapes, known ground truth and the on-disk format."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from genlab.data.digits import make_digits
from genlab.data.gaussians import (
    bayes_error,
    bayes_error_mc,
    class_means,
    make_gaussians,
    sample_gaussians,
    true_posteriors,
)
from genlab.data.mnist1d_signals import make_mnist1d
from genlab.data.poly import TRUE_FUNCTIONS, make_poly, sample_poly
from genlab.data.splits import DataError, Splits, load_splits, save_splits, stratified_split

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


def test_stratified_split_keeps_proportions() -> None:
    y = np.repeat(np.arange(4), [100, 200, 300, 400])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    parts = stratified_split(x, y, 0.2, 0.1, seed=0)
    x_tr, y_tr, x_va, y_va, x_te, y_te = parts
    assert (len(y_tr), len(y_va), len(y_te)) == (700, 200, 100)
    np.testing.assert_array_equal(np.bincount(y_va), [20, 40, 60, 80])
    np.testing.assert_array_equal(np.bincount(y_te), [10, 20, 30, 40])
    assert len(np.unique(np.concatenate([x_tr, x_va, x_te]))) == len(y)  # a partition
    for p, q in zip(parts, stratified_split(x, y, 0.2, 0.1, seed=0), strict=True):
        np.testing.assert_array_equal(p, q)


# ---------------------------------------------------------------- poly


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


# ---------------------------------------------------------------- gaussians


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


# ---------------------------------------------------------------- save / load


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Splits, dict, Path]:
    s = GENERATORS["gaussians"](0)
    return s, save_splits(s, tmp_path / "gauss", "gaussians"), tmp_path / "gauss"


def test_round_trip(saved) -> None:
    s, meta, out = saved
    loaded, meta2 = load_splits(out)
    _assert_same(s, loaded)
    assert meta2 == json.loads(json.dumps(meta))
    for name in ARRAYS:
        assert getattr(loaded, name).dtype == getattr(s, name).dtype


def test_meta_contents(saved) -> None:
    s, meta, out = saved
    assert meta["dataset"] == "gaussians" and meta["task"] == "classification"
    assert meta["n_classes"] == 3 and meta["input_shape"] == [4]
    assert meta["sizes"] == {"train": 60, "val": 30, "test": 30}
    assert meta["class_counts"]["train"] == [20, 20, 20]
    assert set(meta["sha256"]) == {"train", "val", "test"} and len(meta["content_hash"]) == 64
    assert meta["info"]["bayes_error"] == s.info["bayes_error"]
    assert json.loads((out / "meta.json").read_text()) == meta
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # no temp files left


def test_regression_meta_has_no_class_counts(tmp_path: Path) -> None:
    meta = save_splits(GENERATORS["poly"](0), tmp_path, "poly")
    assert meta["n_classes"] is None and "class_counts" not in meta
    assert meta["info"]["irreducible_error"] == pytest.approx(0.01)


def test_content_hash_is_reproducible(tmp_path: Path) -> None:
    a = save_splits(GENERATORS["poly"](5), tmp_path / "a", "poly")
    b = save_splits(GENERATORS["poly"](5), tmp_path / "b", "poly")
    c = save_splits(GENERATORS["poly"](6), tmp_path / "c", "poly")
    assert a["content_hash"] == b["content_hash"] != c["content_hash"]
    for split in ("train", "val", "test"):
        name = f"{split}.npz"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_corrupt_file_raises_naming_it(saved) -> None:
    _, _, out = saved
    path = out / "train.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="train.npz") as exc:
        load_splits(out)
    assert "dvc repro prepare" in str(exc.value)


def test_unreadable_file_raises(saved) -> None:
    _, _, out = saved
    # Garbage whose hash is recorded, so it is np.load (not the hash check) that must fail.
    path = out / "val.npz"
    path.write_bytes(b"not a zip file")
    meta_on_disk = json.loads((out / "meta.json").read_text())
    meta_on_disk["sha256"]["val"] = hashlib.sha256(b"not a zip file").hexdigest()
    (out / "meta.json").write_text(json.dumps(meta_on_disk))
    with pytest.raises(DataError, match="val.npz.*unreadable"):
        load_splits(out)


@pytest.mark.parametrize("missing", ["test.npz", "meta.json"])
def test_missing_file_raises(saved, missing: str) -> None:
    _, _, out = saved
    (out / missing).unlink()
    with pytest.raises(DataError, match=missing.replace(".", r"\.")) as exc:
        load_splits(out)
    assert "missing" in str(exc.value) and "dvc repro prepare" in str(exc.value)
