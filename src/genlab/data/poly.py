"""1-D regression ``y = f(x) + eps`` with a known true function and noise level.

Knowing ``f`` and ``sigma`` exactly is the point: the irreducible error is ``sigma**2``, so
bias/variance experiments can decompose a model's test error against ground truth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genlab.data.splits import Splits


def _sine(x: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * x)


def _cubic(x: np.ndarray) -> np.ndarray:
    return x**3 - 0.5 * x


def _runge(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + 25.0 * x**2)


# True functions, meant for the domain [-1, 1] (runge is the classic case where
# high-degree polynomial interpolation oscillates near the edges of that interval).
TRUE_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sine": _sine,
    "cubic": _cubic,
    "runge": _runge,
}


def true_function(function: str) -> Callable[[np.ndarray], np.ndarray]:
    """Look up a true function by name, with an error that lists the valid names."""
    try:
        return TRUE_FUNCTIONS[function]
    except KeyError:
        raise ValueError(
            f"unknown function {function!r}; expected one of {sorted(TRUE_FUNCTIONS)}"
        ) from None


def sample_poly(
    function: str,
    noise_sigma: float,
    n: int,
    rng: np.random.Generator,
    x_min: float = -1.0,
    x_max: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points: x ~ U[x_min, x_max] of shape (n, 1), y = f(x) + N(0, sigma^2), float32.

    Takes a Generator (not a seed) so bias/variance code can draw many training sets in turn.
    """
    f = true_function(function)
    if noise_sigma < 0:
        raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
    if not x_min < x_max:
        raise ValueError(f"need x_min < x_max, got {x_min}, {x_max}")
    x = rng.uniform(x_min, x_max, size=(n, 1)).astype(np.float32)
    noise = rng.normal(0.0, noise_sigma, size=n) if noise_sigma > 0 else np.zeros(n)
    # f is evaluated on the float32 x actually returned, so noise-free y equals f(x) exactly.
    y = (f(x[:, 0]) + noise).astype(np.float32)
    return x, y


def make_poly(
    function: str,
    noise_sigma: float,
    n_train: int,
    n_val: int,
    n_test: int,
    x_min: float = -1.0,
    x_max: float = 1.0,
    seed: int = 0,
) -> Splits:
    """Build independent train/val/test draws from the same ``f`` and noise level."""
    true_function(function)
    rng = np.random.default_rng(seed)
    x_train, y_train = sample_poly(function, noise_sigma, n_train, rng, x_min, x_max)
    x_val, y_val = sample_poly(function, noise_sigma, n_val, rng, x_min, x_max)
    x_test, y_test = sample_poly(function, noise_sigma, n_test, rng, x_min, x_max)
    info = {
        "function": function,
        "noise_sigma": float(noise_sigma),
        "irreducible_error": float(noise_sigma) ** 2,
        "x_min": float(x_min),
        "x_max": float(x_max),
    }
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, "regression", None, info)
