"""Stage `optimizers` end to end, on the session's tiny `dvc repro` (2 seeds): what a reader
relies on: one table row per variant with means and spreads over the seeds, one curve per
variant with the four clocks, the lecture's claims decided seed by seed, and the MLflow parent
run with one child run per variant and seed that share metric names.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from genlab.stages import optimizers as study
from genlab.tracking import NOT_FINITE_TAG
from tests.conftest import copy_of, tiny_raw
from tests.repo_copy import sh, write_params

# ---------------------------------------------------------------------- integration


@pytest.fixture(scope="module")
def repo(reproduced) -> Path:
    assert "Running stage 'optimizers'" in reproduced.stdout
    stage = yaml.safe_load((reproduced.path / "dvc.yaml").read_text())["stages"]["optimizers"]
    assert not any(d.startswith("data/") for d in stage["deps"])  # the study makes its own data
    return reproduced.path


SEEDS = tiny_raw()["optimizers"]["seeds"]  # 2: the tiny run still has a spread


@pytest.mark.slow
def test_metrics_table_and_claims(repo):
    m = json.loads((repo / "results/optimizers.json").read_text())
    names = list(tiny_raw()["optimizers"]["variants"])
    assert list(m["variants"]) == names
    assert m["seeds"] == [m["seed"] + i for i in range(SEEDS)] and m["seed"] == tiny_raw()["seed"]
    n = m["n_train"]
    upe = {k: v["updates_per_epoch"] for k, v in m["variants"].items()}
    assert upe == {
        "gd": 1,
        "sgd": n,
        "minibatch": -(-n // 16),
        "momentum": -(-n // 16),
        "adam": -(-n // 16),
    }
    for v in m["variants"].values():
        assert v["status"] == "ok" and v["seeds"] == SEEDS and v["seeds_ok"] == SEEDS
        assert v["epochs"] == 3 and v["updates"] == 3 * v["updates_per_epoch"]
        # means over seeds: the mean gap is the gap of the means
        assert v["gap/loss"] == pytest.approx(v["test/loss"] - v["train/loss"], abs=1e-9)
        for key in ("train/loss", "test/loss", "test/acc", "s_per_epoch", "gap/loss"):
            assert v[f"{key}_std"] >= 0, key  # two seeds: a finite sample std
    assert m["variants"]["sgd"]["train/loss_std"] > 0  # the seeds really differ
    # every claim is decided seed by seed
    claim = m["claims"]["update_noise_sgd_gt_minibatch_gt_gd"]
    assert claim == {"holds": True, "seeds_holding": SEEDS, "seeds": SEEDS}
    for name in study.CLAIMS:
        c = m["claims"][name]
        assert c["seeds"] == SEEDS and c["holds"] in (True, False, None)
        assert c["holds"] is (None if 0 < c["seeds_holding"] < SEEDS else c["seeds_holding"] > 0)
    assert m["claims"]["updates_per_epoch"] == upe
    with open(repo / "plots/optimizers/summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == names
    assert {"test/loss", "test/loss_std", "s_per_epoch_std", "seeds"} <= table[0].keys()
    with open(repo / "plots/optimizers/seeds.csv", newline="") as f:
        per_seed = list(csv.DictReader(f))
    assert [(r["variant"], int(r["seed"])) for r in per_seed] == [
        (name, seed) for name in names for seed in m["seeds"]
    ]
    sgd = [float(r["test/loss"]) for r in per_seed if r["variant"] == "sgd"]
    assert m["variants"]["sgd"]["test/loss"] == pytest.approx(sum(sgd) / len(sgd))


@pytest.mark.slow
def test_curves_and_figure(repo):
    for name in tiny_raw()["optimizers"]["variants"]:
        with open(repo / f"plots/optimizers/curve_{name}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 3
        assert {"epoch", "updates", "samples_seen", "time_s", "train/loss"} <= rows[0].keys()
        times = [float(r["time_s"]) for r in rows]
        assert times == sorted(times) and times[0] > 0
    assert (repo / "plots/optimizers/optimizers.png").stat().st_size > 10_000
    # one curve per variant: the first seed's (the report's figure draws it)
    m = json.loads((repo / "results/optimizers.json").read_text())
    judged = {j["model"]: j for j in m["to_judge"]["models"]}
    with open(repo / "plots/optimizers/curve_sgd.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert float(last["test/loss"]) == pytest.approx(judged[f"sgd-s{m['seed']}"]["test/loss"])
    shown = sh(["dvc", "plots", "show", "--json"], repo).stdout
    assert "curve_sgd.csv" in shown


@pytest.mark.slow
def test_mlflow_parent_and_one_child_per_variant(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/optimizers")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "optimizers.png",
        "summary.csv",
    }
    variants = tiny_raw()["optimizers"]["variants"]
    seeds = json.loads((repo / "results/optimizers.json").read_text())["seeds"]
    assert sorted(
        (r.data.tags["genlab.variant"], int(r.data.tags["genlab.seed"])) for r in children
    ) == sorted((v, s) for v in variants for s in seeds)
    # same names side by side: a value that is not finite (Adam's noise scale) is named in the
    # run's `genlab.not_finite` tag instead of being logged (genlab.tracking.finite_metrics)
    undefined = {r.info.run_id: r.data.tags.get(NOT_FINITE_TAG, "").split(",") for r in children}
    names = {frozenset(r.data.metrics) | {*filter(None, undefined[r.info.run_id])}
             for r in children}
    assert len(names) == 1
    adam = [r for r in children if r.data.tags["genlab.variant"] == "adam"]
    for r in adam:  # Adam's noise scale is undefined: named, not logged as NaN
        assert "noise/noise_scale" not in r.data.metrics
        assert "noise/noise_scale" in r.data.tags[NOT_FINITE_TAG].split(",")
    # each (variant, seed) is stored for the `diagnosis` stage with its run, which it labels later
    judged = json.loads((repo / "results/optimizers.json").read_text())["to_judge"]["models"]
    assert {j["model"]: j["run_id"] for j in judged} == {
        f"{r.data.tags['genlab.variant']}-s{r.data.tags['genlab.seed']}": r.info.run_id
        for r in children
    }
    for r in children:
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert r.data.tags["genlab.stage"] == "optimizers"
        assert r.data.params["train.optimizer.name"] == r.data.tags["genlab.variant"]
        assert r.data.params["seed"] == r.data.tags["genlab.seed"]
        variant, seed = r.data.tags["genlab.variant"], r.data.tags["genlab.seed"]
        lr = variants[variant]  # what differs first: MLflow cuts long names
        assert r.info.run_name == f"{variant}-s{seed}-lr{lr:.3g}"
        assert "final/test/loss" in r.data.metrics and "noise/gradient_noise" in r.data.metrics
        curve = client.get_metric_history(r.info.run_id, "train/loss")
        assert [m.step for m in curve] == [0, 1, 2]
        seen = client.get_metric_history(r.info.run_id, "samples_seen")
        assert len(seen) == 3
    # the parent carries each variant's mean over its seeds, and the spread
    sgd = [
        r.data.metrics["final/test/loss"]
        for r in children
        if r.data.tags["genlab.variant"] == "sgd"
    ]
    assert parent.data.metrics["sgd/final/test/loss"] == pytest.approx(sum(sgd) / len(sgd))
    assert parent.data.metrics["sgd/final/test/loss_std"] >= 0


@pytest.mark.slow
def test_bad_param_fails_before_work(reproduced, tmp_path):
    repo = copy_of(reproduced.path, tmp_path / "repo")  # others read the shared one meanwhile
    before = (repo / "results/optimizers.json").read_bytes()
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["optimizers"]["variants"] = {"sgd": -1}
    write_params(repo, raw)
    proc = sh(["python", "pipelines/optimizers.py"], repo, check=False)
    assert proc.returncode == 2
    assert "optimizers.variants.sgd = -1" in proc.stderr and "Traceback" not in proc.stderr
    assert (repo / "results/optimizers.json").read_bytes() == before

