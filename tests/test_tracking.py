"""genlab.tracking: where the store is, creating it safely, the tags every run carries."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from genlab import tracking
from genlab.config.tracking import TrackingConfig


def test_embedded_store_is_anchored_at_the_dvc_project(tmp_path, monkeypatch):
    """Inside `dvc exp run --temp`/`--queue` the cwd is a throw-away copy; DVC_ROOT names the
    project, and the store must stay there."""
    copy = tmp_path / "project/.dvc/tmp/exps/tmp123"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "project"))
    cfg = TrackingConfig()
    assert tracking.resolve_tracking_uri(cfg) == f"sqlite:///{tmp_path}/project/mlflow.db"
    assert tracking.artifact_location(cfg, "sqlite:///x") == (
        (tmp_path / "project/mlartifacts").as_uri()
    )
    monkeypatch.delenv("DVC_ROOT")
    assert tracking.resolve_tracking_uri(cfg) == f"sqlite:///{copy}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:5000")
    assert tracking.resolve_tracking_uri(cfg) == "http://team:5000"


def test_runs_inside_a_dvc_experiment_are_tagged_with_it(monkeypatch, tiny_params):
    monkeypatch.setenv("DVC_EXP_NAME", "bold-pike")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "a" * 40)
    tags = tracking.run_tags(tiny_params, "train", "h")
    assert tags["dvc.exp_name"] == "bold-pike"
    assert tags["dvc.baseline_rev"] == tags["mlflow.source.git.commit"] == "a" * 40
    monkeypatch.delenv("DVC_EXP_NAME")
    monkeypatch.delenv("DVC_EXP_BASELINE_REV")
    assert "dvc.exp_name" not in tracking.run_tags(tiny_params, "train", "h")


def _create(db: str, barrier, errors) -> None:
    barrier.wait()
    try:
        tracking.check_tracking(f"sqlite:///{db}")
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{db}").search_experiments()
    except Exception as err:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(err).__name__}: {err}")


def test_two_processes_creating_a_fresh_store_never_crash(tmp_path):
    """MLflow's schema migration races when two stages open a new SQLite store at once
    (`dvc queue start -j 2`): creation is serialised by a file lock. 20 tries, 0 failures."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - imported before the fork

    ctx = mp.get_context("fork")
    errors = ctx.Queue()
    for i in range(20):
        db = tmp_path / f"try{i}" / "mlflow.db"
        db.parent.mkdir()
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_create, args=(str(db), barrier, errors)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []


def test_a_file_that_is_not_a_store_is_named(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_text("not sqlite")
    with pytest.raises(tracking.TrackingError, match="is not a SQLite database"):
        tracking.check_tracking(f"sqlite:///{db}")


def test_unsupported_uri_is_named():
    with pytest.raises(tracking.TrackingError, match="not supported"):
        tracking.check_tracking(str(Path("mlruns").resolve()))
