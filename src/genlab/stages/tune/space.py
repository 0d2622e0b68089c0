"""What a trial is: the search space, the config a sampled point trains, the objective metric,
and the study's name, derived from all that defines a trial's value.

Resume: because the name is derived (`study_name`), a rerun with the same params continues the
same study, and a change to anything that defines a trial's value starts a new one.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from typing import Any

import optuna

from genlab.config import Params, with_overrides
from genlab.config.base import ConfigError
from genlab.config.train import SelectedMetric
from genlab.config.tune import TuneConfig


def target_overrides(tune: TuneConfig) -> dict[str, Any]:
    """What every trial trains: the dataset, model and loss tuned, for `max_epochs` epochs."""
    return {
        "data.name": tune.data,
        "model.name": tune.model,
        "train.loss": tune.loss,
        "train.max_epochs": tune.max_epochs,
    }


def suggest(trial: optuna.Trial, tune: TuneConfig) -> dict[str, float | int]:
    """Sample one configuration. Batch sizes are powers of two, searched by their exponent so
    that TPE and the importance analysis see an ordered (log-scale) parameter."""
    space = tune.space
    low, high = (int(math.log2(b)) for b in space.batch_size)
    hp: dict[str, float | int] = {
        "lr": trial.suggest_float("lr", *space.lr, log=True),
        "batch_size": 2 ** trial.suggest_int("batch_size_log2", low, high),
        space.penalty: trial.suggest_float(space.penalty, *space.strength, log=True),
    }
    if space.dropout is not None:
        hp["dropout"] = trial.suggest_float("dropout", *space.dropout)
    return hp


def hp_from_params(optuna_params: dict[str, Any]) -> dict[str, float | int]:
    """Optuna's stored params → the hyperparameters (`batch_size_log2` → `batch_size`)."""
    hp = dict(optuna_params)
    if "batch_size_log2" in hp:
        hp["batch_size"] = 2 ** int(hp.pop("batch_size_log2"))
    return hp


def trial_overrides(tune: TuneConfig, hp: dict[str, float | int]) -> dict[str, Any]:
    """Dotted params keys a configuration sets, on top of `target_overrides`."""
    out: dict[str, Any] = {
        "train.optimizer.lr": float(hp["lr"]),
        "train.optimizer.batch_size": int(hp["batch_size"]),
        f"train.regularization.{tune.space.penalty}": float(hp[tune.space.penalty]),
    }
    if "dropout" in hp:
        out[f"model.{tune.model}.dropout"] = float(hp["dropout"])
    return out


def with_threads(params: Params, threads: int) -> dict[str, Any]:
    """`train.torch_threads` where the schema has it (`train_best` sets it before its fit, as
    each worker sets `tune.torch_threads`); not part of a study's name."""
    return (
        {"train.torch_threads": threads}
        if "torch_threads" in type(params.train).model_fields
        else {}
    )


def base_params(params: Params) -> Params:
    """params with the tuned dataset, model, loss and epochs (and `tune.torch_threads`)."""
    overrides = {**target_overrides(params.tune), **with_threads(params, params.tune.torch_threads)}
    try:
        return with_overrides(params, overrides)
    except ConfigError as err:
        raise ConfigError(
            f"tune.data / tune.model / tune.loss do not fit together: {err}"
        ) from None


def objective_metric(params: Params) -> SelectedMetric:
    """What the study optimizes: `train.selection.metric` resolved for `tune.loss`, the metric
    each trial's early stopping and the pruner watch too."""
    return base_params(params).train.selected


def check_space(params: Params) -> Params:
    """Fail before any trial when a corner of the space is not a valid config; return the base."""
    base = base_params(params)
    if base.train.optimizer.name in ("gd", "sgd"):
        raise ConfigError(
            f"tune searches batch_size, which optimizer '{base.train.optimizer.name}' ignores: "
            "set train.optimizer.name to minibatch, momentum, adam or adamw"
        )
    space = params.tune.space
    for i in (0, 1):
        hp: dict[str, float | int] = {
            "lr": space.lr[i],
            "batch_size": space.batch_size[i],
            space.penalty: space.strength[i],
        }
        if space.dropout is not None:
            hp["dropout"] = space.dropout[i]
        try:
            with_overrides(base, trial_overrides(params.tune, hp))
        except ConfigError as err:
            raise ConfigError(f"tune.space does not fit train/model: {err}") from None
    return base


def study_name(params: Params) -> str:
    """`tune.study_name`, or (`auto`) `tune-<data>-<model>-<hash>`.

    The hash covers what defines a trial's value: the search space, the objective metric (as
    resolved: `auto` and the metric it stands for name the same study), the epochs per trial,
    the seed and the base training config (`train`, `data.<data>`, `model.<model>`) minus the
    searched keys. Change any of them and a new study starts; change `n_trials`, `n_workers`,
    `storage`, the sampler or the pruner and the same study goes on.
    """
    tune = params.tune
    if tune.study_name != "auto":
        return tune.study_name
    resolved = base_params(params)
    # Not part of a trial's value: the searched lr and batch, the selection (it enters below,
    # as "metric"), threads, the evaluation batch, scale-out (a trial runs on one process).
    # They are no DVC dependency of `tune` either (dvc.yaml).
    scale_out = {"devices", "num_nodes", "strategy", "ddp_timeout_s"}
    left_out = {"torch_threads", "eval_batch_size", "selection", *scale_out}
    train = resolved.train.model_dump(
        mode="json", exclude={"optimizer": {"lr", "batch_size"}, **dict.fromkeys(left_out, True)}
    )
    if train.get("precision") == "32-true":  # the default keeps the names studies had before
        train.pop("precision")
    train["regularization"].pop(tune.space.penalty)
    model = getattr(resolved.model, tune.model).model_dump(mode="json")
    if tune.space.dropout is not None:
        model.pop("dropout")
    defining = {
        "space": tune.space.model_dump(mode="json"),
        "metric": resolved.train.selected.name,
        "seed": params.seed,
        "data": {"name": tune.data, **getattr(resolved.data, tune.data).model_dump(mode="json")},
        "model": {"name": tune.model, **model},
        "train": train,
    }
    digest = hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:8]
    return f"tune-{tune.data}-{tune.model}-{digest}"


def make_sampler(tune: TuneConfig, seed: int) -> optuna.samplers.BaseSampler:
    """TPE with `constant_liar`: parallel workers treat each other's running trials as bad, so
    they don't all sample the same region."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            n_startup_trials=tune.sampler.n_startup_trials, seed=seed, constant_liar=True
        )


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
    """`tune.pruner`: median, Hyperband (up to `max_epochs`) or none."""
    p = tune.pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_resource,
            max_resource=tune.max_epochs,
            reduction_factor=p.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def retrain_params(params: Params, best: dict[str, Any]) -> Params:
    """The validated params train_best trains: params + the study's winning overrides."""
    try:
        overrides = dict(best["overrides"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"best_params.yaml has no 'overrides' mapping ({err})") from None
    if params.tune.train_best.max_epochs is not None:
        overrides["train.max_epochs"] = params.tune.train_best.max_epochs
    overrides.update(with_threads(params, params.tune.torch_threads))  # as in the trials
    return with_overrides(params, overrides)
