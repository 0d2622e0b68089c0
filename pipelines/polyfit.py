"""Stage `polyfit`: underfit, good fit, overfit over the polynomial degree, two ways of fitting.

Run: `dvc repro polyfit`, or `dvc exp run -S polyfit.gd.max_epochs=1000` to give GD more time.
Reads: params `seed`, `data.poly`, `polyfit`, `train.eval_batch_size`, `tracking`.
Writes: results/polyfit.json (val-selected degree and losses per method), plots/polyfit/
(ls.csv and gd.csv: train/val/test loss per degree; errors.png; curves.png), `to_judge` (what
the `diagnosis` stage labels); MLflow experiment
`genlab/polyfit`: one parent run, one child per degree, figures on the parent.
The study: genlab.stages.polyfit, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("polyfit", "genlab.stages.polyfit", paths=["results", "plots"])
