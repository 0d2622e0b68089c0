"""Stages failing after they trained: one line and exit status 2 in every case.

A tracking server that dies during or right after the fit: the model's local outputs are
written all the same. An output that cannot be written: the earlier file stays, the MLflow
run ends FAILED (not FINISHED, as Lightning would have it).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, tiny_raw

pytestmark = pytest.mark.slow  # runs the real stages (about 80 s in all)

MAX_EPOCHS = 6


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Prepared tiny data and params for `train` (no DVC: the stage's own process only)."""
    work = tmp_path_factory.mktemp("train")
    raw = tiny_raw()
    raw["train"]["max_epochs"] = MAX_EPOCHS
    raw["train"]["early_stopping"]["enabled"] = False
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copy(ROOT / "dvc.yaml", work)  # each stage's paths: run by hand, as in dvc.yaml
    proc = _stage("prepare", work, "sqlite:///" + str(work / "mlflow.db"))
    assert proc.returncode == 0, proc.stderr
    return work


def _stage(name: str, cwd: Path, uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run([sys.executable, str(ROOT / "pipelines" / f"{name}.py")], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def server(tmp_path):
    """Start the stand-in server dying at the given moment; returns its URI."""
    procs = []

    def start(die_at: str) -> str:
        port_file = tmp_path / "port"
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests/fake_mlflow_server.py"), str(port_file),
             str(tmp_path / "artifacts"), die_at],
        ))
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text():
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.1)
        return f"http://127.0.0.1:{port_file.read_text()}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


BEST = {  # what `tune` writes, by hand: train_best without running a study first
    "study": "hand-made",
    "trial": 0,
    "metric": "val/loss",
    "value": 0.5,
    "overrides": {"train.max_epochs": MAX_EPOCHS, "train.early_stopping.enabled": False},
}
HISTORY = {"train": "plots/train/history.csv", "train_best": "plots/train_best/history.csv"}


@pytest.mark.parametrize(
    ("stage", "die_at"), [("train", "metrics"), ("train", "set-tag"), ("train_best", "metrics")]
)
def test_server_lost_mid_training_keeps_the_local_outputs(prepared, server, stage, die_at):
    """`metrics`: gone at the fit's first epoch, which then ends (no wait on every later call);
    `set-tag`: gone after the fit, while the stage tags the run."""
    for out in ("models", "tuned", "plots", "metrics", "results"):
        subprocess.run(["rm", "-rf", str(prepared / out)], check=True)
    (prepared / "best_params.yaml").write_text(yaml.safe_dump(BEST))
    uri = server(die_at)
    start = time.monotonic()
    proc = _stage(stage, prepared, uri)
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"genlab {stage}: error: MLflow at {uri} stopped answering"), line
    assert HISTORY[stage] in line and "the MLflow run is incomplete" in line
    if stage == "train":
        record = json.loads((prepared / "models/train.json").read_text())
        assert (prepared / "models/model.ckpt").stat().st_size > 0
    else:
        record = json.loads((prepared / "results/train_best.json").read_text())
        assert (prepared / "tuned/model.ckpt").stat().st_size > 0
    with open(prepared / HISTORY[stage], newline="") as f:
        history = list(csv.DictReader(f))
    assert len(history) == record["epochs_run"]
    # `metrics`: stopped after the epoch in which the server went away
    assert record["epochs_run"] == (1 if die_at == "metrics" else MAX_EPOCHS)
    cut_short = "training stopped after the epoch in which it went away" in line
    assert cut_short == (die_at == "metrics")
    assert took < 120


def test_study_results_are_written_when_the_server_is_lost(prepared, server):
    """polyfit (as biasvar): the numbers are computed before the run is logged."""
    subprocess.run(["rm", "-rf", str(prepared / "results")], check=True)
    proc = _stage("polyfit", prepared, server("metrics"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "results/polyfit.json" in proc.stderr.strip().splitlines()[-1]
    results = json.loads((prepared / "results/polyfit.json").read_text())
    assert "best_degree" in results["ls"]  # computed before the server went away
    assert results["mlflow_run_id"]  # the parent run it was logging into (left FAILED)


def test_unwritable_output_after_training_fails_the_run(prepared):
    from mlflow.tracking import MlflowClient

    from tests.unit.test_cli import _immutable, _mutable

    folder = prepared / "plots/train"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.csv").write_text("earlier\n")
    db = prepared / "failed.db"
    _immutable(folder)
    try:
        proc = _stage("train", prepared, f"sqlite:///{db}")
    finally:
        _mutable(folder)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"genlab train: error: cannot write {Path('plots/train/history.csv')}")
    assert (folder / "history.csv").read_text() == "earlier\n"
    client = MlflowClient(f"sqlite:///{db}")
    [run] = client.search_runs([client.get_experiment_by_name("genlab/train").experiment_id])
    assert run.info.status == "FAILED"
    assert "history.csv" in run.data.tags["genlab.end_reason"]
