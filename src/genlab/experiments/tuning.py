"""Optuna study over learning rate, batch size and the regularization strength λ.

Every trial trains through `genlab.training.fit` (Lightning), reports its validation metric per
epoch to the pruner (optuna-integration's Lightning callback) and logs into its own MLflow child
run under one parent run per stage execution. The test split never reaches a trial: the search
sees train and val only (`search_splits`).

Storage: by default an Optuna journal file (`studies/optuna.journal`): append-only, one fsync'd
write per change under a file lock, so several processes can share it and a crash loses at most
the trial in flight. A URL (`postgresql://...`, `sqlite:///optuna.db`) uses an RDB store with
heartbeats, which lets workers on many machines share one study.

Resume: the study's name is derived from what defines a trial's value (`study_name`), so a rerun
with the same params continues the same study until `tune.n_trials` trials have finished
(complete, pruned or diverged). Trials left RUNNING by a killed process are marked FAIL with
status `interrupted` at start-up and do not count.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import optuna
from lightning.pytorch.loggers import Logger
from optuna.trial import FrozenTrial, TrialState

from genlab import tracking
from genlab.config import Params, as_flat_dict, with_overrides
from genlab.config.base import ConfigError
from genlab.config.tune import TuneConfig
from genlab.data.splits import Splits
from genlab.quiet import quiet_libraries

quiet_libraries()
optuna.logging.set_verbosity(optuna.logging.WARNING)

STAGE = "tune"
STORAGE_ENV = "OPTUNA_STORAGE"  # wins over tune.storage, like MLFLOW_TRACKING_URI
HEARTBEAT_S, GRACE_S = 20, 90  # RDB stores: a RUNNING trial silent for GRACE_S is stale
# user attributes every trial carries
STATUS, REASON, OWNER, RUN_ID, EPOCHS = "status", "reason", "owner", "mlflow_run_id", "epochs"
MLFLOW_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "diverged": "FAILED"}
STATUS_NAMES = ("complete", "pruned", "diverged", "interrupted", "error")


class TrialDiverged(Exception):
    """The trial's loss became NaN/inf: recorded as a FAIL trial, the study goes on."""


