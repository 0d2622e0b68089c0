"""Shared building blocks of the params schema: strict sections, the constrained types and
checks that several sections use (one definition, so a bound means the same everywhere)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]

Degree = Annotated[int, Field(ge=0, le=60)]  # a polynomial degree (polyfit, biasvar)
LearningRate = Annotated[float, Field(gt=0, le=10)]
OptimizerName = Literal["gd", "sgd", "minibatch", "momentum", "adam", "adamw"]
StudyDataset = Literal["digits", "mnist1d", "gaussians"]  # what the GD studies can generate
# torch intra-op threads for a study's process; 0 keeps torch's default (one per core).
Threads = Annotated[int, Field(ge=0, le=256)]


def distinct(values: list, what: str = "values") -> list:
    """Sweep lists: at least one entry, none repeated."""
    if not values:
        raise ValueError(f"must list at least one of the {what}")
    if len(set(values)) != len(values):
        raise ValueError(f"repeats an entry; list each of the {what} once")
    return values


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or holds a value that is not allowed."""


class Strict(BaseModel):
    """Base for every section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
