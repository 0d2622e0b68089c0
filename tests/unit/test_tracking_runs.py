"""The one tracker for a single-fit stage (`train`, `train_best`: `tracking.study(...,
logger=True)`) and the one way to end a run (`tracking.end_run`), on a temporary SQLite store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genlab import tracking
from genlab.owners import owner_id
from tests.conftest import ROOT, tiny_raw

TAGS = {"genlab.stage": "test_fit", tracking.OWNER_TAG: owner_id()}


def _only_run(client, stage: str = "test_fit"):
    exp = client.get_experiment_by_name(f"genlab/{stage}")
    [run] = client.search_runs([exp.experiment_id])
    return run


def test_a_fit_run_ends_finished_with_lightnings_tags(store):
    params, client = store
    with tracking.study(params, "test_fit", "adam-lr0.1", dict(TAGS), logger=True) as run:
        assert run.logger.run_id == run.run_id  # the fit logs into the run the block ends
        run.logger.log_hyperparams({"train.optimizer.lr": 0.1})
        run.logger.log_metrics({"val/loss": 0.5}, step=0)
        run.outcome("ok")
    got = _only_run(client)
    assert got.info.run_name == "adam-lr0.1" and got.info.status == "FINISHED"
    assert got.data.tags[tracking.STATUS_TAG] == "ok"
    assert "genlab.diverged_reason" not in got.data.tags
    assert tracking.END_REASON_TAG not in got.data.tags
    assert "mlflow.user" in got.data.tags  # made by Lightning's logger, as its fits have it
    assert got.data.params == {"train.optimizer.lr": "0.1"}
    assert got.data.metrics == {"val/loss": 0.5}


def test_a_diverged_fit_ends_failed_even_after_lightning_finished_it(store):
    """Lightning's logger ends its run FINISHED when a fit returns (`finalize`, unless the
    stage's TrackingGuard holds it back): the block's end decides the final status."""
    params, client = store
    with tracking.study(params, "test_fit", "sgd-lr10", dict(TAGS), logger=True) as run:
        run.logger.finalize("success")
        assert client.get_run(run.run_id).info.status == "FINISHED"
        run.outcome("diverged", "train/loss became nan at epoch 2")
    got = _only_run(client)
    assert got.info.status == "FAILED"
    assert got.data.tags[tracking.STATUS_TAG] == "diverged"
    assert got.data.tags["genlab.diverged_reason"] == "train/loss became nan at epoch 2"


@pytest.mark.parametrize(
    ("error", "state", "reason"),
    [
        (OSError(28, "No space left on device"), "FAILED",
         "OSError: [Errno 28] No space left on device"),
        (KeyboardInterrupt(), "KILLED", tracking.INTERRUPTED),
        (SystemExit(1), "KILLED", tracking.INTERRUPTED),  # Lightning's Ctrl-C
    ],
)
def test_an_error_ends_the_fit_run_with_its_reason(store, monkeypatch, error, state, reason):
    """Lightning has already ended the run FAILED when the error left its fit: the tracker
    still gives the final status and reason, and `cli.run_stage` ends nothing twice."""
    params, client = store
    with pytest.raises(type(error)):
        with tracking.study(params, "test_fit", "run", dict(TAGS), logger=True) as run:
            run.logger.finalize("failed")
            run.outcome("ok")  # the outcome was known, the stage failed after it
            raise error
    got = _only_run(client)
    assert got.info.status == state and got.data.tags[tracking.END_REASON_TAG] == reason
    assert tracking.STATUS_TAG not in got.data.tags
    monkeypatch.setattr(tracking, "_CHECKED_URI", tracking.resolve_tracking_uri(params.tracking))
    tracking.close_my_runs(state, "something else")  # as `cli.run_stage` does next
    again = _only_run(client)
    assert again.info.status == state and again.data.tags[tracking.END_REASON_TAG] == reason


def test_a_real_fit_logs_into_the_run_and_the_block_ends_it(store):
    """A Lightning fit with the stage's TrackingGuard: the run is open after the fit and ends
    with the status the block decides; a diverged fit without the guard (ddp_spawn) too."""
    from genlab.cli import TrackingGuard
    from genlab.config import parse_params, with_overrides
    from genlab.data import make_splits
    from genlab.training import fit

    params, client = store
    raw = tiny_raw()
    raw["train"]["max_epochs"] = 5
    raw["train"]["early_stopping"]["enabled"] = False
    raw["train"]["optimizer"].update(name="sgd", lr=10.0)
    raw["data"]["gaussians"]["separation"] = 50.0  # lr=10 on huge inputs: diverges at once
    uri = {"tracking.tracking_uri": params.tracking.tracking_uri}
    for name, variant, guarded in (
        ("ok", params, True),
        ("diverged", with_overrides(parse_params(raw), uri), False),
    ):
        splits = make_splits(variant.data, variant.seed)
        with tracking.study(variant, "test_fit", name, dict(TAGS), logger=True) as run:
            guard = TrackingGuard(run.logger) if guarded else None
            result = fit(variant, splits, logger=run.logger,
                         extra_callbacks=guard.callbacks() if guard else [])
            if guard:  # Lightning's finalize held back: still open until the block ends
                assert client.get_run(run.run_id).info.status == "RUNNING"
            run.outcome(result.status, result.reason)
        got = client.get_run(run.run_id)
        assert result.status == name
        assert got.info.status == ("FINISHED" if name == "ok" else "FAILED")
        assert got.data.tags[tracking.STATUS_TAG] == name
        assert ("genlab.diverged_reason" in got.data.tags) == (name == "diverged")
        assert len(client.get_metric_history(run.run_id, "train/loss")) >= 1


def test_end_run_sets_the_status_and_the_reason(store):
    params, client = store
    ids = [tracking.start_run(params, "test_fit", n, {}) for n in ("a", "b")]
    tracking.end_run(client, ids[0], "KILLED", "worker gone " + "x" * 600)
    tracking.end_run(client, ids[1], "FINISHED")
    a, b = (client.get_run(i) for i in ids)
    assert a.info.status == "KILLED"
    assert a.data.tags[tracking.END_REASON_TAG] == ("worker gone " + "x" * 600)[:500]
    assert b.info.status == "FINISHED" and tracking.END_REASON_TAG not in b.data.tags
    assert tracking.error_ending(KeyboardInterrupt()) == ("KILLED", tracking.INTERRUPTED)
    assert tracking.error_ending(ValueError("bad")) == ("FAILED", "ValueError: bad")


def test_no_module_but_tracking_ends_a_run():
    """Every run ends through `tracking` (one status and reason policy): no other module of
    the library or the stages calls MLflow's `set_terminated` (nor `update_run` to an end)."""
    own = ROOT / "src/genlab/tracking.py"
    ends = re.compile(r"\.set_terminated\(|update_run\([^)]*status=\"(FINISHED|FAILED|KILLED)")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("src", "pipelines")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != own
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if ends.search(line)
    ]
    assert offenders == []
    assert ends.search(own.read_text())  # the pattern finds the one call it allows
    assert Path(tracking.__file__).resolve() == own.resolve()
