"""Optuna study over learning rate, batch size and the regularization strength λ.

Every trial trains through `genlab.training.fit` (Lightning), reports its validation metric per
epoch to the pruner (optuna-integration's Lightning callback) and logs into its own MLflow child
run under the study's one parent run (`study_runs`: shared by every process and machine). The
test split never reaches a trial: the search sees train and val only (`search_splits`).

Storage: by default an Optuna journal file (`studies/optuna.journal`): append-only, one fsync'd
write per change under a file lock, so several processes can share it and a crash loses at most
the trial in flight. A URL (`postgresql://...`, `sqlite:///optuna.db`) uses an RDB store with
heartbeats, which lets workers on many machines share one study; a trial whose worker vanished
is failed after `tune.grace_period` seconds and its parameters are retried.

Budget: the study ends with exactly `tune.n_trials` finished trials (complete, pruned or
diverged), however many processes work on it. A worker starts a trial only while finished plus
running trials leave room, and a trial that a race created anyway gives way before training to
the lower-numbered ones (`within_budget`); it is recorded as `surplus` and does not count.

Resume: the study's name is derived from what defines a trial's value (`study_name`), so a rerun
with the same params continues the same study. Trials left RUNNING by a killed process are marked
FAIL with status `interrupted` at start-up and do not count.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lightning.pytorch as pl
import optuna
from lightning.pytorch.loggers import Logger
from optuna.trial import FrozenTrial, TrialState

from genlab import tracking
from genlab.config import Params, with_overrides
from genlab.config.base import ConfigError
from genlab.config.train import SelectedMetric
from genlab.config.tune import TuneConfig
from genlab.data.splits import Splits
from genlab.owners import owner_gone, owner_id, pid_alive  # noqa: F401 - re-exported
from genlab.progress import Progress
from genlab.quiet import quiet_libraries
from genlab.stages.tune.storage import (
    EPOCHS,
    OWNER,
    REASON,
    RETRY_OF,
    RUN_ID,
    STATUS,
    close_run,
    is_shared,
    log_missing_params,
    open_storage,
    open_study,
    redacted,
    resume_parent,
    storage_spec,
    study_parent_run,
)

quiet_libraries()
optuna.logging.set_verbosity(optuna.logging.WARNING)

STAGE = "tune"
POLL_S = 0.5  # a worker waiting for others' last trials looks again this often
# A pruned trial is a normal outcome of the search (FINISHED, tagged pruned); KILLED is kept
# for trials whose worker was really stopped (Ctrl-C, SIGKILL, lost heartbeat).
MLFLOW_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "diverged": "FAILED"}
STATUS_NAMES = ("complete", "pruned", "diverged", "interrupted", "error", "surplus")
LIVE = (TrialState.RUNNING, TrialState.WAITING)


class TrialDiverged(Exception):
    """The trial's loss became NaN/inf: recorded as a FAIL trial, the study goes on."""


class TrialSurplus(Exception):
    """Workers racing for the last slot created one trial too many: this one gives way."""


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


def trial_run_name(number: int, hp: dict[str, float | int], penalty: str) -> str:
    """`t3-lr0.00213-bs64-l2=1.2e-05`: the trial and the values it tried, so trials tell
    apart in MLflow's runs table (which shows only a name's first ~20 characters)."""
    name = f"t{number}-lr{tracking.short(hp['lr'])}-bs{int(hp['batch_size'])}"
    name += f"-{penalty}={tracking.short(hp[penalty])}"
    if "dropout" in hp:
        name += f"-dropout={tracking.short(hp['dropout'])}"
    return name


def study_run_name(study: str) -> str:
    """The study's MLflow parent run name: `f67a3956-gaussians-mlp` for the automatic study
    name `tune-gaussians-mlp-f67a3956` (the hash, what differs between studies, first: MLflow
    cuts long names); a name the user chose stays as it is. The tag `optuna.study` holds the
    study's own name."""
    parts = study.split("-")
    if len(parts) >= 4 and parts[0] == "tune" and len(parts[-1]) == 8:
        return "-".join([parts[-1], *parts[1:-1]])
    return study


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


