"""The polyfit study: exact least squares, GD through Lightning, and the real stage.

Unit tests: the data (prepared train/val points, a larger fresh test sample), least squares as
the true minimiser, the effective number of parameters GD has fitted, the validated variants,
and config errors. Integration (slow): `dvc repro polyfit` on tiny params in a copy of the
repository, then its metrics, plots and MLflow runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genlab.config import ConfigError, parse_params, with_overrides
from genlab.data import make_splits
from genlab.experiments import polyfit as pf

# ------------------------------------------------------------------------------ units


@pytest.fixture
def poly_params(tiny_params):
    return with_overrides(tiny_params, {"polyfit.n_test": 700})


def test_train_and_val_are_the_prepared_points_and_test_is_fresh(poly_params):
    splits = pf.polyfit_splits(poly_params)
    prepared = make_splits(
        with_overrides(
            poly_params, {"data.name": "poly", "model.name": "poly", "train.loss": "mse"}
        ).data,
        poly_params.seed,
    )
    np.testing.assert_array_equal(splits.x_train, prepared.x_train)
    np.testing.assert_array_equal(splits.y_val, prepared.y_val)
    assert len(splits.y_test) == 700
    assert not np.isin(splits.x_test, splits.x_train).any()


def test_least_squares_is_the_minimiser_and_matches_monomials_at_low_degree(poly_params):
    splits = pf.polyfit_splits(poly_params)
    x, y = splits.x_train[:, 0].astype(np.float64), splits.y_train.astype(np.float64)
    for degree in (1, 3, 6):
        coef, m = pf.least_squares(splits, degree)
        mono = np.polyval(np.polyfit(x, y, degree), x)  # same space, another basis
        assert m["train/loss"] == pytest.approx(np.mean((mono - y) ** 2), rel=1e-9)
        # any perturbation of the coefficients raises the training MSE
        phi = pf.legendre_design(splits.x_train, degree, -1.0, 1.0)
        worse = np.mean((phi @ (coef + 1e-3) - y) ** 2)
        assert worse > m["train/loss"]
        assert m["gap/loss"] == pytest.approx(m["test/loss"] - m["train/loss"])
    # Legendre stays better conditioned than raw powers at high degree
    _, high = pf.least_squares(splits, 20)
    assert high["cond/legendre"] * 100 < high["cond/monomial"]


def test_effective_params_counts_the_directions_gd_has_fitted(poly_params):
    splits = pf.polyfit_splits(poly_params)
    assert pf.effective_params(splits, 3, 0.5, 10_000) == pytest.approx(4.0)
    assert pf.effective_params(splits, 3, 0.5, 0) == pytest.approx(0.0)
    few = pf.effective_params(splits, 20, 0.5, 100)
    assert 5 < few < 20  # the slow directions of degree 20 are not fitted in 100 updates


def test_gd_variant_is_validated_like_params_yaml(poly_params):
    v = pf.gd_params(poly_params, 7)
    assert (v.model.name, v.model.poly.degree, v.train.loss) == ("poly", 7, "mse")
    assert v.train.optimizer.name == "gd" and not v.train.early_stopping.enabled
    with pytest.raises(ConfigError, match="less than or equal to 60"):
        pf.gd_params(poly_params, 61)


def test_sweep_always_includes_the_curve_degrees():
    p = parse_params({"polyfit": {"degrees": [2, 3], "curve_degrees": [1, 4]}})
    assert p.polyfit.sweep() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "section,message",
    [
        ({"polyfit": {"degrees": [1, 1]}}, "polyfit.degrees = [1, 1]: repeats an entry"),
        ({"polyfit": {"gd": {"lr": 0}}}, "polyfit.gd.lr = 0: Input should be greater than 0"),
        ({"polyfit": {"n_tset": 5}}, "polyfit.n_tset: unknown key"),
        ({"polyfit": {"curve_degrees": [61]}}, "polyfit.curve_degrees.0 = 61"),
    ],
)
def test_bad_values_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        parse_params(section)
    assert message in str(err.value)


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
        assert m[method]["best_degree"] in (1, 2, 4, 20)
        table = ls if method == "ls" else gd
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

