"""The `model` section: which network, and each network's shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from genlab.config.base import PosInt, Strict


class MlpModel(Strict):
    hidden: list[PosInt] = [128, 128]
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch_norm: bool = False
    # DropConnect: probability of dropping each hidden-layer weight while training
    dropconnect: Annotated[float, Field(ge=0, lt=1)] = 0.0


class PolyModel(Strict):
    degree: Annotated[int, Field(ge=0, le=60)] = 4


class Cnn1dModel(Strict):
    channels: list[PosInt] = [32, 32]
    kernel_size: Annotated[int, Field(ge=1, le=15)] = 5
    hidden: PosInt = 64
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch_norm: bool = True


class ModelConfig(Strict):
    name: Literal["mlp", "poly", "cnn1d"] = "mlp"
    mlp: MlpModel = MlpModel()
    poly: PolyModel = PolyModel()
    cnn1d: Cnn1dModel = Cnn1dModel()
