"""Params of the `losses` stage: the worked examples of the loss functions and the KL identity."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from genlab.config.base import Strict

Prob = Annotated[float, Field(gt=0, lt=1)]


class LossExamplesConfig(Strict):
    """Predicted probabilities of the true class to tabulate, and two distributions p, q."""

    probabilities: list[Prob] = [0.1, 0.5, 0.8, 0.9, 0.99]
    p: list[Annotated[float, Field(ge=0)]] = [0.5, 0.5]
    q: list[Annotated[float, Field(ge=0)]] = [0.9, 0.1]

    @model_validator(mode="after")
    def _distributions(self) -> LossExamplesConfig:
        for name, dist in (("p", self.p), ("q", self.q)):
            if len(dist) < 2 or abs(sum(dist) - 1) > 1e-6:
                raise ValueError(f"{name} must have 2+ entries summing to 1, got {dist}")
        if len(self.p) != len(self.q):
            raise ValueError(f"p and q need the same length, got {len(self.p)} and {len(self.q)}")
        return self
