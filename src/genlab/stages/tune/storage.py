"""Where a study lives, for one machine or many, and the attributes its trials carry.

Storage: `OPTUNA_STORAGE` (or `tune.storage`) is a file path or an RDB URL. By default an Optuna
journal file (`studies/optuna.journal`): append-only, one fsync'd write per change under a file
lock, so several processes can share it and a crash loses at most the trial in flight. A URL
(`postgresql://...`, `sqlite:///optuna.db`) uses an RDB store with heartbeats, which lets workers
on many machines share one study: a trial whose worker stops beating for `tune.grace_period`
seconds is marked FAIL by the next worker that looks, its MLflow run is closed as KILLED, and its
parameters are queued again as a new trial (Optuna's `RetryHeartbeatStaleTrialCallback`).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from genlab.config import Params
from genlab.config.base import ConfigError
from genlab.stages.tune.runs import close_run

STORAGE_ENV = "OPTUNA_STORAGE"  # wins over tune.storage, like MLFLOW_TRACKING_URI
MAX_RETRY = 3  # a trial whose worker vanished is re-run at most this many times
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
