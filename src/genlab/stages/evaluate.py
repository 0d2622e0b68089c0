"""Stage `evaluate`: measure the models `train` and `train_cnn` selected on every split, label
each (underfit / overfit / good fit) and publish the headline.

Each training stage leaves a record (train.json: status, epochs), its per-epoch history and its
checkpoint. The checkpoint alone rebuilds the module (`save_hyperparameters`); its numbers on
train, val and test, the diagnosis from them and its figures are this stage's outputs, written
first. Then each model's MLflow run, found by the checkpoint's sha256 (no run id is kept in a
DVC output), gets its `final/*` metrics, the learning-curve figure and the diagnosis tags. A
model its stage skipped (the CNN on data it cannot read) is reported as skipped; one that
diverged has no numbers to measure but still its curves and label. Run through the study
contract (`genlab.study`).
"""

from __future__ import annotations

import csv
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from genlab.config import Params
from genlab.data import load_splits
from genlab.data.splits import Splits
from genlab.diagnosis import Diagnosis, diagnose, known_baseline, tag_run
from genlab.evaluation import (
    MNIST1D_PAPER,
    comparison_row,
    evaluate_splits,
    load_module,
    predictions,
)
from genlab.headline import companion_model, main_model, write_results
from genlab.outputs import read_json, write_csv
from genlab.plotting import learning_curves, learning_curves_compared

STAGE = "evaluate"


@dataclass(frozen=True)
class Trained:
    """Where a training stage left its model, and what evaluate calls it."""

    stage: str  # the dvc.yaml stage, also its MLflow experiment (genlab/<stage>)
    models: str
    history: str
    model: str | None = None  # model.name it trained (None: params' model.name)
    suffix: str = ""  # of its per-model files in plots/evaluate/

    @property
    def fix(self) -> str:
        return f"run `dvc repro {self.stage}`"

    @property
    def checkpoint(self) -> Path:
        return Path(self.models) / "model.ckpt"


@dataclass(frozen=True)
class Inputs:
    splits: Splits
    dataset: str
    trained: tuple[Trained, Trained]  # the main model, the CNN beside it
    plots: Path
    metrics_path: str  # named when a model's run is not in this store


@dataclass(frozen=True)
class Evaluated:
    """One training stage's model: its numbers and label, curves and test predictions."""

    trained: Trained
    metrics: dict
    history: list[dict]
    diagnosis: Diagnosis | None = None  # None: skipped, nothing to label
    predictions: tuple[list, list] | None = None  # (actual, predicted) on test, classification
    figure: Path | None = None  # its learning curves

    @property
    def best_epoch(self) -> int:
        return self.metrics["best_epoch"]


@dataclass(frozen=True)
class Evaluation:
    main: Evaluated
    cnn: Evaluated
    n_train: int
    reference: dict | None  # the MNIST-1D paper's accuracies, on MNIST-1D
    metrics_path: str  # named when a model's run is not in this store


def data(params: Params, paths: Namespace) -> Inputs:
    splits, meta = load_splits(paths.data)
    trained = (
        Trained("train", paths.models, paths.history),
        Trained("train_cnn", paths.cnn_models, paths.cnn_history, "cnn1d", "_cnn"),
    )
    return Inputs(splits, meta["dataset"], trained, Path(paths.plots), paths.metrics)


def run(params: Params, data: Inputs, runs: None) -> Evaluation:
    main, cnn = (_evaluate(t, params, data) for t in data.trained)
    reference = MNIST1D_PAPER if data.dataset == "mnist1d" else None
    return Evaluation(main, cnn, len(data.splits.x_train), reference, data.metrics_path)


