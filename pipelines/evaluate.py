"""Stage `evaluate`: measure the selected model on every split and publish the results.

Run: `dvc repro evaluate`; then `dvc metrics show`, `dvc plots show`.
Reads: params `model`, `train.loss`, `train.eval_batch_size`, `tracking`; data/prepared; models/.
Writes: metrics/evaluate.json (final train/val/test loss and accuracy, gap, status, diagnosis),
plots/evaluate/ (learning curve, test confusion matrix); adds `final/*` metrics, the figure and
the diagnosis tags (`genlab.diagnosis`, `genlab.diagnosis_reason`) to the training run in MLflow
(the run tagged with the sha256 of models/model.ckpt).
"""

import csv
from pathlib import Path

import torch

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.data import load_splits
from genlab.diagnosis import diagnose, known_baseline, tag_run
from genlab.evaluation import evaluate_splits, predictions
from genlab.headline import main_model, write_results
from genlab.outputs import read_json, write_csv
from genlab.plotting import learning_curves
from genlab.tracking import check_tracking, client, resolve_tracking_uri, run_for_checkpoint
from genlab.training import build_module

DATA, MODELS, HISTORY = "data/prepared", "models", "plots/train/history.csv"
METRICS, PLOTS = "metrics/evaluate.json", Path("plots/evaluate")
FIX = "run `dvc repro train`"


def main() -> None:
    params = load_params()
    splits, meta = load_splits(DATA)
    run = read_json(f"{MODELS}/train.json", "the training record", FIX)
    check_tracking(resolve_tracking_uri(params.tracking))
    with open(HISTORY, newline="") as f:
        history = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]

    metrics: dict = {
        "status": run["status"],
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
    }
    if run["status"] == "ok":
        module = build_module(params, splits)
        ckpt = Path(MODELS) / "model.ckpt"
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
        except (OSError, RuntimeError, KeyError) as err:
            raise ValueError(f"{ckpt} is missing or unreadable ({err}): {FIX}") from None
        metrics.update(evaluate_splits(module, splits, params.train.eval_batch_size))
        if splits.task == "classification":
            actual, predicted = predictions(module, splits, "test")
            write_csv(
                PLOTS / "confusion.csv",
                ({"actual": a, "predicted": p} for a, p in zip(actual, predicted, strict=True)),
            )
    else:
        metrics["reason"] = run["reason"]
    baseline, source = known_baseline(splits.info)
    diagnosis = diagnose(metrics, baseline, params.diagnosis, source)
    metrics.update(diagnosis.as_metrics())
    write_results(METRICS, metrics, main_model(metrics))
    fig = learning_curves(history, PLOTS / "learning_curve.png", title=run["run_name"])

    ckpt = Path(MODELS) / "model.ckpt"
    found = run_for_checkpoint(params, "train", ckpt) if ckpt.is_file() else None
    if found is None:
        print(
            f"evaluate: no run in {resolve_tracking_uri(params.tracking)} has the sha256 of "
            f"{ckpt} (trained in a clone with its own store?): the numbers are in {METRICS} "
            "only; `dvc repro -f train` trains and tracks it here"
        )
    else:
        run_id, mlflow = found.info.run_id, client(params)
        for key, value in metrics.items():
            if isinstance(value, float):
                mlflow.log_metric(run_id, f"final/{key}", value)
        mlflow.log_artifact(run_id, str(fig))
        tag_run(mlflow, run_id, diagnosis)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(
        f"evaluate: {run['run_name']}: {metrics['status']}; {summary or run.get('reason')}; "
        f"diagnosis {diagnosis.label}"
    )


if __name__ == "__main__":
    run_stage("evaluate", main)
