"""Study `optimizers` (genlab.stages.optimizers): the curve and noise arithmetic by hand,
the variants, the claims decided seed by seed, config errors. The real stage:
tests/integration/test_optimizers.py."""

from __future__ import annotations

import math

import pytest

from genlab.config import ConfigError, parse_params
from genlab.gd_study import study_splits
from genlab.stages import optimizers as study
from tests.conftest import tiny_raw


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
    from genlab.stages.report.sections import optimizers_text, seeds_verdict

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


