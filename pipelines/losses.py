"""Stage `losses`: the loss functions' worked examples (BCE, CE, entropy and KL identities).

Run: `dvc repro losses`. Reads params `losses`. Writes results/losses.json,
plots/losses/{table.csv,loss_curves.png}.
The study: genlab.stages.losses, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

if __name__ == "__main__":
    run_stage("losses", "genlab.stages.losses", paths=["results", "plots"])
