"""Building the Trainer and running one fit: seeding, callbacks, logger, accelerator.

`fit` is the one path every experiment trains through, so that selection (on the validation
split only), divergence handling and logging behave the same everywhere.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from genlab.cli import TrackingGuard
from genlab.config import Params, reads
from genlab.config.train import SelectedMetric
from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import Splits
from genlab.distributed import check_splittable, strategy
from genlab.losses import output_dim
from genlab.module import GenLabModule
from genlab.quiet import quiet_libraries
from genlab.ranks import launched_world_size
from genlab.tracking import Study, run_params

quiet_libraries()


@dataclass
class FitResult:
    """What one training run produced; `status` is "ok" or "diverged"."""

    module: GenLabModule
    history: list[dict[str, float]]
    status: str
    reason: str = ""
    best_epoch: int = -1
    best_checkpoint: str = ""
    epochs_run: int = 0
    # False on every DDP rank but 0: those processes write nothing and log nothing.
    primary: bool = True


def build_module(params: Params, splits: Splits) -> GenLabModule:
    """Model sized for the data, wrapped with the loss, optimizer and regularization in params;
    passed as plain values, which the checkpoint keeps (`GenLabModule.load_from_checkpoint`)."""
    t, m = params.train, params.model
    return GenLabModule(
        # what applies only (the chosen model's section; no momentum for Adam): the checkpoint
        # holds what the module is built from, and the stage depends on nothing else
        model={"name": m.name, m.name: getattr(m, m.name).applied()},
        input_shape=list(splits.x_train.shape[1:]),
        output_dim=output_dim(t.loss, splits.n_classes),
        loss=t.loss,
        optimizer=t.optimizer.applied(),
        regularization=t.regularization.applied(),
        max_epochs=t.max_epochs,
        data_info=dict(splits.info),
    )


def accelerator(choice: str, precision: str = "32-true") -> str:
    """`auto` takes the GPU when present; an explicit `gpu` without one is an error, and so is
    mixed precision on a CPU (slower there than 32-bit, and not what a user asking for it means)."""
    if choice == "gpu" and not torch.cuda.is_available():
        raise ValueError("train.accelerator is 'gpu' but no CUDA device is visible: use 'auto'")
    accel = "cpu" if choice == "cpu" or not torch.cuda.is_available() else "gpu"
    if accel == "cpu" and precision != "32-true":
        raise ValueError(
            f"train.precision '{precision}' needs a GPU and none is visible: use '32-true'"
        )
    return accel


def use_threads(n: int) -> None:
    """torch's CPU threads for this process (0 keeps torch's default: one per core).

    Tiny models run fastest on one thread: intra-op threads cost more than they save, and under
    load a spinning second thread can make a step 10x slower. Each stage sets its own once
    (`train.torch_threads` for train and train_best, each study's `<study>.torch_threads`);
    `fit` leaves them alone so a study's setting holds for its fits.
    """
    if n > 0:
        torch.set_num_threads(n)


_NOTED: set[str] = set()


def one_device(params: Params) -> Params:
    """The params of a fit that runs on one process whatever `train.devices` says.

    Studies fit many small models; splitting each over processes costs more than it saves
    (benchmarks/ddp_scaling.py), so `train.devices` / `num_nodes` drive `train` and
    `train_best` only. An external launcher running a study on several ranks would have every
    rank write the same outputs: that is refused.
    """
    t = params.train
    with reads.paused():  # whatever these say, a study's fit runs on one device: not a read
        if launched_world_size() > 1:
            raise ValueError(
                "this stage fits many small models on one process each; run it without "
                "torchrun/srun (train.devices and num_nodes apply to the train and train_best "
                "stages)"
            )
        many = t.world_size > 1 or (t.devices == "auto" and torch.cuda.device_count() > 1)
        if many and "note" not in _NOTED:
            _NOTED.add("note")
            print(
                f"genlab: train.devices={t.devices}, num_nodes={t.num_nodes} apply to the train "
                "and train_best stages; this stage fits each model on one device",
                file=sys.stderr,
            )
    train = t.model_copy(update={"devices": 1, "num_nodes": 1, "strategy": "auto"})
    return params.model_copy(update={"train": train})


def best_row(history: list[dict[str, float]], selected: SelectedMetric) -> dict | None:
    """The epoch selection keeps: the best value of the selected metric, and of several epochs
    that tie, the earliest. None if no epoch has a finite value.

    Ties are common on val/acc, which moves in steps of 1/n_val. The earliest is what
    ModelCheckpoint and EarlyStopping keep (they take only a strict improvement), so this pick,
    `FitResult.best_epoch` and the saved weights are one and the same epoch; and of equally
    accurate models it is the one with the fewest updates, the least fitted to the training
    set. (Breaking ties on val/loss instead would need a composite monitored value, and would
    lean back towards the over-confidence that selecting on accuracy avoids.) Values are
    compared as the callbacks see them: `self.log` stores them as float32.
    """
    key = selected.name
    finite = [(_as_logged(r[key]), r) for r in history if math.isfinite(r.get(key, math.nan))]
    if not finite:
        return None
    pick = max if selected.mode == "max" else min
    best = pick(v for v, _ in finite)
    return next(r for v, r in finite if v == best)


def _as_logged(value: float) -> float:
    """`value` rounded as Lightning's `self.log` stores a Python float (float32)."""
    return torch.tensor(value, dtype=torch.float32).item()


def fit(
    params: Params,
    splits: Splits,
    logger=None,
    checkpoint_dir: str | Path | None = None,
    extra_callbacks: list[pl.Callback] | None = None,
    train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    distributed: bool = False,
) -> FitResult:
    """Seed everything from params.seed, train, and restore the epoch with the best value of
    `train.selection.metric` (val/acc for classification by default; see `best_row`).

    `train_transform` (e.g. data augmentation) maps each training batch's inputs; the per-epoch
    evaluation of train/val/test never goes through it. `distributed=True` lets
    `train.devices` / `num_nodes` / `strategy` spread this fit over processes (DDP); the caller
    then writes and logs only where `FitResult.primary` (see genlab.distributed).
    """
    if not distributed:
        params = one_device(params)
    pl.seed_everything(params.seed, workers=True, verbose=False)
    module = build_module(params, splits)
    module.train_transform = train_transform
    t = params.train
    batch_size = t.optimizer.effective_batch_size(len(splits.x_train))
    check_splittable(t, batch_size)
    dm = SplitsDataModule(splits, batch_size, t.eval_batch_size, seed=params.seed)
    callbacks: list[pl.Callback] = list(extra_callbacks or [])
    selected = t.selected  # one metric for early stopping, the checkpoint and `best_epoch`
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = ModelCheckpoint(
            dirpath=str(checkpoint_dir),
            filename="model",
            monitor=selected.name,
            mode=selected.mode,
            save_top_k=1,
            enable_version_counter=False,
            save_weights_only=True,
        )
        callbacks.append(ckpt)
    if t.early_stopping.enabled:
        callbacks.append(
            EarlyStopping(
                monitor=selected.name,
                mode=selected.mode,
                patience=t.early_stopping.patience,
                min_delta=t.early_stopping.min_delta,
                check_finite=False,
            )
        )
    accel = accelerator(t.accelerator, t.precision)
    ddp = strategy(t, accel)
    trainer = pl.Trainer(
        max_epochs=t.max_epochs,
        accelerator=accel,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=ddp,
        precision=t.precision,
        # CPU batch norm cannot sync (torch's SyncBatchNorm is GPU-only): ranks keep their own.
        sync_batchnorm=accel == "gpu" and ddp != "auto",
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=ckpt is not None,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # CPU kernels here are deterministic already; the global switch only slows them down.
        deterministic=accel != "cpu",
        log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=dm)
    primary = trainer.is_global_zero
    history = module.history
    status = "diverged" if module.diverged else "ok"
    best = best_row(history, selected)
    result = FitResult(
        module=module,
        history=history,
        status=status,
        reason=module.diverged or "",
        best_epoch=int(best["epoch"]) if best else -1,
        epochs_run=len(history),
        primary=primary,
    )
    if ckpt is not None:
        if ckpt.best_model_path:
            result.best_checkpoint = ckpt.best_model_path
        else:  # diverged before any finite epoch: keep the state so the output still exists
            path = Path(checkpoint_dir) / "model.ckpt"
            trainer.save_checkpoint(path, weights_only=True)  # all ranks: it has a barrier
            result.best_checkpoint = str(path)
        if primary:  # the file is rank 0's (another node may not even see it)
            # into this module, not a new one from load_from_checkpoint: it holds the history
            state = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
            module.load_state_dict(state["state_dict"])
    return result


def fit_in_run(
    params: Params, splits: Splits, checkpoint_dir: str, runs: Study | None, *sections: str
) -> tuple[FitResult | None, TrackingGuard | None]:
    """The one fit of a training stage (`train`, `train_best`), logging into the stage's run
    (`runs`, made by Lightning's logger) with the params that apply (`run_params`, plus the
    stage's `sections`). A tracking server lost during the fit stops it after that epoch; the
    guard returned raises that error once the stage has written its outputs (`check`).

    On a DDP rank but 0 (`runs` None): that rank's share of the fit, which stops with rank 0
    when rank 0's tracking server dies; nothing is returned (rank 0 tracks and writes).
    """
    if runs is None:
        stop = TrackingGuard().callbacks()
        fit(params, splits, checkpoint_dir=checkpoint_dir, distributed=True, extra_callbacks=stop)
        return None, None
    runs.logger.log_hyperparams(run_params(params, *sections))  # before the guard: fail fast
    guard = TrackingGuard(runs.logger, spawned=params.train.strategy == "ddp_spawn")
    result = fit(params, splits, logger=runs.logger, checkpoint_dir=checkpoint_dir,
                 distributed=True, extra_callbacks=guard.callbacks())
    return result, guard
