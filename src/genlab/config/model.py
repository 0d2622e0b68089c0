"""The `model` section: which network, and each network's shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genlab.config.base import PosInt, Strict

# Normalization after each hidden linear/conv layer: batch statistics (batch norm), each
# sample's own features (layer norm) or groups of channels per sample (group norm).
Norm = Literal["none", "batch", "layer", "group"]


class _Normalized(Strict):
    """`norm` / `norm_groups`, shared by the networks that have hidden layers."""

    norm_groups: PosInt = 8  # group norm: channel groups; must divide every hidden width

    @model_validator(mode="before")
    @classmethod
    def _batch_norm_was_renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "batch_norm" in data:
            raise ValueError(
                "batch_norm was replaced by norm (none | batch | layer | group): "
                f"use norm: {'batch' if data['batch_norm'] else 'none'}"
            )
        return data

    def unused(self) -> set[str]:
        return {"norm_groups"} if getattr(self, "norm", "none") != "group" else set()

    def _check_groups(self, widths: list[int]) -> None:
        bad = [w for w in widths if w % self.norm_groups]
        if getattr(self, "norm", "none") == "group" and bad:
            raise ValueError(
                f"norm 'group' splits each layer into norm_groups={self.norm_groups} groups, "
                f"which does not divide the widths {bad}: pick a divisor"
            )


class MlpModel(_Normalized):
    hidden: list[PosInt] = [128, 128]
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    norm: Norm = "none"
    # DropConnect: probability of dropping each hidden-layer weight while training
    dropconnect: Annotated[float, Field(ge=0, lt=1)] = 0.0

    @model_validator(mode="after")
    def _groups_fit(self) -> MlpModel:
        self._check_groups(self.hidden)
        return self


class PolyModel(Strict):
    degree: Annotated[int, Field(ge=0, le=60)] = 4


class Cnn1dModel(_Normalized):
    channels: list[PosInt] = [32, 32]
    kernel_size: Annotated[int, Field(ge=1, le=15)] = 5
    hidden: PosInt = 64
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    norm: Norm = "batch"  # after each conv block; layer = GroupNorm(1, C) over (C, L)

    @model_validator(mode="after")
    def _groups_fit(self) -> Cnn1dModel:
        self._check_groups(self.channels)
        return self


class ModelConfig(Strict):
    name: Literal["mlp", "poly", "cnn1d"] = "mlp"
    mlp: MlpModel = MlpModel()
    poly: PolyModel = PolyModel()
    cnn1d: Cnn1dModel = Cnn1dModel()
