"""Scale-out with Lightning's DDP: the strategy, a dead peer (which process is rank 0:
`genlab.ranks`).

One fit over several processes (GPUs, or CPU processes on gloo) or nodes (torchrun, SLURM)
must leave exactly what one process leaves: one MLflow run, one checkpoint, one history. Two
rules get there. Every rank computes the *same* numbers: each evaluates a shard of every split
and the sums are all-reduced (`GenLabModule`), so early stopping, divergence and pruning agree
without further syncing. Only rank 0 writes: a stage asks `ranks.is_primary()` before it
creates a run or a file, because under Lightning's `ddp` the other ranks re-run the stage's
script from the top (and under torchrun every rank does).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

from genlab.config.train import TrainConfig


def check_splittable(cfg: TrainConfig, batch_size: int) -> None:
    """DDP splits each global batch over the processes: each needs ≥ 2 samples (batch norm)."""
    world = cfg.world_size
    if world == 1:
        return
    if cfg.optimizer.name == "sgd":
        raise ValueError(
            f"train.optimizer 'sgd' updates on one sample, which cannot be split over {world} "
            "processes: use 'minibatch', or train.devices 1"
        )
    if batch_size < 2 * world:
        raise ValueError(
            f"train.optimizer.batch_size {batch_size} is too small to split over {world} "
            f"processes (each needs ≥ 2 samples per update): use ≥ {2 * world}"
        )


def strategy(cfg: TrainConfig, accelerator: str = "cpu") -> str | DDPStrategy:
    """Lightning's strategy for `train.strategy`, with the process-group timeout applied.

    One process (`devices: auto` on a CPU or a single GPU included) needs no process group."""
    per_node = cfg.devices
    if per_node == "auto":
        per_node = torch.cuda.device_count() if accelerator == "gpu" else 1
    if per_node * cfg.num_nodes == 1:
        return "auto"
    timeout = timedelta(seconds=cfg.ddp_timeout_s)
    if cfg.strategy == "ddp_spawn":
        return SpawnDDPStrategy(timeout=timeout, start_method="spawn")
    return DDPStrategy(timeout=timeout)


class _HistoryLauncher(_MultiProcessingLauncher):
    """Lightning's spawn launcher, also handing the per-epoch history back to the parent.

    Under `ddp_spawn` the parent process does not train: Lightning returns the weights and the
    callback metrics from rank 0, and this adds what `fit` reads from the module.
    """

    def get_extra_results(self, trainer: Any) -> dict[str, Any]:
        extra = super().get_extra_results(trainer)
        module = trainer.lightning_module
        extra["genlab"] = {"history": module.history, "diverged": module.diverged}
        return extra

    def update_main_process_results(self, trainer: Any, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        module = trainer.lightning_module
        module.history, module.diverged = extra["genlab"]["history"], extra["genlab"]["diverged"]


class SpawnDDPStrategy(DDPStrategy):
    """`ddp_spawn` whose parent gets the history back (see `_HistoryLauncher`)."""

    strategy_name = "ddp_spawn"

    def _configure_launcher(self) -> None:
        self._launcher = _HistoryLauncher(self, start_method=self._start_method)


# What gloo / NCCL / torch.distributed say when a peer process or node is gone or stuck.
_PEER_GONE = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "timed out",
    "Timed out",
    "NCCL communicator was aborted",
    "DistBackendError",
    "DistNetworkError",
)


def peer_failure(err: BaseException) -> bool:
    """A collective failed because another rank or node died or hung (not a bug of ours)."""
    text = f"{type(err).__name__}: {err}"
    ours = type(err).__module__.startswith("torch") or any(
        backend in text for backend in ("gloo", "c10d", "NCCL")
    )
    return ours and any(marker in text for marker in _PEER_GONE)
