"""Running a stage: known failures become one line on stderr and exit status 2, no traceback."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from genlab.config.base import ConfigError
from genlab.data.splits import DataError
from genlab.tracking import TrackingError, close_my_runs

EXPECTED = (ConfigError, DataError, TrackingError, FileNotFoundError, ValueError)


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's `main`; `--help` prints what the stage reads and writes and does nothing."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        doc = getattr(sys.modules.get("__main__"), "__doc__", None) or f"Stage `{name}`."
        print(doc.strip())
        return
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
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
        if not _tracking_failure(err):
            raise
        uri = os.environ.get("MLFLOW_TRACKING_URI", "the tracking server")
        print(
            f"genlab {name}: error: MLflow at {uri} stopped answering mid-run "
            f"({type(err).__name__}): restart it (`make team-up` for the local team stack) "
            "and rerun the stage",
            file=sys.stderr,
        )
        sys.exit(2)


# What MLflow's HTTP client says when the server is gone or hangs (after its retries).
_GONE = ("Max retries exceeded", "Connection refused", "Read timed out", "ConnectionError")


def _tracking_failure(err: BaseException) -> bool:
    """An MLflow client call that failed because the server went away (not a bug of ours)."""
    module = type(err).__module__
    if not module.startswith(("mlflow", "requests", "urllib3")):
        return False
    return any(marker in f"{type(err).__name__}: {err}" for marker in _GONE)
