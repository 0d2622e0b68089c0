"""Params of the `optimizers` study (GD vs SGD vs mini-batch vs momentum vs Adam)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from genlab.config.base import LearningRate, OptimizerName, PosInt, Strict, StudyDataset, Threads

# Classification data the GD studies can generate in-process (knobs from `data.<name>`).


class OptimizersConfig(Strict):
    """Every variant trains the same MLP on the same data from the same seeds for `max_epochs`;
    only the update rule, its samples per update and its learning rate differ."""

    dataset: StudyDataset = "digits"
    hidden: list[PosInt] = [64]
    max_epochs: PosInt = 15
    # every variant runs with seeds seed, seed+1, …, seed+seeds-1 (init and shuffling; the data
    # stays the one drawn from `seed`): numbers are reported as mean and sample std over them
    seeds: Annotated[int, Field(ge=1, le=100)] = 3
    batch_size: Annotated[int, Field(ge=2)] = 32  # B of minibatch, momentum, adam, adamw
    momentum: Annotated[float, Field(gt=0, lt=1)] = 0.9
    # optimizer name (as in train.optimizer.name) -> its learning rate; one run per entry
    variants: Annotated[dict[OptimizerName, LearningRate], Field(min_length=1)] = {
        "gd": 0.5,
        "sgd": 0.01,
        "minibatch": 0.5,
        "momentum": 0.05,
        "adam": 0.003,
    }
    torch_threads: Threads = 1
