"""Entropy, cross-entropy and KL divergence of discrete distributions (in nats).

These make the identity ``H(p, q) = H(p) + D_KL(p || q)`` checkable: minimising the
cross-entropy loss over ``q`` is minimising the KL gap to the data distribution ``p``,
because ``H(p)`` does not depend on the model.

Distributions lie along the last axis and may be torch tensors or numpy arrays. A 1-D input
gives a Python ``float``; batched input gives one value per distribution, as a tensor when any
input is a tensor and as a numpy array otherwise. ``0 log 0`` is taken as 0 (via ``xlogy``).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.special import xlogy as np_xlogy
from torch import Tensor

ATOL = 1e-6

Dist = Tensor | ArrayLike
Result = float | Tensor | np.ndarray


def _check_dist(x: Tensor | np.ndarray, name: str) -> None:
    """Reject inputs that are not probability vectors, so a logit or count slip fails loudly."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the outcomes)")
    if x.shape[-1] == 0:
        raise ValueError(f"{name} has no outcomes")
    if isinstance(x, Tensor):
        arr = x.detach().to("cpu", torch.float64).numpy()
    else:
        arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative entries, so it is not a distribution")
    sums = arr.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > ATOL):
        worst = float(sums.flat[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(f"{name} must sum to 1 along the last axis (within {ATOL}), got {worst}")


def _prepare(*dists: Dist) -> list[Tensor | np.ndarray]:
    """Convert to one backend (torch if any input is a tensor, else numpy) and validate."""
    if any(isinstance(d, Tensor) for d in dists):
        tensors = [d for d in dists if isinstance(d, Tensor)]
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        if not dtype.is_floating_point:
            dtype = torch.float64
        out: list[Tensor | np.ndarray] = [
            torch.as_tensor(d if isinstance(d, Tensor) else np.asarray(d, dtype=np.float64)).to(
                device=tensors[0].device, dtype=dtype
            )
            for d in dists
        ]
    else:
        out = [np.asarray(d, dtype=np.float64) for d in dists]
    for x, name in zip(out, ("p", "q"), strict=False):
        _check_dist(x, name)
    if len(out) == 2 and tuple(out[0].shape) != tuple(out[1].shape):
        raise ValueError(
            f"p and q must have the same shape, got {tuple(out[0].shape)} and {tuple(out[1].shape)}"
        )
    return out


def _xlogy(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> Tensor | np.ndarray:
    return torch.xlogy(x, y) if isinstance(x, Tensor) else np_xlogy(x, y)


def _finish(values: Tensor | np.ndarray) -> Result:
    """Collapse 1-D input (now 0-dim) to a Python float; keep batches as arrays."""
    if values.ndim == 0:
        return float(values.item()) if isinstance(values, Tensor) else float(values)
    return values


def entropy(p: Dist) -> Result:
    """Shannon entropy ``H(p) = -sum p log p``: the irreducible part of any cross-entropy."""
    (p_,) = _prepare(p)
    return _finish(-_xlogy(p_, p_).sum(-1))


def cross_entropy(p: Dist, q: Dist) -> Result:
    """``H(p, q) = -sum p log q``: expected code length for ``p`` using a code built for ``q``.

    It is ``inf`` when ``q`` gives zero mass to an outcome ``p`` can produce.
    """
    p_, q_ = _prepare(p, q)
    return _finish(-_xlogy(p_, q_).sum(-1))


def kl_divergence(p: Dist, q: Dist) -> Result:
    """``D_KL(p || q) = sum p log(p / q)`` >= 0: the extra nats paid for believing ``q``."""
    p_, q_ = _prepare(p, q)
    return _finish((_xlogy(p_, p_) - _xlogy(p_, q_)).sum(-1))
