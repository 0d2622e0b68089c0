"""Stage `tune`: an Optuna study over learning rate, batch size and λ, pruned, resumable.

Run: `dvc repro tune` (kill it and rerun: the study resumes), then browse it with
`optuna-dashboard studies/optuna.journal` or `mlflow ui` (experiment genlab/tune).
Reads: params `seed`, `data`, `model`, `train` (`train.selection.metric` is the objective),
`tracking`, `tune`.
Writes: best_params.yaml (the winning overrides, read by train_best), metrics/tune.json,
plots/tune/ (trials, optimization history, importances, LR × batch size); one MLflow parent run
per study (shared by reruns and by every machine working on it) with a child run per trial. The
study itself lives in tune.storage (not a DVC output: it must survive reruns).

Team mode: with OPTUNA_STORAGE at a shared PostgreSQL (`source team.env`), the stage run in
several clones works on one study until it holds `tune.n_trials` trials in total; each clone
then writes the same best_params.yaml.
The stage: genlab.stages.tune.stage, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

PATHS = ("best", "metrics", "results", "plots")

if __name__ == "__main__":
    run_stage("tune", "genlab.stages.tune.stage", paths=PATHS)