def objective(params: Params) -> SelectedMetric:
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
    base = resolved.model_dump(mode="json")
    train = base["train"]
    train["optimizer"].pop("lr"), train["optimizer"].pop("batch_size")
    train.pop("selection")  # enters resolved, as "metric" below
    # Not part of a trial's value: threads, the evaluation batch, scale-out (a trial runs on
    # one process). They are no DVC dependency of `tune` either (dvc.yaml).
    scale_out = ("devices", "num_nodes", "strategy", "ddp_timeout_s")
    for key in ("torch_threads", "eval_batch_size", *scale_out):
        train.pop(key, None)
    if train.get("precision") == "32-true":  # the default keeps the names studies had before
        train.pop("precision")
    train["regularization"].pop(tune.space.penalty)
    model = dict(base["model"][tune.model])
    if tune.space.dropout is not None:
        model.pop("dropout")
    defining = {
        "space": tune.space.model_dump(mode="json"),
        "metric": resolved.train.selected.name,
        "seed": params.seed,
        "data": {"name": tune.data, **base["data"][tune.data]},
        "model": {"name": tune.model, **model},
        "train": train,
    }
    digest = hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:8]
    return f"tune-{tune.data}-{tune.model}-{digest}"


# ------------------------------------------------------------------------- sampler, pruner
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
    """complete | pruned | diverged | interrupted | error | surplus | running | waiting.

    A FAIL trial without a recorded status lost its worker before it could say why (killed,
    machine gone: Optuna's heartbeat failed it); a trial that raises records `error`."""
    if t.state == TrialState.COMPLETE:
        return "complete"
    if t.state == TrialState.PRUNED:
        return "pruned"
    if t.state == TrialState.FAIL:
        return t.user_attrs.get(STATUS, "interrupted")
    return t.state.name.lower()


def counts_toward_budget(t: FrozenTrial) -> bool:
    """Finished trials: complete, pruned, diverged. Interrupted or crashed ones are retried."""
    return status(t) in ("complete", "pruned", "diverged")


def n_counted(study: optuna.Study) -> int:
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


def room_left(trials: list[FrozenTrial], n_trials: int) -> bool:
    """Finished and running trials leave room for one more (queued retries are not added: the
    next trial started takes them first)."""
    taken = sum(counts_toward_budget(t) or t.state == TrialState.RUNNING for t in trials)
    return taken < n_trials


def within_budget(trials: list[FrozenTrial], number: int, n_trials: int) -> bool:
    """May trial `number` train? Only if fewer than `n_trials` lower-numbered trials are
    finished-and-counted or still live (running, queued).

    Trial numbers are assigned atomically by the storage, and a trial that ends up counted is
    live or counted all its life, so of any set of counted trials the highest-numbered one saw
    all the others here: the study can never exceed the budget, whatever workers race."""
    ahead = sum(t.number < number and (counts_toward_budget(t) or t.state in LIVE) for t in trials)
    return ahead < n_trials


def _owner_gone(owner: str | None, shared: bool) -> bool:
    if owner is None:  # killed between ask() and its first attribute
        return not shared
    return owner_gone(owner)


def _abandoned(t: FrozenTrial, shared: bool, startup: bool, grace_s: float) -> bool:
    """At start-up: the trial's process on this machine is gone. While working: the same on a
    journal, where nothing else would notice; on an RDB store the heartbeat decides. Either
    way, a trial that never got an owner within the grace period lost its worker."""
    owner = t.user_attrs.get(OWNER)
    if owner is None and t.datetime_start is not None:
        if (datetime.now() - t.datetime_start).total_seconds() > grace_s:
            return True
    if not startup and (shared or owner is None):
        return False
    return _owner_gone(owner, shared)


def fail_stale_trials(
    study: optuna.Study, storage, params: Params, shared: bool, startup: bool = True
) -> list[int]:
    """Mark RUNNING trials whose process is gone as FAIL/interrupted; close their MLflow runs.

    Works for this machine's processes (host and pid recorded on each trial); on a shared RDB
    store, Optuna's heartbeat does the same for other machines' trials, and both kinds are
    retried with the same parameters (`study_runs.RetryStaleTrial`).
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    retry = getattr(storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    stale = []
    grace = params.tune.grace_period
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _abandoned(t, shared, startup, grace):
            continue
        owner = t.user_attrs.get(OWNER)
        reason = f"worker {owner or '?'} stopped mid-trial"
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_user_attr(tid, STATUS, "interrupted")
            storage.set_trial_user_attr(tid, REASON, reason)
            failed = storage.set_trial_state_values(tid, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        if not failed:
            continue
        stale.append(t.number)
        if t.user_attrs.get(RUN_ID):
            close_run(params, t.user_attrs[RUN_ID], "interrupted", "KILLED", reason)
        if retry is not None:
            retry(study, storage.get_trial(tid))
    if shared:  # trials of other machines whose heartbeat stopped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    return stale


def close_stale_parent_runs(params: Params, name: str, keep: str) -> int:
    """Parent runs of this study left RUNNING by a killed process on this machine → KILLED
    (one per execution, as older genlab versions made them); `keep` is the study's own."""
    mlflow = tracking.client(params)
    exp = tracking.ensure_experiment(params, STAGE)
    runs = mlflow.search_runs(
        [exp], filter_string=f"tags.`optuna.study` = '{name}' and attributes.status = 'RUNNING'"
    )
    closed = 0
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags or run.info.run_id == keep:
            continue
        owner = run.data.tags.get("genlab.owner")
        if _owner_gone(owner, shared=True):
            tracking.end_run(mlflow, run.info.run_id, "KILLED", tracking.gone_reason(owner))
            closed += 1
    return closed