# ---------------------------------------------------------------------------- search space
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
    """`train.torch_threads` (set by `fit`) where the schema has it; not part of a study's name."""
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

    The hash covers what defines a trial's value: the search space, the objective metric, the
    epochs per trial, the seed and the base training config (`train`, `data.<data>`,
    `model.<model>`) minus the searched keys. Change any of them and a new study starts; change
    `n_trials`, `n_workers`, `storage`, the sampler or the pruner and the same study goes on.
    """
    tune = params.tune
    if tune.study_name != "auto":
        return tune.study_name
    base = base_params(params).model_dump(mode="json")
    train = base["train"]
    train["optimizer"].pop("lr"), train["optimizer"].pop("batch_size")
    train.pop("torch_threads", None)
    train["regularization"].pop(tune.space.penalty)
    model = dict(base["model"][tune.model])
    if tune.space.dropout is not None:
        model.pop("dropout")
    defining = {
        "space": tune.space.model_dump(mode="json"),
        "metric": tune.metric,
        "seed": params.seed,
        "data": {"name": tune.data, **base["data"][tune.data]},
        "model": {"name": tune.model, **model},
        "train": train,
    }
    digest = hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:8]
    return f"tune-{tune.data}-{tune.model}-{digest}"


# ------------------------------------------------------------------------------ storage
def storage_spec(tune: TuneConfig) -> str:
    """`OPTUNA_STORAGE` wins over `tune.storage`; a file path is the embedded journal."""
    return os.environ.get(STORAGE_ENV) or tune.storage


def is_shared(spec: str) -> bool:
    """An RDB URL (possibly a server other machines use) rather than the local journal file."""
    return "://" in spec


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    if is_shared(spec):
        kwargs: dict[str, Any] = {}
        if spec.startswith("sqlite"):  # several local writers: wait for the lock, don't fail
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                spec, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, **kwargs
            )
    path = Path(spec).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def make_sampler(tune: TuneConfig, seed: int) -> optuna.samplers.BaseSampler:
    # constant_liar: parallel workers treat each other's running trials as bad, so they
    # don't all sample the same region
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            n_startup_trials=tune.sampler.n_startup_trials, seed=seed, constant_liar=True
        )


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
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


# --------------------------------------------------------------------------- bookkeeping
def status(t: FrozenTrial) -> str:
    """complete | pruned | diverged | interrupted | error | running."""
    if t.state == TrialState.COMPLETE:
        return "complete"
    if t.state == TrialState.PRUNED:
        return "pruned"
    if t.state == TrialState.FAIL:
        return t.user_attrs.get(STATUS, "error")
    return t.state.name.lower()


def counts_toward_budget(t: FrozenTrial) -> bool:
    """Finished trials: complete, pruned, diverged. Interrupted or crashed ones are retried."""
    return status(t) in ("complete", "pruned", "diverged")


def n_counted(study: optuna.Study) -> int:
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """False for a process that is gone or a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _owner_gone(owner: str | None, shared: bool) -> bool:
    if owner is None:  # killed between ask() and its first attribute
        return not shared
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def fail_stale_trials(study: optuna.Study, storage, params: Params, shared: bool) -> list[int]:
    """Mark RUNNING trials whose process is gone as FAIL/interrupted; close their MLflow runs.

    Works for this machine's processes (host and pid recorded on each trial); on a shared RDB
    store, Optuna's heartbeat does the same for other machines' trials.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(OWNER)
        if not _owner_gone(owner, shared):
            continue
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(tid, STATUS, "interrupted")
        storage.set_trial_user_attr(tid, REASON, f"worker {owner or '?'} stopped mid-trial")
        if storage.set_trial_state_values(tid, TrialState.FAIL):
            stale.append(t.number)
        if t.user_attrs.get(RUN_ID):
            _close_run(params, t.user_attrs[RUN_ID], "interrupted", "KILLED")
    if shared:  # trials of other machines whose heartbeat stopped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    return stale


def _close_run(params: Params, run_id: str, state: str, mlflow_status: str) -> None:
    mlflow = tracking.client(params)
    try:
        if mlflow.get_run(run_id).info.status == "RUNNING":
            mlflow.set_tag(run_id, "optuna.state", state)
            mlflow.set_terminated(run_id, mlflow_status)
    except Exception:  # noqa: BLE001 - a missing run in another store must not stop the study
        pass


def close_stale_parent_runs(params: Params, name: str) -> int:
    """Parent runs of this study left RUNNING by a killed process on this machine → KILLED."""
    mlflow = tracking.client(params)
    exp = tracking.ensure_experiment(params, STAGE)
    runs = mlflow.search_runs(
        [exp], filter_string=f"tags.`optuna.study` = '{name}' and attributes.status = 'RUNNING'"
    )
    closed = 0
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags:
            continue
        if _owner_gone(run.data.tags.get("genlab.owner"), shared=True):
            mlflow.set_terminated(run.info.run_id, "KILLED")
            closed += 1
    return closed


# ------------------------------------------------------------------------------- a trial
def search_splits(splits: Splits) -> Splits:
    """The splits a trial sees: train and val. The module evaluates a third split each epoch;
    here it is val again (its metrics are dropped before logging), so test never reaches the
    search."""
    return Splits(
        splits.x_train,
        splits.y_train,
        splits.x_val,
        splits.y_val,
        splits.x_val,
        splits.y_val,
        splits.task,
        splits.n_classes,
        splits.info,
    )


def data_hash(splits: Splits) -> str:
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        for a in splits.split(name):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


HIDDEN = ("test/", "gap/")


class SearchLogger(Logger):
    """Lightning's MLflow logger for a trial's child run, minus `test/*` and `gap/*` (in the
    search the third split is val again, see `search_splits`)."""

    def __init__(self, inner: Logger) -> None:
        super().__init__()
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def experiment(self):
        return self.inner.experiment

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        self.inner.log_hyperparams(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        kept = {k: v for k, v in metrics.items() if not k.startswith(HIDDEN)}
        self.inner.log_metrics(kept, step)

    def finalize(self, status: str) -> None:
        self.inner.finalize(status)


class HistoryRecorder(pl.Callback):
    """Keeps the module's per-epoch history even when the pruner stops fit with an exception."""

    def __init__(self) -> None:
        self.module = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.module = pl_module

    @property
    def history(self) -> list[dict[str, float]]:
        rows = self.module.history if self.module is not None else []
        return [{k: v for k, v in r.items() if not k.startswith(HIDDEN)} for r in rows]

    @property
    def diverged(self) -> str | None:
        return self.module.diverged if self.module is not None else None


def best_value(history: list[dict[str, float]], metric: str, direction: str) -> float:
    values = [r[metric] for r in history if math.isfinite(r.get(metric, math.nan))]
    if not values:
        return math.nan
    return max(values) if direction == "maximize" else min(values)


