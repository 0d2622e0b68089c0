"""Stage `lr_range`: the learning-rate range test per batch size, and "larger B, higher LR?".

Run: `dvc repro lr_range`; then open results/lr_range.json (or the report), `dvc plots show`.
Reads: params `seed`, `lr_range`, `data.<lr_range.dataset>` (the generator's knobs),
`train.accelerator`, `train.eval_batch_size`, `tracking`.
Writes: results/lr_range.json (slope of log lr* vs log B with its standard error, suggestions
per batch size over seeds, val/test loss at the fixed and at the suggested LR, the GPU
batch-size finder's result or why it was skipped), plots/lr_range/ (range-test curves,
suggestions, training table, lr_range.png); MLflow experiment `genlab/lr_range`: one parent
run (fit, figure, tables), one child run per (batch size, LR) training.
"""

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.tracking import check_tracking, resolve_tracking_uri

RESULTS, PLOTS = "results/lr_range.json", "plots/lr_range"


def main() -> None:
    params = load_params()
    check_tracking(resolve_tracking_uri(params.tracking))
    from genlab.stages.lr_range import (
        study as lr_range,  # after validation: a bad param fails in a second
    )

    splits = lr_range.study_data(params)
    with lr_range.open_runs(params, splits) as runs:
        study = lr_range.run_study(params, splits, runs)
        artifacts = lr_range.write_outputs(study, PLOTS, RESULTS)
        runs.log_metrics(runs.run_id, lr_range.parent_metrics(study))
        runs.artifact(*artifacts)
    print(lr_range.summary_line(study))


if __name__ == "__main__":
    run_stage("lr_range", main)
