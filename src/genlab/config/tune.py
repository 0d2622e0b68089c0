"""Params of the `tune` Optuna study and the `train_best` retrain.

The search space, the objective and the base training config (`data.<name>`, `model.<name>`,
`train`, `seed`) define what a trial's value means; their hash names the study, so changing any
of them starts a new study while `n_trials`, `n_workers`, `storage`, the heartbeat timing, the
sampler's startup and the pruner only change how the same study proceeds (see
genlab.stages.tune.space.study_name).

The objective is `train.selection.metric` resolved for `tune.loss` (`TrainConfig.selected`):
one key decides what early stopping, the checkpoint and the study optimize, so a trial is
never stopped on one metric and ranked on another.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from genlab.config.base import PosFloat, PosInt, Strict
from genlab.config.data import DatasetName
from genlab.config.train import SELECTABLE

Probability = Annotated[float, Field(ge=0, lt=1)]


def _ordered(pair: tuple) -> tuple:
    if not pair[0] < pair[1]:
        raise ValueError(f"low ({pair[0]}) must be below high ({pair[1]})")
    return pair


class SpaceConfig(Strict):
    """Ranges searched, each [low, high]: `lr` and `strength` log-uniform, `batch_size` powers
    of two, `dropout` uniform."""

    lr: tuple[Annotated[float, Field(gt=0, le=10)], Annotated[float, Field(gt=0, le=10)]] = (
        1e-4,
        1e-1,
    )
    batch_size: tuple[PosInt, PosInt] = (16, 256)
    penalty: Literal["l2", "weight_decay", "l1"] = "l2"
    strength: tuple[PosFloat, PosFloat] = (1e-6, 1e-2)
    dropout: tuple[Probability, Probability] | None = None

    @field_validator("lr", "strength", "dropout")
    @classmethod
    def _low_below_high(cls, pair: tuple | None) -> tuple | None:
        return pair if pair is None else _ordered(pair)

    @field_validator("batch_size")
    @classmethod
    def _powers_of_two(cls, pair: tuple[int, int]) -> tuple[int, int]:
        for b in pair:
            if b & (b - 1):
                raise ValueError(f"{b} is not a power of two (e.g. 16, 32, 64)")
        return _ordered(pair)


class SamplerConfig(Strict):
    """TPE, seeded from the top-level `seed`; the first trials are drawn at random."""

    n_startup_trials: PosInt = 5


class PrunerConfig(Strict):
    """Stops unpromising trials early from their per-epoch validation metric."""

    name: Literal["median", "hyperband", "none"] = "median"
    n_startup_trials: Annotated[int, Field(ge=0)] = 2  # median: trials finished before pruning
    n_warmup_steps: Annotated[int, Field(ge=0)] = 1  # median: epochs before a trial is judged
    min_resource: PosInt = 1  # hyperband: epochs of the first rung
    reduction_factor: Annotated[int, Field(ge=2)] = 3  # hyperband


class TrainBestConfig(Strict):
    """The retrain of the winning configuration (stage `train_best`)."""

    # null: as many epochs as each trial had, which replays the best trial exactly
    max_epochs: PosInt | None = None


class TuneConfig(Strict):
    data: DatasetName = "mnist1d"
    model: Literal["mlp", "poly", "cnn1d"] = "mlp"
    loss: Literal["bce", "ce", "mse"] = "ce"
    # Retired key, kept only so that a params.yaml still holding it is refused by its name
    # (and not as an anonymous unknown key); never dumped, so it names no study and no run.
    metric: SkipJsonSchema[None] = Field(default=None, exclude=True)
    max_epochs: PosInt = 10
    n_trials: PosInt = 16
    n_workers: Annotated[int, Field(ge=1, le=64)] = 1
    torch_threads: Annotated[int, Field(ge=1, le=256)] = 1
    # fANOVA importances are reported as a ranking only from this many complete trials on
    # (below: flagged as noise). 30 = 10 per searched dimension of the default space (lr,
    # batch size, λ); raise it when `space.dropout` is searched too. Names no study.
    min_trials_for_importance: Annotated[int, Field(ge=2, le=100_000)] = 30
    storage: Annotated[str, Field(min_length=1)] = "studies/optuna.journal"
    study_name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "auto"
    # RDB storage: a running trial writes a heartbeat every `heartbeat_interval` s; one silent
    # for `grace_period` s lost its worker and is failed and retried by another worker
    heartbeat_interval: Annotated[int, Field(ge=1, le=3600)] = 20
    grace_period: Annotated[int, Field(ge=2, le=86400)] = 90
    space: SpaceConfig = SpaceConfig()
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    train_best: TrainBestConfig = TrainBestConfig()

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_moved(cls, value: object) -> None:
        keep = f" (to keep it, set train.selection.metric: {value})" if value in SELECTABLE else ""
        raise ValueError(
            "replaced by train.selection.metric (auto | val/loss | val/acc), which drives early "
            f"stopping, the checkpoint and the study's objective alike: delete tune.metric{keep}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> TuneConfig:
        if self.space.dropout is not None and self.model == "poly":
            raise ValueError("space.dropout: model 'poly' has no dropout; set it to null")
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period ({self.grace_period} s) must exceed heartbeat_interval "
                f"({self.heartbeat_interval} s), or every running trial would look dead"
            )
        if self.pruner.name == "median" and self.pruner.n_warmup_steps >= self.max_epochs:
            raise ValueError(
                f"pruner.n_warmup_steps ({self.pruner.n_warmup_steps}) must be below max_epochs "
                f"({self.max_epochs}), or no trial could ever be pruned"
            )
        return self
