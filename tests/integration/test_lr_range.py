"""Stage `lr_range` end to end: the session's tiny `dvc repro`, then its metrics, plots and
MLflow runs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from genlab.stages.lr_range import batch_size_finder as bsf
from tests.conftest import tiny_raw

# ---------------------------------------------------------------------- integration


@pytest.fixture(scope="module")
def repo(reproduced) -> Path:
    assert "Running stage 'lr_range'" in reproduced.stdout
    return reproduced.path


@pytest.mark.slow
def test_metrics_report_slope_spread_training_and_gpu_search(repo):
    m = json.loads((repo / "results/lr_range.json").read_text())
    sc = m["scaling"]
    assert sc["n_points"] == 4 and math.isfinite(sc["slope"]) and math.isfinite(sc["slope_stderr"])
    assert set(m["suggested_lr"]) == {"8", "32"}
    for s in m["suggested_lr"].values():
        assert s["min"] <= s["median"] <= s["max"] and s["n_seeds"] == 2
    assert m["weights_restored"] is True
    for b in ("8", "32"):
        fixed, sugg = m["training"][b]["fixed"], m["training"][b]["suggested"]
        assert fixed["lr"] == tiny_raw()["lr_range"]["fixed_lr"]
        assert sugg["lr"] == pytest.approx(m["suggested_lr"][b]["median"])
        assert {"val/loss", "test/loss", "status"} <= fixed.keys()
    assert set(m["answer"]["suggested_beats_fixed"]) == {"8", "32"}
    mbs = m["max_batch_size"]
    if torch.cuda.is_available():
        assert mbs["status"] == "ok" and mbs["max_batch_size"] >= 64
    else:
        assert mbs == {"status": "skipped", "reason": bsf.NO_GPU}


@pytest.mark.slow
def test_plots_and_figure(repo):
    with open(repo / "plots/lr_range/suggestions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({int(r["batch_size"]) for r in rows}) == [8, 32] and len(rows) == 4
    with open(repo / "plots/lr_range/range_test_bs8.csv", newline="") as f:
        curve = list(csv.DictReader(f))
    lrs = [float(r["lr"]) for r in curve]
    assert lrs == sorted(lrs) and len(lrs) > 12
    with open(repo / "plots/lr_range/training.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (repo / "plots/lr_range/lr_range.png").stat().st_size > 10_000


@pytest.mark.slow
def test_mlflow_parent_with_fit_and_one_child_per_training(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/lr_range")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    m = json.loads((repo / "results/lr_range.json").read_text())
    assert parent[0].data.metrics["scaling/slope"] == pytest.approx(m["scaling"]["slope"])
    assert "lr_range.png" in {a.path for a in client.list_artifacts(parent[0].info.run_id)}
    variants = sorted(r.data.tags["genlab.variant"] for r in children)
    assert variants == ["bs32-fixed", "bs32-suggested", "bs8-fixed", "bs8-suggested"]
    assert len({frozenset(r.data.metrics) for r in children}) == 1
    for r in children:
        assert r.data.params["lr_range.batch_size"] == r.data.params["train.optimizer.batch_size"]
        lr = float(r.data.params["train.optimizer.lr"])
        assert r.info.run_name == f"{r.data.tags['genlab.variant']}-lr{lr:.3g}"
        assert len(client.get_metric_history(r.info.run_id, "val/loss")) == 2
    # each training is stored for the `diagnosis` stage with its run, which it labels later
    judged = {j["model"]: j["run_id"] for j in m["to_judge"]["models"]}
    assert judged == {r.data.tags["genlab.variant"]: r.info.run_id for r in children}
