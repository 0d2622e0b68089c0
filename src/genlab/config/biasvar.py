"""Params of the `biasvar` study: the bias-variance decomposition, measured.

The distributions are the datasets' (`data.poly`: f, noise, x range; `data.gaussians`: classes,
means, sigma, recorded Bayes error); this section sets the number of training sets K, their
size, the test points and the complexity sweeps.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from genlab.config.base import Degree, PosInt, Strict, distinct


class BiasVarMlp(Strict):
    """One-hidden-layer MLPs (genlab.models.MLP), K trained together, full batch."""

    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "tanh"
    optimizer: Literal["gd", "momentum", "adam", "adamw"] = "adam"
    lr: Annotated[float, Field(gt=0, le=10)] = 0.03
    epochs: list[PosInt] = [10, 30, 100, 300, 1000, 2000]
    epoch_sweep_width: PosInt = 32

    @field_validator("epochs")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        return sorted(distinct(values, "epochs"))


class BiasVarRegression(Strict):
    n_train: Annotated[int, Field(ge=2)] = 30
    grid_points: Annotated[int, Field(ge=2)] = 101
    degrees: list[Degree] = list(range(0, 11))
    widths: list[PosInt] = [1, 2, 4, 8, 16, 32, 64]
    mlp: BiasVarMlp = BiasVarMlp()

    @field_validator("degrees", "widths")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        return sorted(distinct(values, "sweep values"))

    @model_validator(mode="after")
    def _epoch_width_swept(self) -> BiasVarRegression:
        _check_epoch_width(self.mlp, self.widths)
        return self


class BiasVarClassification(Strict):
    n_train: Annotated[int, Field(ge=2)] = 60
    test_points: Annotated[int, Field(ge=2)] = 500
    widths: list[PosInt] = [1, 2, 4, 8, 16, 32, 64]
    mlp: BiasVarMlp = BiasVarMlp(
        lr=0.02, epochs=[1, 3, 10, 30, 100, 300, 1000], epoch_sweep_width=16
    )

    @field_validator("widths")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        return sorted(distinct(values, "widths"))

    @model_validator(mode="after")
    def _epoch_width_swept(self) -> BiasVarClassification:
        _check_epoch_width(self.mlp, self.widths)
        return self


def _check_epoch_width(mlp: BiasVarMlp, widths: list[int]) -> None:
    if mlp.epoch_sweep_width not in widths:
        raise ValueError(
            f"mlp.epoch_sweep_width {mlp.epoch_sweep_width} is not one of the widths {widths}"
        )


class BiasVarConfig(Strict):
    draws: Annotated[int, Field(ge=3)] = 100
    torch_threads: Annotated[int, Field(ge=1, le=64)] = 1
    regression: BiasVarRegression = BiasVarRegression()
    classification: BiasVarClassification = BiasVarClassification()
