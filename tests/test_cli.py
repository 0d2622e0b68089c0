"""The stage entry points: `--help` describes a stage and does nothing else; known failures
are one line and exit status 2."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

STAGES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_says_what_it_reads_and_writes(stage):
    doc = ast.get_docstring(ast.parse((ROOT / "pipelines" / f"{stage}.py").read_text()))
    assert doc and doc.startswith(f"Stage `{stage}`")
    assert "Reads" in doc and "Writes" in doc


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
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}


# ------------------------------------------------------------------ OS and store failures
@pytest.fixture
def stage(monkeypatch, capsys):
    """Run a `main` through run_stage in this process: (exit status, last stderr line)."""
    import signal

    from genlab import cli, tracking

    monkeypatch.setattr(sys, "argv", ["stage.py"])
    monkeypatch.setattr(tracking, "_CHECKED_URI", None)  # set again by check_tracking
    handler = signal.getsignal(signal.SIGINT)

    def run(main) -> tuple[int, str]:
        try:
            with pytest.raises(SystemExit) as exit_:
                cli.run_stage("demo", main)
        finally:
            signal.signal(signal.SIGINT, handler)
        err = capsys.readouterr().err  # MLflow's own INFO lines come first when it makes a store
        return exit_.value.code, err.strip().splitlines()[-1]

    return run


def _immutable(path: Path) -> None:
    """Make `path` unwritable even for root (tests run as root, which ignores permissions)."""
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")


def _mutable(path: Path) -> None:
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_full_disk_is_one_line_and_keeps_the_earlier_file(stage, tmp_path, monkeypatch):
    import errno
    import os

    from genlab import outputs

    target = tmp_path / "metrics" / "evaluate.json"
    outputs.write_json(target, {"test/loss": 1.0})
    before = target.read_bytes()

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "replace", full)
    code, err = stage(lambda: outputs.write_json(target, {"test/loss": 2.0}))
    assert code == 2
    assert err.strip() == (
        f"genlab demo: error: cannot write {target}: No space left on device: free space on "
        "that disk, then rerun the stage"
    )
    assert target.read_bytes() == before
    assert list(target.parent.iterdir()) == [target]  # no temp file left behind


def test_read_only_folder_is_one_line_and_keeps_the_earlier_file(stage, tmp_path):
    from genlab.outputs import write_csv

    folder = tmp_path / "plots"
    target = write_csv(folder / "history.csv", [{"epoch": 0}])
    _immutable(folder)
    try:
        code, err = stage(lambda: write_csv(target, [{"epoch": 1}]))
    finally:
        _mutable(folder)
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith(f"genlab demo: error: cannot write {target}: ")
    assert "chattr -i" in err
    assert target.read_text() == "epoch\n0\n"


def test_failed_write_marks_the_run_failed(stage, tmp_path, monkeypatch):
    """A file where the stage needs a folder: one line naming it, the open run FAILED."""
    from mlflow.tracking import MlflowClient

    from genlab.outputs import write_csv
    from genlab.owners import owner_id
    from genlab.tracking import END_REASON_TAG, OWNER_TAG, check_tracking

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "plots").write_text("not a folder")
    target = tmp_path / "plots" / "train" / "history.csv"
    runs = []

    def main():
        check_tracking(uri)
        mlflow = MlflowClient(uri)
        exp = mlflow.create_experiment("genlab/demo")
        runs.append(mlflow.create_run(exp, tags={OWNER_TAG: owner_id()}).info.run_id)
        write_csv(target, [{"epoch": 0}])

    code, err = stage(main)
    assert code == 2
    assert err.strip() == (
        f"genlab demo: error: cannot write {target}: Not a directory: a file stands where a "
        "folder is needed: move it away and rerun the stage"
    )
    run = MlflowClient(uri).get_run(runs[0])
    assert run.info.status == "FAILED" and "Not a directory" in run.data.tags[END_REASON_TAG]


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


def test_store_errors_wrapped_by_mlflow_are_recognised(stage):
    """Where chattr is missing: SQLite's words inside MLflow's exception, as MLflow raises it."""
    from mlflow.exceptions import MlflowException

    def main():
        raise MlflowException("(sqlite3.OperationalError) database or disk is full\n[SQL: ...]")

    code, err = stage(main)
    assert code == 2
    assert "cannot write the MLflow store (mlflow.db): database or disk is full" in err
