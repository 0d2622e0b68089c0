"""Small real Optuna studies: pruning wired through Lightning, diverging trials recorded, two
worker processes filling an exact trial budget, an RDB URL holding the study."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from genlab import tracking
from genlab.config import parse_params
from genlab.data import make_splits
from genlab.stages.tune import workers
from genlab.stages.tune.objective import Objective
from genlab.stages.tune.results import best_params_doc
from genlab.stages.tune.space import base_params
from genlab.stages.tune.trials import counts_toward_budget
from tests.conftest import tiny_raw
from tests.unit.stages import test_tune as unit

params_with = unit.params_with
stores = unit.stores  # the fixture: a throw-away MLflow store and Optuna journal


# --------------------------------------------------------------------------- real studies
def _mlflow(stores):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{stores / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genlab/tune")
    return client, client.search_runs([exp.experiment_id])


@pytest.mark.slow
def test_pruner_stops_a_trial_through_the_lightning_callback(stores):
    p = params_with()
    splits = make_splits(base_params(p).data, p.seed)
    parent = tracking.start_run(p, "tune", "parent", {})
    objective = Objective(p, splits, parent, "hash")
    # prunes as soon as a validation metric above 0 is reported (val/acc, the objective of
    # tune.loss ce): after the first epoch
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.PRUNED
    assert list(t.intermediate_values) == [0] and t.user_attrs["epochs"] == 1
    client, runs = _mlflow(stores)
    child = client.get_run(t.user_attrs["mlflow_run_id"])
    assert child.info.status == "FINISHED" and child.data.tags["optuna.state"] == "pruned"
    assert child.data.tags["genlab.status"] == "pruned"
    assert child.data.tags["mlflow.parentRunId"] == parent
    assert [m.step for m in client.get_metric_history(child.info.run_id, "val/acc")] == [0]
    assert t.intermediate_values[0] == pytest.approx(child.data.metrics["val/acc"])  # pruner
    assert "test/loss" not in child.data.metrics  # the search never logs (or sees) test


@pytest.mark.slow
def test_diverging_trials_are_recorded_and_the_study_goes_on(stores):
    raw = tiny_raw()
    raw["train"]["optimizer"]["name"] = "minibatch"
    space = {"lr": [5.0, 10.0], "strength": [9.0, 10.0], "batch_size": [16, 32]}
    raw["tune"].update(n_trials=2, space=space)
    p = parse_params(raw)  # weights grow x(lr * lambda - 1) >= 44 per step: the loss overflows
    result = workers.run_study(p, make_splits(base_params(p).data, p.seed))
    trials = result.study.trials
    assert len(trials) == 2 and result.new_trials == 2
    for t in trials:
        assert t.state == TrialState.FAIL and t.user_attrs["status"] == "diverged"
        assert "became" in t.user_attrs["reason"]
    with pytest.raises(ValueError, match="no trial completed"):
        best_params_doc(p, result.study)
    client, runs = _mlflow(stores)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert len(children) == 2
    assert {r.info.status for r in children} == {"FAILED"}
    assert {r.data.tags["optuna.state"] for r in children} == {"diverged"}


@pytest.mark.slow
def test_two_workers_fill_an_exact_budget(stores, monkeypatch):
    n = 4  # trials per worker; each takes ~2 s so the spawned worker joins in time (~6-10 s)
    # Worker 0 (this process) pauses before each trial so that the spawned worker, which takes
    # ~6-10 s to import, joins before the budget is spent even on a loaded machine. The spawned
    # worker imports the workers module afresh: it runs unpatched.
    one_trial = workers.run_one_trial
    monkeypatch.setattr(
        workers, "run_one_trial", lambda *a, **k: (time.sleep(1.5), one_trial(*a, **k))[1]
    )
    raw = tiny_raw()
    raw["data"]["gaussians"]["n_train"] = 8000
    raw["tune"].update(n_workers=2, n_trials=2 * n, pruner={"name": "none"})
    raw["tune"]["space"]["batch_size"] = [16, 32]
    p = parse_params(raw)
    splits = make_splits(base_params(p).data, p.seed)
    result = workers.run_study(p, splits)
    trials = result.study.trials
    assert len(trials) == 2 * n
    assert sorted(t.number for t in trials) == list(range(2 * n))
    assert all(counts_toward_budget(t) for t in trials)
    owners = {t.user_attrs["owner"] for t in trials}
    assert len(owners) == 2, owners  # both processes ran trials
    client, runs = _mlflow(stores)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == list(range(2 * n))
    by_number = {t.number: t for t in trials}
    for r in children:  # Lightning's logger in each worker wrote into its own trial's run
        t = by_number[int(r.data.tags["optuna.trial"])]
        assert r.info.run_id == t.user_attrs["mlflow_run_id"]
        assert float(r.data.params["train.optimizer.lr"]) == pytest.approx(t.params["lr"])
        assert len(client.get_metric_history(r.info.run_id, "val/loss")) == t.user_attrs["epochs"]
    # a rerun with the budget already spent adds nothing
    again = workers.run_study(p, splits)
    assert again.new_trials == 0 and len(again.study.trials) == 2 * n
    assert again.parent_run_id == result.parent_run_id  # one parent run per study


@pytest.mark.slow
def test_an_rdb_url_holds_the_study_too(stores):
    p = params_with(storage="sqlite:///studies.db", n_trials=2, max_epochs=2, pruner__name="none")
    result = workers.run_study(p, make_splits(base_params(p).data, p.seed))
    assert result.storage == "sqlite:///studies.db" and (stores / "studies.db").is_file()
    loaded = optuna.load_study(study_name=result.name, storage="sqlite:///studies.db")
    assert [t.state for t in loaded.trials] == [TrialState.COMPLETE] * 2
    assert loaded.user_attrs["mlflow_parent_run_id"] == result.parent_run_id
