"""Our optimizer names as PyTorch optimizers: the update rules the course compares.

Apart from the LightningModule (`genlab.module`) on purpose: the stacked trainers of `biasvar`
and `double_descent` build the same optimizers without importing Lightning (about 3 s of every
stage process that does).
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.config.train import OptimizerConfig


def build_optimizer(
    params_decay: list[nn.Parameter],
    params_other: list[nn.Parameter],
    cfg: OptimizerConfig,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """Map our names onto PyTorch: gd / sgd / minibatch are torch.optim.SGD without momentum
    (they differ only in batch size), `momentum` is SGD with momentum, `adam` / `adamw` are
    Adam / AdamW. `weight_decay` goes to the decayed group only (no bias / norm decay)."""
    groups = [
        {"params": params_decay, "weight_decay": weight_decay},
        {"params": params_other, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.name in ("gd", "sgd", "minibatch"):
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.0)
    if cfg.name == "momentum":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
    raise ValueError(f"unknown optimizer '{cfg.name}'")
