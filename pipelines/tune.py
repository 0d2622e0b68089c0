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
"""

import time
from argparse import Namespace
from pathlib import Path

import yaml

from genlab import headline
from genlab.cli import run_stage
from genlab.config import Params, load_params
from genlab.data import make_splits
from genlab.outputs import write_atomic, write_csv
from genlab.stages.tune import figures, results
from genlab.stages.tune.space import base_params, check_space, objective_metric
from genlab.stages.tune.trials import STATUS_NAMES
from genlab.stages.tune.workers import StudyResult, run_study
from genlab.tracking import check_tracking, client, end_run, error_ending, resolve_tracking_uri

PATHS = ("best", "metrics", "results", "plots")


def main(paths: Namespace) -> None:
    t0 = time.perf_counter()
    params = load_params()
    check_space(params)
    check_tracking(resolve_tracking_uri(params.tracking))
    base = base_params(params)
    splits = make_splits(base.data, params.seed)

    result = run_study(params, splits)
    try:
        publish(params, result, t0, paths)
    except BaseException as err:  # the study's shared parent: no other process ends it
        end_run(client(params), result.parent_run_id, *error_ending(err))
        raise


def publish(params: Params, result: StudyResult, t0: float, paths: Namespace) -> None:
    """Outputs, figures and the parent run's summary; nothing is written if none completed."""
    tune, study, plots = params.tune, result.study, Path(paths.plots)
    selected = objective_metric(params)  # train.selection.metric, resolved for tune.loss
    metric, direction = selected.name, selected.direction
    best = results.best_params_doc(params, study)  # raises (nothing written) if none completed
    rows = results.trial_rows(study, tune)
    per_bs = results.best_lr_per_batch(rows, direction)
    slope = results.loglog_slope([(b["batch_size"], b["lr"]) for b in per_bs])
    importance = results.importance_record(study, params.seed, tune.min_trials_for_importance)
    imp = importance["importance"]  # a ranking only where importance_reliable
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUS_NAMES}
    trained = [r for r in rows if r["status"] not in ("interrupted", "surplus")]
    epochs = sum(r["epochs"] for r in trained)
    metrics = {
        "study": result.name,
        "metric": metric,
        "direction": direction,
        "best_value": best["value"],
        "best_trial": best["trial"],
        "best": best["hyperparameters"],
        "trials": counts,
        "new_trials": result.new_trials,
        "epochs_trained": epochs,
        "epochs_fraction": epochs / (tune.max_epochs * max(1, len(trained))),
        **importance,
        "best_lr_vs_batch_slope": slope,  # d log(best lr) / d log(batch size)
        "batch_sizes_with_complete_trials": len(per_bs),
    }

    header = (
        f"# Written by `dvc repro tune` (study {result.name}, {result.storage}): the trial with "
        f"the best {metric}.\n# train_best trains params.yaml + `overrides`. Do not edit.\n"
    )
    write_atomic(paths.best, header + yaml.safe_dump(best, sort_keys=False))
    headline.write_results(paths.results, metrics, paths.metrics, headline.study(metrics))
    write_csv(plots / "trials.csv", rows)
    write_csv(plots / "history.csv", results.history_rows(rows, direction))
    write_csv(plots / "landscape.csv", [r for r in rows if r["status"] == "complete"])
    write_csv(plots / "best_lr_per_batch.csv", per_bs)
    write_csv(plots / "importances.csv", [{"param": k, "importance": v} for k, v in imp.items()])
    pngs = [
        figures.history_figure(study, rows, metric, direction, plots / "optimization_history.png"),
        figures.importance_figure(study, importance, plots / "param_importances.png"),
        figures.landscape_figure(rows, metric, direction, slope, plots / "lr_batch.png"),
    ]

    mlflow, parent = client(params), result.parent_run_id
    for path in (*pngs, Path(paths.best)):
        mlflow.log_artifact(parent, str(path))
    mlflow.log_metric(parent, "best/" + metric, best["value"])
    mlflow.log_metric(parent, "epochs_trained", epochs)
    mlflow.set_tag(parent, "optuna.best_trial", str(best["trial"]))
    end_run(mlflow, parent, "FINISHED")
    hp = ", ".join(f"{k} {v:.3g}" for k, v in best["hyperparameters"].items())
    print(
        f"tune: {result.name}: {result.new_trials} new trial(s), {counts['complete']} complete / "
        f"{counts['pruned']} pruned / {counts['diverged']} diverged; best {metric} "
        f"{best['value']:.4f} (trial {best['trial']}: {hp}); {epochs} epochs trained; "
        f"{time.perf_counter() - t0:.0f} s (MLflow run {parent})"
    )


if __name__ == "__main__":
    run_stage("tune", main, paths=PATHS)
