"""genlab.tracking: where the store is, the tags every run carries, the one study tracker."""

from __future__ import annotations

from pathlib import Path

import pytest

from genlab import tracking
from genlab.config.tracking import TrackingConfig
from genlab.owners import owner_id


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


# ------------------------------------------------------------- the one study tracker
def _runs(client, stage: str = "test_study") -> tuple[object, list]:
    exp = client.get_experiment_by_name(f"genlab/{stage}")
    runs = client.search_runs([exp.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = sorted(
        (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
        key=lambda r: r.info.run_name,
    )
    return parent, children


def test_a_study_ends_its_parent_and_children(store, tmp_path):
    params, client = store
    tags = {"genlab.stage": "test_study", tracking.DATA_HASH_TAG: "h"}
    (tmp_path / "table.csv").write_text("a\n1\n")
    with tracking.study(params, "test_study", "parent", tags, {"study.knob": 3}) as runs:
        with runs.child("a-ok", {**tags, "genlab.variant": "a"}, {"lr": 0.1}) as a:
            runs.log_metrics(a.run_id, {"final/loss": 0.5})
            a.outcome("ok")
        with runs.child("b-diverged", params={"lr": 10}) as b:
            b.outcome("diverged", "train/loss became nan at epoch 2")
        with runs.child("c-plain") as c:  # no outcome: a measurement, not a fit
            runs.log_series(c.run_id, [{"epoch": 0, "x": 1.0}, {"epoch": 1, "x": 0.5}], ["x"])
        runs.log_metrics(runs.run_id, {"mean": 1.5})
        runs.artifact(tmp_path / "table.csv")
    parent, (ca, cb, cc) = _runs(client)
    assert parent.info.run_name == "parent" and parent.info.status == "FINISHED"
    assert parent.data.params == {"study.knob": "3"} and parent.data.metrics == {"mean": 1.5}
    assert parent.data.tags[tracking.STATUS_TAG] == "diverged"  # the worst child's outcome
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["table.csv"]
    assert ca.info.status == "FINISHED" and ca.data.tags[tracking.STATUS_TAG] == "ok"
    assert ca.data.tags["genlab.variant"] == "a" and ca.data.params == {"lr": "0.1"}
    assert cb.info.status == "FAILED" and cb.data.tags[tracking.STATUS_TAG] == "diverged"
    assert cb.data.tags["genlab.diverged_reason"].startswith("train/loss became nan")
    assert cb.data.tags[tracking.DATA_HASH_TAG] == "h"  # no tags given: the parent's
    assert cc.info.status == "FINISHED" and tracking.STATUS_TAG not in cc.data.tags
    assert [(m.step, m.value) for m in client.get_metric_history(cc.info.run_id, "x")] == [
        (0, 1.0),
        (1, 0.5),
    ]


@pytest.mark.parametrize(
    ("error", "state", "reason"),
    [
        (RuntimeError("disk on fire"), "FAILED", "RuntimeError: disk on fire"),
        (KeyboardInterrupt(), "KILLED", tracking.INTERRUPTED),
        (SystemExit(1), "KILLED", tracking.INTERRUPTED),  # Lightning's Ctrl-C
    ],
)
def test_an_error_in_a_child_ends_it_and_the_parent_and_goes_on(
    store, monkeypatch, error, state, reason
):
    params, client = store
    tags = {"genlab.stage": "test_study", tracking.OWNER_TAG: owner_id()}
    with pytest.raises(type(error)):
        with tracking.study(params, "test_study", "parent", tags) as runs:
            with runs.child("a") as a:
                a.outcome("ok")
            with runs.child("b"):
                raise error
    parent, (ca, cb) = _runs(client)
    assert ca.info.status == "FINISHED"  # ended before the error: kept
    for run in (cb, parent):
        assert run.info.status == state and run.data.tags[tracking.END_REASON_TAG] == reason
    # `cli.run_stage` then closes this process's open runs: nothing of the study is left to
    # close, and nothing is ended a second time with another state or reason
    monkeypatch.setattr(tracking, "_CHECKED_URI", tracking.resolve_tracking_uri(params.tracking))
    tracking.close_my_runs(state, "something else")
    again, (_, cb2) = _runs(client)
    assert (again.info.status, cb2.info.status) == (state, state)
    assert again.data.tags[tracking.END_REASON_TAG] == reason


def test_an_error_after_the_children_fails_only_the_parent(store):
    params, client = store
    with pytest.raises(OSError):
        with tracking.study(params, "test_study", "parent", {}) as runs:
            with runs.child("a"):
                pass
            runs.artifact("missing.png")
    parent, (child,) = _runs(client)
    assert (parent.info.status, child.info.status) == ("FAILED", "FINISHED")


def test_non_finite_values_are_named_not_logged(store):
    """One policy: NaN and ±inf are never logged (SQLite gives +inf back as 1.8e308, no
    filter matches a stored NaN); the run's `genlab.not_finite` tag names them."""
    import numpy as np

    params, client = store
    nan, inf = float("nan"), float("inf")
    with tracking.study(params, "test_study", "parent", {}) as runs:
        with runs.child("a") as a:
            runs.log_metrics(a.run_id, {"ok": 1.0, "n": np.float32(2), "loss": nan, "up": inf})
            runs.log_metrics(a.run_id, {"down": -inf, "status": "ok", "flag": True}, step=3)
            rows = [{"epoch": 0, "x": 1.0}, {"epoch": 1, "x": nan}, {"epoch": 2, "x": 0.5}]
            runs.log_series(a.run_id, rows, ["x"])
    _, (child,) = _runs(client)
    assert child.data.metrics == {"ok": 1.0, "n": 2.0, "x": 0.5}
    assert child.data.tags[tracking.NOT_FINITE_TAG] == "down,loss,up"
    assert [m.step for m in client.get_metric_history(child.info.run_id, "x")] == [0, 2]  # a gap
    metrics, dropped = tracking.finite_metrics({"a": 1, "b": nan}, step=5)
    assert [(m.key, m.value, m.step) for m in metrics] == [("a", 1.0, 5)] and dropped == ["b"]


def test_one_data_hash_for_every_study(tiny_params):
    """`genlab.data_hash`: sha256 over the values of the arrays, in order (not their file, not
    their memory layout)."""
    import numpy as np

    from genlab.data import make_splits

    splits = make_splits(tiny_params.data, tiny_params.seed)
    arrays = [a for name in ("train", "val", "test") for a in splits.split(name)]
    h = tracking.splits_hash(splits)
    assert h == tracking.data_hash(*arrays) and len(h) == 64
    changed = [a.copy() for a in arrays]
    changed[-1][0] = (changed[-1][0] + 1) % 2  # one test label
    assert tracking.data_hash(*changed) != h
    assert tracking.data_hash(np.arange(4)[::2]) == tracking.data_hash(np.array([0, 2]))