class Objective:
    """One trial: sample, train with pruning, record in Optuna and in an MLflow child run."""

    def __init__(self, params: Params, splits: Splits, parent_run_id: str, data_id: str) -> None:
        self.params, self.tune = params, params.tune
        self.base = check_space(params)
        self.splits = search_splits(splits)
        self.parent = parent_run_id
        self.tags = tracking.run_tags(self.base, STAGE, data_id)  # git commit: looked up once

    def __call__(self, trial: optuna.Trial) -> float:
        from optuna_integration import PyTorchLightningPruningCallback

        from genlab.training import fit

        trial.set_user_attr(OWNER, owner_id())
        hp = suggest(trial, self.tune)
        trial.set_user_attr("batch_size", int(hp["batch_size"]))
        variant = with_overrides(self.base, trial_overrides(self.tune, hp))
        name = f"trial-{trial.number}"
        tags = {
            **self.tags,
            "genlab.variant": name,
            "optuna.study": trial.study.study_name,
            "optuna.trial": str(trial.number),
        }
        run_id = tracking.start_run(self.params, STAGE, name, tags, parent_run_id=self.parent)
        trial.set_user_attr(RUN_ID, run_id)
        logger = SearchLogger(tracking.attach_logger(self.params, STAGE, run_id))
        logger.log_hyperparams(as_flat_dict(variant))
        recorder = HistoryRecorder()
        pruning = PyTorchLightningPruningCallback(trial, monitor=self.tune.metric)
        state, reason = "complete", ""
        try:
            fit(variant, self.splits, logger=logger, extra_callbacks=[recorder, pruning])
        except optuna.TrialPruned as pruned:
            state, reason = "pruned", str(pruned)
        except BaseException as err:  # a bug or Ctrl-C: close the run, let the study see it
            state = "interrupted" if isinstance(err, KeyboardInterrupt) else "error"
            trial.set_user_attr(STATUS, state)
            trial.set_user_attr(REASON, repr(err)[:500])
            _close_run(self.params, run_id, state, "KILLED" if state == "interrupted" else "FAILED")
            raise
        if recorder.diverged:
            state, reason = "diverged", recorder.diverged
        history = recorder.history
        value = best_value(history, self.tune.metric, self.tune.direction)
        trial.set_user_attr(STATUS, state)
        trial.set_user_attr(EPOCHS, len(history))
        if reason:
            trial.set_user_attr(REASON, reason)
        self._finish_run(run_id, state, reason, value, len(history))
        if state == "pruned":
            raise optuna.TrialPruned(reason)
        if state == "diverged":
            raise TrialDiverged(reason)
        return value

    def _finish_run(self, run_id: str, state: str, reason: str, value: float, epochs: int):
        """Outcome of the trial on its MLflow run, in one write (SQLite: one transaction)."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = [Metric("epochs", epochs, now, 0)]
        if state == "complete":
            metrics.append(Metric("objective", value, now, 0))
        tags = {
            "optuna.state": state,
            "genlab.status": "diverged" if state == "diverged" else "ok",
            **({"optuna.reason": reason} if reason else {}),
        }
        mlflow = tracking.client(self.params)
        mlflow.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        mlflow.set_terminated(run_id, MLFLOW_STATUS[state])


# ------------------------------------------------------------------------------- workers
@dataclass
class WorkerSpec:
    """Everything a worker process needs (picklable: it crosses a spawn boundary)."""

    params: Params
    splits: Splits
    study: str
    storage: str
    parent_run_id: str
    data_id: str
    sampler_seed: int
    parent_pid: int | None = None  # set for spawned workers: they stop when orphaned


def _claim(remaining) -> bool:
    """Take one trial from the budget shared by this machine's workers (exact, atomic)."""
    with remaining.get_lock():
        if remaining.value <= 0:
            return False
        remaining.value -= 1
        return True


