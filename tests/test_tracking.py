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


@pytest.mark.slow  # 20 tries x 2 processes
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


def test_run_params_hold_only_what_applies(tiny_params):
    """A run logs the chosen dataset's and model's sections, `train`, the seed and its stage's
    own section: not the ~160 keys of params.yaml (`data.poly.*` on an MNIST-1D run)."""
    from genlab.config import as_flat_dict, with_overrides

    p = with_overrides(tiny_params, {"data.name": "mnist1d"})
    logged = tracking.run_params(p)
    assert logged["data.name"] == "mnist1d" and logged["data.mnist1d.num_samples"] == 400
    assert logged["model.name"] == "mlp" and logged["model.mlp.hidden"] == [16]
    assert logged["seed"] == p.seed and logged["train.optimizer.lr"] == 0.01
    assert {k: v for k, v in as_flat_dict(p).items() if k.startswith("train.")}.items() <= (
        logged.items()
    )
    prefixes = {k.split(".")[0] + "." + k.split(".")[1] for k in logged if k.count(".") > 1}
    assert {x for x in prefixes if x.startswith(("data.", "model."))} == {
        "data.mnist1d",
        "model.mlp",
    }
    assert not [k for k in logged if k.startswith(("tune.", "tracking.", "diagnosis."))]
    tune = tracking.run_params(p, "tune", trained=False)
    assert tune and all(k.startswith("tune.") for k in tune)
    best = tracking.run_params(p, "tune.train_best")
    assert "tune.train_best.max_epochs" in best and "tune.n_trials" not in best
    poly = tracking.run_params(p, "polyfit", trained=False, datasets=("poly",))
    assert {k.split(".")[0] for k in poly} == {"polyfit", "data"}
    assert all(k.startswith(("polyfit.", "data.poly.")) for k in poly)


def test_run_names_put_what_differs_first(tiny_params):
    """MLflow's runs table cuts a name after ~20 characters: runs differing in optimizer, lr or
    batch size must differ there, not only in a hidden tail."""
    from genlab.config import with_overrides

    name = tracking.describe_run(tiny_params)
    assert name == "adam-lr0.01-bs32-mlp16-gaussians-s42" and len(name) <= 45
    for change in (
        {"train.optimizer.lr": 0.003},
        {"train.optimizer.batch_size": 64},
        {"train.optimizer.name": "adamw"},
    ):
        other = tracking.describe_run(with_overrides(tiny_params, change))
        assert other[:20] != name[:20], (change, other)
    tuned = with_overrides(tiny_params, {"train.optimizer.lr": 2.13172e-3})
    assert tracking.describe_run(tuned).startswith("adam-lr0.00213-bs32-")


def test_a_training_run_says_which_metric_is_reported(tiny_params):
    """`test/loss` (a per-epoch curve, shown at its last epoch) sits beside `final/test/loss`
    (the selected epoch, the number DVC reports) on a run page: the run's description, shown
    at the top of that page, says which is which."""
    note = tracking.run_tags(tiny_params, "train", "h")["mlflow.note.content"]
    assert "per-epoch" in note and "last epoch" in note
    assert "`final/*`" in note and "best validation" in note and "dvc metrics show" in note
    for stage in ("train_best", "regularization", "optimizers", "lr_range", "tune"):
        assert tracking.metrics_note(stage), stage
    described = tracking.run_tags(tiny_params, "regularization", "h", "l2 λ=0.01")
    assert described["mlflow.note.content"].startswith("l2 λ=0.01\n\n")
    assert "mlflow.note.content" not in tracking.run_tags(tiny_params, "train", "h", curves=False)
    assert "mlflow.note.content" not in tracking.run_tags(tiny_params, "polyfit", "h")
