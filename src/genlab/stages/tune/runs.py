"""The study's MLflow runs: one parent run per study, one child run per trial.

Parent run: every trial of a study, from any process on any machine, is a child of ONE MLflow
run. The process that creates the study creates that run and records its id in the study's user
attribute `mlflow_parent_run_id`; every other process waits for the attribute and reuses the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna

from genlab import tracking
from genlab.config import Params
from genlab.owners import owner_gone, owner_id
from genlab.stages.tune.space import base_params

STAGE = "tune"  # the MLflow experiment (genlab/tune) and the progress lines
PARENT_ATTR = "mlflow_parent_run_id"
PARENT_WAIT_S = 60.0  # how long a joining process waits for the creator to record the parent
SETTLE_S = 1.0  # adopting a study with no parent: time for a concurrent adopter's write to land
# A pruned trial is a normal outcome of the search (FINISHED, tagged pruned); KILLED is kept
# for trials whose worker was really stopped (Ctrl-C, SIGKILL, lost heartbeat).
MLFLOW_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "diverged": "FAILED"}


# ------------------------------------------------------------------- the stage's parent
@contextlib.contextmanager
def shared_parent(params: Params) -> Iterator[tracking.Study]:
    """The study's parent run as the stage's block holds it (`genlab.study`'s `open_runs`).

    The run is shared by every process working on the study, on any machine: `run_study` finds
    or makes it and sets `run_id`. The block ends it FINISHED once this process has published
    the study's outputs, FAILED (KILLED on Ctrl-C) with the reason when that failed; before
    the study has its parent (`run_id` None) there is nothing to end here (`run_study` ends it
    when its workers fail, unless others still work on the study).
    """
    parent = tracking.Study(params, STAGE, None, {})
    try:
        yield parent
    except BaseException as err:
        if parent.run_id is not None:
            parent._end_on_error(parent.run_id, err)
        raise
    parent._end(parent.run_id, None, "")


# --------------------------------------------------------------------------------- names
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


# ---------------------------------------------------------------------------- trial runs
def finish_trial_run(
    params: Params, run_id: str, state: str, reason: str, value: float, epochs: int
) -> None:
    """Outcome of a trial on its MLflow run, in one write (SQLite: one transaction)."""
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
    mlflow = tracking.client(params)
    mlflow.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
    tracking.end_run(mlflow, run_id, MLFLOW_STATUS[state])


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


# ---------------------------------------------------------------------------- parent run
def new_parent_run(params: Params, name: str, storage_shown: str, data_id: str) -> str:
    """The study's MLflow parent run (made once per study, by whoever creates the study);
    `storage_shown` is the study's storage without its password."""
    tags = {
        **tracking.run_tags(base_params(params), STAGE, data_id, curves=False),
        "optuna.study": name,
        "optuna.storage": storage_shown,
        "genlab.owner": owner_id(),
    }
    return tracking.start_run(params, STAGE, study_run_name(name), tags)


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
        if owner is not None and owner_gone(owner):  # one without an owner: not ours to judge
            tracking.end_run(mlflow, run.info.run_id, "KILLED", tracking.gone_reason(owner))
            closed += 1
    return closed
