"""Stage `diagnosis`: label every model the studies trained (underfit / overfit / good fit).

Run: `dvc repro diagnosis` (also after `dvc exp run -S diagnosis.classification.overfit_gap=0.2`:
only this stage reruns, no model is retrained).
Reads: params `diagnosis`, `tracking`; the `to_judge` block of results/{train_best,train_seeds,
regularization,optimizers,lr_range,polyfit}.json (each trained model's final numbers, its MLflow
run, the data's error floor).
Writes: results/diagnosis.json (per stage: each model's label, reasoning and the numbers behind
it; how many models got each label), metrics/diagnosis.json (`tuned.diagnosis`: the label of
`train_best`'s model),
plots/diagnosis/labels.csv; tags each model's MLflow run `genlab.diagnosis` (+ `_reason`).
The main model of `train` is labelled by `evaluate`, from the same rule.
The study: genlab.stages.diagnosis, run through the study contract (genlab.study).
"""

from genlab import stage_paths
from genlab.cli import run_stage

PATHS = ("studies", "metrics", "results", "plots")


def arguments():
    """`--studies`: the results/<stage>.json files whose `to_judge` blocks are labelled."""
    parser = stage_paths.parser_for("diagnosis", PATHS[1:])
    parser.add_argument("--studies", nargs="+", metavar="PATH")
    return parser


if __name__ == "__main__":
    run_stage("diagnosis", "genlab.stages.diagnosis", paths=PATHS, parser=arguments())
