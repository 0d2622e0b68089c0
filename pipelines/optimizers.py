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
The study: genlab.stages.optimizers, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("optimizers", "genlab.stages.optimizers", paths=["results", "plots"])
