"""Lightning's per-step overhead against a plain PyTorch loop, same model, data and work.

Run: `make bench` (or `.venv/bin/python benchmarks/lightning_overhead.py [--epochs N]`).
Both sides train the default params' model on the default data with in-memory batches and,
after every epoch, evaluate train/val/test in eval mode. The ratio is measured in this run;
the target is at most 1.3x.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genlab.config import load_params, with_overrides
from genlab.data import make_splits
from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import SPLIT_NAMES
from genlab.losses import loss_fn
from genlab.training import build_module, fit, use_threads


def plain_loop(params, splits, epochs: int) -> float:
    torch.manual_seed(params.seed)
    module = build_module(params, splits)
    net, loss = module.net, loss_fn(params.train.loss)
    opt = module.configure_optimizers()
    bs = params.train.optimizer.effective_batch_size(len(splits.x_train))
    dm = SplitsDataModule(splits, bs, params.train.eval_batch_size, seed=params.seed)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        for x, y in dm.train_dataloader():
            opt.zero_grad(set_to_none=True)
            loss(net(x), y).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            for name in SPLIT_NAMES:
                for x, y in dm.eval_loader(name):
                    float(loss(net(x), y))
    return time.perf_counter() - start


def lightning_fit(params, splits, epochs: int) -> float:
    start = time.perf_counter()
    fit(with_overrides(params, {"train.max_epochs": epochs}), splits)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = load_params()
    es = params.train.early_stopping.model_copy(update={"enabled": False})
    params = params.model_copy(
        update={"train": params.train.model_copy(update={"early_stopping": es})}
    )
    splits = make_splits(params.data, params.seed)
    use_threads(params.train.torch_threads)  # both sides on the threads the train stage uses
    steps = -(-len(splits.x_train) // params.train.optimizer.batch_size) * args.epochs
    lightning_fit(params, splits, 1)  # warm-up: imports, first-call allocations
    short = max(1, args.epochs // 4)
    plain, light, plain_short, light_short = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        plain.append(plain_loop(params, splits, args.epochs))
        light.append(lightning_fit(params, splits, args.epochs))
        plain_short.append(plain_loop(params, splits, short))
        light_short.append(lightning_fit(params, splits, short))
    p, lt = statistics.median(plain), statistics.median(light)
    # Per-step cost from the difference of a long and a short run: fixed costs (building the
    # Trainer, setup) cancel, leaving what each extra epoch of steps + evaluation costs.
    d_steps = steps - steps // args.epochs * short
    dp = (p - statistics.median(plain_short)) / d_steps
    dl = (lt - statistics.median(light_short)) / d_steps
    print(
        f"model {params.model.name}, data {params.data.name}, {steps} steps in {args.epochs} "
        f"epochs, torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print(f"plain PyTorch loop : {p:7.3f} s total, {1e6 * dp:7.1f} us/step (marginal)")
    print(f"genlab Lightning   : {lt:7.3f} s total, {1e6 * dl:7.1f} us/step (marginal)")
    print(f"ratio Lightning / plain, whole fit      : {lt / p:.2f}x")
    print(f"ratio Lightning / plain, per step       : {dl / dp:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
