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
The study: genlab.stages.double_descent, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("double_descent", "genlab.stages.double_descent", paths=["results", "plots"])
