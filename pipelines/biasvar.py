"""Stage `biasvar`: the bias-variance decomposition, measured over model complexity.

Run: `dvc repro biasvar`, or `dvc exp run -S biasvar.draws=400` for a smaller Monte-Carlo error.
Reads: params `seed`, `data.poly`, `data.gaussians`, `biasvar`, `tracking`.
Writes: results/biasvar.json (per sweep: best level, identity check, the shortcut's accuracy),
plots/biasvar/ (one CSV per sweep: bias, variance, noise, measured expected error, sum, its
Monte-Carlo standard error, training error, gap; regression.png, classification.png,
shortcut.png); MLflow experiment `genlab/biasvar`: a parent run, one child per level.
"""

from pathlib import Path

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.outputs import write_csv, write_json
from genlab.stages.biasvar import (
    plot_classification,
    plot_regression,
    plot_shortcut,
    run_biasvar,
    summary,
    track,
)
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/biasvar.json", Path("plots/biasvar")


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    result = run_biasvar(params)
    metrics = summary(result)
    for task, sweep in result.sweeps():
        write_csv(PLOTS / f"{task}_{sweep}.csv", [lv.row() for lv in result.sweep(task, sweep)])
    figures = [
        plot_regression(result, PLOTS / "regression.png"),
        plot_classification(result, PLOTS / "classification.png"),
        plot_shortcut(result, PLOTS / "shortcut.png"),
    ]
    run_id = None
    try:
        run_id = track(params, result, figures, metrics)
    finally:  # the numbers are computed: a tracking server lost meanwhile must not lose them
        write_json(RESULTS, metrics | {"mlflow_run_id": run_id})
    z = max(abs(lv.decomposition.z) for lv in result.levels)
    reg, clf = metrics["regression"], metrics["classification"]
    print(
        f"biasvar: {len(result.levels)} levels x K={metrics['draws']} models; best degree "
        f"{reg['degree']['best']}, width {reg['width']['best']}, epochs {reg['epochs']['best']} "
        f"(regression), width {clf['width']['best']} (0-1 loss, Bayes error "
        f"{clf['bayes_error']:.3f}); expected error = sum of terms within {z:.1f} s.e. "
        f"(MLflow run {run_id})"
    )


if __name__ == "__main__":
    run_stage("biasvar", main)
