"""Samples per second of one process against two (Lightning DDP, gloo) on this machine's CPUs.

Run: `.venv/bin/python benchmarks/ddp_scaling.py [--epochs 4]`.
For the default MLP (params.yaml `model.mlp`), the 1-D CNN (`model.cnn1d`) and a wide MLP
(2048×2048), each on MNIST-1D with the default batch size, three ways:

- 1 process, 1 torch thread (what the stages do: `train.torch_threads: 1`);
- 1 process, 2 torch threads (the same cores, shared by one process);
- 2 processes × 1 thread (`train.devices: 2`, `strategy: ddp`): each global batch split in two,
  gradients all-reduced every step, evaluation sums all-reduced every epoch.

Throughput is training + per-epoch evaluation samples per second after the first epoch (the
first carries start-up). The communication cost is timed directly: one all-reduce of a tensor
the size of the model's parameters, which DDP does (in buckets) after every backward pass.
Each configuration runs as its own script process, as the `train` stage would.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {
    "mlp 256x256 (default)": {"model.name": "mlp"},
    "cnn1d (default)": {"model.name": "cnn1d"},
    "mlp 2048x2048": {"model.name": "mlp", "model.mlp.hidden": [2048, 2048]},
}
WAYS = {"1 proc x 1 thread": (1, 1), "1 proc x 2 threads": (1, 2), "2 procs x 1 thread": (2, 1)}


def worker(out: str, overrides: dict, devices: int, threads: int, epochs: int) -> None:
    """One fit (re-run per rank by Lightning's ddp); rank 0 writes the figures to `out`."""
    import torch
    import torch.distributed as dist

    from genlab.config import load_params, with_overrides
    from genlab.data import make_splits
    from genlab.ranks import is_primary
    from genlab.training import fit, use_threads

    params = with_overrides(
        load_params(),
        {
            **overrides,
            "train.max_epochs": epochs,
            "train.early_stopping.enabled": False,
            "train.accelerator": "cpu",
            "train.devices": devices,
            "train.strategy": "ddp" if devices > 1 else "auto",
            "train.torch_threads": threads,
        },
    )
    splits = make_splits(params.data, params.seed)
    use_threads(threads)
    result = fit(params, splits, distributed=True)
    n_params = sum(p.numel() for p in result.module.parameters())
    allreduce_ms = 0.0
    if dist.is_available() and dist.is_initialized():
        grad = torch.zeros(n_params)
        for _ in range(5):
            dist.all_reduce(grad)
        start = time.perf_counter()
        for _ in range(50):
            dist.all_reduce(grad)
        allreduce_ms = (time.perf_counter() - start) / 50 * 1e3
    if not is_primary():
        return
    times = [row["time_s"] for row in result.history]
    n_seen = len(splits.x_train) + len(splits.x_val) + len(splits.x_test) + len(splits.x_train)
    per_epoch = (times[-1] - times[0]) / (len(times) - 1)
    batch = params.train.optimizer.batch_size
    steps = -(-len(splits.x_train) // batch)
    record = {
        "samples_per_s": n_seen / per_epoch,
        "epoch_s": per_epoch,
        "step_ms": per_epoch / steps * 1e3,
        "allreduce_ms": allreduce_ms,
        "params": n_params,
        "test_loss": result.history[-1]["test/loss"],
    }
    Path(out).write_text(json.dumps(record))


def run(overrides: dict, devices: int, threads: int, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        cmd = [sys.executable, __file__, "--worker", str(out), json.dumps(overrides)]
        cmd += [str(devices), str(threads), str(epochs)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed:\n{proc.stderr[-2000:]}")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        out, overrides, devices, threads, epochs = args.worker
        worker(out, json.loads(overrides), int(devices), int(threads), int(epochs))
        return
    print(f"{os.cpu_count()} CPU cores; {args.epochs} epochs per run, MNIST-1D, default batch")
    for model, overrides in MODELS.items():
        figures = {way: run(overrides, d, t, args.epochs) for way, (d, t) in WAYS.items()}
        base = figures["1 proc x 1 thread"]["samples_per_s"]
        print(f"\n{model} ({figures['1 proc x 1 thread']['params']:,} parameters)")
        for way, f in figures.items():
            extra = (
                f", all-reduce of all gradients {f['allreduce_ms']:.2f} ms"
                if f["allreduce_ms"]
                else ""
            )
            print(
                f"  {way:<20} {f['samples_per_s']:>9,.0f} samples/s  {f['epoch_s']:6.2f} s/epoch"
                f"  {f['samples_per_s'] / base:5.2f}x{extra}"
            )


if __name__ == "__main__":
    main()
