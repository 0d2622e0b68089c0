"""Stage `biasvar`: the bias-variance decomposition, measured over model complexity.

Run: `dvc repro biasvar`, or `dvc exp run -S biasvar.draws=400` for a smaller Monte-Carlo error.
Reads: params `seed`, `data.poly`, `data.gaussians`, `biasvar`, `tracking`.
Writes: results/biasvar.json (per sweep: best level, identity check, the shortcut's accuracy),
plots/biasvar/ (one CSV per sweep: bias, variance, noise, measured expected error, sum, its
Monte-Carlo standard error, training error, gap; regression.png, classification.png,
shortcut.png); MLflow experiment `genlab/biasvar`: a parent run, one child per level.
The study: genlab.stages.biasvar, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("biasvar", "genlab.stages.biasvar", paths=["results", "plots"])
