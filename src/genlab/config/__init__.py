"""The params.yaml schema: every knob typed and checked before any stage does work.

Nothing else in genlab reads the YAML. A bad value stops the stage here with one message that
names the key, the value and what is allowed (`ConfigError`), so no work is wasted and no output
of an earlier run is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from genlab.config import reads
from genlab.config.base import ConfigError, Strict
from genlab.config.biasvar import BiasVarConfig
from genlab.config.data import DataConfig
from genlab.config.diagnosis import DiagnosisConfig
from genlab.config.double_descent import DoubleDescentConfig
from genlab.config.losses import LossExamplesConfig
from genlab.config.lr_range import LrRangeConfig
from genlab.config.model import ModelConfig
from genlab.config.optimizers import OptimizersConfig
from genlab.config.polyfit import PolyfitConfig
from genlab.config.regularization import RegularizationStudyConfig
from genlab.config.tracking import TrackingConfig
from genlab.config.train import TrainConfig
from genlab.config.train_seeds import TrainSeedsConfig
from genlab.config.tune import TuneConfig

__all__ = [
    "ConfigError", "Params", "as_flat_dict", "load_params", "parse_params", "values_of",
    "with_overrides",
]


class Params(Strict):
    seed: Annotated[int, Field(ge=0)] = 42
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()
    # one section per study stage (see dvc.yaml); each stage reads its own
    losses: LossExamplesConfig = LossExamplesConfig()
    optimizers: OptimizersConfig = OptimizersConfig()
    lr_range: LrRangeConfig = LrRangeConfig()
    polyfit: PolyfitConfig = PolyfitConfig()
    biasvar: BiasVarConfig = BiasVarConfig()
    double_descent: DoubleDescentConfig = DoubleDescentConfig()
    regularization: RegularizationStudyConfig = RegularizationStudyConfig()
    diagnosis: DiagnosisConfig = DiagnosisConfig()
    tune: TuneConfig = TuneConfig()
    train_seeds: TrainSeedsConfig = TrainSeedsConfig()

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
        uses_bn = (model == "mlp" and self.model.mlp.norm == "batch") or (
            model == "cnn1d" and self.model.cnn1d.norm == "batch"
        )
        if uses_bn and self.train.optimizer.name == "sgd":
            raise ValueError(
                "batch norm needs batches of 2 or more, optimizer 'sgd' uses one sample: "
                "use 'minibatch', or norm 'layer' / 'group' (per sample), or norm 'none'"
            )
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
        elif not e["loc"]:  # a cross-section rule: the input is the whole file, not worth echoing
            lines.append(f"  {msg}")
        else:
            lines.append(f"  {key} = {e.get('input')!r}: {msg}")
    return "\n".join(lines)


def parse_params(raw: dict, source: str = "params") -> Params:
    """Validate an already-loaded mapping (tests and experiments build these in memory)."""
    try:
        with reads.paused():  # the schema's own checks are not the stage's reads
            params = Params.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from None
    reads.assign_keys(params)
    return params


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


def with_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """A copy of `params` with dotted keys replaced (`{"train.optimizer.lr": 0.1}`), re-validated.

    Studies build their variants this way, so a variant is checked exactly like params.yaml.
    """
    with reads.paused():  # the copy's own fields are what the stage reads next
        raw = params.model_dump(mode="json")
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ConfigError(f"override '{dotted}': '{key}' is not a params section")
            node = node[key]
        if leaf not in node:
            raise ConfigError(f"override '{dotted}': unknown key '{leaf}'")
        node[leaf] = value
    variant = parse_params(raw, "override")
    reads.assign_keys(variant, reads.replaced(params) | set(overrides))
    return variant


def values_of(params: Params, keys: list[str]) -> dict[str, Any]:
    """The values of dotted keys (`train.optimizer.lr`; a section as a mapping), e.g. those a
    stage declares in dvc.yaml: exactly what its outputs depend on."""
    out: dict[str, Any] = {}
    for key in keys:
        node: Any = params
        for name in key.split("."):
            node = getattr(node, name)
        out[key] = node.model_dump(mode="json") if isinstance(node, BaseModel) else node
    return out


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
