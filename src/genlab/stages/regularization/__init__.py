"""Stage `regularization`: the study (`study`), its figures (`figures`), and here what the stage
runs (the study contract, `genlab.study`)."""

from __future__ import annotations

import math
from argparse import Namespace
from pathlib import Path

import torch

from genlab import tracking
from genlab.config import Params
from genlab.data import load_splits
from genlab.outputs import write_csv, write_json
from genlab.stages.regularization.figures import regularization_curves, regularization_summary
from genlab.stages.regularization.study import (
    STAGE,
    Study,
    StudyPlan,
    curve_rows,
    epochs_claim,
    open_runs,
    plan_study,
    run_study,
    seed_rows,
    summary_rows,
)

__all__ = ["STAGE", "data", "line", "open_runs", "parent_metrics", "run", "write"]


def data(params: Params, paths: Namespace) -> StudyPlan:
    """The prepared data and every (variant, seed) validated, before any run exists."""
    splits, _ = load_splits(paths.data)
    # These models are tiny: one thread avoids hand-offs that cost more than the math
    # (4-10x slower per epoch with 2 threads on a busy 2-core machine).
    torch.set_num_threads(params.regularization.torch_threads)
    return plan_study(params, splits)


def run(params: Params, plan: StudyPlan, runs: tracking.Study) -> Study:
    """Each (variant, seed) trained, one MLflow child run each (curves while it trains)."""
    return run_study(params, plan, runs)


def write(study: Study, paths: Namespace) -> list[Path]:
    """plots/regularization/ (summary.csv: per variant, mean and std over the seeds; seeds.csv;
    curves.csv; curves.png of params' seed; summary.png) and results/regularization.json; the
    tables and figures go on the parent run."""
    plots = Path(paths.plots)
    rows = summary_rows(study.results, study.target)  # per variant: mean and std over seeds
    per_seed = seed_rows(study.results, study.target)
    first = [r for r in study.results if r.seed == study.seed]  # curves: one seed
    files = [
        write_csv(plots / "summary.csv", rows),
        write_csv(plots / "seeds.csv", per_seed),
        write_csv(plots / "curves.csv", curve_rows(study.results)),
        regularization_curves(first, plots / "curves.png", seed=study.seed),
        regularization_summary(rows, plots / "summary.png"),
    ]
    variants = {
        r["variant"]: {k: v for k, v in r.items() if k not in ("variant", "regularizers")}
        for r in rows
    }
    write_json(
        paths.results,
        {
            "n_train": study.n_train,
            "seeds": sorted({r.seed for r in study.results}),
            "variants": variants,
            "epochs_to_train_loss": epochs_claim(per_seed, study.target),
            "to_judge": study.to_judge(),
        },
    )
    return files


def parent_metrics(study: Study) -> dict[str, float]:
    """None: the parent holds the tables and figures, each variant's child its numbers."""
    return {}


def line(study: Study, run_id: str | None) -> str:
    rows = summary_rows(study.results, study.target)
    none = next(r for r in rows if r["variant"] == "none")
    ok = [r for r in rows if r["status"] == "ok"]
    best = min(ok, key=lambda r: r["test/loss"]) if ok else {"variant": "-", "test/loss": math.nan}
    holds = sum(r["claim_loss"] == "holds" for r in rows)
    return (
        f"regularization: {len(rows)} variants x {none['seeds']} seeds on {study.n_train} "
        "training samples; none (mean over seeds): "
        f"train/loss {none['train/loss']:.3f}, test/loss {none['test/loss']:.3f}; "
        f"best test/loss {best['test/loss']:.3f} ({best['variant']}); "
        f"claim holds (loss, every seed) for {holds}/{len(rows) - 1} "
        f"(MLflow run {run_id})"
    )
