"""Stage `train`: fit the model in params on the prepared data with Lightning, tracked in MLflow.

Run: `dvc repro train`, or `dvc exp run -S train.optimizer.lr=0.01` to try a variant. The same
script is the `train_cnn` stage: `--stage train_cnn --model cnn1d` trains model.cnn1d with the
same data and `train` settings, beside the MLP (`--out models_cnn --history ...`: dvc.yaml gives
each stage its paths, `--data`, `--out`, `--history`; run by hand, the stage takes them from
its `cmd` there).
Reads: params `seed`, `model`, `train`, `tracking`; data/prepared.
Writes: models/resolved_params.yaml (the values of the params dvc.yaml declares for the
stage), models/model.ckpt (the epoch with the best `train.selection.metric`: val/acc for
classification by default), models/train.json (status, epochs;
no run id: the MLflow run carries the checkpoint's sha256 instead), plots/train/history.csv
(per-epoch train/val/test metrics). A `--model` that params
refuse (cnn1d needs data mnist1d, its batch norm batches of 2+) writes a `skipped` train.json
and an empty history, and no run: the other stages go on.
Scale out with `train.devices` / `num_nodes` (DDP): only rank 0 tracks and writes.
"""

import argparse

import yaml

from genlab import stage_paths
from genlab.cli import TrackingGuard, run_stage
from genlab.config import ConfigError, load_params, values_of, with_overrides
from genlab.data import load_splits
from genlab.distributed import is_primary
from genlab.outputs import reproducible_history, write_atomic, write_csv, write_json
from genlab.tracking import (
    CHECKPOINT_TAG,
    check_tracking,
    describe_run,
    file_sha256,
    metrics_note,
    resolve_tracking_uri,
    run_params,
    run_tags,
    splits_hash,
    study,
)
from genlab.training import fit, use_threads

PATHS = ("data", "out", "history")


def arguments() -> argparse.ArgumentParser:
    """The stage's name, model and paths; `--help` is run_stage's (it prints the docstring)."""
    parser = stage_paths.parser_for("train", PATHS)
    parser.add_argument("--stage", default="train", help="MLflow experiment and stage tag")
    parser.add_argument("--model", choices=("mlp", "poly", "cnn1d"), help="default: model.name")
    return parser


def main(args: argparse.Namespace) -> None:
    params = load_params()
    splits, meta = load_splits(args.data)
    if meta["dataset"] != params.data.name:
        raise ValueError(
            f"{args.data} holds '{meta['dataset']}' but params data.name is "
            f"'{params.data.name}': run `dvc repro prepare`"
        )
    models, history = args.out, args.history
    if args.model is not None:
        try:
            params = with_overrides(params, {"model.name": args.model})
        except ConfigError as err:  # e.g. cnn1d on the 2-D gaussians: nothing to train
            lines = [line.strip() for line in str(err).splitlines()]
            skip(args, meta, "; ".join(lines[1:]) or lines[0])
            return
    use_threads(params.train.torch_threads)
    name = describe_run(params)
    if not is_primary():  # another DDP rank: train its part, leave runs and files to rank 0
        stop = TrackingGuard().callbacks()  # stops with rank 0 if its tracking server dies
        fit(params, splits, checkpoint_dir=models, distributed=True, extra_callbacks=stop)
        return
    check_tracking(resolve_tracking_uri(params.tracking))
    # A second training stage selects like `train`: its run page explains `final/*` the same way.
    note = metrics_note("train") if args.stage != "train" else ""
    tags = run_tags(params, args.stage, splits_hash(splits), description=note)
    # Ends FINISHED, FAILED when the fit diverged or the stage fails, KILLED on Ctrl-C.
    with study(params, args.stage, name, tags, logger=True) as run:
        logger = run.logger
        logger.log_hyperparams(run_params(params))  # only what applies: not data.poly.* etc.
        # the values of the params dvc.yaml declares for the stage: what the model depends on
        resolved = values_of(params, stage_paths.params(args.stage))
        config = write_atomic(
            f"{models}/resolved_params.yaml", yaml.safe_dump(resolved, sort_keys=False)
        )
        run.mlflow.log_artifact(run.run_id, str(config))
        guard = TrackingGuard(logger, spawned=params.train.strategy == "ddp_spawn")
        result = fit(params, splits, logger=logger, checkpoint_dir=models, distributed=True,
                     extra_callbacks=guard.callbacks())

        # Local outputs first: a tracking server lost during or after the fit costs the run's
        # last tags, not the trained model.
        write_csv(history, reproducible_history(result.history))
        write_json(
            f"{models}/train.json",
            {  # no run id: same training, same bytes (the run is found by CHECKPOINT_TAG)
                "run_name": name,
                "model": params.model.name,
                "status": result.status,
                "reason": result.reason,
                "selected_by": params.train.selected.name,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "data_hash": meta["content_hash"],
            },
        )
        guard.check()
        run.mlflow.set_tag(run.run_id, CHECKPOINT_TAG, file_sha256(result.best_checkpoint))
        run.outcome(result.status, result.reason)
    key = params.train.selected.name
    best = next((r for r in result.history if r["epoch"] == result.best_epoch), {})
    print(
        f"{args.stage}: {name}: {result.status} after {result.epochs_run} epochs, best epoch "
        f"{result.best_epoch} ({key} {best.get(key, float('nan')):.4f}) (MLflow run {run.run_id})"
    )


def skip(args: argparse.Namespace, meta: dict, reason: str) -> None:
    """Record that `--model` cannot train on this data, so the pipeline (and `evaluate`, which
    reports it) goes on with the other model: a dataset switch must not break `dvc repro`."""
    if not is_primary():
        return
    write_csv(args.history, [])
    write_json(
        f"{args.out}/train.json",
        {"run_name": "", "model": args.model, "status": "skipped", "reason": reason,
         "best_epoch": -1, "epochs_run": 0, "data_hash": meta["content_hash"]},
    )
    print(f"{args.stage}: skipped: {reason}")


if __name__ == "__main__":
    known, _ = arguments().parse_known_args()  # the stage's name, for run_stage's messages
    run_stage(known.stage, lambda: main(stage_paths.parse(known.stage, arguments(), PATHS)))