def _evaluate(t: Trained, params: Params, data: Inputs) -> Evaluated:
    record = read_json(f"{t.models}/train.json", "the training record", t.fix)
    with open(t.history, newline="") as f:
        history = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    metrics: dict = {
        "model": record.get("model", t.model or params.model.name),
        "run_name": record["run_name"],
        "status": record["status"],
        "selected_by": record.get("selected_by"),
        "epochs_run": record["epochs_run"],
        "best_epoch": record["best_epoch"],
    }
    if record["status"] == "skipped":  # train_cnn on data a CNN cannot read: nothing to measure
        return Evaluated(t, {**metrics, "reason": record["reason"]}, history)
    predicted = None
    if record["status"] == "ok":
        module = load_module(t.checkpoint, t.fix)  # the checkpoint rebuilds its own network
        metrics.update(evaluate_splits(module, data.splits, params.train.eval_batch_size))
        if data.splits.task == "classification":
            predicted = predictions(module, data.splits, "test")
    else:
        metrics["reason"] = record["reason"]
    baseline, source = known_baseline(data.splits.info)
    diagnosis = diagnose(metrics, baseline, params.diagnosis, source)
    metrics.update(diagnosis.as_metrics())
    figure = data.plots / f"learning_curve{t.suffix}.png"
    return Evaluated(t, metrics, history, diagnosis, predicted, figure)


def write(result: Evaluation, paths: Namespace) -> list[Path]:
    """results/evaluate.json (both models' numbers, the CNN's under `cnn`), the headline in
    metrics/evaluate.json, and in plots/evaluate/: each model's learning curves and test
    confusion pairs, models.csv and both models' curves side by side."""
    main, cnn, plots = result.main, result.cnn, Path(paths.plots)
    for e in (main, cnn):
        if e.predictions is not None:
            actual, predicted = e.predictions
            write_csv(
                plots / f"confusion{e.trained.suffix}.csv",
                ({"actual": a, "predicted": p} for a, p in zip(actual, predicted, strict=True)),
            )
        if e.figure is not None:
            learning_curves(e.history, e.figure, title=e.metrics["run_name"])
    results = {**main.metrics, "n_train": result.n_train, "cnn": cnn.metrics}
    if result.reference is not None:
        results["reference"] = result.reference
    headline = {**main_model(main.metrics), **companion_model(cnn.metrics)}
    write_results(paths.results, results, paths.metrics, headline)
    rows = [comparison_row(e.metrics, result.reference) for e in (main, cnn)]
    write_csv(plots / "models.csv", rows)
    learning_curves_compared(
        {
            main.metrics.get("run_name") or "main model": (main.history, main.best_epoch),
            cnn.metrics.get("run_name") or "cnn": (cnn.history, cnn.best_epoch),
        },
        plots / "models_compared.png",
    )
    return []


def annotate(params: Params, result: Evaluation) -> str:
    """Each model's training run gets its `final/*` metrics, its figure and its label. A model
    whose run this store lacks (trained in a clone with its own store) is named, not fatal."""
    from genlab.tracking import (
        check_tracking,
        client,
        resolve_tracking_uri,
        run_for_checkpoint,
    )

    check_tracking(resolve_tracking_uri(params.tracking))
    for e in (result.main, result.cnn):
        t = e.trained
        if e.diagnosis is None:  # skipped: no weights, no run
            continue
        ckpt = t.checkpoint
        found = run_for_checkpoint(params, t.stage, ckpt) if ckpt.is_file() else None
        if found is None:
            print(
                f"evaluate: no run in {resolve_tracking_uri(params.tracking)} has the sha256 of "
                f"{t.checkpoint} (trained in a clone with its own store?): the numbers are in "
                f"{result.metrics_path} only; `dvc repro -f {t.stage}` trains and tracks it here"
            )
            continue
        run_id, mlflow = found.info.run_id, client(params)
        for key, value in e.metrics.items():
            if isinstance(value, float):
                mlflow.log_metric(run_id, f"final/{key}", value)
        mlflow.log_artifact(run_id, str(e.figure))
        tag_run(mlflow, run_id, e.diagnosis)
    return ""


def line(result: Evaluation, run_id: None) -> str:
    lines = []
    for name, e in (("main", result.main), ("cnn", result.cnn)):
        r = e.metrics
        summary = ", ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
        lines.append(
            f"evaluate: {name} {r.get('run_name') or r.get('model')}: {r['status']}; "
            f"{summary or r.get('reason')}; diagnosis {r.get('diagnosis', 'n/a')}"
        )
    return "\n".join(lines)
