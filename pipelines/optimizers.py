"""Stage `optimizers`: GD vs SGD vs mini-batch vs momentum vs Adam on one model, data and seed.

Run: `dvc repro optimizers`; then open results/optimizers.json (or the report), `dvc plots show`.
Reads: params `seed`, `optimizers`, `data.<optimizers.dataset>` (the generator's knobs),
`train.accelerator`, `train.eval_batch_size`, `tracking`.
Writes: results/optimizers.json (per-variant final losses, updates, noise, timings and the
lecture's claims checked), plots/optimizers/ (per-variant curves, summary.csv, optimizers.png);
MLflow experiment `genlab/optimizers`: one parent run, one child run per variant.
"""

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/optimizers.json", "plots/optimizers"


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    from genlab.experiments import optimizers  # after validation: a bad param fails in a second

    study = optimizers.run_study(params)
    artifacts = optimizers.write_outputs(study, PLOTS, RESULTS)
    study.runs.finish(artifacts, {})
    print(optimizers.summary_line(study))


if __name__ == "__main__":
    run_stage("optimizers", main)
