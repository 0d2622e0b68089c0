"""How trials stand: their status, the trial budget, and trials whose worker is gone.

Budget: the study ends with exactly `tune.n_trials` finished trials (complete, pruned or
diverged), however many processes work on it. A worker starts a trial only while finished plus
running trials leave room, and a trial that a race created anyway gives way before training to
the lower-numbered ones (`within_budget`); it is recorded as `surplus` and does not count.

Stale trials: trials left RUNNING by a killed process are marked FAIL with status `interrupted`
at start-up and do not count; their parameters are retried.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from genlab.config import Params
from genlab.owners import owner_gone, owner_id
from genlab.stages.tune.runs import close_run
from genlab.stages.tune.storage import OWNER, REASON, RUN_ID, STATUS

STATUS_NAMES = ("complete", "pruned", "diverged", "interrupted", "error", "surplus")
LIVE = (TrialState.RUNNING, TrialState.WAITING)


# -------------------------------------------------------------------------------- budget
def status(t: FrozenTrial) -> str:
    """complete | pruned | diverged | interrupted | error | surplus | running | waiting.

    A FAIL trial without a recorded status lost its worker before it could say why (killed,
    machine gone: Optuna's heartbeat failed it); a trial that raises records `error`. A worker
    killed after recording `complete` or `pruned` but before Optuna did leaves a FAIL trial
    with that status: it is interrupted too (counted, it would fill the budget with a trial
    that has no value, and its queued retry would never run)."""
    if t.state == TrialState.COMPLETE:
        return "complete"
    if t.state == TrialState.PRUNED:
        return "pruned"
    if t.state == TrialState.FAIL:
        recorded = t.user_attrs.get(STATUS, "interrupted")
        return recorded if recorded in FAIL_STATUSES else "interrupted"
    return t.state.name.lower()


FAIL_STATUSES = ("diverged", "interrupted", "error", "surplus")  # what a FAIL trial records


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


# ------------------------------------------------------------------------- stale trials
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
    retried with the same parameters (`storage.RetryStaleTrial`).
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


def others_working(study: optuna.Study) -> bool:
    """Some trial of the study runs in a live process other than this one."""
    me = owner_id()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(OWNER)
        if owner != me and not _owner_gone(owner, shared=True):
            return True
    return False
