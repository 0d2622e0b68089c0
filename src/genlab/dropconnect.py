"""DropConnect ("drop connection"): drop weights, not activations (Wan et al., 2013).

Dropout zeroes a unit's output, so every weight leaving it is dropped together; DropConnect
zeroes each weight on its own, a fresh random mask per forward pass during training. Kept
weights are scaled by 1/(1−p) so the expected pre-activation equals the one at evaluation,
where the full weights are used (the same "inverted" convention as PyTorch's dropout). A
dropped weight takes no part in the forward pass, so it gets no gradient for that step.

One mask per batch, not per sample: per-sample masks multiply the memory of the weight matrix
by the batch size, and the per-batch mask is what the regularization study compares against
dropout (both on the hidden layers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DropConnectLinear(nn.Linear):
    """`nn.Linear` whose weights are dropped with probability `p` during training."""

    def __init__(self, in_features: int, out_features: int, p: float, bias: bool = True) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"DropConnect probability must be in [0, 1), got {p}")
        super().__init__(in_features, out_features, bias=bias)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return F.linear(x, self.weight, self.bias)
        keep = torch.bernoulli(torch.full_like(self.weight, 1 - self.p))
        return F.linear(x, self.weight * keep / (1 - self.p), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
