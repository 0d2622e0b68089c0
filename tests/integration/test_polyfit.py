"""Stage `polyfit` end to end: the session's tiny `dvc repro`, then its metrics, plots and
MLflow runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

# -------------------------------------------------------------------- the real stage


@pytest.fixture(scope="module")
def repo(reproduced) -> Path:
    assert "Running stage 'polyfit'" in reproduced.stdout and "polyfit: " in reproduced.stdout
    return reproduced.path


def _csv(path: Path) -> list[dict[str, str]]:
    head, *rows = path.read_text().splitlines()
    return [dict(zip(head.split(","), r.split(","), strict=True)) for r in rows]


@pytest.mark.slow
def test_stage_writes_the_table_figures_and_metrics(repo):
    ls, gd = _csv(repo / "plots/polyfit/ls.csv"), _csv(repo / "plots/polyfit/gd.csv")
    assert [r["degree"] for r in ls] == ["1", "2", "4", "20"] == [r["degree"] for r in gd]
    for a, b in zip(ls, gd, strict=True):
        assert b["status"] == "ok"
        # least squares is the exact minimiser of the training MSE
        assert float(a["train/loss"]) <= float(b["train/loss"]) * (1 + 1e-4)
    assert float(ls[-1]["test/loss"]) > float(ls[-1]["train/loss"])  # degree 20 overfits
    m = json.loads((repo / "results/polyfit.json").read_text())
    assert m["noise_var"] == pytest.approx(0.04)
    for method in ("ls", "gd"):
        table = ls if method == "ls" else gd
        finite = [r for r in table if math.isfinite(float(r["val/loss"]))]
        best = min(finite, key=lambda r: float(r["val/loss"]))  # selected on validation only
        assert m[method]["best_degree"] == int(best["degree"])
        assert m[method]["degree20/test/loss"] == pytest.approx(
            float(table[-1]["test/loss"]), rel=1e-4
        )
    for name in ("errors", "curves"):
        assert (repo / f"plots/polyfit/{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_mlflow_parent_with_one_child_per_degree(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/polyfit")
    runs = client.search_runs([exp.experiment_id])
    m = json.loads((repo / "results/polyfit.json").read_text())
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [m["mlflow_run_id"]]
    assert parents[0].data.params["polyfit.gd.max_epochs"] == "15"
    children = {r.data.tags["genlab.variant"]: r for r in runs if r not in parents}
    assert set(children) == {"degree1", "degree2", "degree4", "degree20"}
    child = children["degree4"]
    assert child.data.params["model.poly.degree"] == "4"
    assert child.info.run_name.startswith("degree4-")  # what differs first: MLflow cuts names
    assert all(k.startswith(("polyfit.", "data.poly.")) for k in parents[0].data.params)
    assert child.data.tags["mlflow.parentRunId"] == m["mlflow_run_id"]
    # both fits of a degree are stored for the `diagnosis` stage, with the degree's run; degree
    # 1 cannot follow sin(pi x): its training error is far above the noise floor (σ² baseline)
    from genlab.config import load_params
    from genlab.diagnosis import judge

    labels = {
        model["model"]: (model["run_id"], model["tag"], d.label, d.baseline_source)
        for model, d in judge(m["to_judge"], load_params(repo / "params.yaml").diagnosis)
    }
    one = children["degree1"].info.run_id
    assert labels["degree1-ls"] == (one, "genlab.diagnosis_ls", "underfit", "noise variance")
    assert labels["degree1-gd"][:2] == (one, "genlab.diagnosis")
    assert len(labels) == 2 * len(children)
    curve = client.get_metric_history(child.info.run_id, "train/loss")
    assert [c.step for c in curve] == list(range(15))  # per epoch, GD through Lightning
    assert {"ls/test/loss", "gd/test/loss", "gd/effective_params"} <= set(child.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(m["mlflow_run_id"])}
    assert {"errors.png", "curves.png"} <= artifacts

