"""Stage `train_seeds`: the flagship (the main model and the 1-D CNN) over several seeds.

Run: `dvc repro train_seeds`; then see results/train_seeds.json or the report.
Reads: params `seed`, `model`, `train` (the keys `train` reads), `train_seeds`, `tracking`;
data/prepared; models/train.json, plots/train/history.csv and their `train_cnn` twins (params'
own seed: the selected epoch of what `train` / `train_cnn` trained).
Writes: results/train_seeds.json (per model: mean and std over seeds of train/test accuracy,
loss and gap; the claims "the CNN's test accuracy is higher / its gap smaller" seed by seed;
`to_judge`: what the `diagnosis` stage labels), plots/train_seeds/seeds.csv (one row per model
and seed); MLflow experiment `genlab/train_seeds`: one parent run, one child run per model and
seed it trains (curves per epoch).
The study: genlab.stages.train_seeds, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

PATHS = ("data", "record", "history", "cnn_record", "cnn_history", "results", "plots")

if __name__ == "__main__":
    run_stage("train_seeds", "genlab.stages.train_seeds", paths=PATHS)
