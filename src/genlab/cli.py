"""Running a stage: known failures become one line on stderr and exit status 2, no traceback."""

from __future__ import annotations

import argparse
import atexit
import errno
import gc
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genlab import stage_paths, tracking
from genlab.config import reads
from genlab.config.base import ConfigError
from genlab.data.splits import DataError
from genlab.outputs import written
from genlab.study import run_study
from genlab.tracking import TrackingError, close_my_runs

EXPECTED = (ConfigError, DataError, TrackingError, FileNotFoundError, ValueError)


def gc_for_long_lived_imports() -> None:
    """Python's cyclic GC tuned for a process that imports torch, Lightning and MLflow
    (hundreds of thousands of objects, all kept to the end): a stage, or a test process.

    The default GC walks them again and again: while they load (young objects are collected
    every 700 allocations by default; every 10,000 here, and every cycle is still collected),
    and at exit, when the interpreter tears every module down (objects frozen by the last
    atexit handler are left out of those walks). A tiny `train` process: 8.3 s -> 5.6 s on the
    2-core development machine.
    """
    gc.set_threshold(10_000, 10, 10)
    atexit.register(gc.freeze)


def run_stage(
    name: str,
    main: Callable[..., None] | str,
    paths: Sequence[str] = (),
    parser: argparse.ArgumentParser | None = None,
) -> None:
    """Run a stage; `--help` prints what the stage reads and writes and does nothing.

    `main`: the stage's function, or the module of its study (`genlab.stages.<stage>`, run
    through the study contract: `genlab.study`). `paths`: the `--path` arguments dvc.yaml's
    `cmd` gives the stage (`genlab.stage_paths`; `parser` when the stage takes more than one
    path per flag); `main` is then called with them (an argparse namespace), else with nothing.
    """
    gc_for_long_lived_imports()
    if isinstance(main, str):
        main = run_study(main)
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        doc = getattr(sys.modules.get("__main__"), "__doc__", None) or f"Stage `{name}`."
        print(doc.strip())
        return
    reads.record_if_asked(name)  # tests: which params keys this stage reads (GENLAB_PARAMS_READ)
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    # MLflow logs a SQLite error with its traceback and then raises it: the raised one is
    # reported below (one line, or a traceback for what is not known), so the log copy goes.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    try:
        if paths:
            parser = parser or stage_paths.parser_for(name, paths)
            main(stage_paths.parse(name, parser, paths))
        else:
            main()
    except (KeyboardInterrupt, SystemExit) as err:
        # Lightning turns Ctrl-C into SystemExit(1) after its own graceful shutdown
        if not interrupted and not isinstance(err, KeyboardInterrupt):
            raise
        close_my_runs("KILLED", "interrupted (Ctrl-C / SIGINT)")
        print(f"genlab {name}: interrupted; its MLflow runs are marked KILLED", file=sys.stderr)
        sys.exit(130)
    except EXPECTED as err:
        close_my_runs("FAILED", str(err))
        print(f"genlab {name}: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        close_my_runs("FAILED", f"{type(err).__name__}: {err}")
        from genlab.distributed import peer_failure  # lazy: lightning only when needed

        if peer_failure(err):
            # "[.../gloo/.../pair.cc:553] Connection closed by peer [host]:port. This is ..."
            first = re.sub(r"^\[[^\]]*\]\s*", "", str(err).strip()).split(". ")[0][:120]
            print(
                f"genlab {name}: error: another training process (DDP rank or node) died or "
                f"stopped answering ({type(err).__name__}: {first}); its MLflow run is marked "
                "FAILED: see that node's log, then rerun the stage on every node",
                file=sys.stderr,
            )
            sys.exit(2)
        if _tracking_failure(err):
            print(f"genlab {name}: error: {_tracking_line(err)}", file=sys.stderr)
            sys.exit(2)
        line = _storage_line(err)
        if line is None:
            raise
        print(f"genlab {name}: error: {line}", file=sys.stderr)
        sys.exit(2)


# What MLflow's HTTP client says when the server is gone or hangs (after its retries).
_GONE = ("Max retries exceeded", "Connection refused", "Read timed out", "ConnectionError")


def _tracking_failure(err: BaseException) -> bool:
    """An MLflow client call that failed because the server went away (not a bug of ours)."""
    module = type(err).__module__
    if not module.startswith(("mlflow", "requests", "urllib3")):
        return False
    return any(marker in f"{type(err).__name__}: {err}" for marker in _GONE)


def _tracking_line(err: BaseException) -> str:
    """The server went away; say which local outputs were written before it did."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "the tracking server")
    fix = "restart it (`make team-up` for the local team stack) and rerun the stage"
    files = [str(p) for p in written()]
    if not files:
        return f"MLflow at {uri} stopped answering mid-run ({type(err).__name__}): {fix}"
    shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    cut = ""
    if _CUT_SHORT in _notes(err):
        cut = " training stopped after the epoch in which it went away;"
    return (
        f"MLflow at {uri} stopped answering mid-run ({type(err).__name__}):{cut} the local "
        f"outputs written so far are kept ({shown}) but the MLflow run is incomplete: {fix}"
    )


_CUT_SHORT = "genlab: the fit stopped after the epoch in which tracking was lost"


def _notes(err: BaseException) -> list[str]:
    return list(getattr(err, "__notes__", []))


# OS errors a user fixes outside the project (space, permissions, something in the way).
_WRITE_FIX = {
    errno.ENOSPC: "free space on that disk, then rerun the stage",
    errno.EDQUOT: "free space within your disk quota, then rerun the stage",
    errno.EFBIG: "free space or lift the file size limit, then rerun the stage",
    errno.EROFS: "the file system is read-only: remount it or work in a writable copy",
    errno.EACCES: "make it writable for this user, then rerun the stage",
    errno.EPERM: "make it writable (permissions, `chattr -i`), then rerun the stage",
    errno.ENOTDIR: "a file stands where a folder is needed: move it away and rerun the stage",
    errno.EISDIR: "a folder stands where a file is needed: move it away and rerun the stage",
    errno.EEXIST: "a file stands where a folder is needed: move it away and rerun the stage",
}
# SQLite's own words (through SQLAlchemy and MLflow) for a store it cannot write.
_SQLITE = {
    "attempt to write a readonly database": (
        "it is read-only: make the file and its folder writable, or point "
        "MLFLOW_TRACKING_URI elsewhere, then rerun the stage"
    ),
    "database or disk is full": "free space on that disk, then rerun the stage",
    "disk I/O error": "check the disk and that the file is writable, then rerun the stage",
    "unable to open database file": (
        "make its folder writable, or point MLFLOW_TRACKING_URI elsewhere, then rerun the stage"
    ),
}


def _storage_line(err: BaseException) -> str | None:
    """One line for a failure to write a file or the MLflow SQLite store, or None.

    Looks through the exception's causes: Lightning and MLflow wrap the OSError or SQLite
    error they hit. Earlier outputs are intact because every write goes through a temp file.
    """
    for cause in _chain(err):
        if isinstance(cause, OSError) and cause.errno in _WRITE_FIX:
            path = cause.filename or "an output file"
            return f"cannot write {path}: {cause.strerror}: {_WRITE_FIX[cause.errno]}"
        for words, fix in _SQLITE.items():
            if words in str(cause):
                return f"cannot write {_store_path()}: {words}: {fix}"
    return None


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = err
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _store_path() -> str:
    """The SQLite file this process records into (set by the stage's `check_tracking`)."""
    uri = tracking.checked_uri() or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///").split("?")[0]))
    return "the MLflow store (mlflow.db)"


class TrackingGuard:
    """Keeps a fit's local outputs when the tracking server dies during it.

    Lightning's MLflow logger raises on the first call the dead server does not answer and the
    fit is lost with it. Wrapped by this guard, that call is remembered instead: the logger goes
    quiet (no more waits on the server), the fit stops at the end of the epoch (`callback`) and
    returns, the stage writes what was trained, then `check` raises the remembered error so that
    `run_stage` reports it. Lightning also no longer ends the run when the fit succeeds: the
    stage's tracker (`tracking.study`) ends it after the outputs are written, so a failed
    write ends it FAILED rather than FINISHED.

    Why the stage still exits 2 with its outputs written: DVC then does not record it as done,
    so the next `dvc repro` reruns it into a complete MLflow run; a 0 would leave outputs that
    DVC calls current while their run lacks its final tags (evaluate finds the run by the
    checkpoint's hash tag, which would be missing).
    """

    def __init__(self, logger: Any = None, spawned: bool = False) -> None:
        """`logger` is Lightning's MLFlowLogger, or None on a DDP rank that does not track.

        `spawned` (strategy `ddp_spawn`): the fit runs in processes started by pickling the
        logger and callbacks, out of this guard's sight; the guard then stays out of the way
        and a lost server fails the fit as it would without it.
        """
        self.error: BaseException | None = None
        self.spawned = spawned
        if logger is None or spawned:
            return
        for method in ("log_hyperparams", "log_metrics"):
            setattr(logger, method, self._guarded(getattr(logger, method)))
        end = self._guarded(logger.finalize)
        logger.finalize = lambda status="success": None if status == "success" else end(status)

    def _guarded(self, call: Callable) -> Callable:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.error is not None:
                return None
            try:
                return call(*args, **kwargs)
            except Exception as err:
                if not _tracking_failure(err):
                    raise
                self.error = err
                return None

        return guarded

    def callbacks(self) -> list[Any]:
        """The fit's callbacks for this guard: `callback()`, none under `ddp_spawn`."""
        return [] if self.spawned else [self.callback()]

    def callback(self) -> Any:
        """A Lightning callback that ends the fit after the epoch in which tracking was lost
        (every DDP rank needs it: the ranks agree on stopping)."""
        from lightning.pytorch.callbacks import Callback

        guard = self

        class StopWhenTrackingLost(Callback):
            def on_train_epoch_end(self, trainer, pl_module) -> None:
                lost = trainer.strategy.reduce_boolean_decision(guard.error is not None, all=False)
                if lost:
                    trainer.should_stop = True

        return StopWhenTrackingLost()

    def check(self) -> None:
        """Raise the tracking failure seen during the fit (call it after writing outputs)."""
        if self.error is not None:
            self.error.add_note(_CUT_SHORT)
            raise self.error