def run_worker(spec: WorkerSpec, remaining) -> None:
    """Run trials until the shared budget is spent (or another machine filled the study)."""
    import torch

    torch.set_num_threads(spec.params.tune.torch_threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tune = spec.params.tune
    study = optuna.load_study(
        study_name=spec.study,
        storage=open_storage(spec.storage),
        sampler=make_sampler(tune, spec.sampler_seed),
        pruner=make_pruner(tune),
    )
    objective = Objective(spec.params, spec.splits, spec.parent_run_id, spec.data_id)
    while _claim(remaining):
        if spec.parent_pid is not None and os.getppid() != spec.parent_pid:
            return  # the stage was killed: leave the rest to its rerun
        trials = study.get_trials(deepcopy=False)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if sum(map(counts_toward_budget, trials)) + running >= tune.n_trials:
            return  # workers elsewhere (shared storage) filled the budget
        study.optimize(objective, n_trials=1, catch=(TrialDiverged,), gc_after_trial=False)


@dataclass
class StudyResult:
    study: optuna.Study
    name: str
    storage: str
    parent_run_id: str
    counted_before: int
    new_trials: int
    interrupted: list[int] = field(default_factory=list)


def create_or_load(params: Params, name: str, storage) -> optuna.Study:
    tune = params.tune
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction=tune.direction,
        load_if_exists=True,
        sampler=make_sampler(tune, params.seed),
        pruner=make_pruner(tune),
    )
    if study.direction.name.lower() != tune.direction:
        raise ConfigError(
            f"tune.study_name '{name}' already exists with direction "
            f"{study.direction.name.lower()}, but tune.metric {tune.metric} needs {tune.direction}"
        )
    return study


def run_study(params: Params, splits: Splits) -> StudyResult:
    """Create or resume the study, run `n_workers` workers until `n_trials` have finished, and
    record it all under one MLflow parent run (left RUNNING for the caller to add figures to)."""
    tune = params.tune
    check_space(params)
    name = study_name(params)
    spec = storage_spec(tune)
    storage = open_storage(spec)
    study = create_or_load(params, name, storage)
    interrupted = fail_stale_trials(study, storage, params, is_shared(spec))
    close_stale_parent_runs(params, name)
    before = n_counted(study)
    data_id = data_hash(splits)
    tags = {
        **tracking.run_tags(base_params(params), STAGE, data_id),
        "optuna.study": name,
        "optuna.storage": spec,
        "genlab.owner": owner_id(),
        "genlab.trials_before": str(before),
    }
    parent = tracking.start_run(params, STAGE, name, tags)
    from mlflow.entities import Param  # after genlab.tracking: telemetry is off first

    mlflow = tracking.client(params)
    mlflow.log_batch(
        parent, params=[Param(k, str(v)) for k, v in as_flat_dict(tune, "tune.").items()]
    )
    left = max(0, tune.n_trials - before)
    n_workers = min(tune.n_workers, left)
    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", left)
    specs = [
        WorkerSpec(
            params,
            splits,
            name,
            spec,
            parent,
            data_id,
            sampler_seed=params.seed + 1009 * i + len(study.trials),
            parent_pid=os.getpid() if i > 0 else None,
        )
        for i in range(n_workers)
    ]
    try:
        if specs:
            run_workers(ctx, specs, remaining)
    except BaseException:
        mlflow.set_terminated(parent, "KILLED")
        raise
    study = optuna.load_study(study_name=name, storage=storage)
    return StudyResult(study, name, spec, parent, before, n_counted(study) - before, interrupted)


def run_workers(ctx, specs: list[WorkerSpec], remaining) -> None:
    """Worker 0 runs in this process (its imports are done: it starts at once); the others are
    spawned processes that join the shared budget as soon as they have started up."""
    procs = [
        ctx.Process(target=run_worker, args=(s, remaining), name=f"tune-worker-{i}")
        for i, s in enumerate(specs[1:], start=1)
    ]
    # start() blocks until a child has imported its modules and read its arguments (the splits
    # overflow the pipe), so the children are started from a thread while worker 0 runs
    starter = threading.Thread(target=lambda: [p.start() for p in procs], daemon=True)
    starter.start()
    try:
        run_worker(specs[0], remaining)
        starter.join()
        for p in procs:
            p.join()
    finally:  # on an error or Ctrl-C here, don't leave workers running
        starter.join()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    failed = [(p.name, p.exitcode) for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"tune workers failed (name, exit code): {failed}; see stderr above")


# ----------------------------------------------------------------------------- results
def best_trial(study: optuna.Study) -> FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(
            f"study {study.study_name}: no trial completed (all pruned or diverged): raise "
            "tune.n_trials, loosen tune.pruner or narrow tune.space"
        )
    return study.best_trial


def best_params_doc(params: Params, study: optuna.Study) -> dict[str, Any]:
    """The winning configuration as `best_params.yaml` holds it: the overrides train_best
    applies to params, plus where they came from."""
    tune = params.tune
    best = best_trial(study)
    hp = hp_from_params(best.params)
    return {
        "study": study.study_name,
        "trial": best.number,
        "metric": tune.metric,
        "direction": tune.direction,
        "value": float(best.value),
        "hyperparameters": {k: (int(v) if k == "batch_size" else float(v)) for k, v in hp.items()},
        "overrides": {**target_overrides(tune), **trial_overrides(tune, hp)},
    }


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
