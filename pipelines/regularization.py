"""Stage `regularization`: what each regularizer does to training and test error.

Run: `dvc repro regularization`; then open results/regularization.json (or the report).
Reads: params `seed`, `model`, `train`, `regularization`, `tracking`; data/prepared.
Writes: results/regularization.json (per variant, mean and std over `regularization.seeds` seeds:
final train/val/test loss and accuracy, gap, epochs to the best selection metric, near-zero
weights, the lecture claim's verdict; `to_judge`: what the `diagnosis` stage labels),
plots/regularization/ (summary.csv table, seeds.csv: one row per variant and seed, curves.csv,
curves.png, summary.png); MLflow experiment `genlab/regularization`: one parent run, one child
run per variant and seed.
"""

import torch

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.data import load_splits
from genlab.outputs import write_csv, write_json
from genlab.stages.regularization.figures import regularization_curves, regularization_summary
from genlab.stages.regularization.study import (
    curve_rows,
    epochs_claim,
    open_runs,
    plan_study,
    run_study,
    seed_rows,
    summary_rows,
)
from genlab.tracking import check_tracking, resolve_tracking_uri

NAN = float("nan")
DATA, RESULTS, PLOTS = "data/prepared", "results/regularization.json", "plots/regularization"


def main() -> None:
    params = load_params()
    splits, _ = load_splits(DATA)
    check_tracking(resolve_tracking_uri(params.tracking))
    # These models are tiny: one thread avoids hand-offs that cost more than the math
    # (4-10x slower per epoch with 2 threads on a busy 2-core machine).
    torch.set_num_threads(params.regularization.torch_threads)

    plan = plan_study(params, splits)  # every variant validated before any run exists
    with open_runs(params, plan) as runs:
        study = run_study(params, plan, runs)
        target = params.regularization.train_loss_target
        rows = summary_rows(study.results, target)  # per variant: mean and std over seeds
        per_seed = seed_rows(study.results, target)
        first = [r for r in study.results if r.seed == params.seed]  # curves: one seed
        files = [
            write_csv(f"{PLOTS}/summary.csv", rows),
            write_csv(f"{PLOTS}/seeds.csv", per_seed),
            write_csv(f"{PLOTS}/curves.csv", curve_rows(study.results)),
            regularization_curves(first, f"{PLOTS}/curves.png", seed=params.seed),
            regularization_summary(rows, f"{PLOTS}/summary.png"),
        ]
        variants = {
            r["variant"]: {k: v for k, v in r.items() if k not in ("variant", "regularizers")}
            for r in rows
        }
        write_json(
            RESULTS,
            {
                "n_train": study.n_train,
                "seeds": sorted({r.seed for r in study.results}),
                "variants": variants,
                "epochs_to_train_loss": epochs_claim(per_seed, target),
                "to_judge": study.to_judge(),
            },
        )
        runs.artifact(*files)

    none = variants["none"]
    ok = [r for r in rows if r["status"] == "ok"]
    best = min(ok, key=lambda r: r["test/loss"]) if ok else {"variant": "-", "test/loss": NAN}
    holds = sum(r["claim_loss"] == "holds" for r in rows)
    print(
        f"regularization: {len(rows)} variants x {none['seeds']} seeds on {study.n_train} "
        "training samples; none (mean over seeds): "
        f"train/loss {none['train/loss']:.3f}, test/loss {none['test/loss']:.3f}; "
        f"best test/loss {best['test/loss']:.3f} ({best['variant']}); "
        f"claim holds (loss, every seed) for {holds}/{len(rows) - 1} "
        f"(MLflow run {study.parent_run_id})"
    )


if __name__ == "__main__":
    run_stage("regularization", main)
