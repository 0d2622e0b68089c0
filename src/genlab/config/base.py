"""Shared building blocks of the params schema: strict sections, the constrained types and
checks that several sections use (one definition, so a bound means the same everywhere)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

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
    # Where this section sits in params.yaml (`train.optimizer`, "" for the whole file; None
    # for a section validated on its own) and which keys a variant replaced: set once a tree is
    # validated, so that the reads a stage makes are named (genlab.config.reads).
    _key: str | None = PrivateAttr(None)
    _overridden: frozenset[str] = PrivateAttr(frozenset())

    def __eq__(self, other: object) -> bool:
        """Equal values are equal params, wherever they were read from (not the private keys)."""
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.__dict__.values())))

    def unused(self) -> set[str]:
        """Fields that do not apply, given the others (Adam's `momentum`)."""
        return set()

    def applied(self) -> dict:
        """The section as a mapping without the fields that do not apply: what a checkpoint
        keeps of it, so that a stage depends on no setting its model does not use."""
        return self.model_dump(mode="json", include=set(type(self).model_fields) - self.unused())
