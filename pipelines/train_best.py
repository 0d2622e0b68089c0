"""Stage `train_best`: retrain the study's winning configuration and report test metrics once.

Run: `dvc repro train_best` (runs `tune` first when the study is stale).
Reads: best_params.yaml (from tune); params `seed`, `data`, `model`, `train`, `tracking`,
`tune.torch_threads`, `tune.train_best`.
Writes: tuned/model.ckpt (the epoch with the best `train.selection.metric`, the study's
objective), metrics/train_best.json (test loss and accuracy, gap), results/train_best.json
(train/val/test loss and accuracy, gap, the study's value for comparison, `to_judge`: what the
`diagnosis` stage labels), plots/train_best/ (per-epoch history, learning curve); an MLflow run
in genlab/train_best tagged with the study and the trial.
"""

from argparse import Namespace
from pathlib import Path

import yaml

from genlab.cli import TrackingGuard, run_stage
from genlab.config import load_params
from genlab.data import make_splits
from genlab.distributed import is_primary
from genlab.evaluation import evaluate_splits
from genlab.headline import tuned_model, write_results
from genlab.judged import judged, known_baseline, to_judge
from genlab.outputs import reproducible_history, write_csv
from genlab.plotting import learning_curves
from genlab.stages.tune.space import retrain_params
from genlab.tracking import (
    check_tracking,
    describe_run,
    resolve_tracking_uri,
    run_params,
    run_tags,
    splits_hash,
    study,
)
from genlab.training import fit, use_threads

PATHS = ("best", "out", "metrics", "results", "plots")


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


def main(paths: Namespace) -> None:
    params = load_params()
    best = read_best(Path(paths.best))
    model_dir, plots = paths.out, Path(paths.plots)
    variant = retrain_params(params, best)
    splits = make_splits(variant.data, variant.seed)
    use_threads(variant.train.torch_threads)  # tune.torch_threads, as in the trials
    if not is_primary():  # another DDP rank: train its part, leave runs and files to rank 0
        stop = TrackingGuard().callbacks()  # stops with rank 0 if its tracking server dies
        fit(variant, splits, checkpoint_dir=model_dir, distributed=True, extra_callbacks=stop)
        return
    check_tracking(resolve_tracking_uri(params.tracking))

    name = describe_run(variant)
    tags = {
        **run_tags(variant, "train_best", splits_hash(splits)),
        "optuna.study": str(best.get("study")),
        "optuna.best_trial": str(best.get("trial")),
    }
    # Ends FINISHED, FAILED when the fit diverged or the stage fails, KILLED on Ctrl-C.
    with study(variant, "train_best", name, tags, logger=True) as run:
        logger = run.logger
        logger.log_hyperparams(run_params(variant, "tune.train_best"))  # what applies
        guard = TrackingGuard(logger, spawned=variant.train.strategy == "ddp_spawn")
        result = fit(variant, splits, logger=logger, checkpoint_dir=model_dir, distributed=True,
                     extra_callbacks=guard.callbacks())

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
        finals = {
            f"final/{key}": value
            for key, value in metrics.items()
            if isinstance(value, float) and "/" in key and not key.startswith("study/")
        }
        # labelled by the `diagnosis` stage: a threshold change retrains nothing
        judge = [judged("tuned", metrics, run.run_id)]
        metrics["to_judge"] = to_judge(judge, known_baseline(splits.info))
        # Local outputs first: a tracking server lost during or after the fit costs the run's
        # last metrics and tags, not the trained model and its numbers.
        write_results(paths.results, metrics, paths.metrics, tuned_model(metrics))
        write_csv(plots / "history.csv", reproducible_history(result.history))
        title = f"{name} (tuned)"
        fig = learning_curves(result.history, plots / "learning_curve.png", title=title)
        guard.check()
        run.log_metrics(run.run_id, finals)
        run.artifact(fig, paths.best)
        run.outcome(result.status, result.reason)
    scores = ", ".join(
        f"{k} {metrics[k]:.4f}" for k in ("val/loss", "test/loss", "test/acc") if k in metrics
    )
    print(
        f"train_best: {name} (study {best.get('study')}, trial {best.get('trial')}): "
        f"{result.status} after {result.epochs_run} epochs; {scores or result.reason} "
        f"(MLflow run {run.run_id})"
    )


if __name__ == "__main__":
    run_stage("train_best", main, paths=PATHS)
