"""Writing stage outputs so that a crash never leaves a half-written file behind."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

_WRITTEN: list[Path] = []


def written() -> list[Path]:
    """The files this process has written so far: a stage that fails afterwards (its tracking
    server gone) says which outputs it still wrote."""
    return list(_WRITTEN)


def write_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file in the same folder, then rename over the target: a full disk or a
    read-only folder leaves the earlier file as it was. Such an OSError names the target (not
    the temp file), so the stage's one-line error says which output could not be written."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be read by others
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:
            raise type(err)(err.errno, err.strerror, str(path)) from err
        raise
    _WRITTEN.append(path)
    return path


def _jsonable(value: object) -> object:
    """NaN/inf are not JSON: they become null, so `dvc metrics show` still parses the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_json(path: str | Path, data: Mapping) -> Path:
    return write_atomic(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, what: str, fix: str) -> dict:
    """Read a JSON file another stage wrote; a missing or corrupt one names itself and the fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} ({what}) is missing: {fix}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} ({what}) is corrupt ({err}): {fix}") from None


def write_csv(path: str | Path, rows: Iterable[Mapping[str, object]]) -> Path:
    rows = list(rows)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _fmt(v) for k, v in r.items()})
    return write_atomic(path, buf.getvalue())


def _fmt(v: object) -> object:
    return f"{v:.6g}" if isinstance(v, float) else v


def reproducible_history(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per-epoch rows without wall-clock time: a DVC output must be the same bytes on a rerun
    with the same params, and seconds never are (the curves in MLflow keep them)."""
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]
