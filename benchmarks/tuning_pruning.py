"""Does pruning pay? The default study (params.yaml `tune`) with and without a pruner.

Run: `.venv/bin/python benchmarks/tuning_pruning.py [--seeds 42 43] [--trials N]`

For each seed, the same study (same search space, sampler seed and trial budget) runs with the
pruner off, then with the median and the Hyperband pruner. It prints, per pruner, the best
objective value (`train.selection.metric`) it reached and the epochs it trained, as ratios to
the unpruned study measured in the same run. The claim checked: a pruned study gets within 2%
of the unpruned best value while training at most half the epochs. Each study runs in a
throw-away Optuna journal and MLflow store; the project's own stores are not touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def one_study(params, splits, pruner: str, workdir: Path) -> dict:
    from genlab.config import with_overrides
    from genlab.stages.tune.results import best_trial, trial_rows
    from genlab.stages.tune.workers import run_study
    from genlab.tracking import client, end_run

    variant = with_overrides(
        params,
        {
            "tune.pruner.name": pruner,
            "tune.storage": str(workdir / f"{pruner}-{params.seed}.log"),
        },
    )
    t0 = time.perf_counter()
    result = run_study(variant, splits)
    wall = time.perf_counter() - t0
    end_run(client(variant), result.parent_run_id, "FINISHED")
    rows = trial_rows(result.study, variant.tune)
    best = best_trial(result.study)
    return {
        "best": float(best.value),
        "epochs": sum(r["epochs"] for r in rows),
        "pruned": sum(r["status"] == "pruned" for r in rows),
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: params seed")
    ap.add_argument("--trials", type=int, default=None, help="default: tune.n_trials")
    ap.add_argument("--pruners", nargs="+", default=["median", "hyperband"])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params overrides")
    ap.add_argument("--skip-baseline", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="genlab-bench-tune-") as tmp:
        work = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        os.environ.pop("OPTUNA_STORAGE", None)
        from genlab.config import load_params, with_overrides
        from genlab.data import make_splits
        from genlab.stages.tune.space import base_params, objective_metric

        params = load_params()
        overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
        if args.trials:
            overrides["tune.n_trials"] = args.trials
        params = with_overrides(params, overrides)
        seeds = args.seeds or [params.seed]
        tune, objective = params.tune, objective_metric(params)  # train.selection.metric
        print(
            f"study: {tune.model} on {tune.data}, {tune.n_trials} trials x <= {tune.max_epochs} "
            f"epochs, objective {objective.name}; seeds {seeds}; {os.cpu_count()} CPU cores"
        )
        results: dict[str, list[dict]] = {}
        for seed in seeds:
            p = with_overrides(params, {"seed": seed})
            splits = make_splits(base_params(p).data, seed)
            for pruner in [*(() if args.skip_baseline else ("none",)), *args.pruners]:
                r = one_study(p, splits, pruner, work)
                results.setdefault(pruner, []).append(r)
                print(
                    f"  seed {seed} {pruner:>9}: best {objective.name} {r['best']:.4f}, "
                    f"{r['epochs']} epochs, {r['pruned']} pruned, {r['wall_s']:.0f} s",
                    flush=True,
                )

    if "none" not in results:
        return
    base = results["none"]
    print(f"\n{'pruner':>9} {'best (mean)':>12} {'vs none':>8} {'epochs':>7} {'vs none':>8}  claim")
    for pruner, rs in results.items():
        rel_best = statistics.mean(r["best"] / b["best"] - 1 for r, b in zip(rs, base, strict=True))
        rel_epochs = statistics.mean(
            r["epochs"] / b["epochs"] for r, b in zip(rs, base, strict=True)
        )
        ok = rel_best <= 0.02 if objective.direction == "minimize" else rel_best >= -0.02
        few = rel_epochs <= 0.5
        misses = [m for m, bad in (("best > 2% off", not ok), ("epochs > 1/2", not few)) if bad]
        verdict = (
            "baseline" if pruner == "none" else "fails: " + ", ".join(misses) if misses else "holds"
        )
        print(
            f"{pruner:>9} {statistics.mean(r['best'] for r in rs):>12.4f} {rel_best:>+8.1%} "
            f"{statistics.mean(r['epochs'] for r in rs):>7.0f} {rel_epochs:>8.0%}  {verdict}"
        )


if __name__ == "__main__":
    main()
