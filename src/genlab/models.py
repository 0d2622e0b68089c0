"""The networks: an MLP, a linear model on polynomial features, a small 1-D CNN.

Each maps a batch of inputs to raw outputs (logits for classification, values for regression);
the loss owns the link function, which keeps the losses numerically stable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.config.model import ModelConfig
from genlab.dropconnect import DropConnectLinear

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def norm_layer(norm: str, channels: int, groups: int = 8, spatial: bool = False) -> nn.Module:
    """The normalization after a hidden layer of `channels` features (or conv channels).

    batch: statistics over the batch (and length); layer: over each sample's own features
    (for conv blocks GroupNorm(1, C), i.e. over channels and length); group: over each sample's
    groups of `channels / groups` features. Layer and group norm work on single samples.
    """
    if norm == "batch":
        return nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)
    if norm == "group":
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"unknown norm '{norm}': allowed none, batch, layer, group")


class MLP(nn.Sequential):
    """Linear → [norm] → activation → [Dropout], repeated, then a linear head.

    `dropconnect` > 0 makes each hidden Linear a `DropConnectLinear` (weights dropped with that
    probability while training), the weight-level counterpart of `dropout`.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: list[int],
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str = "none",
        dropconnect: float = 0.0,
        norm_groups: int = 8,
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for h in hidden:
            linear = DropConnectLinear(width, h, dropconnect) if dropconnect > 0 else None
            layers.append(linear or nn.Linear(width, h))
            if norm != "none":
                layers.append(norm_layer(norm, h, norm_groups))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_dim))
        super().__init__(*layers)


def legendre_features(x: Tensor, degree: int, x_min: float, x_max: float) -> Tensor:
    """P_0..P_degree of x rescaled to [-1, 1] (Bonnet's recursion).

    Legendre polynomials are orthogonal on [-1, 1], so the design matrix stays well conditioned
    at degree 20, where raw powers x^k are nearly collinear and least squares loses all digits.
    """
    t = (2 * x.reshape(-1) - (x_min + x_max)) / (x_max - x_min)
    feats = [torch.ones_like(t)]
    if degree >= 1:
        feats.append(t)
    for n in range(1, degree):
        feats.append(((2 * n + 1) * t * feats[n] - n * feats[n - 1]) / (n + 1))
    return torch.stack(feats, dim=1)


class PolynomialRegressor(nn.Module):
    """y = Σ_k w_k P_k(x): a linear model on Legendre features of a scalar input."""

    def __init__(self, degree: int, x_min: float = -1.0, x_max: float = 1.0) -> None:
        super().__init__()
        self.degree, self.x_min, self.x_max = degree, x_min, x_max
        # The constant feature P_0 is the bias, so the linear layer has none of its own.
        self.linear = nn.Linear(degree + 1, 1, bias=False)

    def features(self, x: Tensor) -> Tensor:
        return legendre_features(x, self.degree, self.x_min, self.x_max)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.features(x)).squeeze(-1)


class CNN1d(nn.Module):
    """Conv1d blocks with stride-2 pooling, then an MLP head: enough for MNIST-1D's 40 samples."""

    def __init__(
        self,
        length: int,
        out_dim: int,
        channels: list[int],
        kernel_size: int = 5,
        hidden: int = 64,
        dropout: float = 0.0,
        norm: str = "batch",
        norm_groups: int = 8,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = 1
        for c in channels:
            blocks.append(nn.Conv1d(c_in, c, kernel_size, padding=kernel_size // 2))
            if norm != "none":
                blocks.append(norm_layer(norm, c, norm_groups, spatial=True))
            blocks += [nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True)]
            c_in = c
            length = (length + 1) // 2
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(c_in * length, hidden), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, out_dim))
        self.head = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x.unsqueeze(1)))


def build_model(
    cfg: ModelConfig, input_shape: tuple[int, ...], out_dim: int, data_info: dict | None = None
) -> nn.Module:
    """The network named in params, sized for the data. Regression heads return shape (N,)."""
    in_dim = 1
    for s in input_shape:
        in_dim *= s
    if cfg.name == "mlp":
        m = cfg.mlp
        net: nn.Module = MLP(
            in_dim, out_dim, m.hidden, m.activation, m.dropout, m.norm, m.dropconnect, m.norm_groups
        )
    elif cfg.name == "poly":
        info = data_info or {}
        net = PolynomialRegressor(cfg.poly.degree, info.get("x_min", -1.0), info.get("x_max", 1.0))
    elif cfg.name == "cnn1d":
        c = cfg.cnn1d
        net = CNN1d(
            in_dim, out_dim, c.channels, c.kernel_size, c.hidden, c.dropout, c.norm, c.norm_groups
        )
    else:  # the schema makes this unreachable; kept for callers that bypass it
        raise ValueError(f"unknown model '{cfg.name}': allowed mlp, poly, cnn1d")
    return net
