"""Stages `train` and `train_cnn`: fit the model in params on the prepared data with Lightning,
tracked in MLflow, through the study contract (`genlab.study`).

The stage is one fit whose Lightning logger writes into the stage's run (a study without
children). `train_cnn` is the same code with `--model cnn1d`: that model, the same data and
`train` settings. A `--model` that params refuse (cnn1d on the 2-D gaussians, its batch norm
on one-sample SGD) trains nothing: the stage records `skipped` and the pipeline goes on.
Under DDP (`train.devices` / `num_nodes`) every rank trains its share; only rank 0 tracks and
writes (`DISTRIBUTED`). Lightning is imported only to fit: data that cannot be read, a store
that is down or a `--model` that is skipped ends the stage in about a second.
"""

from __future__ import annotations

import contextlib
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from genlab import stage_paths
from genlab.cli import TrackingGuard
from genlab.config import ConfigError, Params, values_of, with_overrides
from genlab.data import load_splits
from genlab.data.splits import Splits
from genlab.outputs import reproducible_history, write_atomic, write_csv, write_json
from genlab.tracking import (
    CHECKPOINT_TAG,
    Study,
    describe_run,
    file_sha256,
    metrics_note,
    run_tags,
    splits_hash,
    study,
)

if TYPE_CHECKING:
    from genlab.training import FitResult

STAGE = "train"
DISTRIBUTED = True  # every DDP rank runs `run`; rank 0 alone opens runs and writes


@dataclass(frozen=True)
class Inputs:
    params: Params  # the stage's: with `--model` applied
    splits: Splits
    data_hash: str  # the prepared data's, kept in train.json
    stage: str  # train or train_cnn: the MLflow experiment and the stage tag
    models: str  # the checkpoint's folder (the stage's `--out`)
    skipped: str = ""  # why `--model` cannot train on this data (then nothing is trained)


@dataclass
class Trained:
    inputs: Inputs
    name: str = ""  # the run's name
    fit: FitResult | None = None  # None: skipped, or another DDP rank's share
    run: Study | None = None
    guard: TrackingGuard | None = None


def data(params: Params, paths: Namespace) -> Inputs:
    """The prepared data, which must be of params' dataset, and params with `--model`."""
    splits, meta = load_splits(paths.data)
    if meta["dataset"] != params.data.name:
        raise ValueError(
            f"{paths.data} holds '{meta['dataset']}' but params data.name is "
            f"'{params.data.name}': run `dvc repro prepare`"
        )
    where = (meta["content_hash"], paths.stage, paths.out)
    if paths.model is not None:
        try:
            params = with_overrides(params, {"model.name": paths.model})
        except ConfigError as err:  # e.g. cnn1d on the 2-D gaussians: nothing to train
            lines = [line.strip() for line in str(err).splitlines()]
            return Inputs(params, splits, *where, skipped="; ".join(lines[1:]) or lines[0])
    return Inputs(params, splits, *where)


def open_runs(params: Params, data: Inputs):
    """The stage's run, made by Lightning's MLflow logger (none when skipped). A second
    training stage's run page explains `final/*` as `train`'s does."""
    if data.skipped:
        return contextlib.nullcontext()
    p = data.params
    note = metrics_note("train") if data.stage != "train" else ""
    tags = run_tags(p, data.stage, splits_hash(data.splits), description=note)
    return study(p, data.stage, describe_run(p), tags, logger=True)


def run(params: Params, data: Inputs, runs: Study | None) -> Trained:
    if data.skipped:
        return Trained(data)
    from genlab.training import fit_in_run, use_threads  # lazy: Lightning, to fit

    use_threads(data.params.train.torch_threads)
    result, guard = fit_in_run(data.params, data.splits, data.models, runs)
    return Trained(data, describe_run(data.params), result, runs, guard)


def track(runs: Study, result: Trained) -> None:
    """A tracking server lost during the fit is reported now, after the local outputs are
    written (`write` runs all the same): it costs the run's last tags, not the model."""
    if result.guard is not None:
        result.guard.check()


def write(result: Trained, paths: Namespace) -> list[Path]:
    """models/train.json (status, epochs; no run id: same training, same bytes, the run is
    found by its checkpoint's hash), the per-epoch history, and resolved_params.yaml (the
    values of the params dvc.yaml declares for the stage), which the run attaches."""
    d = result.inputs
    if result.fit is None:  # skipped
        write_csv(paths.history, [])
        write_json(
            f"{paths.out}/train.json",
            {"run_name": "", "model": paths.model, "status": "skipped", "reason": d.skipped,
             "best_epoch": -1, "epochs_run": 0, "data_hash": d.data_hash},
        )
        return []
    p, fitted = d.params, result.fit
    write_csv(paths.history, reproducible_history(fitted.history))
    write_json(
        f"{paths.out}/train.json",
        {
            "run_name": result.name,
            "model": p.model.name,
            "status": fitted.status,
            "reason": fitted.reason,
            "selected_by": p.train.selected.name,
            "best_epoch": fitted.best_epoch,
            "epochs_run": fitted.epochs_run,
            "data_hash": d.data_hash,
        },
    )
    resolved = values_of(p, stage_paths.params(d.stage))
    return [write_atomic(f"{paths.out}/resolved_params.yaml",
                         yaml.safe_dump(resolved, sort_keys=False))]


def parent_metrics(result: Trained) -> dict:
    return {}  # the fit logged its curves into the run, epoch by epoch


def annotate(params: Params, result: Trained) -> str:
    """The run's checkpoint hash (how `evaluate` finds it) and the fit's outcome: FAILED with
    the reason when it diverged."""
    if result.fit is not None:
        result.run.mlflow.set_tag(
            result.run.run_id, CHECKPOINT_TAG, file_sha256(result.fit.best_checkpoint)
        )
        result.run.outcome(result.fit.status, result.fit.reason)
    return ""


def line(result: Trained, run_id: str | None) -> str:
    d = result.inputs
    if result.fit is None:
        return f"{d.stage}: skipped: {d.skipped}"
    fitted, key = result.fit, d.params.train.selected.name
    best = next((r for r in fitted.history if r["epoch"] == fitted.best_epoch), {})
    return (
        f"{d.stage}: {result.name}: {fitted.status} after {fitted.epochs_run} epochs, best epoch "
        f"{fitted.best_epoch} ({key} {best.get(key, float('nan')):.4f}) (MLflow run {run_id})"
    )
