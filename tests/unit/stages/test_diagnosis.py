"""The diagnosis stage through the study contract: labels from stored numbers, written before
the runs are tagged; a run the store lacks is named, not fatal; a missing input names its stage."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest

from genlab import study
from genlab.stages import diagnosis

OVERFIT = {"status": "ok", "train/loss": 0.05, "test/loss": 1.2, "train/acc": 1.0,
           "test/acc": 0.6, "gap/loss": 1.15}


def _paths(tmp_path, *studies) -> Namespace:
    return Namespace(studies=[str(s) for s in studies], metrics=str(tmp_path / "m.json"),
                     results=str(tmp_path / "r.json"), plots=str(tmp_path / "plots"))


def _results(tmp_path, stage: str, *models: dict):
    path = tmp_path / f"{stage}.json"
    block = {"baseline_error": None, "baseline_source": "", "models": list(models)}
    path.write_text(json.dumps({"to_judge": block}))
    return path


def test_labels_are_written_and_each_run_tagged_and_a_lost_run_named(store, tmp_path, capsys):
    params, client = store
    exp = client.create_experiment("genlab/train_best")
    run_id = client.create_run(exp).info.run_id
    tuned = _results(tmp_path, "train_best",
                     {"model": "tuned", "run_id": run_id, "tag": "genlab.diagnosis", **OVERFIT})
    other = _results(tmp_path, "optimizers",
                     {"model": "sgd", "run_id": "0" * 32, "tag": "genlab.diagnosis", **OVERFIT})

    study.run(diagnosis, params, _paths(tmp_path, tuned, other))

    results = json.loads((tmp_path / "r.json").read_text())
    assert results["counts"] == {"overfit": 2}
    assert json.loads((tmp_path / "m.json").read_text()) == {"tuned": {"diagnosis": "overfit"}}
    assert (tmp_path / "plots/labels.csv").read_text().startswith("stage,model,label")
    tags = client.get_run(run_id).data.tags
    assert tags["genlab.diagnosis"] == "overfit" and "genlab.diagnosis_reason" in tags
    out = capsys.readouterr()
    assert f"MLflow run {'0' * 32} not found" in out.err
    assert out.out.strip() == (
        "diagnosis: 2 models labelled (0 underfit, 2 overfit, 0 good_fit, 0 diverged); tuned "
        "model overfit; 1 MLflow runs tagged; 1 runs not in this MLflow store (untagged)"
    )


def test_labels_are_kept_when_the_store_is_down(store, tmp_path):
    params, _ = store
    from genlab.config import with_overrides
    from genlab.tracking import TrackingError

    down = with_overrides(params, {"tracking.tracking_uri": "http://127.0.0.1:9"})
    path = _results(tmp_path, "train_best",
                    {"model": "tuned", "run_id": "1" * 32, "tag": "genlab.diagnosis", **OVERFIT})
    with pytest.raises(TrackingError):
        study.run(diagnosis, down, _paths(tmp_path, path))
    assert json.loads((tmp_path / "m.json").read_text()) == {"tuned": {"diagnosis": "overfit"}}


def test_a_missing_results_file_names_the_stage_to_run(store, tmp_path):
    params, _ = store
    with pytest.raises(FileNotFoundError, match="dvc repro polyfit"):
        study.run(diagnosis, params, _paths(tmp_path, tmp_path / "polyfit.json"))
    assert not (tmp_path / "r.json").exists()
