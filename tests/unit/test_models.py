"""Network shapes and the Legendre basis of the polynomial model."""

from __future__ import annotations

import numpy as np
import torch

from genlab.config.model import ModelConfig
from genlab.models import CNN1d, build_model, legendre_features


def test_legendre_features_match_numpy():
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    ours = legendre_features(x, 6, -1.0, 1.0).numpy()
    ref = np.polynomial.legendre.legvander(x.numpy(), 6)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_legendre_features_rescale_the_domain():
    x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    feats = legendre_features(x, 2, 0.0, 2.0)
    np.testing.assert_allclose(feats[:, 1].numpy(), [-1.0, 0.0, 1.0])


def test_shapes():
    x = torch.randn(5, 40)
    mlp = build_model(ModelConfig(name="mlp"), (40,), 10)
    assert mlp(x).shape == (5, 10)
    cnn = CNN1d(40, 10, [8, 8], kernel_size=5)
    assert cnn(x).shape == (5, 10)
    poly = build_model(ModelConfig(name="poly"), (1,), 1, {"x_min": -1.0, "x_max": 1.0})
    assert poly(torch.randn(7, 1)).shape == (7,)


def test_norm_options_put_the_right_layer_after_each_hidden_layer():
    from torch import nn

    from genlab.models import MLP

    kinds = {
        norm: [type(m) for m in MLP(4, 3, [8, 8], norm=norm, norm_groups=4)]
        for norm in ("none", "batch", "layer", "group")
    }
    assert nn.BatchNorm1d not in kinds["none"] and nn.LayerNorm not in kinds["none"]
    assert kinds["batch"].count(nn.BatchNorm1d) == 2
    assert kinds["layer"].count(nn.LayerNorm) == 2
    assert kinds["group"].count(nn.GroupNorm) == 2
    x = torch.randn(1, 40)  # layer and group norm work on a single sample
    for norm in ("layer", "group"):
        assert CNN1d(40, 10, [8, 8], norm=norm, norm_groups=4).train()(x).shape == (1, 10)
        assert MLP(40, 10, [8], norm=norm, norm_groups=4).train()(x).shape == (1, 10)


def test_norm_groups_must_divide_the_widths_and_batch_norm_names_its_successor():
    import pytest

    from genlab.config import parse_params
    from tests.conftest import tiny_raw

    raw = tiny_raw()
    raw["model"]["mlp"].update(hidden=[12], norm="group", norm_groups=8)
    with pytest.raises(ValueError, match="norm_groups=8 groups, which does not divide"):
        parse_params(raw)
    raw = tiny_raw()
    raw["model"]["mlp"].pop("norm")
    raw["model"]["mlp"]["batch_norm"] = True
    with pytest.raises(ValueError, match="batch_norm was replaced by norm.*use norm: batch"):
        parse_params(raw)
