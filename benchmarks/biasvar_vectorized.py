"""K models trained together (one stacked forward/backward per step) against K separate fits.

Run: `.venv/bin/python benchmarks/biasvar_vectorized.py [--models 10] [--epochs 300]`.
The work is the biasvar stage's: one-hidden-layer MLPs on the regression training sets, full
batch, the stage's optimizer and learning rate, the same number of epochs. Three ways:

- `fit`: K separate `genlab.training.fit` runs (Lightning Trainer; it also measures the
  train/val/test splits after every epoch, which is part of what a Trainer run costs);
- `loop`: K separate plain PyTorch loops (no Lightning, no per-epoch evaluation);
- `stacked`: `genlab.stacked.train_stacked`, all K at once.

All three start from the same initialisation (seed + k) and compute the same updates: their
predictions agree to float32 rounding (printed; over hundreds of Adam steps the rounding grows,
equally between the two one-model-at-a-time baselines). The ratios are measured in this run;
the stage's K = biasvar.draws is also timed for `stacked`, against `fit` scaled linearly per
model. Target: at least 20x faster than separate fits on CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genlab.config import load_params, with_overrides
from genlab.config.train import OptimizerConfig
from genlab.data.splits import Splits
from genlab.losses import loss_fn
from genlab.stacked import StackedModels, seeded_models, train_stacked
from genlab.stages.biasvar import regression_problem
from genlab.training import fit
from genlab.update_rules import build_optimizer


def fit_params(params, width: int, epochs: int):
    mlp = params.biasvar.regression.mlp
    return with_overrides(
        params,
        {
            "data.name": "poly",
            "model.name": "mlp",
            "model.mlp.hidden": [width],
            "model.mlp.activation": mlp.activation,
            "model.mlp.dropout": 0.0,
            "model.mlp.norm": "none",
            "train.loss": "mse",
            "train.max_epochs": epochs,
            "train.optimizer.name": mlp.optimizer,
            "train.optimizer.lr": mlp.lr,
            "train.optimizer.batch_size": params.biasvar.regression.n_train,
            "train.optimizer.schedule": "none",
            "train.early_stopping.enabled": False,
            "train.regularization.l1": 0.0,
            "train.regularization.l2": 0.0,
            "train.regularization.weight_decay": 0.0,
            "train.accelerator": "cpu",
        },
    )


def run_fit(params, problem, k: int, width: int, epochs: int) -> tuple[float, torch.Tensor]:
    base = fit_params(params, width, epochs)
    grid = problem.x_test.astype(np.float32)
    f = problem.truth.astype(np.float32)
    info = {"x_min": problem.info["x_min"], "x_max": problem.info["x_max"]}
    outs = []
    start = time.perf_counter()
    for i in range(k):
        splits = Splits(
            problem.x_sets[i], problem.y_sets[i], grid, f, grid, f, "regression", None, info
        )
        net = fit(with_overrides(base, {"seed": params.seed + i}), splits).module.net.eval()
        with torch.no_grad():
            outs.append(net(torch.as_tensor(grid)).reshape(-1))
    return time.perf_counter() - start, torch.stack(outs)


def run_loop(params, problem, k: int, width: int, epochs: int) -> tuple[float, torch.Tensor]:
    mlp = params.biasvar.regression.mlp
    opt_cfg = OptimizerConfig(name=mlp.optimizer, lr=mlp.lr)
    models = seeded_models(lambda: _mlp(width, mlp.activation), [params.seed + i for i in range(k)])
    mse, grid = loss_fn("mse"), torch.as_tensor(problem.x_test, dtype=torch.float32)
    outs = []
    start = time.perf_counter()
    for i, net in enumerate(models):
        x = torch.as_tensor(problem.x_sets[i], dtype=torch.float32)
        y = torch.as_tensor(problem.y_sets[i], dtype=torch.float32)
        opt = build_optimizer(list(net.parameters()), [], opt_cfg, 0.0)
        for _ in range(epochs):
            opt.zero_grad(set_to_none=True)
            mse(net(x), y).backward()
            opt.step()
        with torch.no_grad():
            outs.append(net(grid).reshape(-1))
    return time.perf_counter() - start, torch.stack(outs)


def run_stacked(params, problem, k: int, width: int, epochs: int) -> tuple[float, torch.Tensor]:
    mlp = params.biasvar.regression.mlp
    opt_cfg = OptimizerConfig(name=mlp.optimizer, lr=mlp.lr)
    start = time.perf_counter()
    stack = StackedModels(
        seeded_models(lambda: _mlp(width, mlp.activation), [params.seed + i for i in range(k)])
    )
    snap = train_stacked(
        stack,
        torch.as_tensor(problem.x_sets[:k], dtype=torch.float32),
        torch.as_tensor(problem.y_sets[:k], dtype=torch.float32),
        "mse",
        opt_cfg,
        [epochs],
        torch.as_tensor(problem.x_test, dtype=torch.float32),
    )[-1]
    return time.perf_counter() - start, snap.eval_out.reshape(k, -1)


def _mlp(width: int, activation: str):
    from genlab.models import MLP

    return MLP(1, 1, [width], activation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10, help="K for the separate fits")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--width", type=int, default=None, help="default: the epoch-sweep width")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for all sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params()
    width = args.width or params.biasvar.regression.mlp.epoch_sweep_width
    k_stage = params.biasvar.draws
    problem = regression_problem(
        with_overrides(params, {"biasvar.draws": max(k_stage, args.models)})
    )
    k, e = args.models, args.epochs
    print(
        f"work: {k} MLPs (1 hidden layer of {width}), {e} full-batch epochs on "
        f"{problem.y_sets.shape[1]} points each, {args.threads} torch thread(s)"
    )

    t_fit, out_fit = run_fit(params, problem, k, width, e)
    t_loop, out_loop = run_loop(params, problem, k, width, e)
    run_stacked(params, problem, k, width, 5)  # warm-up
    t_stack, out_stack = run_stacked(params, problem, k, width, e)
    t_stage, _ = run_stacked(params, problem, k_stage, width, e)

    diff_fit = float((out_stack - out_fit).abs().max())
    diff_loop = float((out_stack - out_loop).abs().max())
    diff_ref = float((out_fit - out_loop).abs().max())
    print(f"K={k:<4} separate fit (Lightning)  {t_fit:8.2f} s  ({t_fit / k * 1e3:7.1f} ms/model)")
    print(f"K={k:<4} separate plain loops      {t_loop:8.2f} s  ({t_loop / k * 1e3:7.1f} ms/model)")
    print(
        f"K={k:<4} stacked (vectorized)      {t_stack:8.2f} s  ({t_stack / k * 1e3:7.1f} ms/model)"
    )
    print(
        f"K={k_stage:<4} stacked (vectorized)      {t_stage:8.2f} s  "
        f"({t_stage / k_stage * 1e3:7.1f} ms/model)"
    )
    print(
        f"max |prediction difference|: stacked vs fit {diff_fit:.1e}, stacked vs loop "
        f"{diff_loop:.1e}, fit vs loop {diff_ref:.1e} (float32 rounding, which Adam amplifies "
        "over long runs; about 1e-7 after 10 epochs)"
    )
    print(
        f"speedup at K={k}: {t_fit / t_stack:.0f}x vs fit, {t_loop / t_stack:.1f}x vs plain loops"
    )
    print(
        f"speedup at the stage's K={k_stage}: {t_fit / k * k_stage / t_stage:.0f}x vs fit "
        f"(fit scaled linearly per model), {t_loop / k * k_stage / t_stage:.1f}x vs plain loops"
    )


if __name__ == "__main__":
    main()
