"""Stage `train_best`: retrain the study's winning configuration and report test metrics once,
through the study contract (`genlab.study`).

`tune` leaves its best trial in best_params.yaml (the overrides of the winning configuration);
this stage trains that configuration on the full budget of `tune.train_best`, measures the test
split once, for this one model, and leaves `to_judge` for the `diagnosis` stage. Its run is one
fit whose Lightning logger writes into it; under DDP every rank trains its share and rank 0
alone tracks and writes (`DISTRIBUTED`).
"""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from genlab.cli import TrackingGuard
from genlab.config import Params
from genlab.data import make_splits
from genlab.data.splits import Splits
from genlab.headline import tuned_model, write_results
from genlab.judged import judged, known_baseline, to_judge
from genlab.outputs import reproducible_history, write_csv
from genlab.stages.tune.space import retrain_params
from genlab.tracking import Study, describe_run, run_tags, splits_hash, study

if TYPE_CHECKING:
    from genlab.training import FitResult

STAGE = "train_best"
DISTRIBUTED = True  # every DDP rank runs `run`; rank 0 alone opens the run and writes


@dataclass(frozen=True)
class Inputs:
    best: dict  # best_params.yaml: the study, its best trial, value and overrides
    variant: Params  # params with the winning overrides and `tune.train_best`'s budget
    splits: Splits
    models: str  # the checkpoint's folder (`--out`)


@dataclass
class Tuned:
    inputs: Inputs
    fit: FitResult | None = None  # None: another DDP rank's share
    metrics: dict = field(default_factory=dict)  # results/train_best.json
    run: Study | None = None
    guard: TrackingGuard | None = None

    @property
    def name(self) -> str:
        return describe_run(self.inputs.variant)


def read_best(path: Path) -> dict:
    fix = "run `dvc repro tune`"
    if not path.is_file():
        raise FileNotFoundError(f"{path} (the study's best configuration) is missing: {fix}")
    try:
        best = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML ({err}): {fix}") from None
    if not isinstance(best, dict) or not isinstance(best.get("overrides"), dict):
        raise ValueError(f"{path} has no 'overrides' mapping: {fix}")
    return best


def data(params: Params, paths: Namespace) -> Inputs:
    best = read_best(Path(paths.best))
    variant = retrain_params(params, best)
    splits = make_splits(variant.data, variant.seed)
    return Inputs(best, variant, splits, paths.out)


def open_runs(params: Params, data: Inputs):
    """The stage's run, made by Lightning's MLflow logger, tagged with the study and trial."""
    best, variant = data.best, data.variant
    tags = {
        **run_tags(variant, STAGE, splits_hash(data.splits)),
        "optuna.study": str(best.get("study")),
        "optuna.best_trial": str(best.get("trial")),
    }
    return study(variant, STAGE, describe_run(variant), tags, logger=True)


def run(params: Params, data: Inputs, runs: Study | None) -> Tuned:
    from genlab.evaluation import evaluate_splits  # lazy (Lightning): a missing best_params
    from genlab.training import fit_in_run, use_threads  # .yaml fails in a second

    variant, splits = data.variant, data.splits
    use_threads(variant.train.torch_threads)  # tune.torch_threads, as in the trials
    result, guard = fit_in_run(variant, splits, data.models, runs, "tune.train_best")
    if result is None:  # another DDP rank's share: rank 0 tracks and writes
        return Tuned(data)
    best = data.best
    metrics: dict = {
        "study": best.get("study"),
        "trial": best.get("trial"),
        "status": result.status,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        f"study/{best.get('metric', 'val/loss')}": best.get("value"),
    }
    if result.status == "ok":  # the test split, measured once, for this one configuration
        metrics.update(evaluate_splits(result.module, splits, variant.train.eval_batch_size))
    else:
        metrics["reason"] = result.reason
    # labelled by the `diagnosis` stage: a threshold change retrains nothing
    judge = [judged("tuned", metrics, runs.run_id)]
    metrics["to_judge"] = to_judge(judge, known_baseline(splits.info))
    return Tuned(data, result, metrics, runs, guard)


def track(runs: Study, result: Tuned) -> None:
    """A tracking server lost during the fit is reported now, after the local outputs are
    written (`write` runs all the same): it costs the run's last metrics and tags, not the
    trained model and its numbers."""
    result.guard.check()


def write(result: Tuned, paths: Namespace) -> list[Path]:
    """results/ and metrics/train_best.json, the per-epoch history and the learning curve;
    the run attaches the figure and best_params.yaml."""
    from genlab.plotting import learning_curves  # lazy: matplotlib

    plots = Path(paths.plots)
    write_results(paths.results, result.metrics, paths.metrics, tuned_model(result.metrics))
    write_csv(plots / "history.csv", reproducible_history(result.fit.history))
    fig = learning_curves(result.fit.history, plots / "learning_curve.png",
                          title=f"{result.name} (tuned)")
    return [fig, Path(paths.best)]


def parent_metrics(result: Tuned) -> dict:
    """The selected model's numbers as `final/*` (not the study's own value)."""
    return {
        f"final/{key}": value
        for key, value in result.metrics.items()
        if isinstance(value, float) and "/" in key and not key.startswith("study/")
    }


def annotate(params: Params, result: Tuned) -> str:
    """The fit's outcome: the run ends FAILED with the reason when it diverged."""
    result.run.outcome(result.fit.status, result.fit.reason)
    return ""


def line(result: Tuned, run_id: str | None) -> str:
    m, best, fitted = result.metrics, result.inputs.best, result.fit
    scores = ", ".join(f"{k} {m[k]:.4f}" for k in ("val/loss", "test/loss", "test/acc") if k in m)
    return (
        f"train_best: {result.name} (study {best.get('study')}, trial {best.get('trial')}): "
        f"{fitted.status} after {fitted.epochs_run} epochs; {scores or fitted.reason} "
        f"(MLflow run {run_id})"
    )
