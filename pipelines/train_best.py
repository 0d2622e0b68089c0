"""Stage `train_best`: retrain the study's winning configuration and report test metrics once.

Run: `dvc repro train_best` (runs `tune` first when the study is stale).
Reads: best_params.yaml (from tune); params `seed`, `data`, `model`, `train`, `tracking`,
`tune.torch_threads`, `tune.train_best`.
Writes: tuned/model.ckpt (the epoch with the best `train.selection.metric`, the study's
objective), metrics/train_best.json (test loss and accuracy, gap), results/train_best.json
(train/val/test loss and accuracy, gap, the study's value for comparison, `to_judge`: what the
`diagnosis` stage labels), plots/train_best/ (per-epoch history, learning curve); an MLflow run
in genlab/train_best tagged with the study and the trial.
Scale out with `train.devices` / `num_nodes` (DDP): only rank 0 tracks and writes.
The stage: genlab.stages.train_best, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

PATHS = ("best", "out", "metrics", "results", "plots")

if __name__ == "__main__":
    run_stage("train_best", "genlab.stages.train_best", paths=PATHS)
