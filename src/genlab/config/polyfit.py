"""Params of the `polyfit` study: under- and overfitting over the polynomial degree.

The data are `data.poly`'s (true f, noise, train/val sizes, x range); this section picks the
degrees, the size of the fresh test sample and the gradient-descent budget.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from genlab.config.base import Degree, OptimizerName, PosInt, Strict, distinct


class PolyfitGd(Strict):
    """Gradient descent through `genlab.training.fit` (model poly, loss mse), fixed budget."""

    optimizer: OptimizerName = "gd"
    lr: Annotated[float, Field(gt=0, le=10)] = 0.5
    max_epochs: PosInt = 100


class PolyfitConfig(Strict):
    degrees: list[Degree] = list(range(1, 21))
    curve_degrees: list[Degree] = [1, 4, 20]
    n_test: Annotated[int, Field(ge=100)] = 5000
    gd: PolyfitGd = PolyfitGd()
    torch_threads: Annotated[int, Field(ge=1, le=64)] = 1

    @field_validator("degrees", "curve_degrees")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        return distinct(values, "degrees")

    def sweep(self) -> list[int]:
        """The degrees fitted: `degrees` plus the curve degrees, which are always included."""
        return sorted(set(self.degrees) | set(self.curve_degrees))
