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
