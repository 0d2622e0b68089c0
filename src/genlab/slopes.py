"""Power-law exponents: the slope of log(y) on log(x), fitted once, the same way everywhere.

Both scaling questions of the project ("does the best learning rate grow with the batch size?"
in `tune` and `lr_range`) read an exponent s of y ∝ x^s. `scipy.stats.linregress` on the logs
gives it with its standard error, so the two stages cannot drift apart in how they fit it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def loglog_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Ordinary least squares of log(y) on log(x) (natural logs; the slope does not depend on
    the base): slope, intercept, their standard errors, r² and the number of points.

    Everything is NaN below two distinct x; the standard errors need three points (n − 2
    degrees of freedom) and are NaN with two. x and y must be positive.
    """
    lx = np.log(np.asarray(x, dtype=float))
    ly = np.log(np.asarray(y, dtype=float))
    n, nan = len(lx), math.nan
    if n < 2 or len(set(lx.tolist())) < 2:
        keys = ("slope", "slope_stderr", "intercept", "intercept_stderr", "r2")
        return {**dict.fromkeys(keys, nan), "n_points": n}
    r = stats.linregress(lx, ly)
    return {
        "slope": float(r.slope),
        "slope_stderr": float(r.stderr) if n > 2 else nan,
        "intercept": float(r.intercept),
        "intercept_stderr": float(r.intercept_stderr) if n > 2 else nan,
        "r2": float(r.rvalue**2),
        "n_points": n,
    }
