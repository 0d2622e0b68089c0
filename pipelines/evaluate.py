"""Stage `evaluate`: measure the selected models on every split and publish the results.

Run: `dvc repro evaluate`; then `dvc metrics show`, `dvc plots show`.
Reads: params `model`, `train.loss`, `train.eval_batch_size`, `diagnosis`, `tracking`;
data/prepared; models/ and plots/train/history.csv (stage `train`: the main model, the MLP by
default); models_cnn/ and plots/train_cnn/history.csv (stage `train_cnn`: the 1-D CNN beside it).
Writes: metrics/evaluate.json (the main model's test loss and accuracy, gap, status, diagnosis;
the CNN's test accuracy as `cnn.test/acc`), results/evaluate.json (every number of
both, each with its diagnosis and the reason; the CNN's under `cnn`; the MNIST-1D paper's
accuracies for reference), plots/evaluate/ (both models' learning curves side by side,
models.csv to compare them, each model's learning curve and test confusion matrix); adds
`final/*` metrics, the figure and the diagnosis tags (`genlab.diagnosis`,
`genlab.diagnosis_reason`) to each training run in MLflow (the run tagged with the sha256 of its
checkpoint).
"""

import csv
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from genlab.cli import run_stage
from genlab.config import Params, load_params, with_overrides
from genlab.data import load_splits
from genlab.data.splits import Splits
from genlab.diagnosis import diagnose, known_baseline, tag_run
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
from genlab.tracking import check_tracking, client, resolve_tracking_uri, run_for_checkpoint


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


PATHS = ("data", "models", "history", "cnn_models", "cnn_history", "metrics", "results", "plots")


def main(paths: Namespace) -> None:
    params = load_params()
    splits, meta = load_splits(paths.data)
    check_tracking(resolve_tracking_uri(params.tracking))
    plots = Path(paths.plots)
    mlp_trained = Trained("train", paths.models, paths.history)
    cnn_trained = Trained("train_cnn", paths.cnn_models, paths.cnn_history, "cnn1d", "_cnn")
    mlp, mlp_history = evaluate(mlp_trained, params, splits, plots, paths.metrics)
    cnn, cnn_history = evaluate(cnn_trained, params, splits, plots, paths.metrics)
    reference = MNIST1D_PAPER if meta["dataset"] == "mnist1d" else None
    results = {**mlp, "n_train": len(splits.x_train), "cnn": cnn}
    if reference is not None:
        results["reference"] = reference
    headline = {**main_model(mlp), **companion_model(cnn)}
    write_results(paths.results, results, paths.metrics, headline)
    write_csv(plots / "models.csv", [comparison_row(r, reference) for r in (mlp, cnn)])
    learning_curves_compared(
        {
            mlp.get("run_name") or "main model": (mlp_history, mlp["best_epoch"]),
            cnn.get("run_name") or "cnn": (cnn_history, cnn["best_epoch"]),
        },
        plots / "models_compared.png",
    )
    for name, r in (("main", mlp), ("cnn", cnn)):
        summary = ", ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
        print(
            f"evaluate: {name} {r.get('run_name') or r.get('model')}: {r['status']}; "
            f"{summary or r.get('reason')}; diagnosis {r.get('diagnosis', 'n/a')}"
        )


def evaluate(
    t: Trained, params: Params, splits: Splits, plots: Path, metrics_path: str
) -> tuple[dict, list[dict]]:
    """One training stage's model: its numbers on every split, its diagnosis, its figures and
    its MLflow run's `final/*`; returns (results, per-epoch history)."""
    run = read_json(f"{t.models}/train.json", "the training record", t.fix)
    with open(t.history, newline="") as f:
        history = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    metrics: dict = {
        "model": run.get("model", t.model or params.model.name),
        "run_name": run["run_name"],
        "status": run["status"],
        "selected_by": run.get("selected_by"),
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
    }
    if run["status"] == "skipped":  # train_cnn on data a CNN cannot read: nothing to measure
        return {**metrics, "reason": run["reason"]}, history
    if t.model is not None:
        params = with_overrides(params, {"model.name": t.model})
    ckpt = Path(t.models) / "model.ckpt"
    if run["status"] == "ok":
        module = load_module(ckpt, t.fix)  # the checkpoint rebuilds its own network
        metrics.update(evaluate_splits(module, splits, params.train.eval_batch_size))
        if splits.task == "classification":
            actual, predicted = predictions(module, splits, "test")
            write_csv(
                plots / f"confusion{t.suffix}.csv",
                ({"actual": a, "predicted": p} for a, p in zip(actual, predicted, strict=True)),
            )
    else:
        metrics["reason"] = run["reason"]
    baseline, source = known_baseline(splits.info)
    diagnosis = diagnose(metrics, baseline, params.diagnosis, source)
    metrics.update(diagnosis.as_metrics())
    fig = learning_curves(history, plots / f"learning_curve{t.suffix}.png", title=run["run_name"])

    found = run_for_checkpoint(params, t.stage, ckpt) if ckpt.is_file() else None
    if found is None:
        print(
            f"evaluate: no run in {resolve_tracking_uri(params.tracking)} has the sha256 of "
            f"{ckpt} (trained in a clone with its own store?): the numbers are in {metrics_path} "
            f"only; `dvc repro -f {t.stage}` trains and tracks it here"
        )
    else:
        run_id, mlflow = found.info.run_id, client(params)
        for key, value in metrics.items():
            if isinstance(value, float):
                mlflow.log_metric(run_id, f"final/{key}", value)
        mlflow.log_artifact(run_id, str(fig))
        tag_run(mlflow, run_id, diagnosis)
    return metrics, history


if __name__ == "__main__":
    run_stage("evaluate", main, paths=PATHS)
