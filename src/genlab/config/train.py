"""The `train` section: loss, optimizer, regularization, early stopping, device."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genlab.config.base import NonNegFloat, PosInt, Strict

OptimizerName = Literal["gd", "sgd", "minibatch", "momentum", "adam", "adamw"]


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


class EarlyStoppingConfig(Strict):
    enabled: bool = True
    patience: PosInt = 10
    min_delta: NonNegFloat = 0.0


class TrainConfig(Strict):
    loss: Literal["bce", "ce", "mse"] = "ce"
    max_epochs: PosInt = 40
    optimizer: OptimizerConfig = OptimizerConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    eval_batch_size: PosInt = 4096
    # CPU threads for torch; 0 leaves torch's default (one per core). Small models often run
    # faster on one thread: per-op thread synchronisation costs more than the arithmetic.
    torch_threads: Annotated[int, Field(ge=0, le=256)] = 0

    @model_validator(mode="after")
    def _decay_needs_a_decoupled_optimizer(self) -> TrainConfig:
        if self.regularization.weight_decay > 0 and self.optimizer.name == "adam":
            raise ValueError(
                "regularization.weight_decay with optimizer 'adam' would be Adam's coupled L2, "
                "not decoupled decay: use optimizer 'adamw', or regularization.l2 for the penalty"
            )
        return self
