"""Team mode, issue 9 point 4: one Optuna study on the shared PostgreSQL, worked on by the `tune`
stage of two clones at once (two repository copies, two processes), against the real team stack.

One scenario, run once (~30 s once the stack is up, mostly process start-up and the MLflow
server's per-request password check): clones A and B start together; once both have finished a
trial and A is training another, A is SIGKILLed and B finishes the study alone. Checked: exactly
`tune.n_trials` counted trials, unique numbers and parameter sets, both clones' contributions,
the killed trial failed by the RDB heartbeat (short `tune.heartbeat_interval` / `grace_period`)
and retried with its parameters by B, one MLflow parent run holding every trial.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from genlab.stages.tune.trials import counts_toward_budget, status
from tests.conftest import tiny_raw
from tests.repo_copy import BIN, make_repo_copy

pytestmark = pytest.mark.slow
N_TRIALS = 6
HEARTBEAT_S, GRACE_S = 1, 3
RUN = "mlflow_run_id"  # set on a trial once its MLflow run exists, right before training


def team_raw(name: str) -> dict:
    """Tiny params; trials of ~2-3 s, so the clone that starts second still finds work (a
    process takes ~6-10 s to start) and a kill lands mid-trial; no pruning."""
    raw = tiny_raw()
    raw["data"]["gaussians"]["n_train"] = 2400
    raw["tune"].update(
        n_trials=N_TRIALS,
        max_epochs=6,
        study_name=name,
        heartbeat_interval=HEARTBEAT_S,
        grace_period=GRACE_S,
        pruner={"name": "none"},
    )
    return raw


def load(env: dict[str, str], name: str) -> optuna.Study:
    storage = optuna.storages.RDBStorage(env["OPTUNA_STORAGE"])
    return optuna.load_study(study_name=name, storage=storage)


def owner_pid(t) -> int | None:
    owner = t.user_attrs.get("owner")
    return int(owner.rpartition(":")[2]) if owner else None


def start_tune(repo: Path, env: dict[str, str]) -> subprocess.Popen:
    """`python pipelines/tune.py` in its own process group (killed as one), output to a file."""
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    with open(repo / "tune.out", "w") as out:  # the child keeps its own handle
        return subprocess.Popen(
            ["python", "pipelines/tune.py"],
            cwd=repo,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def study_trials(storage, name: str) -> list:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # not created yet
        return []
    return study.get_trials(deepcopy=False)


def by(trials: list, pid: int, state: TrialState) -> list:
    return [t for t in trials if owner_pid(t) == pid and t.state == state]


def wait_until(condition, timeout: float, what: str, procs: dict[Path, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for repo, p in procs.items():
            if p.poll() is not None:
                out = (repo / "tune.out").read_text()[-3000:]
                pytest.fail(f"{what}: tune in {repo.name} exited early ({p.returncode}):\n{out}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


@dataclass
class Race:
    name: str
    env: dict[str, str]
    b: Path  # the surviving clone
    pid_a: int
    pid_b: int
    killed: list[int]  # trials A left RUNNING when it was killed


@pytest.fixture(scope="module")
def race(team_settings, tmp_path_factory) -> Race:
    """Clones A and B tune one study; A is killed mid-trial once both have finished one."""
    env = team_settings.env()
    name = f"team-{uuid.uuid4().hex[:8]}"
    a = make_repo_copy(tmp_path_factory.mktemp("clone-a"), team_raw(name))
    b = make_repo_copy(tmp_path_factory.mktemp("clone-b"), team_raw(name))
    storage = optuna.storages.RDBStorage(env["OPTUNA_STORAGE"])
    procs = {a: start_tune(a, env), b: start_tune(b, env)}
    proc_a, proc_b = procs[a], procs[b]

    def both_done_one_and_a_training() -> bool:
        now, done = study_trials(storage, name), TrialState.COMPLETE
        training = [t for t in by(now, proc_a.pid, TrialState.RUNNING) if RUN in t.user_attrs]
        return bool(by(now, proc_b.pid, done) and by(now, proc_a.pid, done) and training)

    try:
        wait_until(both_done_one_and_a_training, 90, "both clones at work", procs)
        os.killpg(proc_a.pid, signal.SIGKILL)
        proc_a.wait()
        left = by(study_trials(storage, name), proc_a.pid, TrialState.RUNNING)
        killed = [t.number for t in left]
        assert proc_b.wait(timeout=120) == 0, (b / "tune.out").read_text()[-3000:]
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return Race(name, env, b, proc_a.pid, proc_b.pid, killed)


def test_two_clones_fill_one_study_with_exactly_n_trials(race):
    study = load(race.env, race.name)
    counted = [t for t in study.trials if counts_toward_budget(t)]
    assert len(counted) == N_TRIALS
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    params = [tuple(sorted(t.params.items())) for t in counted]
    assert len(set(params)) == N_TRIALS  # no configuration trained twice
    assert {owner_pid(t) for t in counted} == {race.pid_a, race.pid_b}  # both contributed
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    text = (race.b / "best_params.yaml").read_text()
    assert yaml.safe_load(text)["trial"] == study.best_trial.number
    assert ":***@" in text and db_password(race.env) not in text  # the storage, redacted


def test_a_killed_clone_trial_is_failed_by_heartbeat_and_retried(race, team_env):
    study = load(race.env, race.name)
    assert len(race.killed) == 1, race.killed
    killed = study.trials[race.killed[0]]
    assert killed.state == TrialState.FAIL and status(killed) == "interrupted"
    assert not counts_toward_budget(killed)
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.number > killed.number and retry.params == killed.params
    assert counts_toward_budget(retry) and owner_pid(retry) == race.pid_b
    assert retry.user_attrs["retry_of"] == killed.number
    client = mlflow_client(team_env)
    run = client.get_run(killed.user_attrs[RUN])
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "interrupted"
    assert f"no heartbeat for {GRACE_S} s" in run.data.tags["optuna.reason"]
    retry_run = client.get_run(retry.user_attrs[RUN])
    assert retry_run.info.status == "FINISHED"
    assert retry_run.data.tags["optuna.retry_of"] == str(killed.number)


def mlflow_client(team_env: dict[str, str]):
    """A client of the stack's server; `team_env` put its credentials in the environment."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(team_env["MLFLOW_TRACKING_URI"])


def db_password(env: dict[str, str]) -> str:
    from sqlalchemy.engine import make_url

    return make_url(env["OPTUNA_STORAGE"]).password


def test_every_trial_from_either_clone_is_a_child_of_one_parent_run(race, team_env):
    study = load(race.env, race.name)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    client = mlflow_client(team_env)
    exp = client.get_experiment_by_name("genlab/tune")
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`optuna.study` = '{race.name}'"
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [parent_id]
    assert parents[0].info.status == "FINISHED"
    assert db_password(race.env) not in parents[0].data.tags["optuna.storage"]
    children = [r for r in runs if r.info.run_id != parent_id]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent_id}
    with_runs = {t.number for t in study.trials if RUN in t.user_attrs}
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == sorted(with_runs)
    assert {int(r.data.tags["genlab.owner"].rpartition(":")[2]) for r in children} == {
        race.pid_a,
        race.pid_b,
    }