def others_working(study: optuna.Study) -> bool:
    """Some trial of the study runs in a live process other than this one."""
    me = owner_id()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(OWNER)
        if owner != me and not _owner_gone(owner, shared=True):
            return True
    return False


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
        """Nothing: the trial ends its run itself, with the trial's own state (`_finish_run`,
        `close_run`); Lightning's finalize would cost two more server requests per trial."""


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
        self.selected = self.base.train.selected
        self.splits = search_splits(splits)
        self.parent = parent_run_id
        self.tags = tracking.run_tags(self.base, STAGE, data_id)  # git commit: looked up once

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(OWNER, owner_id())
        trials = trial.study.get_trials(deepcopy=False)
        if not within_budget(trials, trial.number, self.tune.n_trials):
            reason = f"the {self.tune.n_trials}-trial budget was taken by lower-numbered trials"
            trial.set_user_attr(STATUS, "surplus")
            trial.set_user_attr(REASON, reason)
            raise TrialSurplus(reason)
        try:
            return self._train(trial)
        except (optuna.TrialPruned, TrialDiverged):
            raise
        except BaseException as err:  # a bug or Ctrl-C: close the run, let the study see it
            state = "interrupted" if isinstance(err, KeyboardInterrupt) else "error"
            trial.set_user_attr(STATUS, state)
            trial.set_user_attr(REASON, repr(err)[:500])
            if trial.user_attrs.get(RUN_ID):
                status = "KILLED" if state == "interrupted" else "FAILED"
                close_run(self.params, trial.user_attrs[RUN_ID], state, status)
            raise

    def _train(self, trial: optuna.Trial) -> float:
        from optuna_integration import PyTorchLightningPruningCallback

        from genlab.training import fit

        hp = suggest(trial, self.tune)  # a retried trial gets its predecessor's values back
        trial.set_user_attr("batch_size", int(hp["batch_size"]))
        variant = with_overrides(self.base, trial_overrides(self.tune, hp))
        name = trial_run_name(trial.number, hp, self.tune.space.penalty)
        tags = {
            **self.tags,
            "genlab.variant": f"trial-{trial.number}",
            "genlab.owner": owner_id(),
            "optuna.study": trial.study.study_name,
            "optuna.trial": str(trial.number),
        }
        if RETRY_OF in trial.user_attrs:
            tags["optuna.retry_of"] = str(trial.user_attrs[RETRY_OF])
        run_id = tracking.start_run(self.params, STAGE, name, tags, parent_run_id=self.parent)
        trial.set_user_attr(RUN_ID, run_id)
        logger = SearchLogger(tracking.attach_logger(self.params, STAGE, run_id))
        logger.log_hyperparams(tracking.run_params(variant))  # the trial's data/model/train
        recorder = HistoryRecorder()
        pruning = PyTorchLightningPruningCallback(trial, monitor=self.selected.name)
        state, reason = "complete", ""
        try:
            fit(variant, self.splits, logger=logger, extra_callbacks=[recorder, pruning])
        except optuna.TrialPruned as pruned:
            state, reason = "pruned", str(pruned)
        if recorder.diverged:
            state, reason = "diverged", recorder.diverged
        history = recorder.history
        value = best_value(history, self.selected.name, self.selected.direction)
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
            "genlab.status": {"diverged": "diverged", "pruned": "pruned"}.get(state, "ok"),
            **({"optuna.reason": reason} if reason else {}),
        }
        mlflow = tracking.client(self.params)
        mlflow.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        tracking.end_run(mlflow, run_id, MLFLOW_STATUS[state])


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
    """Take one trial from the budget shared by this machine's workers (atomic): they never
    race each other for the last slots, only other machines' workers."""
    with remaining.get_lock():
        if remaining.value <= 0:
            return False
        remaining.value -= 1
        return True


def _refund(remaining) -> None:
    """A trial that does not count (surplus, interrupted) gives its slot back."""
    with remaining.get_lock():
        remaining.value += 1


def run_one_trial(study: optuna.Study, objective: Objective) -> FrozenTrial:
    """One trial under `optimize` (heartbeats and stale-trial retries run only there)."""
    done: list[FrozenTrial] = []
    study.optimize(
        objective,
        n_trials=1,
        catch=(TrialDiverged, TrialSurplus),
        gc_after_trial=False,
        callbacks=[lambda _study, t: done.append(t)],
    )
    return done[0]


