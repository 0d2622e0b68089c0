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
