"""Loss registry: every loss takes raw model outputs (logits), never probabilities.

Why logits: ``sigmoid``/``softmax`` followed by ``log`` underflows to ``log(0) = -inf`` for
confident predictions; the fused ``*_with_logits`` / ``cross_entropy`` kernels use the
log-sum-exp trick and stay finite for any logit magnitude.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]

LOSS_NAMES: tuple[str, ...] = ("bce", "ce", "mse")


def _flatten_scalar_output(output: Tensor) -> Tensor:
    """Accept (N,) or (N, 1) so a 1-unit head needs no reshaping by the caller."""
    if output.ndim == 2 and output.shape[1] == 1:
        return output.squeeze(1)
    return output


def _bce(logits: Tensor, target: Tensor) -> Tensor:
    logits = _flatten_scalar_output(logits)
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype).reshape_as(logits))


def _ce(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(logits, target.long())


def _mse(pred: Tensor, target: Tensor) -> Tensor:
    pred = _flatten_scalar_output(pred)
    return F.mse_loss(pred, target.to(pred.dtype).reshape_as(pred))


_REGISTRY: dict[str, LossFn] = {"bce": _bce, "ce": _ce, "mse": _mse}


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(LOSS_NAMES)}")


def loss_fn(name: str) -> LossFn:
    """Return the mean-reduced loss ``(output, target) -> scalar`` registered under ``name``."""
    _check_name(name)
    return _REGISTRY[name]


def predict_labels(name: str, output: Tensor) -> Tensor | None:
    """Hard class predictions for accuracy; ``None`` for regression where accuracy is undefined.

    For ``bce`` a logit > 0 is exactly ``sigmoid(logit) > 0.5``, so no sigmoid is needed.
    """
    _check_name(name)
    if name == "bce":
        return (_flatten_scalar_output(output) > 0).long()
    if name == "ce":
        return output.argmax(dim=-1)
    return None


def output_dim(name: str, n_classes: int | None) -> int:
    """Width of the model's last layer: one logit/value for bce and mse, one per class for ce."""
    _check_name(name)
    if name == "ce":
        if n_classes is None or n_classes < 2:
            raise ValueError(f"loss 'ce' needs n_classes >= 2, got {n_classes!r}")
        return int(n_classes)
    return 1


def binary_cross_entropy_formula(y: Tensor | float, y_hat: Tensor | float) -> Tensor:
    """Textbook ``-[y log y_hat + (1 - y) log(1 - y_hat)]`` on probabilities, elementwise.

    Kept only as a reference to check the stable implementation against: it returns
    ``inf``/``nan`` once ``y_hat`` rounds to exactly 0 or 1.
    """
    y_hat = torch.as_tensor(y_hat, dtype=None if isinstance(y_hat, Tensor) else torch.float64)
    y = torch.as_tensor(y).to(y_hat.dtype)
    return -(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))