def run_worker(spec: WorkerSpec, remaining) -> None:
    """Run trials until the study holds `n_trials` counted ones, from whichever process or
    machine. While the trials in flight would fill it, wait and watch them instead: one whose
    worker dies is failed (heartbeat, or pid on this machine) and its retry is run here."""
    import torch

    torch.set_num_threads(spec.params.tune.torch_threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tune = spec.params.tune
    shared = is_shared(spec.storage)
    storage = open_storage(spec.storage, spec.params)
    study = optuna.load_study(
        study_name=spec.study,
        storage=storage,
        sampler=make_sampler(tune, spec.sampler_seed),
        pruner=make_pruner(tune),
    )
    objective = Objective(spec.params, spec.splits, spec.parent_run_id, spec.data_id)
    counted = n_counted(study)
    progress = Progress(STAGE, tune.n_trials, done=min(counted, tune.n_trials))
    while True:
        if spec.parent_pid is not None and os.getppid() != spec.parent_pid:
            return  # the stage was killed: leave the rest to its rerun
        trials = study.get_trials(deepcopy=False)
        if sum(map(counts_toward_budget, trials)) >= tune.n_trials:
            return
        if not room_left(trials, tune.n_trials):
            time.sleep(POLL_S)
            fail_stale_trials(study, storage, spec.params, shared, startup=False)
            continue
        if not _claim(remaining):
            return  # this machine's other workers run the rest
        trial = run_one_trial(study, objective)
        if not counts_toward_budget(trial):
            _refund(remaining)
        counted = min(n_counted(study), tune.n_trials)  # with every other worker's trials
        progress.step(f"trial {trial.number} {status(trial)}", done=counted)


def sampler_seed(seed: int, worker: int, n_trials_so_far: int, shared: bool) -> int:
    """Distinct per worker, and per process on a shared store: clones that join a study in the
    same state with the same `seed` would otherwise draw the same configurations."""
    base = seed + 1009 * worker + n_trials_so_far
    return (base + (zlib.crc32(owner_id().encode()) if shared else 0)) % 2**32


@dataclass
class StudyResult:
    study: optuna.Study
    name: str
    storage: str  # as it may be shown: without a password
    parent_run_id: str
    counted_before: int
    new_trials: int  # counted trials the study gained meanwhile, from any process
    interrupted: list[int] = field(default_factory=list)


def new_parent_run(params: Params, name: str, spec: str, data_id: str) -> str:
    """The study's MLflow parent run (made once per study, by whoever creates the study)."""
    tags = {
        **tracking.run_tags(base_params(params), STAGE, data_id, curves=False),
        "optuna.study": name,
        "optuna.storage": redacted(spec),
        "genlab.owner": owner_id(),
    }
    return tracking.start_run(params, STAGE, study_run_name(name), tags)


def run_study(params: Params, splits: Splits) -> StudyResult:
    """Create or join the study, run `n_workers` workers until it holds `n_trials` counted
    trials, all under the study's one MLflow parent run (left RUNNING for the caller to add
    figures to and finish)."""
    tune = params.tune
    check_space(params)
    name = study_name(params)
    spec = storage_spec(tune)
    storage = open_storage(spec, params)
    direction = objective(params).direction
    study, created = open_study(
        name, storage, direction, make_sampler(tune, params.seed), make_pruner(tune)
    )
    data_id = tracking.splits_hash(splits)
    parent = study_parent_run(
        params, study, created, lambda: new_parent_run(params, name, spec, data_id)
    )
    resume_parent(params, parent, {"genlab.n_trials": str(tune.n_trials)})
    log_missing_params(params, parent, tracking.run_params(params, "tune", trained=False))
    interrupted = fail_stale_trials(study, storage, params, is_shared(spec))
    close_stale_parent_runs(params, name, keep=parent)
    before = n_counted(study)
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
            sampler_seed=sampler_seed(params.seed, i, len(study.trials), is_shared(spec)),
            parent_pid=os.getpid() if i > 0 else None,
        )
        for i in range(n_workers)
    ]
    try:
        if specs:
            run_workers(ctx, specs, remaining)
    except BaseException as err:
        if not others_working(study):  # the shared run goes on while others work
            tracking.end_run(tracking.client(params), parent, *tracking.error_ending(err))
        raise
    study = optuna.load_study(study_name=name, storage=storage)
    counted = n_counted(study)
    return StudyResult(study, name, redacted(spec), parent, before, counted - before, interrupted)


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
    tune, selected = params.tune, objective(params)
    best = best_trial(study)
    hp = hp_from_params(best.params)
    return {
        "study": study.study_name,
        "trial": best.number,
        "metric": selected.name,
        "direction": selected.direction,
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
