"""The real `dvc repro` on tiny params, in a temporary copy of the repository.

Checks what a user relies on: the three stages run, a second repro does nothing, a training
param reruns only what depends on it, `dvc exp run -S` works, metrics land in DVC and MLflow,
and bad input fails early with one clear message and leaves earlier outputs untouched.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from genlab.config import parse_params
from genlab.diagnosis import diagnose
from genlab.tracking import file_sha256
from tests.conftest import ROOT, copy_of, fresh_store, pipeline_raw, tiny_raw
from tests.repo_copy import sh as _sh
from tests.repo_copy import write_params as _write_params

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(reproduced, tmp_path_factory) -> Path:
    """A private copy of the session's reproduced pipeline (conftest): a test changes it as it
    likes, and the tests run in any order, on any worker."""
    return copy_of(reproduced.path, tmp_path_factory.mktemp("train") / "repo")


def _diagnosis(model: dict) -> dict[str, str]:
    """The label and its reason recomputed from the model's own stored numbers (the pipeline's
    data, MNIST-1D, has no known floor: the params' baseline applies)."""
    return diagnose(model, None, parse_params(pipeline_raw()).diagnosis).as_metrics()


def test_repro_writes_metrics_and_plots(repo):
    metrics = json.loads((repo / "results/evaluate.json").read_text())
    assert metrics["status"] == "ok"
    for key in ("train/loss", "val/loss", "test/loss", "train/acc", "test/acc", "gap/loss"):
        assert isinstance(metrics[key], float)
    assert metrics["gap/loss"] == pytest.approx(metrics["test/loss"] - metrics["train/loss"])
    assert (repo / "plots/evaluate/learning_curve.png").stat().st_size > 1000
    history = (repo / "plots/train/history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,updates,train/loss")  # no wall-clock: same bytes on rerun
    shown = _sh(["dvc", "metrics", "show", "--json"], repo).stdout
    assert "test/loss" in shown


def test_mlflow_run_has_params_curves_and_artifacts(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/train")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1  # the reproduced pipeline's own run (exp runs work on other copies)
    run = runs[0]
    record = json.loads((repo / "models/train.json").read_text())
    assert "run_id" not in record  # ids stay out of DVC outputs; the weights find their run
    assert run.data.tags["genlab.checkpoint_sha256"] == file_sha256(repo / "models/model.ckpt")
    assert run.info.run_name == "adam-lr0.01-bs32-mlp16-mnist1d-s42"  # what differs first
    assert run.data.params["train.optimizer.lr"] == "0.01"
    logged = run.data.params  # only what applies to an MNIST-1D MLP run, not all of params.yaml
    assert logged["data.mnist1d.num_samples"] == "400" and logged["model.mlp.hidden"] == "[16]"
    others = ("data.poly.", "data.gaussians.", "model.cnn1d.", "tune.", "polyfit.", "tracking.")
    assert not [k for k in logged if k.startswith(others)] and len(logged) < 50
    assert run.data.tags["genlab.seed"] == "42" and len(run.data.tags["genlab.data_hash"]) == 64
    assert run.data.tags["genlab.status"] == "ok"
    metrics = json.loads((repo / "results/evaluate.json").read_text())
    assert _diagnosis(metrics) == {k: metrics[k] for k in ("diagnosis", "diagnosis_reason")}
    assert run.data.tags["genlab.diagnosis"] == metrics["diagnosis"]
    curve = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in curve] == list(range(record["epochs_run"]))
    metrics = json.loads((repo / "results/evaluate.json").read_text())
    assert run.data.metrics["final/test/loss"] == pytest.approx(metrics["test/loss"])
    # the run page says which of `test/loss` (last epoch) and `final/test/loss` is reported
    note = run.data.tags["mlflow.note.content"]
    assert "per-epoch" in note and "`final/*`" in note and "dvc metrics show" in note
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"learning_curve.png", "resolved_params.yaml"} <= artifacts


