"""Explicit weight penalties and the decay/no-decay parameter split.

Why explicit penalties: written as a loss term, ``lam/2 * ||W||^2`` makes the link to
``weight_decay`` visible (its gradient is ``lam * W``, which is exactly what plain SGD's
``weight_decay=lam`` adds), and ``lam * |w|`` shows why L1 drives weights to exactly zero
(a constant-size ``lam * sign(w)`` pull, however small ``w`` already is).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn import Parameter

_NORM_LAYERS: tuple[type[nn.Module], ...] = tuple(
    cls
    for cls in (
        nn.modules.batchnorm._BatchNorm,  # BatchNorm1d/2d/3d, SyncBatchNorm, lazy variants
        nn.modules.instancenorm._InstanceNorm,
        nn.LayerNorm,
        nn.GroupNorm,
        getattr(nn, "RMSNorm", None),  # torch >= 2.4
        nn.LocalResponseNorm,
    )
    if cls is not None
)


def split_decay_params(
    model: nn.Module, penalize_bias_and_norm: bool
) -> tuple[list[Parameter], list[Parameter]]:
    """Split parameters into ``(decayed, not_decayed)`` optimizer groups.

    Shrinking a bias or a norm layer's scale/shift does not reduce the capacity the penalty is
    meant to control (it only shifts or rescales activations), so by default only weight
    matrices and conv kernels are decayed. With ``penalize_bias_and_norm=True`` everything is.
    Each parameter appears once, even when shared between modules.
    """
    decayed: list[Parameter] = []
    not_decayed: list[Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, _NORM_LAYERS)
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if penalize_bias_and_norm or (not is_norm and param.ndim >= 2):
                decayed.append(param)
            else:
                not_decayed.append(param)
    return decayed, not_decayed


def _zero_like_params(params: list[Tensor]) -> Tensor:
    if not params:
        return torch.zeros(())
    return torch.zeros((), dtype=params[0].dtype, device=params[0].device)


def l2_penalty(params: Iterable[Tensor], lam: float) -> Tensor:
    """``lam/2 * sum ||W||^2``; the 1/2 makes its gradient exactly ``lam * W`` (= weight decay)."""
    params = list(params)
    if lam == 0 or not params:
        return _zero_like_params(params)
    return 0.5 * lam * sum((p.pow(2).sum() for p in params), _zero_like_params(params))


def l1_penalty(params: Iterable[Tensor], lam: float) -> Tensor:
    """``lam * sum |w|``; its (sub)gradient ``lam * sign(w)`` pushes small weights to zero."""
    params = list(params)
    if lam == 0 or not params:
        return _zero_like_params(params)
    return lam * sum((p.abs().sum() for p in params), _zero_like_params(params))


@torch.no_grad()
def fraction_near_zero(params: Iterable[Tensor], tol: float = 1e-3) -> float:
    """Share of scalar weights with ``|w| < tol``: a sparsity measure for comparing L1 and L2.

    Returns 0.0 when there are no weights.
    """
    near, total = 0, 0
    for p in params:
        near += int((p.abs() < tol).sum().item())
        total += p.numel()
    return near / total if total else 0.0
