"""Stage `regularization`: what each regularizer does to training and test error.

Run: `dvc repro regularization`; then open results/regularization.json (or the report).
Reads: params `seed`, `model`, `train`, `regularization`, `tracking`; data/prepared.
Writes: results/regularization.json (per variant, mean and std over `regularization.seeds` seeds:
final train/val/test loss and accuracy, gap, epochs to the best selection metric, near-zero
weights, the lecture claim's verdict; `to_judge`: what the `diagnosis` stage labels),
plots/regularization/ (summary.csv table, seeds.csv: one row per variant and seed, curves.csv,
curves.png, summary.png); MLflow experiment `genlab/regularization`: one parent run, one child
run per variant and seed.
The study: genlab.stages.regularization, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("regularization", "genlab.stages.regularization", paths=["data", "results", "plots"])