def test_train_cnn_is_tracked_and_evaluated_beside_the_main_model(repo):
    """`train_cnn` is its own MLflow run (genlab/train_cnn); `evaluate` measures, labels and
    plots both models, the CNN under `cnn` (results) and `cnn.test/acc` (the headline)."""
    from mlflow.tracking import MlflowClient

    results = json.loads((repo / "results/evaluate.json").read_text())
    cnn = results["cnn"]
    assert results["model"] == "mlp" and cnn["model"] == "cnn1d" and cnn["status"] == "ok"
    for key in ("train/loss", "train/acc", "test/loss", "test/acc", "gap/loss"):
        assert isinstance(cnn[key], float)
    assert _diagnosis(cnn) == {k: cnn[k] for k in ("diagnosis", "diagnosis_reason")}
    assert cnn["selected_by"] == "val/acc" and results["n_train"] == 260
    headline = json.loads((repo / "metrics/evaluate.json").read_text())
    assert set(headline) == {"status", "test/loss", "test/acc", "gap/loss", "diagnosis", "cnn"}
    assert headline["cnn"] == {"test/acc": cnn["test/acc"]}
    assert results["reference"]["n_train"] == 4000  # MNIST-1D: the paper's numbers beside ours

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("genlab/train_cnn").experiment_id])
    assert run.info.run_name == "adam-lr0.01-bs32-cnn4-mnist1d-s42"
    assert run.data.tags["genlab.stage"] == "train_cnn"
    assert run.data.tags["genlab.checkpoint_sha256"] == file_sha256(repo / "models_cnn/model.ckpt")
    assert run.data.params["model.name"] == "cnn1d" and "model.cnn1d.channels" in run.data.params
    assert not [k for k in run.data.params if k.startswith("model.mlp.")]
    assert run.data.tags["genlab.diagnosis"] == cnn["diagnosis"]
    assert run.data.metrics["final/test/acc"] == pytest.approx(cnn["test/acc"])
    assert "`final/*`" in run.data.tags["mlflow.note.content"]
    assert "learning_curve_cnn.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
    record = json.loads((repo / "models_cnn/train.json").read_text())
    history = (repo / "plots/train_cnn/history.csv").read_text().splitlines()
    assert len(history) == record["epochs_run"] + 1 == cnn["epochs_run"] + 1

    with open(repo / "plots/evaluate/models.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["mlp", "cnn1d"]
    assert [r["diagnosis"] for r in rows] == [results["diagnosis"], cnn["diagnosis"]]
    assert float(rows[1]["test/acc"]) == pytest.approx(cnn["test/acc"], abs=1e-5)
    assert float(rows[1]["paper test/acc"]) == results["reference"]["test/acc"]["cnn1d"]
    assert (repo / "plots/evaluate/models_compared.png").stat().st_size > 1000


def test_train_cnn_reruns_for_the_cnn_and_train_keys_not_the_mlp(repo):
    params = (repo / "params.yaml").read_bytes()
    changed = {}
    try:
        for key, path, value in (
            ("model.mlp", ("model", "mlp", "hidden"), [8]),
            ("model.cnn1d", ("model", "cnn1d", "hidden"), 4),
            ("train.optimizer", ("train", "optimizer", "lr"), 0.02),
        ):
            raw = tiny_raw()
            raw["data"]["name"] = "mnist1d"
            node = raw
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
            _write_params(repo, raw)
            changed[key] = set(json.loads(
                _sh(["dvc", "status", "--json", "train", "train_cnn"], repo).stdout))
    finally:
        (repo / "params.yaml").write_bytes(params)
    assert changed == {
        "model.mlp": {"train"},
        "model.cnn1d": {"train", "train_cnn"},  # train reads all of `model`: model.name picks
        "train.optimizer": {"train", "train_cnn"},
    }


def test_help_with_arguments_prints_the_docstring_and_runs_nothing(tmp_path):
    args = ["--stage", "train_cnn", "--model", "cnn1d", "--out", "m", "--history", "h", "--help"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/train.py"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Stage `train`") and "train_cnn" in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.long
def test_a_cnn_on_data_it_cannot_read_is_skipped_and_reported(tmp_path):
    """On the 2-D gaussians train_cnn records `skipped` (no run, no weights) and evaluate
    reports the main model alone: switching the dataset does not break `dvc repro`."""
    raw = tiny_raw()  # data gaussians
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copy(ROOT / "dvc.yaml", tmp_path)  # each stage's paths: run by hand, as in dvc.yaml
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cnn = ["--stage", "train_cnn", "--model", "cnn1d"]
    for script, args in (("prepare", []), ("train", []), ("train", cnn), ("evaluate", [])):
        proc = _sh(["python", str(ROOT / f"pipelines/{script}.py"), *args], tmp_path, env=env)
    record = json.loads((tmp_path / "models_cnn/train.json").read_text())
    assert record["status"] == "skipped" and "needs 1-D signals" in record["reason"]
    assert not (tmp_path / "models_cnn/model.ckpt").exists()
    results = json.loads((tmp_path / "results/evaluate.json").read_text())
    assert results["status"] == "ok" and results["cnn"]["status"] == "skipped"
    assert "reference" not in results  # the paper's numbers are MNIST-1D's
    headline = json.loads((tmp_path / "metrics/evaluate.json").read_text())
    assert headline["cnn"] == {"status": "skipped"}
    assert "cnn" in proc.stdout and "skipped" in proc.stdout
    from mlflow.tracking import MlflowClient

    assert MlflowClient(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name(
        "genlab/train_cnn") is None


def test_second_repro_does_nothing(repo):
    """Every stage, studies included: a rerun of an unchanged pipeline computes nothing."""
    out = _sh(["dvc", "repro"], repo).stdout
    assert "Running stage" not in out, out


@pytest.mark.long
def test_identical_retraining_changes_no_output_and_evaluate_skips(repo):
    """A forced `train` gives the same bytes (no run id inside), so DVC skips `evaluate`."""
    lock = (repo / "dvc.lock").read_text()
    out = _sh(["dvc", "repro", "-f", "-s", "train"], repo).stdout
    assert "Running stage 'train'" in out
    assert (repo / "dvc.lock").read_text() == lock
    out = _sh(["dvc", "repro", "-f", "-s", "train_cnn"], repo).stdout  # batch norm: same bytes
    assert "Running stage 'train_cnn'" in out
    assert (repo / "dvc.lock").read_text() == lock
    out = _sh(["dvc", "repro", "evaluate"], repo).stdout
    assert "Running stage" not in out, out


@pytest.mark.long
def test_exp_run_in_a_temp_copy_logs_into_the_project_store(repo):
    """`dvc exp run --temp` trains in a throw-away copy: its run must land in the project's own
    embedded store, tagged with the experiment's name and baseline commit."""
    from mlflow.tracking import MlflowClient

    _sh(["dvc", "exp", "run", "--temp", "-n", "in-temp", "train", "-S", "train.max_epochs=2"], repo)
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/train")
    runs = client.search_runs([exp.experiment_id], "tags.`dvc.exp_name` = 'in-temp'")
    assert len(runs) == 1 and runs[0].data.params["train.max_epochs"] == "2"
    head = _sh(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert runs[0].data.tags["dvc.baseline_rev"] == head
    assert not list(repo.glob(".dvc/tmp/exps/**/mlflow.db"))


def test_bad_param_fails_before_work_and_keeps_outputs(repo):
    before = (repo / "results/evaluate.json").read_bytes()
    raw = tiny_raw()
    raw["data"]["name"] = "mnist1d"
    raw["train"]["optimizer"]["lr"] = -1
    _write_params(repo, raw)
    try:
        proc = _sh(["python", "pipelines/train.py"], repo, check=False)
    finally:
        raw["train"]["optimizer"]["lr"] = 0.01
        _write_params(repo, raw)
    assert proc.returncode == 2
    assert "train.optimizer.lr = -1" in proc.stderr and "greater than 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (repo / "results/evaluate.json").read_bytes() == before


def test_rejected_param_in_dvc_leaves_every_output_in_place(repo):
    """DVC deletes a stage's outputs before running it: the check_params stage rejects the
    value first, so `dvc exp run` / `dvc repro` stop before anything is removed."""
    model = (repo / "models/model.ckpt").read_bytes()
    history = (repo / "plots/train/history.csv").read_bytes()
    params = (repo / "params.yaml").read_bytes()
    try:
        proc = _sh(["dvc", "exp", "run", "evaluate", "-S", "train.optimizer.lr=-1"], repo,
                   check=False)
    finally:  # `dvc exp run -S` leaves the rejected value in the workspace's params.yaml
        (repo / "params.yaml").write_bytes(params)
    assert proc.returncode != 0
    assert "train.optimizer.lr = -1" in proc.stdout + proc.stderr
    assert "Running stage 'train'" not in proc.stdout
    assert (repo / "models/model.ckpt").read_bytes() == model
    assert (repo / "plots/train/history.csv").read_bytes() == history
    status = _sh(["dvc", "status", "evaluate"], repo).stdout
    assert "deleted" not in status and "not in cache" not in status


def test_unreachable_tracking_server_fails_fast(repo):
    proc = _sh(
        ["python", "pipelines/train.py"],
        repo,
        check=False,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "127.0.0.1:9" in proc.stderr


def test_corrupt_data_file_is_named(repo, tmp_path):
    target = repo / "data/prepared/train.npz"
    saved = tmp_path / "train.npz"
    shutil.copy2(target, saved)
    try:
        target.chmod(0o644)
        blob = bytearray(target.read_bytes())
        blob[200] ^= 0xFF
        target.write_bytes(bytes(blob))
        proc = _sh(["python", "pipelines/train.py"], repo, check=False)
    finally:
        shutil.copy2(saved, target)
    assert proc.returncode == 2
    assert "train.npz" in proc.stderr and "dvc repro prepare" in proc.stderr


@pytest.mark.long
def test_exp_run_with_a_diverging_train_param_reruns_train_and_evaluate_which_survives(repo):
    """`dvc exp run -S` on training params reruns both models and evaluate, not prepare; the
    one-sample SGD at lr 10 diverges, and evaluate records that instead of failing."""
    out = _sh(
        [
            "dvc",
            "exp",
            "run",
            "evaluate",
            "-S",
            "train.optimizer.name=sgd",
            "-S",
            "train.optimizer.lr=10",
            "-S",
            "train.early_stopping.enabled=false",
        ],
        repo,
    ).stdout
    assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out
    assert "Running stage 'train_cnn'" in out  # the same `train` settings drive both models
    assert "Running stage 'prepare'" not in out
    shown = json.loads(_sh(["dvc", "exp", "show", "--json"], repo).stdout)
    lrs = [
        exp["data"]["params"]["params.yaml"]["data"]["train"]["optimizer"]["lr"]
        for row in shown
        for branch in row["experiments"] or []
        for exp in branch["revs"]
    ]
    assert lrs == [10], shown  # the experiment, with its value, beside the baseline
    metrics = json.loads((repo / "results/evaluate.json").read_text())
    assert metrics["status"] == "diverged", metrics
    assert "became" in metrics["reason"]
    # one-sample SGD cannot train the CNN's batch norm: train_cnn says so, the pipeline goes on
    assert metrics["cnn"]["status"] == "skipped" and "batch norm" in metrics["cnn"]["reason"]


def _wait_for_running_run(db: Path, timeout: float = 60) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = client.get_experiment_by_name("genlab/train")
        if exp is not None:
            runs = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
            if runs:
                return runs[0].info.run_id
        time.sleep(0.3)
    raise AssertionError("no RUNNING train run appeared")


def _start_long_train(repo: Path, db: Path) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    cmd = ["python", "pipelines/train.py"]
    raw = tiny_raw()
    raw["data"]["name"] = "mnist1d"
    raw["train"]["max_epochs"] = 5000
    raw["train"]["early_stopping"]["enabled"] = False
    work = Path(tempfile.mkdtemp(dir=db.parent))
    shutil.copytree(repo, work, ignore=shutil.ignore_patterns("mlflow.db", ".dvc"),
                    dirs_exist_ok=True)
    _write_params(work, raw)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.Popen(cmd, cwd=work, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.long
def test_interrupted_and_killed_runs_do_not_stay_running(repo, tmp_path, empty_store):
    """Ctrl-C: one line, the run KILLED. SIGKILL: the next stage start marks it KILLED."""
    from mlflow.tracking import MlflowClient

    from genlab.tracking import check_tracking

    # the store exists before the stage starts: this test's watcher opens it with a bare
    # MlflowClient, which would migrate a new one while the stage does (genlab's own
    # processes take a file lock for that: test_tracking.py)
    db = Path(fresh_store(empty_store, tmp_path).removeprefix("sqlite:///"))
    proc = _start_long_train(repo, db)
    run_id = _wait_for_running_run(db)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("genlab train: interrupted")
    client = MlflowClient(f"sqlite:///{db}")
    assert client.get_run(run_id).info.status == "KILLED"

    proc = _start_long_train(repo, db)
    run_id = _wait_for_running_run(db)
    proc.kill()
    proc.wait(timeout=30)
    assert client.get_run(run_id).info.status == "RUNNING"
    check_tracking(f"sqlite:///{db}")  # what every stage does first
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and "ended without closing" in run.data.tags[
        "genlab.end_reason"]
