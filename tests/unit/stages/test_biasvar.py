"""The biasvar study's pieces (genlab.stages.biasvar, genlab.least_squares, genlab.stacked):
vectorized training equals separate training, and the study agrees with the library.

Batched least squares and the stacked forward against one-model-at-a-time results, K models
trained together against K separate `genlab.training.fit` runs, the pipeline's numbers against
the library function on the same draws, and config errors. The real stage:
tests/integration/test_biasvar.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.bias_variance import bias_variance_decomp
from genlab.config import ConfigError, parse_params, with_overrides
from genlab.data.gaussians import balanced_counts, sample_gaussians
from genlab.data.poly import sample_poly
from genlab.data.splits import Splits
from genlab.least_squares import LegendreLeastSquares, batched_lstsq
from genlab.models import MLP, PolynomialRegressor
from genlab.stacked import StackedModels, seeded_models, train_stacked
from genlab.stages import biasvar as bv
from genlab.training import fit

# ------------------------------------------------------------------ vectorized training


def test_batched_lstsq_equals_one_problem_at_a_time_including_min_norm():
    rng = np.random.default_rng(0)
    for n, p in ((12, 4), (5, 9)):  # over- and under-determined (minimum-norm solution)
        a, b = rng.normal(size=(6, n, p)), rng.normal(size=(6, n))
        got = batched_lstsq(a, b)
        for k in range(6):
            ref = np.linalg.lstsq(a[k], b[k], rcond=None)[0]
            np.testing.assert_allclose(got[k], ref, atol=1e-10)


@pytest.mark.parametrize(
    "build,shape",
    [(lambda: MLP(2, 3, [7, 5], "relu"), (4, 11, 2)), (lambda: PolynomialRegressor(5), (4, 11, 1))],
)
def test_stacked_forward_equals_each_model(build, shape):
    models = seeded_models(build, range(4))
    x = torch.rand(shape) * 2 - 1
    ref = torch.stack([m(x[i]) for i, m in enumerate(models)])
    torch.testing.assert_close(StackedModels(models)(x), ref)


def test_training_together_equals_separate_lightning_fits(tiny_params):
    """Same seeds, same full-batch Adam: K models in one stack = K `fit` runs."""
    params = with_overrides(
        tiny_params,
        {
            "data.name": "gaussians",
            "model.mlp.hidden": [6],
            "model.mlp.activation": "tanh",
            "train.loss": "ce",
            "train.max_epochs": 6,
            "train.optimizer.name": "adam",
            "train.optimizer.lr": 0.05,
            "train.optimizer.batch_size": 1000,
            "train.early_stopping.enabled": False,
            "train.accelerator": "cpu",
        },
    )
    means = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.5]])
    rng = np.random.default_rng(1)
    sets = [sample_gaussians(balanced_counts(30, 3), means, 1.0, rng) for _ in range(2)]
    x_eval, y_eval = sample_gaussians(balanced_counts(20, 3), means, 1.0, rng)
    seeds = [7, 8]
    separate = []
    for seed, (x, y) in zip(seeds, sets, strict=True):
        splits = Splits(x, y, x_eval, y_eval, x_eval, y_eval, "classification", 3)
        net = fit(with_overrides(params, {"seed": seed}), splits).module.net.eval()
        separate.append(net(torch.as_tensor(x_eval)).detach())
    stack = StackedModels(seeded_models(lambda: MLP(2, 3, [6], "tanh"), seeds))
    snaps = train_stacked(
        stack,
        torch.as_tensor(np.stack([x for x, _ in sets])),
        torch.as_tensor(np.stack([y for _, y in sets])),
        "ce",
        params.train.optimizer,
        [6],
        torch.as_tensor(x_eval),
    )
    torch.testing.assert_close(snaps[-1].eval_out, torch.stack(separate), atol=1e-5, rtol=1e-4)
    # and the models did move: an untrained stack is far from them
    fresh = StackedModels(seeded_models(lambda: MLP(2, 3, [6], "tanh"), seeds))
    assert (
        fresh(torch.as_tensor(x_eval).expand(2, -1, -1)) - snaps[-1].eval_out
    ).abs().max() > 0.05


def test_stacking_refuses_dropout_and_batch_norm():
    for build in (lambda: MLP(2, 3, [4], dropout=0.1), lambda: MLP(2, 3, [4], norm="batch")):
        with pytest.raises(ValueError, match="dropout or batch norm"):
            StackedModels(seeded_models(build, [0, 1]))


def test_stacked_trainer_refuses_sampled_batches(tiny_params):
    stack = StackedModels(seeded_models(lambda: MLP(1, 1, [2]), [0, 1]))
    opt = tiny_params.train.optimizer.model_copy(update={"name": "sgd"})
    with pytest.raises(ValueError, match="full batch"):
        train_stacked(
            stack, torch.zeros(2, 3, 1), torch.zeros(2, 3), "mse", opt, [1], torch.zeros(4, 1)
        )


# ------------------------------------------------------- the study against the library


def test_degree_sweep_equals_the_library_function_on_the_same_draws(tiny_params):
    """Vectorized least squares in the pipeline = `bias_variance_decomp` with fit/predict."""
    problem = bv.regression_problem(tiny_params)
    p = tiny_params.data.poly
    for level in bv.degree_sweep(problem, [1, 5]):
        ref = bias_variance_decomp(
            LegendreLeastSquares(level.value, p.x_min, p.x_max),
            problem.x_test,
            problem.labels("degree", level.value),
            loss="mse",
            sampler=lambda n, r: sample_poly(p.function, p.noise_sigma, n, r, p.x_min, p.x_max),
            n_train=problem.y_sets.shape[1],
            num_rounds=problem.draws,
            random_seed=[tiny_params.seed, bv.STREAM["reg_sets"]],
            f_test=problem.truth,
            noise_var=problem.noise_var,
        )
        got = level.decomposition
        assert got.as_tuple() == pytest.approx(ref.as_tuple(), rel=1e-9)
        assert got.total == pytest.approx(ref.total, rel=1e-9)
        assert got.mc_stderr == pytest.approx(ref.mc_stderr, rel=1e-9)


def test_labels_follow_the_true_distribution(tiny_params):
    params = with_overrides(tiny_params, {"biasvar.draws": 4000})
    clf = bv.classification_problem(params)
    labels = clf.labels("width", 1)
    freq = np.stack([(labels == c).mean(0) for c in range(3)], axis=1)
    np.testing.assert_allclose(freq, clf.posteriors, atol=0.04)
    assert not np.array_equal(labels, clf.labels("width", 2))  # own stream per level
    reg = bv.regression_problem(params)
    y = reg.labels("degree", 3)
    np.testing.assert_allclose(y.mean(0), reg.truth, atol=0.02)
    assert y.var(0).mean() == pytest.approx(reg.noise_var, rel=0.05)


def test_noise_on_the_test_points_estimates_the_recorded_bayes_error(tiny_params):
    params = with_overrides(
        tiny_params,
        {"biasvar.classification.test_points": 4000, "data.gaussians.bayes_mc_samples": 100000},
    )
    clf = bv.classification_problem(params)
    n = 1 - clf.posteriors.max(1)
    se = n.std() / np.sqrt(len(n))
    assert n.mean() == pytest.approx(clf.info["bayes_error"], abs=4 * se + 3e-3)


@pytest.mark.parametrize(
    "section,message",
    [
        ({"biasvar": {"draws": 2}}, "biasvar.draws = 2: Input should be greater than or equal"),
        (
            {"biasvar": {"regression": {"mlp": {"epoch_sweep_width": 3}}}},
            "mlp.epoch_sweep_width 3 is not one of the widths",
        ),
        (
            {"biasvar": {"classification": {"mlp": {"optimizer": "sgd"}}}},
            "biasvar.classification.mlp.optimizer = 'sgd'",
        ),
        ({"biasvar": {"regression": {"widths": []}}}, "biasvar.regression.widths = []"),
    ],
)
def test_bad_values_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        parse_params(section)
    assert message in str(err.value)

