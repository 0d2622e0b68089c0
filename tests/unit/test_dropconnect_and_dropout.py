"""DropConnect drops weights (no gradient for a dropped one, full weights at evaluation), and
the lecture's dropout (scale by p at test time) is PyTorch's inverted dropout in disguise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.config import parse_params
from genlab.data import make_splits
from genlab.dropconnect import DropConnectLinear
from genlab.dropout import LectureDropout, lecture_weights
from genlab.models import MLP
from genlab.training import fit
from tests.conftest import tiny_raw


def test_a_dropped_weight_gets_no_gradient():
    torch.manual_seed(0)
    layer = DropConnectLinear(6, 4, p=0.5)
    x = torch.randn(3, 6)
    torch.manual_seed(1)
    layer(x).sum().backward()
    torch.manual_seed(1)
    keep = torch.bernoulli(torch.full_like(layer.weight, 0.5))  # the same mask, redrawn
    assert 0 < keep.sum() < keep.numel()
    assert torch.all(layer.weight.grad[keep == 0] == 0)
    assert torch.all(layer.weight.grad[keep == 1] != 0)


def test_evaluation_uses_the_full_weights_and_training_matches_them_in_expectation():
    torch.manual_seed(0)
    layer = DropConnectLinear(5, 3, p=0.3)
    x = torch.randn(2, 5)
    full = nn.functional.linear(x, layer.weight, layer.bias)
    layer.eval()
    assert torch.equal(layer(x), full)
    layer.train()
    with torch.no_grad():
        mean = torch.stack([layer(x) for _ in range(20000)]).mean(0)
    assert torch.allclose(mean, full, atol=0.03)
    with pytest.raises(ValueError, match="probability"):
        DropConnectLinear(2, 2, p=1.0)


def test_mlp_option_puts_dropconnect_on_the_hidden_layers_only():
    net = MLP(4, 3, [8, 8], dropconnect=0.2)
    kinds = [type(m).__name__ for m in net if isinstance(m, nn.Linear)]
    assert kinds == ["DropConnectLinear", "DropConnectLinear", "Linear"]
    assert not any(isinstance(m, DropConnectLinear) for m in MLP(4, 3, [8]))


def test_lecture_dropout_equals_inverted_dropout_in_expectation():
    torch.manual_seed(0)
    x = torch.randn(4, 10)
    lecture = LectureDropout(0.7)
    with torch.no_grad():
        mean = torch.stack([lecture(x) for _ in range(20000)]).mean(0)
    lecture.eval()
    assert torch.allclose(mean, lecture(x), atol=0.02)  # test output = expected train output
    inverted = nn.Dropout(0.3).eval()
    assert torch.allclose(lecture(x) / 0.7, inverted(x))


def test_a_trained_nets_test_predictions_are_the_same_in_the_lecture_form():
    raw = tiny_raw()
    raw["model"]["mlp"].update(hidden=[16, 16], dropout=0.4)
    params = parse_params(raw)
    splits = make_splits(params.data, params.seed)
    net = fit(params, splits).module.net.eval()
    twin = lecture_weights(net).eval()
    assert any(isinstance(m, LectureDropout) for m in twin)
    x = torch.as_tensor(splits.x_test, dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(net(x), twin(x), atol=1e-5)
