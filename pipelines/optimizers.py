"""Stage `optimizers`: GD vs SGD vs mini-batch vs momentum vs Adam on one model and data, over
`optimizers.seeds` seeds.

Run: `dvc repro optimizers`; then open results/optimizers.json (or the report), `dvc plots show`.
Reads: params `seed`, `optimizers`, `data.<optimizers.dataset>` (the generator's knobs),
`train.accelerator`, `train.eval_batch_size`, `tracking`.
Writes: results/optimizers.json (per variant, mean and sample std over seeds: final losses,
noise, timings; updates; the lecture's claims checked seed by seed, each holding in k of n
seeds), plots/optimizers/ (per-variant curves of the first seed, summary.csv: one row per
variant, seeds.csv: one row per variant and seed, optimizers.png); MLflow experiment
`genlab/optimizers`: one parent run (the means), one child run per variant and seed.
"""

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/optimizers.json", "plots/optimizers"


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    from genlab.stages import optimizers  # after validation: a bad param fails in a second

    splits = optimizers.study_data(params)
    with optimizers.open_runs(params, splits) as runs:
        study = optimizers.run_study(params, splits, runs)
        artifacts = optimizers.write_outputs(study, PLOTS, RESULTS)
        runs.log_metrics(runs.run_id, optimizers.parent_metrics(study))
        runs.artifact(*artifacts)
    print(optimizers.summary_line(study))


if __name__ == "__main__":
    run_stage("optimizers", main)
