"""The params.yaml schema: every knob typed and checked before any stage does work.

Nothing else in genlab reads the YAML. A bad value stops the stage here with one message that
names the key, the value and what is allowed (`ConfigError`), so no work is wasted and no output
of an earlier run is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or holds a value that is not allowed."""


class Strict(BaseModel):
    """Base for every section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------- data
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


# ---------------------------------------------------------------------------------- model
class MlpModel(Strict):
    hidden: list[PosInt] = [128, 128]
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch_norm: bool = False


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


# ---------------------------------------------------------------------------------- train
OptimizerName = Literal["gd", "sgd", "minibatch", "momentum", "adam", "adamw"]


class OptimizerConfig(Strict):
    """`gd`: one update per epoch on all M samples; `sgd`: one sample per update;
    `minibatch`, `momentum`, `adam`, `adamw`: batches of `batch_size`."""

    name: OptimizerName = "adam"
    lr: Annotated[float, Field(gt=0, le=10)] = 1e-3
    batch_size: PosInt = 64
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: bool = False
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )
    schedule: Literal["none", "step", "cosine"] = "none"
    step_size: PosInt = 10
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.5

    def effective_batch_size(self, n_train: int) -> int:
        """Samples per update: GD uses all of them, SGD one."""
        if self.name == "gd":
            return n_train
        if self.name == "sgd":
            return 1
        return min(self.batch_size, n_train)


class RegularizationConfig(Strict):
    l2: NonNegFloat = 0.0
    weight_decay: NonNegFloat = 0.0
    l1: NonNegFloat = 0.0
    penalize_bias_and_norm: bool = False


class EarlyStoppingConfig(Strict):
    enabled: bool = True
    patience: PosInt = 10
    min_delta: NonNegFloat = 0.0


class TrainConfig(Strict):
    loss: Literal["bce", "ce", "mse"] = "ce"
    max_epochs: PosInt = 40
    optimizer: OptimizerConfig = OptimizerConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    eval_batch_size: PosInt = 4096

    @model_validator(mode="after")
    def _decay_needs_a_decoupled_optimizer(self) -> TrainConfig:
        if self.regularization.weight_decay > 0 and self.optimizer.name == "adam":
            raise ValueError(
                "regularization.weight_decay with optimizer 'adam' would be Adam's coupled L2, "
                "not decoupled decay: use optimizer 'adamw', or regularization.l2 for the penalty"
            )
        return self


# -------------------------------------------------------------------------------- tracking
class TrackingConfig(Strict):
    """Where MLflow writes. `MLFLOW_TRACKING_URI` in the environment wins over `tracking_uri`."""

    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_dir: str = "mlartifacts"
    experiment_prefix: str = "genlab"


class Params(Strict):
    seed: Annotated[int, Field(ge=0)] = 42
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _compatible(self) -> Params:
        data, model, loss = self.data.name, self.model.name, self.train.loss
        regression = data == "poly"
        if regression and loss != "mse":
            raise ValueError(f"train.loss '{loss}' does not fit regression data 'poly': use 'mse'")
        if not regression and loss == "mse":
            raise ValueError(
                f"train.loss 'mse' needs regression data; data '{data}' is classification: "
                "use 'ce' (or 'bce' for two classes)"
            )
        if loss == "bce" and not (data == "gaussians" and self.data.gaussians.n_classes == 2):
            raise ValueError(
                "train.loss 'bce' needs two classes: use data 'gaussians' with n_classes 2, "
                "or loss 'ce'"
            )
        if model == "poly" and data != "poly":
            raise ValueError(f"model 'poly' needs 1-D inputs (data 'poly'), not data '{data}'")
        if model == "cnn1d" and data != "mnist1d":
            raise ValueError(f"model 'cnn1d' needs 1-D signals (data 'mnist1d'), not '{data}'")
        return self


def _format(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid value(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check the spelling against params.yaml's schema)")
        elif e["type"] == "missing":
            lines.append(f"  {key}: required but missing")
        else:
            lines.append(f"  {key} = {e.get('input')!r}: {msg}")
    return "\n".join(lines)


def parse_params(raw: dict, source: str = "params") -> Params:
    """Validate an already-loaded mapping (tests and experiments build these in memory)."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; the only place the YAML is read."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run from the project root, where params.yaml is)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, str(path))


def as_flat_dict(params: BaseModel, prefix: str = "") -> dict[str, object]:
    """`train.optimizer.lr`-style keys, as MLflow and DVC show params."""
    out: dict[str, object] = {}
    for key, value in params.model_dump().items():
        _flatten(f"{prefix}{key}", value, out)
    return out


def _flatten(key: str, value: object, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{key}.{k}", v, out)
    else:
        out[key] = value
