"""Which params keys a stage's code reads, recorded while it runs.

DVC reruns a stage when a params key that dvc.yaml *declares* for it changes; a key the code
reads but dvc.yaml does not declare is a stale result waiting to happen. Reading the code
cannot tell which keys it uses (`t = params.train; ... t.optimizer.lr`, a section handed to a
helper); recording the reads of a real run can. `tests/integration/test_params_read.py` runs
the pipeline with recording on and checks every key a stage read against its declaration.

Off unless the environment names a folder in `GENLAB_PARAMS_READ`: then each stage process
writes `<folder>/<stage>.<pid>.json` (the sorted keys) when it exits. A read is a field that
holds a value (a number, a list; `model_dump` reads every value under its section). Not reads:
validation; what only MLflow sees (`unrecorded`); and a key a study replaced in its variant
(`with_overrides`, `model_copy(update=...)`): that value is the study's, not params.yaml's.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from genlab.config.base import Strict

ENV = "GENLAB_PARAMS_READ"

_keys: set[str] | None = None  # None: not recording
_paused = 0


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _sections(root: Strict, key: str = "") -> Iterator[tuple[Strict, str]]:
    """Each section of a tree with its dotted key, the root's first."""
    yield root, key
    for name in type(root).model_fields:
        value = object.__getattribute__(root, name)
        if isinstance(value, Strict):
            yield from _sections(value, _join(key, name))


def replaced(root: Strict) -> frozenset[str]:
    """The keys a variant's tree holds the study's values for, not params.yaml's."""
    private = (object.__getattribute__(s, "__pydantic_private__") for s, _ in _sections(root))
    return frozenset().union(*(p["_overridden"] for p in private))


def assign_keys(root: Strict, overridden: Iterable[str] = ()) -> None:
    """Name each section of a validated params tree (`train.optimizer`) and give it the keys a
    variant replaced (`overridden`)."""
    replaced = frozenset(overridden)
    for section, key in list(_sections(root)):
        section._key, section._overridden = key, replaced


def _record(section: Strict, name: str) -> None:
    private = object.__getattribute__(section, "__pydantic_private__")
    if _paused or private["_key"] is None:
        return
    key = _join(private["_key"], name)
    if not any(key == o or key.startswith(f"{o}.") for o in private["_overridden"]):
        _keys.add(key)


def _getattribute(self: Strict, name: str):
    value = object.__getattribute__(self, name)
    if name in type(self).model_fields and not isinstance(value, Strict):
        _record(self, name)
    return value


_model_dump, _model_copy = Strict.model_dump, Strict.model_copy


def _dump(self: Strict, *args, include=None, exclude=None, **kwargs):
    _read_all(self, include, exclude)
    return _model_dump(self, *args, include=include, exclude=exclude, **kwargs)


def _read_all(section: Strict, include=None, exclude=None) -> None:
    """What a dump reads: every value under the section that `include` / `exclude` (a set of
    names, or a mapping of them to nested sets) leave in."""
    for name in type(section).model_fields:
        nested = exclude.get(name) if isinstance(exclude, dict) else None
        if (include is not None and name not in include) or (
            exclude is not None and name in exclude and not isinstance(nested, set | dict)
        ):
            continue
        value = object.__getattribute__(section, name)
        if isinstance(value, Strict):
            _read_all(value, None, nested)
        else:
            _record(section, name)


def _copy(self: Strict, *, update: dict | None = None, deep: bool = False) -> Strict:
    copy = _model_copy(self, update=update, deep=deep)
    private = object.__getattribute__(self, "__pydantic_private__")
    if private["_key"] is not None and update:
        replaced = {_join(private["_key"], k) for k, v in update.items()
                    if not isinstance(v, Strict)}
        copy._overridden = private["_overridden"] | replaced
    return copy


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """What the params machinery itself reads (validation, copies) is not the stage's."""
    global _paused
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1


def unrecorded(fn: Callable) -> Callable:
    """`fn` reads params for MLflow only (run params, tags): those reads change no output."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)

    return wrapper


def record_if_asked(stage: str) -> None:
    """Record this process's reads for `stage` when `GENLAB_PARAMS_READ` names a folder."""
    folder = os.environ.get(ENV)
    if folder and _keys is None:
        start()
        atexit.register(_write, Path(folder) / f"{stage}.{os.getpid()}.json")


def start() -> None:
    """Record every read from now on (into `recorded()`)."""
    global _keys
    _keys = set()
    # Only now: a run that records nothing pays nothing for it.
    Strict.__getattribute__ = _getattribute
    Strict.model_dump, Strict.model_copy = _dump, _copy


def recorded() -> list[str]:
    """The keys read since `start`, sorted."""
    return sorted(_keys or ())


def _write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recorded(), indent=1))
