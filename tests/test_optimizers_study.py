"""Study `optimizers`: the curve and noise arithmetic by hand, then the real `dvc repro`.

The integration fixture runs `dvc repro optimizers` on tiny params (2 seeds) in a copy of the
repository and checks what a reader relies on: one table row per variant with means and spreads
over the seeds, one curve per variant with the four clocks, the lecture's claims decided seed by
seed, and the MLflow parent run with one child run per variant and seed that share metric names.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from genlab.config import ConfigError, parse_params
from genlab.experiments import optimizers as study
from genlab.experiments.gd_base import study_splits
from genlab.tracking import NOT_FINITE_TAG
from tests.conftest import tiny_raw
from tests.repo_copy import sh, write_params

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


def _seed_row(seed, loss, status="ok", s_per_epoch=0.1):
    return {
        "variant": "sgd",
        "seed": seed,
        "lr": 0.01,
        "batch_size": 1,
        "status": status,
        "epochs": 3,
        "updates_per_epoch": 120,
        "updates": 360,
        "samples_seen": 360,
        "time_s": 3 * s_per_epoch,
        "s_per_epoch": s_per_epoch,
        **{k: loss for k in study.FINAL_KEYS},
        "gradient_noise": 5.0,
        "noise_scale": 0.01,
        "train_loss_delta_std": 0.1,
        "train_loss_increase_frac": 0.5,
    }


def test_aggregate_reports_mean_and_sample_std_over_ok_seeds():
    row = study.aggregate([_seed_row(42, 1.0), _seed_row(43, 2.0), _seed_row(44, 4.0)])
    assert row["seeds"] == 3 and row["seeds_ok"] == 3 and row["status"] == "ok"
    assert row["test/loss"] == pytest.approx(7 / 3)
    var = ((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2  # ddof 1
    assert row["test/loss_std"] == pytest.approx(math.sqrt(var))
    assert {f"{k}_std" for k in study.SPREAD_KEYS} <= row.keys()
    assert row["updates"] == 360 and row["noise_scale"] == 0.01
    # a diverged seed's NaN does not poison the mean, and the row says it is not all ok
    row = study.aggregate([_seed_row(42, 1.0), _seed_row(43, math.nan, "diverged")])
    assert row["status"] == "diverged" and row["seeds_ok"] == 1 and row["seeds"] == 2
    assert row["test/loss"] == 1.0 and math.isnan(row["test/loss_std"])
    # nor does a diverged seed with finite but meaningless numbers: only ok seeds count
    row = study.aggregate([_seed_row(42, 1.0), _seed_row(43, 1e9, "diverged"), _seed_row(44, 3.0)])
    assert row["test/loss"] == pytest.approx(2.0) and row["seeds_ok"] == 2
    # one seed: a mean, and no spread
    row = study.aggregate([_seed_row(42, 1.0)])
    assert row["test/loss"] == 1.0 and math.isnan(row["test/loss_std"]) and row["seeds"] == 1


def test_claims_over_seeds_decide_each_claim_per_seed():
    def seed(gd_loss):
        return {
            "gd": _summary(gd_loss, 0.0, 0.01, 0.0),
            "sgd": _summary(0.1, 0.2, 1.0, 80.0),
            "minibatch": _summary(0.05, 0.1, 0.05, 2.0),
        }

    per_seed = [study.lecture_claims(seed(x)) for x in (1.5, 0.01, 1.2)]  # seed 2: GD lowest
    means = {k: {**v, "train/loss": 0.0} for k, v in seed(1.0).items()}
    c = study.claims_over_seeds(per_seed, means)
    assert c["gd_highest_train_loss_at_equal_epochs"] == {
        "holds": None,
        "seeds_holding": 2,
        "seeds": 3,
    }
    assert c["update_noise_sgd_gt_minibatch_gt_gd"]["holds"] is True
    assert c["final_train_loss"] == {"gd": 0.0, "sgd": 0.0, "minibatch": 0.0}  # the means
    assert "sgd" in c["gradient_noise"]


def test_seeds_start_at_params_seed_and_keep_the_data(tiny_params):
    seeds = study.seed_list(tiny_params)
    assert seeds == [tiny_params.seed + i for i in range(tiny_params.optimizers.seeds)]
    splits = study_splits(study.base_params(tiny_params))
    a, b = (study.build_variants(tiny_params, splits, s) for s in seeds[:2])
    assert [v.seed for v in a] == [seeds[0]] * len(a) and [v.seed for v in b] == [seeds[1]] * len(b)
    assert study.build_variants(tiny_params, splits)[0].params == a[0].params  # own seed first
    # the seed drives init (and so the noise measured there); the data is params' own
    assert study.gradient_noise(a[1].params, splits, 1) != study.gradient_noise(
        b[1].params, splits, 1
    )


def test_report_states_each_claim_with_its_seed_count():
    from genlab.report_sections import optimizers_text, seeds_verdict

    assert seeds_verdict({"holds": True, "seeds_holding": 3, "seeds": 3}) == "holds in 3/3 seeds"
    assert seeds_verdict({"holds": False, "seeds_holding": 0, "seeds": 3}) == "fails in 3/3 seeds"
    mixed = {"holds": None, "seeds_holding": 2, "seeds": 3}
    assert seeds_verdict(mixed) == "seeds disagree (2/3): not established"
    m = {
        "seeds": [42, 43, 44],
        "variants": {"gd": {"train/loss": 1.5, "train/loss_std": 0.05, "updates_per_epoch": 1}},
        "claims": {
            "gd_highest_train_loss_at_equal_epochs": mixed,
            "gd_fastest_per_epoch_wallclock": {"holds": True, "seeds_holding": 3, "seeds": 3},
        },
    }
    text = optimizers_text(m)
    assert "train/loss 1.500 ± 0.050" in text and "3 seeds (42–44" in text
    assert "GD's training loss is the highest: <b>seeds disagree (2/3): not established</b>" in text
    assert "fastest per epoch: <b>holds in 3/3 seeds</b>" in text
    assert "curves of seed 42" in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("variants", {"rmsprop": 0.1}, "optimizers.variants.rmsprop"),
        ("variants", {"sgd": 0}, "optimizers.variants.sgd = 0"),
        ("variants", {}, "optimizers.variants"),
        ("batch_size", 1, "optimizers.batch_size = 1"),
        ("dataset", "poly", "optimizers.dataset = 'poly'"),
        ("seeds", 0, "optimizers.seeds = 0"),
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
def test_bad_param_fails_before_work(repo):
    before = (repo / "results/optimizers.json").read_bytes()
    text = (repo / "params.yaml").read_text()
    raw = yaml.safe_load(text)
    raw["optimizers"]["variants"] = {"sgd": -1}
    write_params(repo, raw)
    try:
        proc = sh(["python", "pipelines/optimizers.py"], repo, check=False)
    finally:
        (repo / "params.yaml").write_text(text)
    assert proc.returncode == 2
    assert "optimizers.variants.sgd = -1" in proc.stderr and "Traceback" not in proc.stderr
    assert (repo / "results/optimizers.json").read_bytes() == before

