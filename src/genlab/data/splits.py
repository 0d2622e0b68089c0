"""Train/val/test containers and their on-disk form.

Splits are written as plain (uncompressed) ``.npz`` files plus a ``meta.json`` holding
sha256 hashes, so the bytes are deterministic for a seed and DVC/MLflow can tell whether
two runs saw the same data.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPLIT_NAMES = ("train", "val", "test")
FIX_HINT = "run `dvc repro prepare` to regenerate it"


class DataError(RuntimeError):
    """A prepared data file is missing, unreadable or does not match its metadata."""


@dataclass
class Splits:
    """The three splits of one dataset plus the facts needed to interpret results on it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "regression" | "classification"
    n_classes: int | None  # None for regression
    info: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable dataset facts

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` for ``"train"``, ``"val"`` or ``"test"``."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLIT_NAMES}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def stratified_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into train/val/test keeping class proportions, deterministically for ``seed``.

    Returns ``(x_train, y_train, x_val, y_val, x_test, y_test)``. The test set is carved
    out first, then val is taken from the rest so ``val_fraction`` is of the whole data.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"need 0 < val_fraction, test_fraction and their sum < 1; "
            f"got {val_fraction}, {test_fraction}"
        )
    # here, not at the top: scikit-learn (and the torch its array API checks pull in) costs
    # about a second of every stage's start-up, also of those that never split data
    from sklearn.model_selection import train_test_split

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    val_of_rest = val_fraction / (1.0 - test_fraction)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_of_rest, random_state=seed, stratify=y_rest
    )
    return x_train, y_train, x_val, y_val, x_test, y_test


def classification_splits(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    info: dict[str, Any],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> Splits:
    """A classification dataset as Splits, divided by `stratified_split`."""
    parts = stratified_split(x, y, val_fraction, test_fraction, seed)
    return Splits(*parts, task="classification", n_classes=n_classes, info=info)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write: Any, mode: str = "wb") -> None:
    """Write via a temp file in the same directory and rename, so readers never see half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; prepared data should be readable like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _class_counts(y: np.ndarray, n_classes: int) -> list[int]:
    return np.bincount(y.astype(np.int64), minlength=n_classes).tolist()


def save_splits(splits: Splits, out_dir: Path, name: str) -> dict[str, Any]:
    """Write ``train/val/test.npz`` and ``meta.json`` into ``out_dir``; return the meta dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    file_hashes: dict[str, str] = {}
    for split in SPLIT_NAMES:
        x, y = splits.split(split)
        path = out_dir / f"{split}.npz"
        # Uncompressed savez stores members with zip's fixed default timestamp, so equal
        # arrays give equal bytes and hashes (checked by tests/unit/data/test_splits.py).
        _atomic_write(path, lambda f, x=x, y=y: np.savez(f, x=x, y=y))
        file_hashes[split] = _sha256_file(path)

    content_hash = hashlib.sha256(
        "".join(file_hashes[s] for s in SPLIT_NAMES).encode("ascii")
    ).hexdigest()
    meta: dict[str, Any] = {
        "dataset": name,
        "task": splits.task,
        "n_classes": splits.n_classes,
        "sizes": {s: int(len(splits.split(s)[1])) for s in SPLIT_NAMES},
        "input_shape": list(splits.x_train.shape[1:]),
        "info": splits.info,
        "files": {s: f"{s}.npz" for s in SPLIT_NAMES},
        "sha256": file_hashes,
        "content_hash": content_hash,
    }
    if splits.task == "classification" and splits.n_classes is not None:
        meta["class_counts"] = {
            s: _class_counts(splits.split(s)[1], splits.n_classes) for s in SPLIT_NAMES
        }
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    _atomic_write(out_dir / "meta.json", lambda f: f.write(text), mode="w")
    return meta


def _load_npz(path: Path, expected_sha: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"data file {path} is missing; {FIX_HINT}")
    actual = _sha256_file(path)
    if actual != expected_sha:
        raise DataError(
            f"data file {path} does not match its sha256 in meta.json "
            f"(expected {expected_sha[:12]}…, got {actual[:12]}…); {FIX_HINT}"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz["x"]), np.asarray(npz["y"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"data file {path} is unreadable ({exc}); {FIX_HINT}") from exc


def load_splits(in_dir: Path) -> tuple[Splits, dict[str, Any]]:
    """Read splits written by :func:`save_splits`, verifying every file against meta.json."""
    in_dir = Path(in_dir)
    meta_path = in_dir / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"metadata file {meta_path} is missing; {FIX_HINT}")
    try:
        meta = json.loads(meta_path.read_text())
        hashes = {s: str(meta["sha256"][s]) for s in SPLIT_NAMES}
        task = meta["task"]
        n_classes = meta["n_classes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"metadata file {meta_path} is unreadable ({exc}); {FIX_HINT}") from exc

    arrays: dict[str, np.ndarray] = {}
    for split in SPLIT_NAMES:
        x, y = _load_npz(in_dir / f"{split}.npz", hashes[split])
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    splits = Splits(**arrays, task=task, n_classes=n_classes, info=meta.get("info", {}))
    return splits, meta
