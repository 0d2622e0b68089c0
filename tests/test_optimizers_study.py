"""Study `optimizers`: the curve and noise arithmetic by hand, then the real `dvc repro`.

The integration fixture runs `dvc repro optimizers` on tiny params in a copy of the repository
and checks what a reader relies on: one table row and one curve per variant with the four
clocks, the lecture's claims with their numbers, and the MLflow parent run with one child run
per variant that share metric names.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from genlab.config import ConfigError, parse_params
from genlab.experiments import optimizers as study
from genlab.experiments.gd_base import study_splits
from tests.conftest import tiny_raw
from tests.repo_copy import make_repo_copy, sh, write_params

# ----------------------------------------------------------------------------- unit


def test_curve_noise_by_hand():
    # changes: -1, +0.5, -1.5, 0  -> one increase in four; std (ddof 1) of the changes
    out = study.curve_noise([3.0, 2.0, 2.5, 1.0, 1.0])
    assert out["train_loss_increase_frac"] == pytest.approx(0.25)
    mean = (-1 + 0.5 - 1.5 + 0) / 4
    var = sum((d - mean) ** 2 for d in (-1, 0.5, -1.5, 0)) / 3
    assert out["train_loss_delta_std"] == pytest.approx(math.sqrt(var))


def test_curve_noise_monotone_and_diverged():
    assert study.curve_noise([3.0, 2.0, 1.0])["train_loss_increase_frac"] == 0.0
    # non-finite epochs (a diverged run) are left out, not propagated
    out = study.curve_noise([3.0, 2.0, float("nan"), float("inf")])
    assert out["train_loss_increase_frac"] == 0.0
    assert math.isnan(out["train_loss_delta_std"])  # one change: no spread


def test_curve_rows_carry_the_four_clocks():
    history = [
        {"epoch": 0.0, "updates": 40.0, "time_s": 0.5, "train/loss": 1.0},
        {"epoch": 1.0, "updates": 80.0, "time_s": 0.9, "train/loss": 0.5},
    ]
    rows = study.curve(history, samples_per_epoch=1257)
    assert [r["epochs"] for r in rows] == [1, 2]
    assert [r["updates"] for r in rows] == [40, 80]
    assert [r["samples_seen"] for r in rows] == [1257, 2514]
    assert [r["time_s"] for r in rows] == [0.5, 0.9]


def test_samples_per_epoch_counts_what_the_loader_feeds(tiny_params):
    splits = study_splits(study.base_params(tiny_params))
    n = len(splits.x_train)
    assert study.samples_per_epoch(splits, 1) == n
    assert study.samples_per_epoch(splits, n) == n
    # a trailing batch of one sample is dropped (batch norm safety), so n % B == 1 loses one
    b = n - 1
    assert study.samples_per_epoch(splits, b) == n - 1


def test_noise_scale(tiny_params):
    p = study.build_variants(tiny_params, study_splits(study.base_params(tiny_params)))
    by = {v.name: v for v in p}
    assert study.noise_scale(by["sgd"].params, 1) == pytest.approx(
        by["sgd"].params.train.optimizer.lr
    )
    mom = by["momentum"].params.train.optimizer
    assert study.noise_scale(by["momentum"].params, 16) == pytest.approx(
        mom.lr / ((1 - mom.momentum) * 16)
    )
    assert math.isnan(study.noise_scale(by["adam"].params, 16))


def test_variants_share_everything_but_the_update_rule(tiny_params):
    splits = study_splits(study.base_params(tiny_params))
    variants = study.build_variants(tiny_params, splits)
    assert [v.name for v in variants] == list(tiny_params.optimizers.variants)
    n = len(splits.x_train)
    assert {v.name: v.batch_size for v in variants} == {
        "gd": n,
        "sgd": 1,
        "minibatch": 16,
        "momentum": 16,
        "adam": 16,
    }
    dumps = []
    for v in variants:
        assert v.params.train.optimizer.lr == tiny_params.optimizers.variants[v.name]
        d = v.params.model_dump()
        d["train"]["optimizer"].update(name=None, lr=None)
        dumps.append(d)
    assert all(d == dumps[0] for d in dumps)  # same data, model, seed, epochs, no penalty
    assert dumps[0]["train"]["early_stopping"]["enabled"] is False
    assert dumps[0]["train"]["regularization"] == {
        "l2": 0.0,
        "weight_decay": 0.0,
        "l1": 0.0,
        "penalize_bias_and_norm": False,
    }


def test_gradient_noise_is_zero_for_gd_and_shrinks_with_batch_size(tiny_params):
    p = study.base_params(tiny_params)
    splits = study_splits(p)
    n = len(splits.x_train)
    g1, g8, g_all = (study.gradient_noise(p, splits, b) for b in (1, 8, n))
    assert g_all == 0.0
    assert g1 > g8 > 0
    # E‖g_B − g‖² = tr(Σ)/B · (N−B)/(N−1): the ratio is about 8·(N−1)/(N−8) up to sampling
    assert 0.4 < (g1 / g8) / (8 * (n - 1) / (n - 8)) < 2.5


def _summary(loss, frac, s_per_epoch, gnoise, status="ok"):
    return {
        "status": status,
        "updates_per_epoch": 1,
        "train/loss": loss,
        "train_loss_increase_frac": frac,
        "train_loss_delta_std": 0.1,
        "s_per_epoch": s_per_epoch,
        "gradient_noise": gnoise,
        "noise_scale": 0.01,
    }


def test_claims_hold_and_fail_on_the_numbers():
    s = {
        "gd": _summary(1.5, 0.0, 0.01, 0.0),
        "sgd": _summary(0.1, 0.2, 1.0, 80.0),
        "minibatch": _summary(0.05, 0.1, 0.05, 2.0),
    }
    c = study.lecture_claims(s)
    assert c["gd_highest_train_loss_at_equal_epochs"] is True
    assert c["update_noise_sgd_gt_minibatch_gt_gd"] is True
    assert c["curve_goes_up_more_often_sgd_ge_minibatch_ge_gd"] is True
    assert c["sgd_slowest_per_epoch_wallclock"] is True
    assert c["gd_fastest_per_epoch_wallclock"] is True
    s["minibatch"] = _summary(0.05, 0.3, 2.0, 2.0)  # mini-batch curve noisier, and slower
    c = study.lecture_claims(s)
    assert c["curve_goes_up_more_often_sgd_ge_minibatch_ge_gd"] is False
    assert c["sgd_slowest_per_epoch_wallclock"] is False
    s["gd"] = _summary(float("nan"), 0.0, 0.01, 0.0, status="diverged")
    c = study.lecture_claims(s)  # a diverged GD makes no claim about its loss
    assert "gd_highest_train_loss_at_equal_epochs" not in c


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("variants", {"rmsprop": 0.1}, "optimizers.variants.rmsprop"),
        ("variants", {"sgd": 0}, "optimizers.variants.sgd = 0"),
        ("variants", {}, "optimizers.variants"),
        ("batch_size", 1, "optimizers.batch_size = 1"),
        ("dataset", "poly", "optimizers.dataset = 'poly'"),
    ],
)
def test_bad_optimizers_params_name_the_key(key, value, expected):
    raw = tiny_raw()
    raw["optimizers"][key] = value
    with pytest.raises(ConfigError) as err:
        parse_params(raw, "params.yaml")
    assert expected in str(err.value)


# ---------------------------------------------------------------------- integration


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    dst = make_repo_copy(tmp_path_factory.mktemp("repo"), tiny_raw())
    out = sh(["dvc", "repro", "optimizers"], dst)
    assert "Running stage 'optimizers'" in out.stdout
    assert "Running stage 'prepare'" not in out.stdout  # the study makes its own data
    return dst


@pytest.mark.slow
def test_metrics_table_and_claims(repo):
    m = json.loads((repo / "results/optimizers.json").read_text())
    names = list(tiny_raw()["optimizers"]["variants"])
    assert list(m["variants"]) == names
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
        assert v["status"] == "ok"
        assert v["epochs"] == 3 and v["updates"] == 3 * v["updates_per_epoch"]
        assert v["gap/loss"] == pytest.approx(v["test/loss"] - v["train/loss"], abs=1e-9)
    assert m["claims"]["update_noise_sgd_gt_minibatch_gt_gd"] is True
    assert m["claims"]["updates_per_epoch"] == upe
    with open(repo / "plots/optimizers/summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == names


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
    assert sorted(r.data.tags["genlab.variant"] for r in children) == sorted(
        tiny_raw()["optimizers"]["variants"]
    )
    assert len({frozenset(r.data.metrics) for r in children}) == 1  # same names side by side
    # each variant is stored for the `diagnosis` stage with its run, which it labels later
    judged = json.loads((repo / "results/optimizers.json").read_text())["to_judge"]["models"]
    assert {j["model"]: j["run_id"] for j in judged} == {
        r.data.tags["genlab.variant"]: r.info.run_id for r in children
    }
    for r in children:
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert r.data.tags["genlab.stage"] == "optimizers"
        assert r.data.params["train.optimizer.name"] == r.data.tags["genlab.variant"]
        variant = r.data.tags["genlab.variant"]  # what differs first: MLflow cuts long names
        lr = tiny_raw()["optimizers"]["variants"][variant]
        assert r.info.run_name == f"{variant}-lr{lr:.3g}"
        assert "final/test/loss" in r.data.metrics and "noise/gradient_noise" in r.data.metrics
        curve = client.get_metric_history(r.info.run_id, "train/loss")
        assert [m.step for m in curve] == [0, 1, 2]
        seen = client.get_metric_history(r.info.run_id, "samples_seen")
        assert len(seen) == 3


@pytest.mark.slow
def test_bad_param_fails_before_work(repo):
    before = (repo / "results/optimizers.json").read_bytes()
    raw = tiny_raw()
    raw["optimizers"]["variants"] = {"sgd": -1}
    write_params(repo, raw)
    try:
        proc = sh(["python", "pipelines/optimizers.py"], repo, check=False)
    finally:
        write_params(repo, tiny_raw())
    assert proc.returncode == 2
    assert "optimizers.variants.sgd = -1" in proc.stderr and "Traceback" not in proc.stderr
    assert (repo / "results/optimizers.json").read_bytes() == before


@pytest.mark.slow
def test_second_repro_does_nothing(repo):
    out = sh(["dvc", "repro", "optimizers"], repo).stdout
    assert "Running stage" not in out
