"""Stage `train`: fit the model in params on the prepared data with Lightning, tracked in MLflow.

Run: `dvc repro train`, or `dvc exp run -S train.optimizer.lr=0.01` to try a variant.
Reads: params `seed`, `model`, `train`, `tracking`; data/prepared.
Writes: models/model.ckpt (epoch with the best val/loss), models/train.json (MLflow run id,
status), plots/train/history.csv (per-epoch train/val/test metrics).
"""

import yaml

from genlab.cli import run_stage
from genlab.config import as_flat_dict, load_params
from genlab.data import load_splits
from genlab.outputs import reproducible_history, write_atomic, write_csv, write_json
from genlab.tracking import (
    check_tracking,
    describe_run,
    make_logger,
    resolve_tracking_uri,
    run_tags,
)
from genlab.training import fit

DATA, MODELS, HISTORY = "data/prepared", "models", "plots/train/history.csv"


def main() -> None:
    params = load_params()
    splits, meta = load_splits(DATA)
    if meta["dataset"] != params.data.name:
        raise ValueError(
            f"{DATA} holds '{meta['dataset']}' but params data.name is "
            f"'{params.data.name}': run `dvc repro prepare`"
        )
    check_tracking(resolve_tracking_uri(params.tracking))

    name = describe_run(params)
    logger = make_logger(params, "train", name, run_tags(params, "train", meta["content_hash"]))
    logger.log_hyperparams(as_flat_dict(params))
    config = write_atomic(
        f"{MODELS}/resolved_params.yaml",
        yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False),
    )
    logger.experiment.log_artifact(logger.run_id, str(config))
    result = fit(params, splits, logger=logger, checkpoint_dir=MODELS)

    client, run_id = logger.experiment, logger.run_id
    client.set_tag(run_id, "genlab.status", result.status)
    if result.status == "diverged":
        client.set_tag(run_id, "genlab.diverged_reason", result.reason)
        client.set_terminated(run_id, "FAILED")
    write_csv(HISTORY, reproducible_history(result.history))
    write_json(
        f"{MODELS}/train.json",
        {
            "run_id": run_id,
            "experiment_id": logger.experiment_id,
            "run_name": name,
            "status": result.status,
            "reason": result.reason,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "data_hash": meta["content_hash"],
        },
    )
    last = result.history[-1] if result.history else {}
    print(
        f"train: {name}: {result.status} after {result.epochs_run} epochs, best epoch "
        f"{result.best_epoch}, last val/loss {last.get('val/loss', float('nan')):.4f} "
        f"(MLflow run {run_id})"
    )


if __name__ == "__main__":
    run_stage("train", main)
