"""The LightningModule: a network + a loss + an optimizer + regularization, and what it logs.

It logs once per epoch, never per step: train/val/test loss (and accuracy for classification)
measured on each whole split in eval mode, and `gap/loss = test/loss − train/loss`. Per-step
logging to a SQLite MLflow store costs more than the training itself on these models.

A checkpoint rebuilds its module: the constructor takes plain values (the model section, the
data's shape, the loss, optimizer and regularization as dicts), which `save_hyperparameters`
stores, so `GenLabModule.load_from_checkpoint(path)` needs nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor

from genlab.config.model import ModelConfig
from genlab.config.train import SELECTABLE, OptimizerConfig, RegularizationConfig
from genlab.data.splits import SPLIT_NAMES
from genlab.losses import loss_fn, predict_labels
from genlab.models import build_model
from genlab.regularization import l1_penalty, l2_penalty, split_decay_params
from genlab.update_rules import build_optimizer

# What callbacks can monitor: every metric `train.selection.metric` may select on. Lightning
# stores these as float32 tensors; `training.best_row` compares the history the same way.
MONITORED = SELECTABLE


class GenLabModule(pl.LightningModule):
    """Trains `net` on `loss` (+ λ/2‖W‖² and λ‖W‖₁ penalties) and evaluates all three splits."""

    def __init__(
        self,
        model: dict,
        input_shape: Sequence[int],
        output_dim: int,
        loss: str,
        optimizer: dict,
        regularization: dict,
        max_epochs: int,
        data_info: dict | None = None,
    ) -> None:
        """`model`, `optimizer`, `regularization`: the params sections as plain dicts (what a
        checkpoint can hold); `input_shape`, `output_dim`, `data_info` size the network."""
        super().__init__()
        self.save_hyperparameters(logger=False)  # tracking logs params its own way
        self.net = build_model(
            ModelConfig.model_validate(model), tuple(input_shape), output_dim, data_info
        )
        self.loss_name = loss
        self.automatic_optimization = False
        self.loss = loss_fn(loss)
        self.classify = loss != "mse"
        self.opt_cfg = OptimizerConfig.model_validate(optimizer)
        self.reg_cfg = RegularizationConfig.model_validate(regularization)
        self.max_epochs = max_epochs
        self.decayed, self.not_decayed = split_decay_params(
            self.net, self.reg_cfg.penalize_bias_and_norm
        )
        self.history: list[dict[str, float]] = []
        self.diverged: str | None = None
        # Applied to training batches only (data augmentation); evaluation never sees it.
        self.train_transform: Callable[[Tensor], Tensor] | None = None
        # Per split: loss sum, correct count, samples. Plain sums, not torchmetrics: float64
        # MeanMetrics gave the same numbers to the last bit, but the flagship's per-epoch
        # evaluation took 13.4-13.6 ms instead of 12.3-12.6 ms on this 2-core CPU machine
        # (30-40 µs per metric update); benchmarks/epoch_evaluation.py times this path.
        self._sums: dict[str, list[float]] = {}
        self._t0 = time.perf_counter()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def objective(self, out: Tensor, y: Tensor) -> Tensor:
        """Data loss plus the explicit penalties λ/2‖W‖² and λ‖W‖₁ (on decayed params only)."""
        loss, reg = self.loss(out, y), self.reg_cfg
        if reg.l2 > 0:
            loss = loss + l2_penalty(self.decayed, reg.l2)
        if reg.l1 > 0:
            loss = loss + l1_penalty(self.decayed, reg.l1)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """One update, written out (manual optimization).

        Lightning's automatic loop (closure, precision wrapper, result collection) costs more
        than a forward/backward pass of these small models; this keeps Lightning's optimizer
        wrapper (step counting for max_steps, the LR finder) and its scheduler configs.
        """
        x, y = batch
        if self.train_transform is not None:
            x = self.train_transform(x)
        opt = self.optimizers()
        loss = self.objective(self.net(x), y)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        for cfg in self.trainer.lr_scheduler_configs:
            if cfg.interval == "step" and self.global_step % cfg.frequency == 0:
                cfg.scheduler.step()
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        for cfg in self.trainer.lr_scheduler_configs:
            if cfg.interval == "epoch" and (self.current_epoch + 1) % cfg.frequency == 0:
                cfg.scheduler.step()

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Batches are (x, y) tensor pairs: move them directly, skip the generic tree walk."""
        if device.type == "cpu":
            return batch
        return tuple(t.to(device, non_blocking=True) for t in batch)

    # ---------------------------------------------------------------- per-epoch evaluation
    def on_fit_start(self) -> None:
        self._t0 = time.perf_counter()

    def on_validation_epoch_start(self) -> None:
        self._sums = {name: [0.0, 0.0, 0] for name in SPLIT_NAMES}

    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        x, y = batch
        out = self.net(x)
        s = self._sums[SPLIT_NAMES[dataloader_idx]]
        s[0] += float(self.loss(out, y)) * len(y)
        labels = predict_labels(self.loss_name, out)
        if labels is not None:
            s[1] += float((labels == y).sum())
        s[2] += len(y)

    def _reduce_sums(self) -> None:
        """Under DDP each rank evaluated a shard: add the sums up so every rank holds the
        whole-split numbers (and early stopping, pruning and divergence agree on all ranks)."""
        if self._trainer is None or self.trainer.world_size == 1:
            return
        names = list(self._sums)
        flat = torch.tensor(
            [v for name in names for v in self._sums[name]], dtype=torch.float64, device=self.device
        )
        flat = self.trainer.strategy.reduce(flat, reduce_op="sum").tolist()
        self._sums = {name: flat[3 * i : 3 * i + 3] for i, name in enumerate(names)}

    def split_metrics(self) -> dict[str, float]:
        """Data loss (no penalty) and accuracy per split, plus the generalization gap."""
        m: dict[str, float] = {}
        classify = self.classify
        for name, (loss_sum, correct, n) in self._sums.items():
            m[f"{name}/loss"] = loss_sum / n
            if classify:
                m[f"{name}/acc"] = correct / n
        m["gap/loss"] = m["test/loss"] - m["train/loss"]
        if classify:
            m["gap/acc"] = m["train/acc"] - m["test/acc"]
        return m

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self._reduce_sums()
        m = self.split_metrics()
        # Only what callbacks monitor goes through Lightning's result collection (each
        # self.log costs ~2 ms); the rest reaches the logger in one batch below.
        self.log_dict({k: m[k] for k in MONITORED if k in m}, logger=False)
        row = {
            "epoch": float(self.current_epoch),
            "updates": float(self.global_step),
            "time_s": time.perf_counter() - self._t0,
            **m,
        }
        self.history.append(row)
        if self.logger is not None:  # one batch of metrics per epoch, step = epoch
            self.logger.log_metrics({**m, "updates": row["updates"]}, step=self.current_epoch)
        bad = [k for k in ("train/loss", "val/loss") if not math.isfinite(m[k])]
        if bad and self.diverged is None:
            self.diverged = f"{bad[0]} became {m[bad[0]]} at epoch {self.current_epoch}"
            self.trainer.should_stop = True

    # ----------------------------------------------------------------------- optimization
    def configure_optimizers(self):
        opt = build_optimizer(
            self.decayed, self.not_decayed, self.opt_cfg, self.reg_cfg.weight_decay
        )
        if self.opt_cfg.schedule == "none":
            return opt
        if self.opt_cfg.schedule == "step":
            sched = torch.optim.lr_scheduler.StepLR(
                opt, step_size=self.opt_cfg.step_size, gamma=self.opt_cfg.gamma
            )
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.max_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
