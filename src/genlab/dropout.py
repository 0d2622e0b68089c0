"""Dropout as the lecture states it, and why PyTorch's inverted dropout is the same model.

The lecture: keep each unit with probability p during training (drop with 1−p) and, at test
time, multiply its output by p, so that a unit's test-time output equals its expected
training-time output. PyTorch (`nn.Dropout(1−p)`) does the "inverted" form: it divides kept
units by p during training and changes nothing at test time.

They are the same family of networks: a lecture-style net with next-layer weights W′ and an
inverted net with W = p·W′ compute identical outputs in training (for the same mask) and at
test time. `lecture_weights` makes that conversion, and the tests check it numerically, in
expectation and on a trained network's test predictions.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class LectureDropout(nn.Module):
    """Keep each unit with probability `p_keep` when training; scale by `p_keep` when testing."""

    def __init__(self, p_keep: float) -> None:
        super().__init__()
        if not 0 < p_keep <= 1:
            raise ValueError(f"keep probability must be in (0, 1], got {p_keep}")
        self.p_keep = p_keep

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return x * torch.bernoulli(torch.full_like(x, self.p_keep))
        return x * self.p_keep

    def extra_repr(self) -> str:
        return f"p_keep={self.p_keep}"


def lecture_weights(net: nn.Sequential) -> nn.Sequential:
    """The lecture-style twin of a net trained with `nn.Dropout`: same predictions.

    Each `nn.Dropout(q)` becomes `LectureDropout(1 − q)`, and the weights of the next linear
    layer are divided by 1 − q (the inverted net scaled kept units up by 1/(1−q) inside the
    dropout; the lecture net carries that factor in its weights instead). Biases are unchanged.
    """
    twin = copy.deepcopy(net)
    layers = list(twin)
    pending = 1.0
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Dropout):
            pending = 1 - layer.p
            layers[i] = LectureDropout(pending)
        elif isinstance(layer, nn.Linear) and pending != 1.0:
            with torch.no_grad():
                layer.weight.div_(pending)
            pending = 1.0
    return nn.Sequential(*layers)
