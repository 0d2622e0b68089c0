"""The `data` section: which dataset `prepare` builds, and each generator's knobs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genlab.config.base import Fraction, NonNegFloat, PosFloat, PosInt, Strict


class PolyData(Strict):
    function: Literal["sine", "cubic", "runge"] = "sine"
    noise_sigma: NonNegFloat = 0.2
    n_train: PosInt = 30
    n_val: PosInt = 30
    n_test: PosInt = 2000
    x_min: float = -1.0
    x_max: float = 1.0

    @model_validator(mode="after")
    def _range(self) -> PolyData:
        if self.x_max <= self.x_min:
            raise ValueError(f"x_max ({self.x_max}) must be greater than x_min ({self.x_min})")
        return self


class GaussiansData(Strict):
    n_classes: Annotated[int, Field(ge=2)] = 3
    dim: PosInt = 2
    separation: PosFloat = 2.5
    sigma: PosFloat = 1.0
    n_train: PosInt = 600
    n_val: PosInt = 300
    n_test: PosInt = 3000
    bayes_mc_samples: Annotated[int, Field(ge=1000)] = 200_000


class DigitsData(Strict):
    val_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15


class Mnist1dData(Strict):
    num_samples: Annotated[int, Field(ge=100)] = 5000
    val_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.2


DatasetName = Literal["poly", "gaussians", "digits", "mnist1d"]


class DataConfig(Strict):
    name: DatasetName = "mnist1d"
    poly: PolyData = PolyData()
    gaussians: GaussiansData = GaussiansData()
    digits: DigitsData = DigitsData()
    mnist1d: Mnist1dData = Mnist1dData()
