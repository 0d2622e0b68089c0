"""Where a study lives and which MLflow run it belongs to, for one machine or many.

Storage: `OPTUNA_STORAGE` (or `tune.storage`) is a file path (the embedded Optuna journal) or an
RDB URL. RDB stores get heartbeats: a trial whose worker stops beating for `tune.grace_period`
seconds is marked FAIL by the next worker that looks, its MLflow run is closed as KILLED, and its
parameters are queued again as a new trial (Optuna's `RetryHeartbeatStaleTrialCallback`).

Parent run: every trial of a study, from any process on any machine, is a child of ONE MLflow
run. The process that creates the study creates that run and records its id in the study's user
attribute `mlflow_parent_run_id`; every other process waits for the attribute and reuses the run.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from genlab import tracking
from genlab.config import Params
from genlab.config.base import ConfigError

STORAGE_ENV = "OPTUNA_STORAGE"  # wins over tune.storage, like MLFLOW_TRACKING_URI
MAX_RETRY = 3  # a trial whose worker vanished is re-run at most this many times
PARENT_ATTR = "mlflow_parent_run_id"
PARENT_WAIT_S = 60.0  # how long a joining process waits for the creator to record the parent
SETTLE_S = 1.0  # adopting a study with no parent: time for a concurrent adopter's write to land
# user attributes every trial carries
STATUS, REASON, OWNER, RUN_ID, EPOCHS = "status", "reason", "owner", "mlflow_run_id", "epochs"
RETRY_OF = "retry_of"  # on a retried trial: the number of the trial it repeats
PER_RUN_ATTRS = (STATUS, REASON, OWNER, RUN_ID, EPOCHS, "batch_size")


# ------------------------------------------------------------------------------ storage
def storage_spec(tune) -> str:
    """`OPTUNA_STORAGE` wins over `tune.storage`; a file path is the embedded journal."""
    return os.environ.get(STORAGE_ENV) or tune.storage


def is_shared(spec: str) -> bool:
    """An RDB URL (possibly a server other machines use) rather than the local journal file."""
    return "://" in spec


def redacted(spec: str) -> str:
    """The storage as it may be printed, tagged or committed: without its password."""
    if not is_shared(spec):
        return spec
    from sqlalchemy.engine import make_url

    try:
        return make_url(spec).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show only its scheme
        return spec.split("://", 1)[0] + "://***"


def open_storage(spec: str, params: Params | None = None) -> optuna.storages.BaseStorage:
    """The journal file, or an RDB store with heartbeats (interval and grace from `tune`) whose
    stale trials are closed in MLflow and retried (needs `params`; without, they only fail)."""
    if not is_shared(spec):
        path = Path(spec).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    from genlab.config.tune import TuneConfig

    tune = params.tune if params is not None else TuneConfig()
    kwargs: dict[str, Any] = {}
    if spec.startswith("sqlite"):  # several local writers: wait for the lock, don't fail
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if params is not None:
        kwargs["heartbeat_stale_trial_callback"] = RetryStaleTrial(params)
    import sqlalchemy.exc

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                spec,
                heartbeat_interval=tune.heartbeat_interval,
                grace_period=tune.grace_period,
                **kwargs,
            )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as err:
        cause = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise ValueError(  # one line from the stage (genlab.cli), password not shown
            f"Optuna storage {redacted(spec)} cannot be used ({cause}): start it (`make "
            "team-up` for the local team stack), fix OPTUNA_STORAGE / tune.storage, or unset "
            "OPTUNA_STORAGE to use the local journal file"
        ) from None


def close_run(params: Params, run_id: str, state: str, status: str, reason: str = "") -> None:
    """End a trial's MLflow run as `status`, saying why. Also a run already ended: a worker
    killed between ending its trial's run and recording the trial in Optuna leaves a FINISHED
    run for a trial the study then counts as interrupted; the run must say so too."""
    mlflow = tracking.client(params)
    try:
        if mlflow.get_run(run_id).info.status != status:
            mlflow.set_tag(run_id, "optuna.state", state)
            if reason:
                mlflow.set_tag(run_id, "optuna.reason", reason[:5000])
            tracking.end_run(mlflow, run_id, status, reason)
    except Exception:  # noqa: BLE001 - a missing run in another store must not stop the study
        pass


class RetryStaleTrial:
    """Heartbeat callback: a trial whose worker vanished (machine lost, process killed) ends as
    KILLED in MLflow and is queued again with the same parameters, as a new trial.

    Optuna has already marked it FAIL (it no longer takes attributes): without a `status` it
    reads as interrupted and does not count; the retry counts when it finishes.
    """

    def __init__(self, params: Params, max_retry: int = MAX_RETRY) -> None:
        self.params = params
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        owner = trial.user_attrs.get(OWNER, "?")
        reason = (
            f"worker {owner} sent no heartbeat for {self.params.tune.grace_period} s; "
            "its parameters are retried as a new trial"
        )
        if trial.user_attrs.get(RUN_ID):
            close_run(self.params, trial.user_attrs[RUN_ID], "interrupted", "KILLED", reason)
        template = copy.deepcopy(trial)  # the retry starts clean: its own owner, run, status
        kept = {k: v for k, v in trial.user_attrs.items() if k not in PER_RUN_ATTRS}
        template.user_attrs = {**kept, RETRY_OF: trial.user_attrs.get(RETRY_OF, trial.number)}
        self.retry(study, template)


# -------------------------------------------------------------------------------- study
def open_study(
    name: str,
    storage: optuna.storages.BaseStorage,
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when it exists; True when this call created it. Exactly one
    process wins the creation (the storage refuses a duplicate name), so the winner may set
    the study up (its MLflow parent run) without racing anyone."""
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=False,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"tune.study_name '{name}' already exists with direction "
            f"{study.direction.name.lower()}, but train.selection.metric needs {direction}"
        )
    return study, created


