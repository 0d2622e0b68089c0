"""Stages `train` and `train_best` (genlab.stages.train, genlab.stages.train_best): what they
do before the fit, each on a fresh interpreter (and `prepare` run once for its data). The fit
itself: tests/integration/test_train.py."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, fresh_store, tiny_raw

pytestmark = pytest.mark.slow

# Runs the stage's own study contract on a fresh interpreter, then says what it imported.
PROBE = """
import sys
from argparse import Namespace
from genlab import study
from genlab.cli import EXPECTED
from genlab.config import load_params
import genlab.stages.{stage} as stage
try:
    study.run(stage, load_params(), Namespace(**{paths}))
except EXPECTED as err:  # what `cli.run_stage` turns into one line
    print(type(err).__name__, err)
print("lightning" in sys.modules)
"""


def _probe(tmp_path, stage: str, paths: dict, env: dict | None = None) -> list[str]:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_raw()))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(stage=stage, paths=paths)], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


def test_bad_input_a_store_that_is_down_or_a_skipped_model_never_import_lightning(
    tmp_path, empty_store
):
    """Lightning (about 5 s of imports) is paid only to fit: bad input, a tracking server that
    is down or a `--model` that cannot train on the data ends the stage in about a second."""
    paths = {"data": str(tmp_path / "none"), "out": "models", "history": "h.csv",
             "stage": "train", "model": None}
    error, imported = _probe(tmp_path, "train", paths)
    assert error.startswith("DataError") and "dvc repro prepare" in error
    assert imported == "False"
    shutil.copy(ROOT / "dvc.yaml", tmp_path)  # prepare's paths, as dvc.yaml gives them
    subprocess.run([sys.executable, str(ROOT / "pipelines/prepare.py")], cwd=tmp_path,
                   check=True, capture_output=True, timeout=120)
    paths["data"] = "data/prepared"
    down = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    error, imported = _probe(tmp_path, "train", paths, env=down)
    assert error.startswith("TrackingError") and "unreachable" in error
    assert imported == "False"
    # the CNN on the 2-D gaussians (tiny_raw's data): recorded as skipped, nothing fitted
    cnn = {**paths, "stage": "train_cnn", "model": "cnn1d", "out": "models_cnn"}
    store = {"MLFLOW_TRACKING_URI": fresh_store(empty_store, tmp_path)}
    line, imported = _probe(tmp_path, "train", cnn, env=store)
    assert line.startswith("train_cnn: skipped:") and "needs 1-D signals" in line
    assert imported == "False"


def test_a_missing_best_configuration_fails_before_lightning(tmp_path):
    paths = {"best": str(tmp_path / "best_params.yaml"), "out": "tuned"}
    error, imported = _probe(tmp_path, "train_best", paths)
    assert error.startswith("FileNotFoundError") and "dvc repro tune" in error
    assert imported == "False"
