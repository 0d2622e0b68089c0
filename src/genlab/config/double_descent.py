"""Params of the `double_descent` study: test error over model width past interpolation.

The data are `data.mnist1d`'s (same generator, same splits); this section sets how many
training signals are kept, how many of their labels are corrupted, the widths, the training
budget and how the threshold and the second descent are read off the measured curves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from genlab.config.base import PosInt, Strict, distinct


class DoubleDescentConfig(Strict):
    n_train: Annotated[int, Field(ge=10)] = 3000
    label_noise: Annotated[float, Field(ge=0, lt=1)] = 0.15
    seeds: Annotated[int, Field(ge=3)] = 3
    widths: Annotated[list[PosInt], Field(min_length=3)] = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    lr: Annotated[float, Field(gt=0, le=1)] = 0.002
    batch_size: PosInt = 200
    epochs: PosInt = 300
    epoch_curve_width: PosInt | None = None
    epoch_curve_points: Annotated[int, Field(ge=2)] = 30
    interpolation_tol: Annotated[float, Field(ge=0, lt=1)] = 0.01
    peak_window: Annotated[float, Field(ge=1)] = 4.0
    torch_threads: Annotated[int, Field(ge=1, le=64)] = 1

    @field_validator("widths")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        return sorted(distinct(values, "widths"))

    @model_validator(mode="after")
    def _curve_width_swept(self) -> DoubleDescentConfig:
        if self.epoch_curve_width is not None and self.epoch_curve_width not in self.widths:
            raise ValueError(
                f"epoch_curve_width {self.epoch_curve_width} is not one of the widths "
                f"{self.widths}: pick one of them, or null for the widest"
            )
        return self

    @property
    def curve_width(self) -> int:
        """The width whose test error is recorded epoch by epoch (default: the widest)."""
        return self.epoch_curve_width or self.widths[-1]
