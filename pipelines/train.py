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
The stage: genlab.stages.train, run through the study contract (genlab.study).
"""

import argparse

from genlab import stage_paths
from genlab.cli import run_stage

PATHS = ("data", "out", "history")


def arguments() -> argparse.ArgumentParser:
    """The stage's name, model and paths; `--help` is run_stage's (it prints the docstring)."""
    parser = stage_paths.parser_for("train", PATHS)
    parser.add_argument("--stage", default="train", help="MLflow experiment and stage tag")
    parser.add_argument("--model", choices=("mlp", "poly", "cnn1d"), help="default: model.name")
    return parser


if __name__ == "__main__":
    known, _ = arguments().parse_known_args()  # the stage's name, for run_stage's messages
    run_stage(known.stage, "genlab.stages.train", paths=PATHS, parser=arguments())
