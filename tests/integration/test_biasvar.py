"""Stage `biasvar` end to end: the session's tiny `dvc repro`, then its metrics, plots and
MLflow runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# -------------------------------------------------------------------- the real stage


@pytest.fixture(scope="module")
def repo(reproduced) -> Path:
    assert "Running stage 'biasvar'" in reproduced.stdout
    return reproduced.path


@pytest.mark.slow
def test_stage_writes_metrics_and_plots(repo):
    m = json.loads((repo / "results/biasvar.json").read_text())
    assert m["draws"] == 12
    for task, sweeps in (
        ("regression", ("degree", "width", "epochs")),
        ("classification", ("width", "epochs")),
    ):
        for sweep in sweeps:
            block = m[task][sweep]
            assert block["identity/max_abs_z"] < 5, (task, sweep, block)
            assert "shortcut/gap_over_variance/median" in block
            rows = (repo / f"plots/biasvar/{task}_{sweep}.csv").read_text().splitlines()
            assert len(rows) == 1 + block["levels"]
            assert rows[0].startswith(f"{sweep},bias")
    assert 0 < m["classification"]["bayes_error"] < 0.5
    degree = (repo / "plots/biasvar/regression_degree.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in degree[1:]] == ["0", "3", "8"]
    for name in ("regression", "classification", "shortcut"):
        assert (repo / f"plots/biasvar/{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_mlflow_parent_and_one_child_per_level(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/biasvar")
    runs = client.search_runs([exp.experiment_id])
    m = json.loads((repo / "results/biasvar.json").read_text())
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [m["mlflow_run_id"]]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["mlflow_run_id"]]
    # regression: 3 degrees + 2 widths + 2 epochs; classification: 2 widths + 2 epochs
    assert len(children) == 11
    child = next(c for c in children if c.data.tags["genlab.variant"] == "regression-degree3")
    assert child.data.params["degree"] == "3" and child.data.tags["genlab.stage"] == "biasvar"
    assert child.info.run_name.startswith("regression-degree3-")  # what differs first
    applies = ("biasvar.", "data.poly.", "data.gaussians.")  # the data it draws, its section
    assert all(k.startswith(applies) for k in parents[0].data.params)
    for key in ("bias2", "variance", "noise", "expected_error", "sum", "mc_stderr", "train/loss"):
        assert key in child.data.metrics
    assert child.data.metrics["sum"] == pytest.approx(
        sum(child.data.metrics[k] for k in ("bias2", "variance", "noise")), rel=1e-6
    )
    artifacts = {a.path for a in client.list_artifacts(m["mlflow_run_id"])}
    assert {"regression.png", "classification.png", "shortcut.png"} <= artifacts

