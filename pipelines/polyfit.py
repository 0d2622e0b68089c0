"""Stage `polyfit`: underfit, good fit, overfit over the polynomial degree, two ways of fitting.

Run: `dvc repro polyfit`, or `dvc exp run -S polyfit.gd.max_epochs=1000` to give GD more time.
Reads: params `seed`, `data.poly`, `polyfit`, `train.eval_batch_size`, `tracking`.
Writes: results/polyfit.json (val-selected degree and losses per method), plots/polyfit/
(ls.csv and gd.csv: train/val/test loss per degree; errors.png; curves.png), `to_judge` (what
the `diagnosis` stage labels); MLflow experiment
`genlab/polyfit`: one parent run, one child per degree, figures on the parent.
"""

from pathlib import Path

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.outputs import write_csv, write_json
from genlab.stages.polyfit import (
    METHODS,
    models_to_judge,
    plot_curves,
    plot_errors,
    run_polyfit,
    summary,
    track,
)
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/polyfit.json", Path("plots/polyfit")


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    cfg = params.polyfit
    result = run_polyfit(params)
    metrics = summary(result, cfg.curve_degrees)
    figures = [
        plot_errors(result, PLOTS / "errors.png"),
        plot_curves(result, sorted(cfg.curve_degrees), PLOTS / "curves.png"),
    ]
    for method in METHODS:
        write_csv(PLOTS / f"{method}.csv", result.rows(method))
    run_id, children = None, {}
    try:
        run_id, children = track(params, result, figures, metrics)
    finally:  # the numbers are computed: a tracking server lost meanwhile must not lose them
        judge = models_to_judge(result, children)
        write_json(RESULTS, metrics | {"mlflow_run_id": run_id, "to_judge": judge})
    ls, gd = metrics["ls"], metrics["gd"]
    top = max(cfg.curve_degrees)
    print(
        f"polyfit: {len(result.degrees)} degrees on {metrics['n_train']} points; best by val: "
        f"LS degree {ls['best_degree']} (test {ls['best/test/loss']:.4f}), GD degree "
        f"{gd['best_degree']} (test {gd['best/test/loss']:.4f}); degree {top} test: LS "
        f"{ls[f'degree{top}/test/loss']:.4g}, GD {gd[f'degree{top}/test/loss']:.4g} "
        f"(MLflow run {run_id})"
    )


if __name__ == "__main__":
    run_stage("polyfit", main)
