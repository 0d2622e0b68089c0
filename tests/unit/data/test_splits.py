"""genlab.data.splits: a stratified partition, and the on-disk format (round trip, metadata,
content hash, a corrupt, unreadable or missing file named)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from genlab.data.splits import DataError, Splits, load_splits, save_splits, stratified_split
from tests.unit.data.test_data import ARRAYS, GENERATORS, _assert_same


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
