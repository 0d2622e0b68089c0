"""What the `tune` stage runs, through the study contract (`genlab.study`): the study over the
search space (`workers.run_study`), then what it says (`results`, `figures`) written as the
stage's outputs and summed up on the study's shared MLflow parent run."""

from __future__ import annotations

import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import yaml

from genlab import headline
from genlab.config import Params
from genlab.data import make_splits
from genlab.data.splits import Splits
from genlab.outputs import write_atomic, write_csv
from genlab.stages.tune import figures, results
from genlab.stages.tune.runs import STAGE, shared_parent
from genlab.stages.tune.space import base_params, check_space, objective_metric
from genlab.stages.tune.trials import STATUS_NAMES
from genlab.stages.tune.workers import StudyResult, run_study
from genlab.tracking import Study

__all__ = ["STAGE", "data", "line", "open_runs", "parent_metrics", "run", "write"]


@dataclass(frozen=True)
class Inputs:
    splits: Splits  # generated from `tune.data` and the seed: train and val only reach trials
    started: float  # perf_counter at the start, for the stage's line


@dataclass
class Tuned:
    """A finished study and what it says (`publish`)."""

    study: StudyResult
    metric: str
    direction: str
    best: dict  # best_params.yaml: the winning trial and its overrides
    rows: list[dict]  # one per trial
    per_batch: list[dict]  # the best lr of each batch size
    slope: float  # d log(best lr) / d log(batch size)
    importance: dict
    metrics: dict  # results/tune.json (headline: metrics/tune.json)
    epochs: int  # trained by the study's trials, all processes together
    started: float
    parent: Study  # the study's shared parent run


def data(params: Params, paths: Namespace) -> Inputs:
    started = time.perf_counter()
    check_space(params)
    return Inputs(make_splits(base_params(params).data, params.seed), started)


def open_runs(params: Params, data: Inputs):
    """The study's parent run, shared with every process working on it (`runs`)."""
    return shared_parent(params)


def run(params: Params, data: Inputs, runs: Study) -> Tuned:
    """Work the study until it holds `tune.n_trials` trials, then read what it says (raises,
    nothing written, if no trial completed)."""
    result = run_study(params, data.splits)
    runs.run_id = result.parent_run_id  # found or made by the study: ended by this block
    tune, study = params.tune, result.study
    selected = objective_metric(params)  # train.selection.metric, resolved for tune.loss
    metric, direction = selected.name, selected.direction
    best = results.best_params_doc(params, study)
    rows = results.trial_rows(study, tune)
    per_bs = results.best_lr_per_batch(rows, direction)
    slope = results.loglog_slope([(b["batch_size"], b["lr"]) for b in per_bs])
    importance = results.importance_record(study, params.seed, tune.min_trials_for_importance)
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
    return Tuned(result, metric, direction, best, rows, per_bs, slope, importance, metrics,
                 epochs, data.started, runs)


def write(result: Tuned, paths: Namespace) -> list[Path]:
    """best_params.yaml (read by train_best), results/ and metrics/tune.json, the tables and
    figures in plots/tune/; the parent run attaches the figures and best_params.yaml."""
    plots, rows, study = Path(paths.plots), result.rows, result.study.study
    metric, direction = result.metric, result.direction
    header = (
        f"# Written by `dvc repro tune` (study {result.study.name}, {result.study.storage}): "
        f"the trial with the best {metric}.\n# train_best trains params.yaml + `overrides`. "
        "Do not edit.\n"
    )
    write_atomic(paths.best, header + yaml.safe_dump(result.best, sort_keys=False))
    headline.write_results(paths.results, result.metrics, paths.metrics,
                           headline.study(result.metrics))
    imp = result.importance["importance"]  # a ranking only where importance_reliable
    write_csv(plots / "trials.csv", rows)
    write_csv(plots / "history.csv", results.history_rows(rows, direction))
    write_csv(plots / "landscape.csv", [r for r in rows if r["status"] == "complete"])
    write_csv(plots / "best_lr_per_batch.csv", result.per_batch)
    write_csv(plots / "importances.csv", [{"param": k, "importance": v} for k, v in imp.items()])
    return [
        figures.history_figure(study, rows, metric, direction, plots / "optimization_history.png"),
        figures.importance_figure(study, result.importance, plots / "param_importances.png"),
        figures.landscape_figure(rows, metric, direction, result.slope, plots / "lr_batch.png"),
        Path(paths.best),
    ]


def parent_metrics(result: Tuned) -> dict:
    return {"best/" + result.metric: result.best["value"], "epochs_trained": result.epochs}


def annotate(params: Params, result: Tuned) -> str:
    """The best trial on the parent run (which the block then ends FINISHED)."""
    result.parent.tag(result.parent.run_id, {"optuna.best_trial": str(result.best["trial"])})
    return ""


def line(result: Tuned, run_id: str | None) -> str:
    best, counts = result.best, result.metrics["trials"]
    hp = ", ".join(f"{k} {v:.3g}" for k, v in best["hyperparameters"].items())
    return (
        f"tune: {result.study.name}: {result.study.new_trials} new trial(s), "
        f"{counts['complete']} complete / {counts['pruned']} pruned / {counts['diverged']} "
        f"diverged; best {result.metric} {best['value']:.4f} (trial {best['trial']}: {hp}); "
        f"{result.epochs} epochs trained; {time.perf_counter() - result.started:.0f} s "
        f"(MLflow run {run_id})"
    )
