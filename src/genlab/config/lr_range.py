"""Params of the `lr_range` study (learning-rate range test per batch size)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genlab.config.base import LearningRate, PosInt, Strict, StudyDataset, Threads


class MaxBatchSizeConfig(Strict):
    """Lightning's batch-size finder on the GPU: the largest batch that fits in memory."""

    enabled: bool = True
    mode: Literal["power", "binsearch"] = "binsearch"
    init_val: PosInt = 64
    max_trials: Annotated[int, Field(ge=1, le=40)] = 25
    max_val: Annotated[int, Field(ge=2)] = 2**26  # stop searching here even without an OOM
    steps_per_trial: PosInt = 3


class LrRangeConfig(Strict):
    """Smith's range test (Lightning's lr_find) for each batch size over several seeds, then one
    training per batch size at `fixed_lr` and one at that batch size's median suggestion."""

    dataset: StudyDataset = "digits"
    hidden: list[PosInt] = [64]
    optimizer: Literal["minibatch", "momentum", "adam", "adamw"] = "minibatch"
    momentum: Annotated[float, Field(gt=0, lt=1)] = 0.9
    batch_sizes: Annotated[list[Annotated[int, Field(ge=2)]], Field(min_length=2)] = [
        8,
        32,
        128,
        512,
    ]
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = [1, 2, 3, 4, 5]
    min_lr: Annotated[float, Field(gt=0)] = 0.01
    max_lr: Annotated[float, Field(gt=0, le=100)] = 10.0
    num_training: Annotated[int, Field(ge=20, le=100_000)] = 100
    epochs: PosInt = 10
    fixed_lr: LearningRate = 0.1
    torch_threads: Threads = 1
    max_batch_size: MaxBatchSizeConfig = MaxBatchSizeConfig()

    @model_validator(mode="after")
    def _consistent(self) -> LrRangeConfig:
        if self.min_lr >= self.max_lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be below max_lr ({self.max_lr})")
        if len(set(self.batch_sizes)) < 2:
            raise ValueError(
                f"batch_sizes {self.batch_sizes}: need at least two different sizes to fit "
                "log(lr*) against log(B)"
            )
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ValueError(f"batch_sizes {self.batch_sizes} has duplicates")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} has duplicates")
        return self
