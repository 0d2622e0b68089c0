"""genlab.cli: every stage's docstring says what it reads and writes; run_stage turns known OS
and store failures into one line and exit status 2, keeping earlier outputs. Stage processes:
tests/integration/test_cli.py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from genlab.config.base import ConfigError
from genlab.data.splits import DataError
from genlab.tracking import TrackingError
from tests.conftest import ROOT, fresh_store

STAGES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_says_what_it_reads_and_writes(stage):
    doc = ast.get_docstring(ast.parse((ROOT / "pipelines" / f"{stage}.py").read_text()))
    assert doc and doc.startswith(f"Stage `{stage}`")
    assert "Reads" in doc and "Writes" in doc


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


def test_failed_write_marks_the_run_failed(stage, tmp_path, monkeypatch, empty_store):
    """A file where the stage needs a folder: one line naming it, the open run FAILED."""
    from mlflow.tracking import MlflowClient

    from genlab.outputs import write_csv
    from genlab.owners import owner_id
    from genlab.tracking import END_REASON_TAG, OWNER_TAG, check_tracking

    monkeypatch.chdir(tmp_path)
    uri = fresh_store(empty_store, tmp_path)
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


def test_store_errors_wrapped_by_mlflow_are_recognised(stage):
    """Where chattr is missing: SQLite's words inside MLflow's exception, as MLflow raises it."""
    from mlflow.exceptions import MlflowException

    def main():
        raise MlflowException("(sqlite3.OperationalError) database or disk is full\n[SQL: ...]")

    code, err = stage(main)
    assert code == 2
    assert "cannot write the MLflow store (mlflow.db): database or disk is full" in err


# ------------------------------------------------------------------ help and exit statuses
def test_help_prints_the_stage_docstring_and_never_calls_main(monkeypatch, capsys):
    import types

    from genlab import cli

    stage_module = types.ModuleType("__main__", "Stage `demo`: reads a, writes b.\n\n")
    monkeypatch.setitem(sys.modules, "__main__", stage_module)
    calls = []
    for flag in ("--help", "-h"):
        monkeypatch.setattr(sys, "argv", ["demo.py", "--seed", "3", flag])
        cli.run_stage("demo", lambda: calls.append("main ran"))
        assert capsys.readouterr().out == "Stage `demo`: reads a, writes b.\n"
    assert calls == []


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("train.max_epochs = 0: Input should be greater than 0"),
        DataError("data/prepared/splits.npz is corrupt: run `dvc repro prepare`"),
        TrackingError("tracking URI ftp://x is not supported"),
        FileNotFoundError("metrics/train.json is missing: run `dvc repro train`"),
        ValueError("results/tune.json is corrupt: rerun `dvc repro tune`"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_known_error_is_one_line_naming_the_stage_and_exit_status_2(stage, error):
    def main():
        raise error

    assert stage(main) == (2, f"genlab demo: error: {error}")


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
    """An error the project does not know is not squashed into a line: it propagates."""
    from genlab import cli

    monkeypatch.setattr(sys, "argv", ["demo.py"])

    def main():
        raise KeyError("typo")

    with pytest.raises(KeyError, match="typo"):
        cli.run_stage("demo", main)
    assert "genlab demo" not in capsys.readouterr().err


def test_ctrl_c_exits_130_even_after_lightning_turned_it_into_exit_1(stage):
    import os
    import signal

    def plain():
        os.kill(os.getpid(), signal.SIGINT)

    def lightning():  # Lightning catches the KeyboardInterrupt and exits 1 after its shutdown
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            raise SystemExit(1) from None

    for main in (plain, lightning):
        assert stage(main) == (130, "genlab demo: interrupted; its MLflow runs are marked KILLED")


def test_an_exit_that_was_not_ctrl_c_keeps_its_status(monkeypatch):
    from genlab import cli

    monkeypatch.setattr(sys, "argv", ["demo.py"])
    with pytest.raises(SystemExit) as exit_:
        cli.run_stage("demo", lambda: sys.exit(3))
    assert exit_.value.code == 3


# ------------------------------------------------------------------ the stage process's GC
PROBE = """
import atexit, gc, sys
from genlab.cli import run_stage
atexit.register(lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 0))  # runs last
sys.argv = ["probe.py"]
run_stage("probe", lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 0))
"""


def test_a_stage_process_collects_young_objects_less_often_and_freezes_before_teardown():
    """What takes 1-3 s off each stage process (genlab.cli.run_stage): the young generation's
    threshold while the stage runs, and a heap frozen before the interpreter's teardown."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10000", "False", "10000", "True"]
