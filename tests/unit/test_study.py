"""genlab.study: the order a study stage runs in, and that a computed result survives a
tracking failure (written, the parent run FAILED), on a small study built here."""

from __future__ import annotations

import json
from argparse import Namespace
from types import SimpleNamespace

import pytest

from genlab import study, tracking
from genlab.outputs import write_json


def _study(calls: list[str], fail_in_track: bool = False) -> SimpleNamespace:
    def data(params, paths):
        calls.append("data")
        return [1.0, 2.0, 3.0]

    def open_runs(params, values):
        calls.append("open_runs")
        tags = tracking.run_tags(params, "demo", tracking.data_hash(), curves=False)
        return tracking.study(params, "demo", "demo-run", tags)

    def run(params, values, runs):
        calls.append("run")
        return {"sum": sum(values), "run_id": runs.run_id}

    def track(runs, result):
        calls.append("track")
        with runs.child("child", logger=False) as child:
            runs.log_metrics(child.run_id, {"sum": result["sum"]})
        if fail_in_track:
            raise ConnectionError("Max retries exceeded: the server is gone")

    def write(result, paths):
        calls.append("write")
        return [write_json(paths.results, result)]

    return SimpleNamespace(
        STAGE="demo",
        data=data,
        open_runs=open_runs,
        run=run,
        track=track,
        write=write,
        parent_metrics=lambda result: {"sum": result["sum"]},
        line=lambda result, run_id: f"demo: sum {result['sum']} (MLflow run {run_id})",
    )


def test_a_study_runs_in_the_contract_order_and_tracks_its_result(store, tmp_path, capsys):
    params, client = store
    calls: list[str] = []
    paths = Namespace(results=str(tmp_path / "results/demo.json"))
    study.run(_study(calls), params, paths)
    assert calls == ["data", "open_runs", "run", "track", "write"]
    written = json.loads((tmp_path / "results/demo.json").read_text())
    parent = client.get_run(written["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics == {"sum": 6.0}
    assert [a.path for a in client.list_artifacts(written["run_id"])] == ["demo.json"]
    assert capsys.readouterr().out.strip() == f"demo: sum 6.0 (MLflow run {written['run_id']})"


def test_a_result_is_written_when_tracking_fails_and_the_parent_ends_failed(store, tmp_path):
    params, client = store
    calls: list[str] = []
    paths = Namespace(results=str(tmp_path / "results/demo.json"))
    with pytest.raises(ConnectionError):
        study.run(_study(calls, fail_in_track=True), params, paths)
    assert calls == ["data", "open_runs", "run", "track", "write"]
    written = json.loads((tmp_path / "results/demo.json").read_text())
    assert written["sum"] == 6.0
    assert client.get_run(written["run_id"]).info.status == "FAILED"


def test_a_study_without_runs_writes_and_prints(tmp_path, capsys):
    bare = SimpleNamespace(
        run=lambda params, data, runs: {"runs": runs},
        write=lambda result, paths: [write_json(paths.results, result)],
        line=lambda result, run_id: f"bare: run {run_id}",
    )
    study.run(bare, None, Namespace(results=str(tmp_path / "r.json")))
    assert json.loads((tmp_path / "r.json").read_text()) == {"runs": None}
    assert capsys.readouterr().out.strip() == "bare: run None"


def test_annotate_runs_after_the_outputs_are_written_and_adds_to_the_line(tmp_path, capsys):
    out = tmp_path / "r.json"

    def annotate(params, result):
        assert out.is_file()  # the local outputs first: a store that is down costs the tags
        return "; 2 runs tagged"

    judged = SimpleNamespace(
        run=lambda params, data, runs: {"labels": 2},
        write=lambda result, paths: [write_json(paths.results, result)],
        annotate=annotate,
        line=lambda result, run_id: f"judged: {result['labels']} labels",
    )
    study.run(judged, None, Namespace(results=str(out)))
    assert capsys.readouterr().out.strip() == "judged: 2 labels; 2 runs tagged"


@pytest.mark.parametrize("primary", [True, False])
def test_a_distributed_study_runs_only_its_share_on_another_rank(
    store, tmp_path, capsys, monkeypatch, primary
):
    """`DISTRIBUTED`: a DDP rank but 0 runs `run` with no runs (its share of the fit) and
    nothing else; rank 0 runs the whole contract."""
    from genlab import ranks

    params, client = store
    monkeypatch.setattr(ranks, "is_primary", lambda: primary)
    calls: list[str] = []
    ranked = _study(calls)
    ranked.DISTRIBUTED = True
    shares = []
    ranked.run = lambda params, values, runs: shares.append(runs) or {
        "sum": sum(values), "run_id": runs and runs.run_id}
    paths = Namespace(results=str(tmp_path / "results/demo.json"))
    study.run(ranked, params, paths)
    if primary:
        assert calls == ["data", "open_runs", "track", "write"] and shares[0] is not None
        assert (tmp_path / "results/demo.json").is_file()
    else:
        assert calls == ["data"] and shares == [None]
        assert not (tmp_path / "results").exists() and capsys.readouterr().out == ""
        assert client.search_experiments()[0].name == "Default"  # no run, no experiment
