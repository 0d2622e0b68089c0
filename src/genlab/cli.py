"""Running a stage: known failures become one line on stderr and exit status 2, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from genlab.config.base import ConfigError
from genlab.data.splits import DataError
from genlab.tracking import TrackingError

EXPECTED = (ConfigError, DataError, TrackingError, FileNotFoundError, ValueError)


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's `main`; `--help` prints what the stage reads and writes and does nothing."""
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        doc = getattr(sys.modules.get("__main__"), "__doc__", None) or f"Stage `{name}`."
        print(doc.strip())
        return
    try:
        main()
    except EXPECTED as err:
        print(f"genlab {name}: error: {err}", file=sys.stderr)
        sys.exit(2)
