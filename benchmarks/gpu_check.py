"""The GPU path, checked and timed against the CPU of the same machine (run by gpu_check.sh).

1. The default `train` model (params.yaml: model, train, data) fitted through
   `genlab.training.fit` with `accelerator: auto` (it must pick the GPU) and with `cpu`:
   wall time, epochs, test metrics side by side.
2. Determinism: the GPU fit again, same seed: the per-epoch numbers must be identical.
3. Mixed precision: a short `bf16-mixed` and `16-mixed` fit of the same model runs and learns.
4. Lightning's batch-size finder (`lr_range.max_batch_size`) on the lr_range study's model.
5. The bias-variance ensembles, vectorized (`train_stacked`), at K = 1000 models of the
   regression epoch-sweep width, full batch, GPU vs CPU.

Prints one line per figure and writes them as JSON to the path given (default gpu_check.json).
Needs no MLflow, Optuna or DVC: only the library's training path.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from genlab.config import load_params, with_overrides
from genlab.config.train import OptimizerConfig
from genlab.data import make_splits
from genlab.evaluation import evaluate_splits
from genlab.models import MLP
from genlab.stacked import StackedModels, seeded_models, train_stacked
from genlab.stages.lr_range.batch_size_finder import find_max_batch_size
from genlab.training import accelerator as resolved_accelerator
from genlab.training import fit, use_threads

RESULTS: dict[str, object] = {}
CAPPED = " (stopped at lr_range.max_batch_size.max_val, not out of memory)"


def say(key: str, value: object, text: str) -> None:
    RESULTS[key] = value
    print(text, flush=True)


def timed_fit(params, splits, accelerator: str, **overrides) -> tuple[float, object]:
    p = with_overrides(params, {"train.accelerator": accelerator, **overrides})
    start = time.perf_counter()
    result = fit(p, splits)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def compare(params, splits, label: str) -> dict[str, tuple[float, object]]:
    """One fit with `accelerator: auto` (the GPU) and one on the CPU; per-epoch times."""
    rows = {}
    for accel in ("auto", "cpu"):
        seconds, result = timed_fit(params, splits, accel)
        device = resolved_accelerator(accel)  # what `auto` resolved to: "gpu" where CUDA is seen
        final = evaluate_splits(result.module, splits, params.train.eval_batch_size)
        rows[accel] = (seconds, result)
        say(
            f"{label}_{accel}",
            {"seconds": seconds, "epochs": result.epochs_run, "device": device, **final},
            f"{label}, accelerator={accel} ({device}): {seconds:.1f} s for "
            f"{result.epochs_run} epochs ({seconds / result.epochs_run * 1e3:.0f} ms/epoch), "
            f"test acc {final['test/acc']:.3f}, test loss {final['test/loss']:.4f}",
        )
    gpu, cpu = (rows[a][0] / rows[a][1].epochs_run for a in ("auto", "cpu"))
    say(f"{label}_speedup_per_epoch", cpu / gpu, f"  GPU vs CPU per epoch: {cpu / gpu:.2f}x")
    return rows


def default_model(params, splits) -> None:
    rows = compare(params, splits, "default train model")
    again = timed_fit(params, splits, "auto")[1]

    def numbers(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in history]

    same = numbers(rows["auto"][1].history) == numbers(again.history)
    say("gpu_deterministic", same, f"GPU fit repeated with the same seed: identical epochs: {same}")
    cnn = with_overrides(params, {"model.name": "cnn1d"})
    compare(cnn, splits, "1-D CNN (model cnn1d)")


def mixed_precision(params, splits) -> None:
    for precision in ("bf16-mixed", "16-mixed"):
        seconds, result = timed_fit(
            params, splits, "auto", **{"train.precision": precision, "train.max_epochs": 5}
        )
        first, last = result.history[0]["train/loss"], result.history[-1]["train/loss"]
        ok = result.status == "ok" and math.isfinite(last) and last < first
        say(
            f"precision_{precision}",
            {"seconds": seconds, "first_train_loss": first, "last_train_loss": last, "ok": ok},
            f"precision {precision}: 5 epochs in {seconds:.1f} s, train loss {first:.3f} -> "
            f"{last:.3f} ({'learns' if ok else 'FAILED'})",
        )


def batch_size_finder(params) -> None:
    cfg = params.lr_range
    p = with_overrides(
        params,
        {
            "data.name": cfg.dataset,
            "model.name": "mlp",
            "model.mlp.hidden": list(cfg.hidden),
            "model.mlp.dropout": 0.0,
            "model.mlp.norm": "none",
        },
    )
    start = time.perf_counter()
    found = find_max_batch_size(p, make_splits(p.data, p.seed), cfg.max_batch_size)
    seconds = time.perf_counter() - start
    say(
        "max_batch_size",
        {**found, "seconds": seconds},
        f"batch-size finder ({cfg.max_batch_size.mode}, lr_range model mlp{cfg.hidden} on "
        f"{cfg.dataset}): {found['max_batch_size']} samples, peak "
        f"{found.get('peak_memory_gib')} GiB of {found.get('memory_total_gib')} GiB, "
        f"{seconds:.1f} s{CAPPED if found.get('stopped_at_max_val') else ''}",
    )


def ensembles(params, k: int = 1000) -> None:
    mlp = params.biasvar.regression.mlp
    n, width, epochs = params.biasvar.regression.n_train, mlp.epoch_sweep_width, mlp.epochs[-1]
    rng = np.random.default_rng(params.seed)
    x = rng.uniform(-1, 1, size=(k, n, 1))
    y = np.sin(np.pi * x[..., 0]) + rng.normal(0, 0.3, size=(k, n))
    x_test = np.linspace(-1, 1, params.biasvar.regression.grid_points)[:, None]
    seconds = {}
    for device in ("cuda", "cpu") if torch.cuda.is_available() else ("cpu",):
        built = seeded_models(lambda: MLP(1, 1, [width], mlp.activation), range(k))
        models = StackedModels([m.to(device) for m in built])
        tensors = [torch.as_tensor(a, dtype=torch.float32, device=device) for a in (x, y, x_test)]
        opt = OptimizerConfig(name=mlp.optimizer, lr=mlp.lr)
        train_stacked(models, *tensors[:2], "mse", opt, [5], tensors[2])  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        snaps = train_stacked(models, *tensors[:2], "mse", opt, [epochs], tensors[2])
        if device == "cuda":
            torch.cuda.synchronize()
        seconds[device] = time.perf_counter() - start
        loss = float(snaps[-1].train_loss.mean())
        say(
            f"ensembles_{device}",
            {"seconds": seconds[device], "k": k, "epochs": epochs, "mean_train_loss": loss},
            f"biasvar ensembles on {device}: K={k} MLPs (width {width}), {epochs} full-batch "
            f"{mlp.optimizer} epochs on {n} points each: {seconds[device]:.2f} s "
            f"(mean train MSE {loss:.4f})",
        )
    if "cuda" in seconds:
        ratio = seconds["cpu"] / seconds["cuda"]
        say("ensembles_speedup", ratio, f"  GPU vs CPU: {ratio:.1f}x")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu_check.json")
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device is visible; run it on a GPU machine")
    props = torch.cuda.get_device_properties(0)
    say(
        "device",
        {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)},
        f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}; "
        f"{os.cpu_count()} CPU cores, the CPU side on train.torch_threads = "
        f"{load_params().train.torch_threads or 'all'}",
    )
    params = load_params()
    use_threads(params.train.torch_threads)  # the CPU side as the train stage runs it
    splits = make_splits(params.data, params.seed)
    for step in (
        lambda: default_model(params, splits),
        lambda: mixed_precision(params, splits),
        lambda: batch_size_finder(params),
        lambda: ensembles(params),
    ):
        try:
            step()
        except Exception as err:  # noqa: BLE001 - report every check, not only the first failure
            say(f"error_{len(RESULTS)}", repr(err), f"FAILED: {type(err).__name__}: {err}")
        out.write_text(json.dumps(RESULTS, indent=1, default=str))


if __name__ == "__main__":
    main()
