"""Stage `train`: fit the model in params on the prepared data with Lightning, tracked in MLflow.

Run: `dvc repro train`, or `dvc exp run -S train.optimizer.lr=0.01` to try a variant.
Reads: params `seed`, `model`, `train`, `tracking`; data/prepared.
Writes: models/model.ckpt (epoch with the best val/loss), models/train.json (status, epochs;
no run id: the MLflow run carries the checkpoint's sha256 instead), plots/train/history.csv
(per-epoch train/val/test metrics).
Scale out with `train.devices` / `num_nodes` (DDP): only rank 0 tracks and writes.
"""

import yaml

from genlab.cli import TrackingGuard, run_stage
from genlab.config import load_params
from genlab.data import load_splits
from genlab.distributed import is_primary
from genlab.outputs import reproducible_history, write_atomic, write_csv, write_json
from genlab.tracking import (
    CHECKPOINT_TAG,
    check_tracking,
    describe_run,
    file_sha256,
    make_logger,
    resolve_tracking_uri,
    run_params,
    run_tags,
)
from genlab.training import fit, use_threads

DATA, MODELS, HISTORY = "data/prepared", "models", "plots/train/history.csv"


def main() -> None:
    params = load_params()
    splits, meta = load_splits(DATA)
    if meta["dataset"] != params.data.name:
        raise ValueError(
            f"{DATA} holds '{meta['dataset']}' but params data.name is "
            f"'{params.data.name}': run `dvc repro prepare`"
        )
    use_threads(params.train.torch_threads)
    name = describe_run(params)
    if not is_primary():  # another DDP rank: train its part, leave runs and files to rank 0
        stop = TrackingGuard().callbacks()  # stops with rank 0 if its tracking server dies
        fit(params, splits, checkpoint_dir=MODELS, distributed=True, extra_callbacks=stop)
        return
    check_tracking(resolve_tracking_uri(params.tracking))
    logger = make_logger(params, "train", name, run_tags(params, "train", meta["content_hash"]))
    logger.log_hyperparams(run_params(params))  # only what applies: not data.poly.* etc.
    config = write_atomic(
        f"{MODELS}/resolved_params.yaml",
        yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False),
    )
    logger.experiment.log_artifact(logger.run_id, str(config))
    guard = TrackingGuard(logger, spawned=params.train.strategy == "ddp_spawn")
    result = fit(params, splits, logger=logger, checkpoint_dir=MODELS, distributed=True,
                 extra_callbacks=guard.callbacks())

    # Local outputs first: a tracking server lost during or after the fit costs the run's
    # last tags, not the trained model.
    write_csv(HISTORY, reproducible_history(result.history))
    write_json(
        f"{MODELS}/train.json",
        {  # no run id: same training, same bytes (the run is found by CHECKPOINT_TAG)
            "run_name": name,
            "status": result.status,
            "reason": result.reason,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "data_hash": meta["content_hash"],
        },
    )
    guard.check()
    client, run_id = logger.experiment, logger.run_id
    client.set_tag(run_id, "genlab.status", result.status)
    client.set_tag(run_id, CHECKPOINT_TAG, file_sha256(result.best_checkpoint))
    if result.status == "diverged":
        client.set_tag(run_id, "genlab.diverged_reason", result.reason)
    client.set_terminated(run_id, "FINISHED" if result.status == "ok" else "FAILED")
    last = result.history[-1] if result.history else {}
    print(
        f"train: {name}: {result.status} after {result.epochs_run} epochs, best epoch "
        f"{result.best_epoch}, last val/loss {last.get('val/loss', float('nan')):.4f} "
        f"(MLflow run {run_id})"
    )


if __name__ == "__main__":
    run_stage("train", main)
