"""Stage `double_descent`: the study (`study`), its figures (`figures`), and here what the stage
runs (the study contract, `genlab.study`)."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from genlab import tracking
from genlab.config import Params
from genlab.outputs import write_csv, write_json
from genlab.stages.double_descent.figures import plot_epochs, plot_width
from genlab.stages.double_descent.study import (
    STAGE,
    DoubleDescentResult,
    NoisyTask,
    noisy_task,
    open_runs,
    parent_metrics,
    run_double_descent,
    summary,
    track,
)

__all__ = ["STAGE", "data", "line", "open_runs", "parent_metrics", "run", "track", "write"]


def data(params: Params, paths: Namespace) -> NoisyTask:
    """`data.mnist1d`'s signals, K noisy training subsets: made before any run exists."""
    return noisy_task(params)


def run(params: Params, task: NoisyTask, runs: tracking.Study) -> DoubleDescentResult:
    result = run_double_descent(params, task)
    result.run_id = runs.run_id
    return result


def write(result: DoubleDescentResult, paths: Namespace) -> list[Path]:
    """plots/double_descent/{width,epochs,seeds}.csv, width.png, epochs.png and
    results/double_descent.json; the figures go on the parent run."""
    plots = Path(paths.plots)
    write_csv(plots / "width.csv", result.width_rows())
    write_csv(plots / "epochs.csv", result.epoch_rows())
    write_csv(plots / "seeds.csv", result.seed_rows())
    figures = [plot_width(result, plots / "width.png"), plot_epochs(result, plots / "epochs.png")]
    write_json(paths.results, summary(result) | {"mlflow_run_id": result.run_id})
    return figures


def line(result: DoubleDescentResult, run_id: str | None) -> str:
    return f"double_descent: {summary(result)['sentence']} (MLflow run {run_id})"
