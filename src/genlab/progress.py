"""One short stdout line per finished unit of a long stage (variant, trial, level), with a count
and an ETA, so a stage that trains for half a minute is not silent.

`regularization: 3/9 dropout done in 2.1 s, ETA 13 s`. Lines go to stdout (DVC shows them
live); Lightning's own bar is unaffected and still appears on terminals.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def seconds(s: float) -> str:
    """`0.4 s`, `13 s`, `2 min 05 s`: short, and precise where it matters."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest:02d} s"


def line(stage: str, done: int, total: int, label: str, took: float, eta: float | None) -> str:
    """The progress line; `eta` None (nothing left) reports the end instead."""
    tail = f", ETA {seconds(eta)}" if eta is not None and done < total else ""
    return f"{stage}: {done}/{total} {label} done in {seconds(took)}{tail}"


class Progress:
    """Counts finished units and prints one line each; the ETA is the mean time per unit so far
    times the units left (units finished before this process started are not timed)."""

    def __init__(
        self,
        stage: str,
        total: int,
        *,
        done: int = 0,
        clock: Callable[[], float] = time.monotonic,
        out: TextIO | None = None,
    ) -> None:
        self.stage, self.total, self.done = stage, total, done
        self._first_done = done
        self._clock = clock
        self._out = out
        self._start = self._last = clock()

    def step(self, label: str, done: int | None = None) -> str:
        """One unit finished (`done`: the new count where others count too, e.g. a study
        shared by several workers); prints and returns the line."""
        now = self._clock()
        self.done = self.done + 1 if done is None else done
        timed = self.done - self._first_done
        rate = (now - self._start) / timed if timed > 0 else None
        eta = rate * max(0, self.total - self.done) if rate is not None else None
        text = line(self.stage, self.done, self.total, label, now - self._last, eta)
        self._last = now
        print(text, file=self._out or sys.stdout, flush=True)
        return text
