"""K networks trained together as one stacked model: batched gradient training.

A bias-variance estimate needs one model per training set, K >= 100 of them per complexity.
K separate Lightning fits of a 30-point problem spend almost all their time in per-step
overhead; stacking the K models' parameters and running one batched forward/backward per step
does the same arithmetic in one pass (see benchmarks/biasvar_vectorized.py).

The stacked models are genlab's own networks (`genlab.models`), initialised exactly as
`genlab.training.fit` initialises them for a given seed, and optimised with the optimizer
`genlab.update_rules.build_optimizer` builds. PyTorch's SGD and Adam update every parameter element
on its own, and the summed loss Σ_k L_k gives model k exactly its own gradient, so one optimizer
over the stacked tensors is K independent optimizers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from genlab.config.train import OptimizerConfig
from genlab.losses import loss_fn
from genlab.models import ACTIVATIONS
from genlab.update_rules import build_optimizer


class StackedModels:
    """K copies of one architecture with their parameters stacked on a leading axis.

    Forward: MLPs (Flatten / Linear / activation layers) run as batched matrix products
    (`torch.baddbmm`), about twice as fast as `torch.func.vmap` for these small layers; any
    other network goes through `vmap(functional_call)`.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if not models:
            raise ValueError("need at least one model to stack")
        stochastic = (nn.Dropout, nn.modules.batchnorm._BatchNorm)
        if any(isinstance(m, stochastic) for m in models[0].modules()):
            raise ValueError("stacked training supports networks without dropout or batch norm")
        params, buffers = stack_module_state(list(models))
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.base = copy.deepcopy(models[0]).to("meta")
        self.k = len(models)
        self._layers = _bmm_plan(self.base)

        def one(p: dict, b: dict, x: Tensor) -> Tensor:
            return functional_call(self.base, (p, b), (x,))

        self._forward = vmap(one)

    def __call__(self, x: Tensor) -> Tensor:
        """x (K, n, ...) -> outputs (K, n, ...): model k sees its own batch x[k]."""
        if self._layers is None:
            return self._forward(self.params, self.buffers, x)
        h = x
        for kind, name, module in self._layers:
            if kind == "flatten":
                h = h.reshape(h.shape[0], h.shape[1], -1)
            elif kind == "linear":
                w, b = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                h = (
                    torch.bmm(h, w.transpose(1, 2))
                    if b is None
                    else torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
                )
            else:
                h = module(h)
        return h


def _bmm_plan(net: nn.Module) -> list[tuple[str, str, nn.Module]] | None:
    """Layer list for the batched-matmul forward, or None when `net` is not a plain MLP."""
    if not isinstance(net, nn.Sequential):
        return None
    plan = []
    for name, layer in net.named_children():
        if isinstance(layer, nn.Flatten) and layer.start_dim == 1 and layer.end_dim == -1:
            plan.append(("flatten", name, layer))
        elif isinstance(layer, nn.Linear):
            plan.append(("linear", name, layer))
        elif isinstance(layer, tuple(ACTIVATIONS.values())):
            plan.append(("activation", name, type(layer)()))
        else:
            return None
    return plan


def seeded_models(build: Callable[[], nn.Module], seeds: Sequence[int]) -> list[nn.Module]:
    """One model per seed, each initialised as `fit` would after `seed_everything(seed)`."""
    models = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        models.append(build())
    return models


@dataclass
class Snapshot:
    """Predictions of all K models after `epoch` updates: on the eval points and on train."""

    epoch: int
    eval_out: Tensor  # (K, G, ...) raw outputs on the shared evaluation points
    train_loss: Tensor  # (K,) each model's data loss on its own training set
    train_out: Tensor  # (K, n, ...) raw outputs on each model's own training set


def train_stacked(
    models: StackedModels,
    x: Tensor,
    y: Tensor,
    loss: str,
    optimizer: OptimizerConfig,
    epochs: Sequence[int],
    x_eval: Tensor,
) -> list[Snapshot]:
    """Full-batch training of K models together; snapshots after each epoch count in `epochs`.

    x (K, n, ...), y (K, n): model k trains on (x[k], y[k]). One epoch is one update on all n
    samples (optimizer `gd` is plain gradient descent, as in `fit`). Snapshots evaluate x_eval
    (G, ...), shared by all models, and each model's own training set.
    """
    if optimizer.name in ("sgd", "minibatch"):
        raise ValueError(
            f"optimizer '{optimizer.name}' samples batches; the stacked trainer is full batch: "
            "use gd, momentum, adam or adamw"
        )
    want = sorted({int(e) for e in epochs})
    if not want or want[0] < 0:
        raise ValueError(f"snapshot epochs must be >= 0, got {list(epochs)}")
    k, n = y.shape[:2]
    lossf = loss_fn(loss)
    opt = build_optimizer(list(models.params.values()), [], optimizer, 0.0)
    xe = x_eval.unsqueeze(0).expand(k, *x_eval.shape)

    def objective(out: Tensor) -> Tensor:
        # Each model's mean loss, summed: model k's gradient is exactly its own.
        flat = out.reshape(k * n, *out.shape[2:])
        return lossf(flat, y.reshape(k * n)) * k

    def snapshot(epoch: int) -> Snapshot:
        with torch.no_grad():
            out = models(x)
            per_model = torch.stack([lossf(out[i], y[i]) for i in range(k)])
            return Snapshot(epoch, models(xe), per_model, out)

    snaps: list[Snapshot] = []
    step = 0
    if want[0] == 0:
        snaps.append(snapshot(0))
    for target in want:
        while step < target:
            opt.zero_grad(set_to_none=True)
            objective(models(x)).backward()
            opt.step()
            step += 1
        if target > 0:
            snaps.append(snapshot(target))
    return snaps
