"""The double-descent study's pieces (genlab.stages.double_descent.study).

Label noise flips exactly the fraction and never to the same class; the stacked mini-batch
training equals K separate MLPs trained with their own Adam on the same batches; threshold, peak
and verdict read correctly off synthetic curves that do and do not descend twice, and the
sentence follows them. The real stage: tests/integration/test_double_descent.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ConfigError, parse_params, with_overrides
from genlab.models import MLP
from genlab.stacked import StackedModels, seeded_models
from genlab.stages.double_descent import study as dd

# ------------------------------------------------------------------------ label noise


@pytest.mark.parametrize("n,fraction", [(1000, 0.15), (1000, 0.2), (7, 0.5), (50, 0.0), (40, 0.99)])
def test_label_noise_flips_exactly_the_fraction_never_to_the_same_class(n, fraction):
    y = np.random.default_rng(0).integers(0, 10, n)
    noisy, chosen = dd.flip_labels(y, fraction, 10, np.random.default_rng(1))
    changed = np.flatnonzero(noisy != y)
    assert len(changed) == int(round(fraction * n))  # every chosen label really changed
    np.testing.assert_array_equal(changed, chosen)
    assert noisy.min() >= 0 and noisy.max() < 10
    np.testing.assert_array_equal(y, np.random.default_rng(0).integers(0, 10, n))  # y untouched


def test_replacement_classes_cover_every_other_class_evenly():
    y = np.zeros(20000, dtype=np.int64)
    noisy, chosen = dd.flip_labels(y, 0.5, 10, np.random.default_rng(3))
    counts = np.bincount(noisy[chosen], minlength=10)
    assert counts[0] == 0
    assert counts[1:].min() > 0.9 * len(chosen) / 9  # ~uniform over the 9 wrong classes


def test_task_corrupts_training_labels_only_and_is_reproducible(tiny_params):
    task = dd.noisy_task(tiny_params)
    cfg = tiny_params.double_descent
    assert task.x_train.shape == (cfg.seeds, cfg.n_train, 40)
    assert task.noise_rate == pytest.approx(round(cfg.label_noise * cfg.n_train) / cfg.n_train)
    assert ((task.y_train != task.y_clean).sum(axis=1) == round(cfg.label_noise * 200)).all()
    # the seeds are replicates: different subsets and different corrupted labels
    assert not np.array_equal(task.x_train[0], task.x_train[1])
    again = dd.noisy_task(tiny_params)
    np.testing.assert_array_equal(task.y_train, again.y_train)
    assert task.data_hash() == again.data_hash()
    # the test labels are the split's own, clean
    from genlab.data.mnist1d_signals import make_mnist1d

    m = tiny_params.data.mnist1d
    splits = make_mnist1d(m.num_samples, m.val_fraction, m.test_fraction, tiny_params.seed)
    np.testing.assert_array_equal(task.y_test, splits.y_test)


def test_more_training_signals_than_the_split_holds_names_both_keys(tiny_params):
    params = with_overrides(tiny_params, {"double_descent.n_train": 5000})
    with pytest.raises(ValueError, match=r"double_descent.n_train = 5000: .*data.mnist1d"):
        dd.noisy_task(params)


# ---------------------------------------------------------------- vectorized training


def test_stacked_forward_equals_separate_linear_mlps():
    models = [
        nn.Sequential(nn.Linear(40, w), nn.ReLU(), nn.Linear(w, 10)) for w in (16, 16, 16, 16)
    ]
    x = torch.randn(4, 25, 40)
    ref = torch.stack([m(x[i]) for i, m in enumerate(models)])
    torch.testing.assert_close(StackedModels(models)(x), ref)


def test_training_together_equals_k_separate_adam_runs(tiny_params):
    """Same init, same batches, one Adam each: K MLPs trained apart = the stacked run."""
    params = with_overrides(tiny_params, {"double_descent.epochs": 3})
    task, cfg, seed, width = dd.noisy_task(params), params.double_descent, params.seed, 8
    got = dd.train_width(task, width, cfg, seed, [1, 3])
    assert [m.epoch for m in got] == [1, 3]

    k, n = task.y_train.shape
    seeds = [seed + i for i in range(k)]
    models = seeded_models(lambda: MLP(40, 10, [width], cfg.activation), seeds)
    opts = [torch.optim.Adam(m.parameters(), lr=cfg.lr) for m in models]
    x, y = torch.as_tensor(task.x_train), torch.as_tensor(task.y_train)
    xt, yt = torch.as_tensor(task.x_test), torch.as_tensor(task.y_test)
    generator = dd.shuffle_generator(seed, width)
    expected = []
    for epoch in range(1, 4):
        for idx in dd.batch_order(k, n, cfg.batch_size, generator):
            for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
                loss = F.cross_entropy(model(x[i][idx[i]]), y[i][idx[i]])
                opt.zero_grad()
                loss.backward()
                opt.step()
        if epoch in (1, 3):
            with torch.no_grad():
                expected.append(
                    [
                        [
                            float(F.cross_entropy(m(x[i]), y[i])),
                            float(F.cross_entropy(m(xt), yt)),
                            float((m(x[i]).argmax(1) != y[i]).double().mean()),
                            float((m(xt).argmax(1) != yt).double().mean()),
                        ]
                        for i, m in enumerate(models)
                    ]
                )
    for measure, ref in zip(got, np.array(expected), strict=True):
        np.testing.assert_allclose(measure.train_loss, ref[:, 0], atol=1e-4)
        np.testing.assert_allclose(measure.test_loss, ref[:, 1], atol=1e-4)
        np.testing.assert_allclose(measure.train_error, ref[:, 2], atol=1.5 / n)
        np.testing.assert_allclose(measure.test_error, ref[:, 3], atol=1.5 / len(yt))
    fresh = dd.measure(StackedModels(seeded_models(lambda: MLP(40, 10, [width]), seeds)), task, 0)
    assert np.abs(fresh.train_loss - got[-1].train_loss).max() > 0.01  # training moved them


def test_every_model_gets_its_own_permutation_in_equal_batches():
    batches = dd.batch_order(3, 10, 4, torch.Generator().manual_seed(0))
    assert [b.shape for b in batches] == [(3, 4), (3, 4), (3, 2)]
    order = torch.cat(batches, dim=1)
    for row in order:
        assert sorted(row.tolist()) == list(range(10))
    assert not torch.equal(order[0], order[1])


def test_snapshot_epochs_are_log_spaced_and_end_at_the_budget():
    epochs = dd.snapshot_epochs(300, 30)
    assert epochs[0] == 1 and epochs[-1] == 300 and len(epochs) <= 30
    assert epochs == sorted(set(epochs))
    assert dd.snapshot_epochs(4, 3) == [1, 2, 4]


# ------------------------------------------------------------- reading the curves

WIDTHS = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
TRAIN = [0.68, 0.61, 0.52, 0.43, 0.32, 0.09, 0.0, 0.0, 0.0]
DOUBLE = [0.67, 0.61, 0.53, 0.55, 0.58, 0.61, 0.59, 0.58, 0.55]


def test_interpolation_is_the_first_width_at_or_below_the_tolerance():
    assert dd.interpolation_index(TRAIN, 0.01) == 6
    assert dd.interpolation_index(TRAIN, 0.1) == 5
    assert dd.interpolation_index([0.5, 0.3, 0.2], 0.01) is None


def test_a_peak_between_two_lower_points_is_a_second_descent():
    r = dd.read_curve(WIDTHS, TRAIN, DOUBLE, [0.01] * 9, tol=0.01, window=4)
    assert (r.threshold, r.peak, r.classical_min, r.widest, r.best) == (6, 5, 2, 8, 2)
    assert r.second_descent and r.classical_u and r.reason == ""


def test_a_bump_within_the_seed_spread_is_not():
    r = dd.read_curve(WIDTHS, TRAIN, DOUBLE, [0.045] * 9, tol=0.01, window=4)
    assert r.peak == 5 and not r.second_descent
    assert "not above the classical minimum beyond the spread" in r.reason
    # a peak clear of the classical minimum, but the widest width within its spread
    late = DOUBLE[:-1] + [0.6]
    r = dd.read_curve(WIDTHS, TRAIN, late, [0.01] * 9, tol=0.01, window=4)
    assert not r.second_descent and "widest width is not below the peak" in r.reason


def test_a_classical_u_that_keeps_rising_is_not():
    rising = [0.67, 0.61, 0.53, 0.55, 0.58, 0.6, 0.62, 0.64, 0.66]
    r = dd.read_curve(WIDTHS, TRAIN, rising, [0.005] * 9, tol=0.01, window=4)
    assert not r.second_descent and r.classical_min == 2
    assert r.reason == "test error is highest at the widest width"
    within = dd.read_curve(WIDTHS, TRAIN, rising, [0.005] * 9, tol=0.01, window=2)
    assert within.peak == 7 and "widest width is not below" in within.reason


def test_a_monotone_descent_is_not():
    falling = [0.67, 0.6, 0.55, 0.53, 0.52, 0.51, 0.5, 0.49, 0.48]
    r = dd.read_curve(WIDTHS, TRAIN, falling, [0.005] * 9, tol=0.01, window=4)
    assert not r.second_descent and not r.classical_u and r.best == 8
    assert "not above the classical minimum" in r.reason


def test_no_interpolation_means_no_verdict():
    r = dd.read_curve(WIDTHS, [0.5] * 9, DOUBLE, [0.01] * 9, tol=0.01, window=4)
    assert r.threshold is None and r.peak is None and not r.second_descent
    assert "no width reaches" in r.reason


def _synthetic(test: list[float], spread: float, tiny_params) -> dd.DoubleDescentResult:
    """A result whose three seeds sit at test − spread, test, test + spread (std `spread`)."""
    offsets = np.array([-1.0, 0.0, 1.0]) * spread  # their sample std (ddof 1) is `spread`
    widths = [
        dd.WidthResult(
            w,
            dd.n_params(w),
            dd.Measure(300, np.full(3, tr), te + offsets, np.full(3, 1.0), np.full(3, 2.0)),
        )
        for w, tr, te in zip(WIDTHS, TRAIN, test, strict=True)
    ]
    task = dd.NoisyTask(
        np.zeros((3, 100, 40), np.float32),
        np.zeros((3, 100), np.int64),
        np.ones((3, 100), np.int64),
        np.zeros((10, 40), np.float32),
        np.zeros(10, np.int64),
        10,
        100,
    )
    cfg = tiny_params.double_descent.model_copy(update={"widths": WIDTHS})
    return dd.DoubleDescentResult(task, cfg, widths, WIDTHS[-1], [widths[-1].final])


@pytest.mark.parametrize("spread,seen", [(0.01, True), (0.045, False)])
def test_the_sentence_and_headline_follow_the_numbers(spread, seen, tiny_params):
    results = dd.summary(_synthetic(DOUBLE, spread, tiny_params))
    assert results["second_descent"] is seen
    text = results["sentence"]
    assert (": a second descent," in text) is seen and ("no second descent" in text) is not seen
    assert "0.610" in text and "width 128" in text  # the peak, as measured
    assert results["interpolation"]["width"] == 256
    assert results["peak"]["width"] == 128 and results["peak"]["mean"] == pytest.approx(0.61)


def test_a_failure_while_tracking_ends_the_parent_run_failed(store, tiny_params, tmp_path):
    params, client = store
    result = _synthetic(DOUBLE, 0.01, tiny_params)
    with pytest.raises(OSError), dd.open_runs(params, result.task) as runs:
        dd.track(runs, result)
        runs.artifact(tmp_path / "missing.png")  # the figure is missing when it is logged
    runs = client.search_runs(
        [client.get_experiment_by_name("genlab/double_descent").experiment_id]
    )
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "FAILED"
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == len(WIDTHS) and all(c.info.status == "FINISHED" for c in children)


@pytest.mark.parametrize(
    "section,message",
    [
        ({"seeds": 2}, "double_descent.seeds = 2: Input should be greater than or equal to 3"),
        ({"widths": [4, 8]}, "double_descent.widths = [4, 8]: List should have at least 3"),
        ({"widths": [4, 8, 8]}, "repeats an entry"),
        ({"label_noise": 1.0}, "double_descent.label_noise = 1.0"),
        ({"epoch_curve_width": 3}, "epoch_curve_width 3 is not one of the widths"),
        ({"lr": 0}, "double_descent.lr = 0"),
        ({"epoch": 5}, "double_descent.epoch: unknown key"),
    ],
)
def test_bad_values_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        parse_params({"double_descent": section})
    assert message in str(err.value)


def test_widths_are_sorted_and_the_curve_defaults_to_the_widest():
    cfg = parse_params({"double_descent": {"widths": [64, 4, 16]}}).double_descent
    assert cfg.widths == [4, 16, 64] and cfg.curve_width == 64
