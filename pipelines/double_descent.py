"""Stage `double_descent`: test error over MLP width on MNIST-1D with label noise, past the
interpolation threshold, where the classical U-curve breaks.

Run: `dvc repro double_descent`, or `dvc exp run -S double_descent.label_noise=0` to see the
curve without corrupted labels.
Reads: params `seed`, `data.mnist1d` (the generator and its splits), `double_descent`,
`tracking`.
Writes: results/double_descent.json (every width's mean, std, min and max over the seeds, the
epoch curve; the reading: interpolation width, peak and classical-minimum widths and test
errors, widest and best test error, whether a second descent is seen; its sentence),
plots/double_descent/ (width.csv, epochs.csv, seeds.csv; width.png, epochs.png); MLflow
experiment `genlab/double_descent`: a parent run, one child per width (the epoch curve as steps
on its width's child).
"""

from pathlib import Path

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.outputs import write_csv, write_json
from genlab.stages.double_descent.figures import plot_epochs, plot_width
from genlab.stages.double_descent.study import run_double_descent, summary, track
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/double_descent.json", Path("plots/double_descent")


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    result = run_double_descent(params)
    results = summary(result)
    write_csv(PLOTS / "width.csv", result.width_rows())
    write_csv(PLOTS / "epochs.csv", result.epoch_rows())
    write_csv(PLOTS / "seeds.csv", result.seed_rows())
    figures = [plot_width(result, PLOTS / "width.png"), plot_epochs(result, PLOTS / "epochs.png")]
    run_id = None
    try:
        run_id = track(params, result, figures, results)
    finally:  # the numbers are computed: a tracking server lost meanwhile must not lose them
        write_json(RESULTS, results | {"mlflow_run_id": run_id})
    print(f"double_descent: {results['sentence']} (MLflow run {run_id})")


if __name__ == "__main__":
    run_stage("double_descent", main)
