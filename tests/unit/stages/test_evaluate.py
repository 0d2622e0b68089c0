"""The evaluate stage through the study contract, on one tiny trained model: its outputs are
written before any run is annotated (a store that is down costs the `final/*` metrics, not the
numbers); a model whose run the store lacks is named; a skipped CNN is reported as skipped."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest

from genlab import study
from genlab.config import with_overrides
from genlab.data import make_splits, save_splits
from genlab.outputs import reproducible_history, write_csv, write_json
from genlab.stages import evaluate
from genlab.training import fit


@pytest.fixture
def trained(store, tmp_path):
    """Prepared gaussians, an MLP trained for 4 epochs (no run: trained elsewhere), and a CNN
    record `skipped` as train_cnn writes it for 2-D data."""
    params, client = store
    splits = make_splits(params.data, params.seed)
    save_splits(splits, tmp_path / "data", params.data.name)
    result = fit(params, splits, checkpoint_dir=tmp_path / "models")
    write_csv(tmp_path / "history.csv", reproducible_history(result.history))
    record = {"run_name": "mlp", "model": "mlp", "status": result.status, "reason": "",
              "selected_by": "val/acc", "best_epoch": result.best_epoch,
              "epochs_run": result.epochs_run, "data_hash": ""}
    write_json(tmp_path / "models/train.json", record)
    write_csv(tmp_path / "cnn_history.csv", [])
    write_json(tmp_path / "models_cnn/train.json",
               {"run_name": "", "model": "cnn1d", "status": "skipped", "reason": "2-D data",
                "best_epoch": -1, "epochs_run": 0, "data_hash": ""})
    paths = Namespace(
        data=str(tmp_path / "data"), models=str(tmp_path / "models"),
        history=str(tmp_path / "history.csv"), cnn_models=str(tmp_path / "models_cnn"),
        cnn_history=str(tmp_path / "cnn_history.csv"), metrics=str(tmp_path / "m.json"),
        results=str(tmp_path / "r.json"), plots=str(tmp_path / "plots"),
    )
    return params, paths


def test_numbers_and_figures_then_a_model_without_a_run_is_named(trained, capsys):
    params, paths = trained
    study.run(evaluate, params, paths)
    results = json.loads(Path(paths.results).read_text())
    assert results["status"] == "ok" and 0 <= results["test/acc"] <= 1
    assert results["cnn"]["status"] == "skipped" and results["cnn"]["reason"] == "2-D data"
    assert json.loads(Path(paths.metrics).read_text())["cnn"] == {"status": "skipped"}
    names = sorted(p.name for p in Path(paths.plots).iterdir())
    assert names == ["confusion.csv", "learning_curve.png", "models.csv", "models_compared.png"]
    out = capsys.readouterr().out
    assert "no run in" in out and "has the sha256 of" in out  # trained outside this store
    assert out.splitlines()[-1] == "evaluate: cnn cnn1d: skipped; 2-D data; diagnosis n/a"


def test_a_store_that_is_down_costs_the_run_metrics_not_the_outputs(trained):
    params, paths = trained
    from genlab.tracking import TrackingError

    down = with_overrides(params, {"tracking.tracking_uri": "http://127.0.0.1:9"})
    with pytest.raises(TrackingError):
        study.run(evaluate, down, paths)
    assert json.loads(Path(paths.results).read_text())["status"] == "ok"