# ---------------------------------------------------------------------------- parent run
def recorded_parent(study: optuna.Study) -> str | None:
    return study.user_attrs.get(PARENT_ATTR)


def wait_for_parent(study: optuna.Study, timeout_s: float = PARENT_WAIT_S) -> str | None:
    """The parent run id the study's creator records, or None when none will come: the study
    already has trials without one (made by an older genlab), or `timeout_s` passed (its
    creator died between creating the study and recording the run)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run_id = recorded_parent(study)
        if run_id:
            return run_id
        if study.get_trials(deepcopy=False):  # the creator records the run before any trial
            return None
        if time.monotonic() > deadline:
            print(
                f"tune: study {study.study_name} got no MLflow parent run within {timeout_s:.0f} "
                "s (its creator stopped early?): this process creates one",
                flush=True,
            )
            return None
        time.sleep(0.2)


def claim_parent(study: optuna.Study, run_id: str, settle_s: float = 0.0) -> str:
    """Record `run_id` as the study's parent unless one is recorded already; returns the one
    that holds. `settle_s` > 0 (adopting a study no creator set up): wait, then read back, so
    that two adopters racing on the same study both end with the last writer's run."""
    current = recorded_parent(study)
    if not current:
        study.set_user_attr(PARENT_ATTR, run_id)
        if settle_s:
            time.sleep(settle_s)
        current = recorded_parent(study)
    return current or run_id


def study_parent_run(
    params: Params, study: optuna.Study, created: bool, new_run: Callable[[], str]
) -> str:
    """The MLflow parent run of the study (created by `new_run` only where needed)."""
    run_id = None if created else wait_for_parent(study)
    if run_id:
        return run_id
    mine = new_run()
    held = claim_parent(study, mine, settle_s=0.0 if created else SETTLE_S)
    if held != mine:  # another process's run holds: drop ours
        tracking.client(params).delete_run(mine)
    return held


def log_missing_params(params: Params, run_id: str, values: dict[str, Any]) -> None:
    """Log params the run lacks. MLflow params cannot change, and a reused parent may already
    hold an older budget (`tune.n_trials` may grow while the study stays the same)."""
    from mlflow.entities import Param

    mlflow = tracking.client(params)
    have = mlflow.get_run(run_id).data.params
    new = [Param(k, str(v)) for k, v in values.items() if k not in have]
    if new:
        mlflow.log_batch(run_id, params=new)


def resume_parent(params: Params, run_id: str, tags: dict[str, str]) -> None:
    """The shared parent shows RUNNING while any process works on the study. Processes that
    join at the same moment write the same tags: a SQL store inserts a tag it has not seen, so
    one of two first writes loses with a duplicate key (PostgreSQL's UniqueViolation); written
    again, it finds the row and updates it."""
    mlflow = tracking.client(params)
    mlflow.update_run(run_id, status="RUNNING")
    for key, value in tags.items():
        for attempt in range(3):
            try:
                mlflow.set_tag(run_id, key, value)
                break
            except Exception:  # noqa: BLE001 - the store's duplicate-key error, by backend
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
