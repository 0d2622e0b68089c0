"""The stage entry points as processes: `--help` describes a stage and does nothing else; known
failures are one line and exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.test_cli import _immutable, _mutable


@pytest.mark.slow  # each starts a stage process
@pytest.mark.parametrize("stage", ["train", "tune"])
def test_help_prints_the_docstring_and_runs_nothing(stage, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / f"{stage}.py"), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Stage `{stage}`" in proc.stdout
    assert "Reads" in proc.stdout and "Writes" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # no models/, metrics/, mlflow.db


@pytest.mark.slow  # a stage process
def test_prepared_data_of_another_dataset_is_named(tmp_path):
    """train on data prepared for another dataset: one line saying which and what to run."""
    from tests.conftest import tiny_raw

    raw = tiny_raw()
    prep = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/prepare.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env=_env(tmp_path, raw),
    )
    assert prep.returncode == 0, prep.stderr
    raw["data"]["name"] = "digits"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/train.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env=_env(tmp_path, raw),
    )
    assert proc.returncode == 2
    assert "holds 'gaussians' but params data.name is 'digits'" in proc.stderr
    assert "dvc repro prepare" in proc.stderr and "Traceback" not in proc.stderr


def _env(tmp_path: Path, raw: dict) -> dict:
    import os

    import yaml

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copy(ROOT / "dvc.yaml", tmp_path)  # each stage's paths: run by hand, as in dvc.yaml
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}


@pytest.mark.slow  # a stage process
def test_read_only_mlflow_store_is_one_line_naming_it(tmp_path):
    """A fresh process (as a stage is) on a store it cannot write: one line, no traceback."""
    from genlab.tracking import check_tracking

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    check_tracking(uri)  # creates the store
    script = (
        "from mlflow.tracking import MlflowClient\n"
        "from genlab.cli import run_stage\n"
        "from genlab.tracking import check_tracking\n"
        f"uri = {uri!r}\n"
        "run_stage('demo', lambda: (check_tracking(uri), MlflowClient(uri).create_experiment('x')))"
    )
    _immutable(db)
    try:
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
    finally:
        _mutable(db)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == (
        f"genlab demo: error: cannot write {db}: attempt to write a readonly database: it is "
        "read-only: make the file and its folder writable, or point MLFLOW_TRACKING_URI "
        "elsewhere, then rerun the stage"
    )
