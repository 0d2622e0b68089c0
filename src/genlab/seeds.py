"""Claims over seeds: a number is a mean and a spread, a claim holds where every seed says so.

One seed's run is one draw of the initialisation and the shuffling: a difference between two
variants smaller than the seed-to-seed spread is no finding. The multi-seed studies
(`regularization`, `optimizers`) run every variant with `seed_list` and report `mean_std`;
a lecture claim is a `verdict` over its per-seed outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def seed_list(seed: int, n: int) -> list[int]:
    """`seed`, `seed`+1, …: params' own seed first, so a one-seed run is one of them."""
    return [seed + i for i in range(n)]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1) of the finite values; NaN where there are too few."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    mean = float(np.mean(x)) if len(x) else math.nan
    return mean, float(np.std(x, ddof=1)) if len(x) >= 2 else math.nan


def verdict(per_seed: Sequence[bool | None]) -> dict[str, object]:
    """A claim over seeds: it holds only where every seed says so, fails where none does, and
    is within the noise (`holds` None) where they disagree. A seed that could not decide it
    (None: a variant it needs diverged there) counts as not holding, and makes a failure
    undecided too; `seeds_decided` then says how many could."""
    n = len(per_seed)
    k = sum(v is True for v in per_seed)
    decided = sum(v is not None for v in per_seed)
    holds = True if k == n else (False if k == 0 and decided == n else None)
    out: dict[str, object] = {"holds": holds, "seeds_holding": k, "seeds": n}
    if decided < n:
        out["seeds_decided"] = decided
    return out
