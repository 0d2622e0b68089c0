"""Stage `regularization` end to end: the session's tiny `dvc repro` (MNIST-1D, 2 seeds), then
its table, figures and MLflow runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest


# --------------------------------------------------------------------------- integration
@pytest.fixture(scope="module")
def repo(reproduced) -> Path:
    """The shared tiny pipeline (MNIST-1D, so the shift augmentation runs; 2 seeds)."""
    out = reproduced.stdout
    assert "Running stage 'regularization'" in out
    assert "regularization: 12 variants x 2 seeds on 80 training samples" in out
    return reproduced.path


def _client(repo: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


@pytest.mark.slow
def test_metrics_table_and_figures(repo):
    metrics = json.loads((repo / "results/regularization.json").read_text())
    variants = metrics["variants"]
    assert metrics["n_train"] == 80
    assert list(variants) == [
        "none",
        "l2",
        "weight_decay",
        "l1",
        "dropout",
        "dropconnect",
        "early_stopping",
        "augmentation",
        "batch_norm",
        "layer_norm",
        "group_norm",
        "combined",
    ]
    for name, v in variants.items():
        assert v["status"] == "ok" and "diagnosis" not in v, name  # the `diagnosis` stage's
        assert v["seeds"] == v["seeds_ok"] == 2 and v["test/loss_std"] >= 0, name
        assert v["gap/loss"] == pytest.approx(v["test/loss"] - v["train/loss"])
        assert 1 <= v["epochs_to_best"] <= v["epochs_run"] <= 4
        assert 0.0 <= v["near_zero"] <= 1.0
    assert variants["none"]["epochs_run"] == 4 and variants["none"]["reported_epoch"] == 3
    es = variants["early_stopping"]  # reports the best-val epoch it would restore
    assert es["reported_epoch"] == pytest.approx(es["epochs_to_best"] - 1)  # means over seeds
    with open(repo / "plots/regularization/summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == list(variants)
    verdicts = {"holds", "test only", "train only", "neither", "seeds disagree"}
    assert {r["claim_loss"] for r in table[1:]} <= verdicts
    with open(repo / "plots/regularization/seeds.csv", newline="") as f:
        per_seed = list(csv.DictReader(f))
    assert len(per_seed) == 24 and {r["seed"] for r in per_seed} == {"42", "43"}
    for png in ("curves.png", "summary.png"):
        assert (repo / "plots/regularization" / png).stat().st_size > 10_000


@pytest.mark.slow
def test_mlflow_parent_and_one_child_per_variant(repo):
    client = _client(repo)
    exp = client.get_experiment_by_name("genlab/regularization")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 24 and len(runs) == 25  # a child per variant and seed
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "curves.png",
        "summary.png",
        "summary.csv",
    }
    with open(repo / "plots/regularization/seeds.csv", newline="") as f:
        per_seed = {(r["variant"], int(r["seed"])): r for r in csv.DictReader(f)}
    labels = json.loads((repo / "results/diagnosis.json").read_text())["stages"]
    label = {r["model"]: r["label"] for r in labels["regularization"] if r["measure"] == "error"}
    for child in children:
        name = child.data.tags["genlab.variant"]
        assert child.info.status == "FINISHED"
        assert child.data.tags["genlab.stage"] == "regularization"
        seed = int(child.data.tags["genlab.seed"])
        # the label comes from the `diagnosis` stage, from the numbers this stage stored
        assert child.data.tags["genlab.diagnosis"] == label[f"{name}-s{seed}"]
        assert child.data.params["variant"] == name and child.info.run_name == f"{name}-s{seed}"
        note = child.data.tags["mlflow.note.content"]  # what it adds, then what final/* means
        assert note.startswith(child.data.params["regularizers"]) and "`final/*`" in note
        assert not [k for k in child.data.params if k.startswith(("data.poly.", "tune."))]
        row = per_seed[(name, seed)]
        assert child.data.metrics["final/test/loss"] == pytest.approx(float(row["test/loss"]), 1e-5)
        curve = client.get_metric_history(child.info.run_id, "train/loss")
        assert len(curve) == int(row["epochs_run"])
    first = [c for c in children if c.data.tags["genlab.seed"] == "42"]
    by_name = {c.data.tags["genlab.variant"]: c for c in first}
    assert by_name["weight_decay"].data.params["train.optimizer.name"] == "adamw"
    assert by_name["augmentation"].data.params["augmentation.kind"] == "signal"
    assert float(by_name["l1"].data.params["train.regularization.l1"]) > 0
    judged = json.loads((repo / "results/regularization.json").read_text())["to_judge"]
    assert {m["model"]: m["run_id"] for m in judged["models"]} == {
        f"{c.data.tags['genlab.variant']}-s{c.data.tags['genlab.seed']}": c.info.run_id
        for c in children
    }
