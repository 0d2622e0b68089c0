"""Stage `lr_range`: the learning-rate range test per batch size, and "larger B, higher LR?".

Run: `dvc repro lr_range`; then open results/lr_range.json (or the report), `dvc plots show`.
Reads: params `seed`, `lr_range`, `data.<lr_range.dataset>` (the generator's knobs),
`train.accelerator`, `train.eval_batch_size`, `tracking`.
Writes: results/lr_range.json (slope of log lr* vs log B with its standard error, suggestions
per batch size over seeds, val/test loss at the fixed and at the suggested LR, the GPU
batch-size finder's result or why it was skipped), plots/lr_range/ (range-test curves,
suggestions, training table, lr_range.png); MLflow experiment `genlab/lr_range`: one parent
run (fit, figure, tables), one child run per (batch size, LR) training.
The study: genlab.stages.lr_range, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("lr_range", "genlab.stages.lr_range", paths=["results", "plots"])
