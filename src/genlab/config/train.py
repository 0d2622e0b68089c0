"""The `train` section: loss, optimizer, regularization, early stopping, device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from genlab.config.base import NonNegFloat, OptimizerName, PosInt, Strict


class OptimizerConfig(Strict):
    """`gd`: one update per epoch on all M samples; `sgd`: one sample per update;
    `minibatch`, `momentum`, `adam`, `adamw`: batches of `batch_size`."""

    name: OptimizerName = "adam"
    lr: Annotated[float, Field(gt=0, le=10)] = 1e-3
    batch_size: PosInt = 64
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: bool = False
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )
    schedule: Literal["none", "step", "cosine"] = "none"
    step_size: PosInt = 10
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.5

    def unused(self) -> set[str]:
        unused = set()
        if self.name in ("gd", "sgd"):
            unused.add("batch_size")
        if self.name != "momentum":
            unused |= {"momentum", "nesterov"}
        if self.name not in ("adam", "adamw"):
            unused.add("betas")
        if self.schedule != "step":
            unused |= {"step_size", "gamma"}
        return unused

    def effective_batch_size(self, n_train: int) -> int:
        """Samples per update: GD uses all of them, SGD one."""
        if self.name == "gd":
            return n_train
        if self.name == "sgd":
            return 1
        return min(self.batch_size, n_train)


class RegularizationConfig(Strict):
    l2: NonNegFloat = 0.0
    weight_decay: NonNegFloat = 0.0
    l1: NonNegFloat = 0.0
    penalize_bias_and_norm: bool = False

    def unused(self) -> set[str]:
        """Which weights are penalized matters only when something penalizes them."""
        off = self.l2 == 0 and self.weight_decay == 0 and self.l1 == 0
        return {"penalize_bias_and_norm"} if off else set()


class EarlyStoppingConfig(Strict):
    enabled: bool = True
    patience: PosInt = 10
    # In the selected metric's units: a loss, or a fraction of the validation set for val/acc.
    min_delta: NonNegFloat = 0.0


# The validation metrics a model can be selected on; the module logs each of them to Lightning.
SELECTABLE = ("val/loss", "val/acc")
CLASSIFICATION_LOSSES = ("ce", "bce")


class SelectionConfig(Strict):
    """Which validation metric picks the model: early stopping, the saved checkpoint, the best
    epoch and the Optuna objective all compare it.

    `auto` selects on val/acc for classification and val/loss for regression. An
    over-confident classifier's val/loss reaches its minimum long before its val error does
    (its loss rises on the few samples it gets confidently wrong while more samples become
    right), so selecting a classifier on val/loss stops too early for the error it is judged on.
    """

    metric: Literal["auto", "val/loss", "val/acc"] = "auto"


@dataclass(frozen=True)
class SelectedMetric:
    """`train.selection.metric` resolved for the loss: its name and which way is better."""

    name: Literal["val/loss", "val/acc"]
    mode: Literal["min", "max"]  # Lightning's words (EarlyStopping, ModelCheckpoint)

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        """Optuna's words for `mode`."""
        return "maximize" if self.mode == "max" else "minimize"


class TrainConfig(Strict):
    loss: Literal["bce", "ce", "mse"] = "ce"
    max_epochs: PosInt = 40
    optimizer: OptimizerConfig = OptimizerConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    selection: SelectionConfig = SelectionConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    # Scale-out (train and train_best; studies fit each variant on one device). `devices` counts
    # processes per node (GPUs, or CPU processes with gloo); `strategy` auto means ddp when
    # devices x num_nodes > 1. Lightning's own names throughout.
    devices: PosInt | Literal["auto"] = 1
    num_nodes: PosInt = 1
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    # A rank that waits longer than this in a collective (a dead or hung peer) raises instead
    # of hanging; rendezvous at start-up is torchrun's or Lightning's own.
    ddp_timeout_s: Annotated[int, Field(ge=5, le=86400)] = 60
    eval_batch_size: PosInt = 4096
    # CPU threads for torch; 0 leaves torch's default (one per core). Small models often run
    # faster on one thread: per-op thread synchronisation costs more than the arithmetic.
    torch_threads: Annotated[int, Field(ge=0, le=256)] = 0

    # Field validators (not model ones) so that an error names `train.selection` or
    # `train.early_stopping` and echoes that small block, not the whole train section.
    @field_validator("selection")
    @classmethod
    def _accuracy_needs_classes(cls, sel: SelectionConfig, info: ValidationInfo) -> SelectionConfig:
        loss = info.data.get("loss")
        if sel.metric == "val/acc" and loss is not None and loss not in CLASSIFICATION_LOSSES:
            raise ValueError(
                f"metric 'val/acc' needs a classification loss (ce or bce), train.loss is "
                f"'{loss}': use val/loss or auto"
            )
        return sel

    @field_validator("early_stopping")
    @classmethod
    def _delta_reachable(cls, es: EarlyStoppingConfig, info: ValidationInfo) -> EarlyStoppingConfig:
        loss, sel = info.data.get("loss"), info.data.get("selection")
        if loss is not None and sel is not None and es.min_delta >= 1:
            if _resolve(sel.metric, loss).name == "val/acc":
                raise ValueError(
                    f"min_delta {es.min_delta:g} is in val/acc units (selection on val/acc): no "
                    "epoch can improve accuracy by that much; use a value below 1 (e.g. 0)"
                )
        return es

    @property
    def selected(self) -> SelectedMetric:
        """The metric selection compares, resolved for `loss` (`auto`: val/acc for ce and
        bce, val/loss for mse); read it here rather than re-deriving it."""
        return _resolve(self.selection.metric, self.loss)

    @model_validator(mode="after")
    def _decay_needs_a_decoupled_optimizer(self) -> TrainConfig:
        if self.regularization.weight_decay > 0 and self.optimizer.name == "adam":
            raise ValueError(
                "regularization.weight_decay with optimizer 'adam' would be Adam's coupled L2, "
                "not decoupled decay: use optimizer 'adamw', or regularization.l2 for the penalty"
            )
        return self

    @model_validator(mode="after")
    def _mixed_precision_needs_a_gpu(self) -> TrainConfig:
        if self.accelerator == "cpu" and self.precision != "32-true":
            raise ValueError(
                f"precision '{self.precision}' needs a GPU (accelerator is 'cpu'): "
                "use precision '32-true'"
            )
        return self

    @property
    def world_size(self) -> int:
        """Processes asked for (`devices: auto` counts as one: it is one unless GPUs show up)."""
        per_node = self.devices if isinstance(self.devices, int) else 1
        return per_node * self.num_nodes


def _resolve(metric: str, loss: str) -> SelectedMetric:
    if metric == "auto":
        metric = "val/acc" if loss in CLASSIFICATION_LOSSES else "val/loss"
    return SelectedMetric(metric, "max" if metric == "val/acc" else "min")
