"""The real `dvc repro train_best` (tune + retrain) on tiny params in a repository copy.

Checks what a user relies on: the study's outputs and MLflow runs (one parent per study, one
child per trial, the test split never logged by the search), the retrain reproducing the best
trial and reporting test once, a second repro doing nothing, and a stage killed mid-study
resuming on rerun without losing or repeating finished trials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import yaml

from genlab.stages.tune.runs import study_run_name, trial_run_name
from genlab.stages.tune.space import hp_from_params
from genlab.stages.tune.storage import open_storage
from genlab.stages.tune.trials import counts_toward_budget, n_counted, status
from tests.conftest import copy_of, tiny_raw
from tests.repo_copy import BIN, sh, write_params

pytestmark = pytest.mark.slow
N_TRIALS = tiny_raw()["tune"]["n_trials"]


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Path:
    """A copy of the shared reproduced pipeline: the tests below grow and kill its study."""
    out = reproduced.stdout
    assert "Running stage 'tune'" in out and "Running stage 'train_best'" in out
    return copy_of(reproduced.path, tmp_path_factory.mktemp("tune") / "repo")


def study_of(repo: Path, name: str | None = None) -> optuna.Study:
    name = name or json.loads((repo / "results/tune.json").read_text())["study"]
    storage = open_storage(str(repo / "studies/optuna.journal"))
    return optuna.load_study(study_name=name, storage=storage)


def mlflow_runs(repo: Path, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def test_tune_writes_best_params_metrics_and_plots(repo):
    metrics = json.loads((repo / "results/tune.json").read_text())
    trials = metrics["trials"]
    assert trials["complete"] + trials["pruned"] + trials["diverged"] == N_TRIALS
    assert metrics["new_trials"] == N_TRIALS and trials["complete"] >= 1
    best = yaml.safe_load((repo / "best_params.yaml").read_text())
    assert best["study"] == metrics["study"] and best["value"] == metrics["best_value"]
    study = study_of(repo)
    assert best["trial"] == study.best_trial.number and best["value"] == study.best_value
    lr = best["overrides"]["train.optimizer.lr"]
    assert lr == study.best_trial.params["lr"]
    bs_log2 = study.best_trial.params["batch_size_log2"]  # searched by its exponent
    assert best["overrides"]["train.optimizer.batch_size"] == 2**bs_log2
    for png in ("optimization_history.png", "param_importances.png", "lr_batch.png"):
        assert (repo / "plots/tune" / png).stat().st_size > 5000
    rows = (repo / "plots/tune/trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,status,value,last,epochs,lr,batch_size,strength")
    assert len(rows) == N_TRIALS + 1


def test_mlflow_parent_with_one_child_per_trial(repo):
    client, runs = mlflow_runs(repo, "genlab/tune")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == study_run_name(parent.data.tags["optuna.study"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    study = study_of(repo)
    assert len(children) == len(study.trials) == N_TRIALS
    expected = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}  # pruned: normal
    for run in children:
        t = study.trials[int(run.data.tags["optuna.trial"])]
        assert run.info.status == expected[t.state.name]
        assert run.data.tags["optuna.state"] == status(t)
        penalty = tiny_raw()["tune"]["space"]["penalty"]
        hp = hp_from_params(t.params)
        assert run.info.run_name == trial_run_name(t.number, hp, penalty)
        assert run.info.run_name.startswith(f"t{t.number}-lr")
        assert float(run.data.params["train.optimizer.lr"]) == pytest.approx(t.params["lr"])
        # a trial logs what it trained with (gaussians, mlp): no other dataset, model or stage
        others = ("data.poly.", "data.mnist1d.", "model.cnn1d.", "tune.", "optimizers.")
        assert "data.gaussians.n_train" in run.data.params
        assert not [k for k in run.data.params if k.startswith(others)]
        curve = client.get_metric_history(run.info.run_id, "val/acc")  # the objective: pruned on
        assert [m.step for m in curve] == sorted(t.intermediate_values)
        assert [m.value for m in curve] == pytest.approx(list(t.intermediate_values.values()))
        assert not any(k.startswith("test/") for k in run.data.metrics)
    assert parent.data.params and all(k.startswith("tune.") for k in parent.data.params)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"optimization_history.png", "param_importances.png", "lr_batch.png"} <= artifacts


def test_train_best_replays_the_best_trial_and_reports_test(repo):
    best = yaml.safe_load((repo / "best_params.yaml").read_text())
    metrics = json.loads((repo / "results/train_best.json").read_text())
    assert metrics["status"] == "ok" and metrics["trial"] == best["trial"]
    for key in ("train/loss", "val/loss", "test/loss", "test/acc", "gap/loss"):
        assert isinstance(metrics[key], float)
    # same config, seed and epochs as the winning trial: the same best validation accuracy
    # (train.selection.metric auto, loss ce), restored from the same epoch
    assert best["metric"] == "val/acc" and best["direction"] == "maximize"
    assert metrics["val/acc"] == pytest.approx(best["value"], rel=1e-6)
    judged = metrics["to_judge"]["models"]  # labelled by the `diagnosis` stage
    assert [j["model"] for j in judged] == ["tuned"]
    assert judged[0]["test/acc"] == metrics["test/acc"]
    assert (repo / "tuned/model.ckpt").is_file()
    client, runs = mlflow_runs(repo, "genlab/train_best")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["optuna.study"] == best["study"]
    assert run.data.tags["optuna.best_trial"] == str(best["trial"])
    assert judged[0]["run_id"] == run.info.run_id
    assert run.data.metrics["final/test/loss"] == pytest.approx(metrics["test/loss"])
    assert run.data.params["train.optimizer.lr"] == str(best["overrides"]["train.optimizer.lr"])



def test_bad_tune_param_fails_before_work(repo):
    before = (repo / "best_params.yaml").read_bytes()
    text = (repo / "params.yaml").read_text()
    raw = yaml.safe_load(text)
    raw["tune"]["space"]["batch_size"] = [16, 48]
    write_params(repo, raw)
    try:
        proc = sh(["python", "pipelines/tune.py"], repo, check=False)
    finally:
        (repo / "params.yaml").write_text(text)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "tune.space.batch_size" in proc.stderr and "48 is not a power of two" in proc.stderr
    assert (repo / "best_params.yaml").read_bytes() == before


def test_killed_stage_resumes_without_losing_or_repeating_trials(repo):
    """Raise the budget, kill `dvc repro tune` once a new trial has finished, rerun it."""
    name = study_of(repo).study_name  # DVC deletes results/tune.json while the stage runs
    first = {t.number: (t.state, t.value) for t in study_of(repo, name).trials}
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["tune"]["n_trials"] = N_TRIALS + 4  # same study (n_trials is not in its name)
    write_params(repo, raw)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        ["dvc", "repro", "tune"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if n_counted(study_of(repo, name)) > N_TRIALS:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no new trial finished within 120 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = n_counted(study_of(repo, name))
    assert N_TRIALS < killed_at < N_TRIALS + 4

    out = sh(["dvc", "repro", "tune"], repo).stdout
    assert "Running stage 'tune'" in out
    study = study_of(repo)
    assert n_counted(study) == N_TRIALS + 4
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # no duplicates, no gaps
    for number, (state, value) in first.items():  # finished trials kept as they were
        assert (study.trials[number].state, study.trials[number].value) == (state, value)
    extra = [t for t in study.trials if not counts_toward_budget(t)]
    assert all(t.user_attrs["status"] == "interrupted" for t in extra)  # the trial in flight
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    metrics = json.loads((repo / "results/tune.json").read_text())
    assert metrics["new_trials"] == N_TRIALS + 4 - killed_at
    _, runs = mlflow_runs(repo, "genlab/tune")  # three executions, one study: one parent run
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parents] == ["FINISHED"]
    assert study.user_attrs["mlflow_parent_run_id"] == parents[0].info.run_id
    children = {int(r.data.tags["optuna.trial"]): r for r in runs if r is not parents[0]}
    # every trial that got as far as its run, the interrupted one too (if it had started); a
    # trial records its run id just after starting the run, so a SIGKILL in between leaves the
    # interrupted trial's run unlinked (still closed below, by the stale-run check)
    linked = {t.number for t in study.trials if "mlflow_run_id" in t.user_attrs}
    assert linked <= set(children)
    assert set(children) - linked <= {t.number for t in extra}
    ended = {t.number: (children[t.number].info.status, children[t.number].data.tags)
             for t in extra if t.number in children}
    assert all(status == "KILLED" for status, _ in ended.values()), ended
