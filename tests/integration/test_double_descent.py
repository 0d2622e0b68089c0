"""Stage `double_descent` end to end: `--help`, then the session's tiny `dvc repro`, its
outputs and MLflow runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, pipeline_raw

# -------------------------------------------------------------------- the real stage


@pytest.mark.slow
def test_stage_runs_under_dvc_writes_outputs_and_tracks_in_mlflow(reproduced, tmp_path):
    # --help describes the stage and does nothing
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/double_descent.py"), "--help"],
        cwd=empty,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "Stage `double_descent`" in proc.stdout
    assert list(empty.iterdir()) == []

    repo, out = reproduced.path, reproduced.stdout
    assert "Running stage 'double_descent'" in out
    assert "double_descent: MNIST-1D, 200 training signals" in out

    cfg = pipeline_raw()["double_descent"]
    results = json.loads((repo / "results/double_descent.json").read_text())
    assert not (repo / "metrics/double_descent.json").exists()  # results only: a study
    assert results["seeds"] == 3 and isinstance(results["second_descent"], bool)
    assert [r["width"] for r in results["widths"]] == cfg["widths"]
    assert results["label_noise_measured"] == pytest.approx(cfg["label_noise"])
    assert results["second_descent"] == (": a second descent," in results["sentence"])
    width_csv = (repo / "plots/double_descent/width.csv").read_text().splitlines()
    assert len(width_csv) == 1 + len(cfg["widths"])
    assert width_csv[0].startswith("width,n_params,train/error/mean,train/error/std")
    epochs_csv = (repo / "plots/double_descent/epochs.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in epochs_csv[1:]] == ["1", "2", "4"]
    seeds_csv = (repo / "plots/double_descent/seeds.csv").read_text().splitlines()
    assert len(seeds_csv) == 1 + 3 * len(cfg["widths"])
    for name in ("width", "epochs"):
        assert (repo / f"plots/double_descent/{name}.png").stat().st_size > 10_000

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/double_descent")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [results["mlflow_run_id"]]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["genlab.stage"] == "double_descent"
    assert parent.data.tags["genlab.dataset"] == "mnist1d"
    assert all(k.startswith(("double_descent.", "data.mnist1d.")) for k in parent.data.params)
    assert parent.data.metrics["second_descent"] == float(results["second_descent"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(c.data.params["width"]) for c in children) == cfg["widths"]
    assert all(c.info.status == "FINISHED" for c in children)
    widest = next(c for c in children if c.data.tags["genlab.variant"] == "width32")
    history = client.get_metric_history(widest.info.run_id, "test/error/mean")
    assert [m.step for m in history] == [1, 2, 4]  # the epoch curve, as steps
    row = next(r for r in results["widths"] if r["width"] == 32)
    assert history[-1].value == pytest.approx(row["test/error/mean"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"width.png", "epochs.png"} <= artifacts
