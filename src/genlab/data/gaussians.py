"""K overlapping isotropic Gaussian classes whose Bayes error is known.

With equal priors and a shared covariance ``sigma^2 I`` the optimal classifier is known in
closed form, so a trained model's test error can be compared with the best achievable one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

from genlab.data.splits import Splits

_MC_CHUNK = 50_000  # rows per Monte Carlo chunk, bounds memory for large dim


def class_means(
    n_classes: int, dim: int, separation: float, rng: np.random.Generator
) -> np.ndarray:
    """Return (K, d) class means whose minimum pairwise distance is exactly ``separation``.

    K == 2: ``±(separation / 2) e_1``, so the Bayes error is exactly ``Phi(-separation/(2 sigma))``.
    K > 2: K points drawn i.i.d. from N(0, I_d), centred, then scaled so the closest pair is
    ``separation`` apart. This works for any K and d (a regular simplex needs K <= d + 1), and
    the overlap, hence difficulty, is governed by the closest pair.
    """
    if n_classes == 2:
        means = np.zeros((2, dim))
        means[0, 0], means[1, 0] = separation / 2.0, -separation / 2.0
        return means
    means = rng.standard_normal((n_classes, dim))
    means -= means.mean(axis=0)
    return means * (separation / _min_pairwise_distance(means))


def _min_pairwise_distance(means: np.ndarray) -> float:
    diff = means[:, None, :] - means[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    return float(dist[np.triu_indices(len(means), k=1)].min())


def true_posteriors(x: np.ndarray, means: np.ndarray, sigma: float) -> np.ndarray:
    """Exact p(k | x) for equal priors and covariance ``sigma^2 I``, shape (N, K)."""
    x = np.asarray(x, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    # ||x - mu||^2 expanded so no (N, K, d) array is built.
    sq = (x**2).sum(1, keepdims=True) - 2.0 * x @ means.T + (means**2).sum(1)
    logits = -sq / (2.0 * sigma**2)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def sample_gaussians(
    counts: np.ndarray | list[int], means: np.ndarray, sigma: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[k]`` points from class k, shuffled; x float32 (N, d), y int64 (N,)."""
    means = np.asarray(means, dtype=np.float64)
    y = np.repeat(np.arange(len(means), dtype=np.int64), counts)
    x = means[y] + sigma * rng.standard_normal((len(y), means.shape[1]))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


def bayes_error_mc(
    means: np.ndarray, sigma: float, mc_samples: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Monte Carlo Bayes error ``E_x[1 - max_k p(k|x)]`` with x drawn from the true mixture.

    Averaging ``1 - max posterior`` instead of counting mistakes has lower variance.
    """
    means = np.asarray(means, dtype=np.float64)
    if mc_samples < 2:
        raise ValueError(f"mc_samples must be >= 2, got {mc_samples}")
    n_classes, dim = means.shape
    losses = np.empty(mc_samples)
    for start in range(0, mc_samples, _MC_CHUNK):
        stop = min(start + _MC_CHUNK, mc_samples)
        k = rng.integers(n_classes, size=stop - start)
        x = means[k] + sigma * rng.standard_normal((stop - start, dim))
        losses[start:stop] = 1.0 - true_posteriors(x, means, sigma).max(axis=1)
    return {
        "value": float(losses.mean()),
        "stderr": float(losses.std(ddof=1) / np.sqrt(mc_samples)),
        "method": "monte-carlo: E[1 - max_k p(k|x)]",
    }


def bayes_error(
    means: np.ndarray, sigma: float, mc_samples: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Bayes error of the equal-prior mixture: exact for K == 2, Monte Carlo otherwise.

    Returns ``{"value", "stderr", "method"}``; ``rng`` is only used on the Monte Carlo path.
    """
    means = np.asarray(means, dtype=np.float64)
    if len(means) == 2:
        delta = float(np.linalg.norm(means[0] - means[1]))
        return {
            "value": float(norm.cdf(-delta / (2.0 * sigma))),
            "stderr": 0.0,
            "method": "exact: Phi(-Delta/(2 sigma))",
        }
    return bayes_error_mc(means, sigma, mc_samples, rng)


def balanced_counts(n: int, n_classes: int) -> np.ndarray:
    """Split ``n`` as evenly as possible over classes; the first ``n % K`` get one more."""
    counts = np.full(n_classes, n // n_classes, dtype=np.int64)
    counts[: n % n_classes] += 1
    return counts


def make_gaussians(
    n_classes: int,
    dim: int,
    separation: float,
    sigma: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    bayes_mc_samples: int = 200_000,
) -> Splits:
    """Build balanced, shuffled splits from one fixed set of class means.

    Means, data and the Bayes-error estimate use independent streams derived from ``seed``,
    so changing ``bayes_mc_samples`` does not change the data.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not separation > 0:
        raise ValueError(f"separation must be > 0, got {separation}")
    if min(n_train, n_val, n_test) < 0:
        raise ValueError("split sizes must be >= 0")

    means_ss, data_ss, bayes_ss = np.random.SeedSequence(seed).spawn(3)
    means = class_means(n_classes, dim, separation, np.random.default_rng(means_ss))
    data_rng = np.random.default_rng(data_ss)
    x_train, y_train = sample_gaussians(balanced_counts(n_train, n_classes), means, sigma, data_rng)
    x_val, y_val = sample_gaussians(balanced_counts(n_val, n_classes), means, sigma, data_rng)
    x_test, y_test = sample_gaussians(balanced_counts(n_test, n_classes), means, sigma, data_rng)
    bayes = bayes_error(means, sigma, bayes_mc_samples, np.random.default_rng(bayes_ss))
    info = {
        "means": means.tolist(),
        "sigma": float(sigma),
        "separation": float(separation),
        "bayes_error": bayes["value"],
        "bayes_error_stderr": bayes["stderr"],
        "bayes_error_method": bayes["method"],
    }
    return Splits(
        x_train, y_train, x_val, y_val, x_test, y_test, "classification", n_classes, info
    )
