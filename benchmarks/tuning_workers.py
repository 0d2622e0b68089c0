"""Trials per minute with 1 and with 2 worker processes sharing one study.

Run: `.venv/bin/python benchmarks/tuning_workers.py [--trials 12] [--workers 1 2] [--repeats 2]`

Each worker count runs the default study (params.yaml `tune`, pruner off so every trial does
the same work) in a throw-away Optuna journal and MLflow store, timed from the call to the
finished study, worker start-up (spawn, imports) included. Printed: wall time, trials per
minute, and the speed-up against one worker measured in the same run (rounds alternate the
order of the worker counts, so drifting background load hits both alike). On a 2-core machine the
ceiling is 2x; worker start-up and the shared SQLite/journal writes take some of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pruner", default="none", help="none | median | hyperband")
    ap.add_argument("--repeats", type=int, default=2, help="rounds, alternating the order")
    args = ap.parse_args()

    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="genlab-bench-workers-") as tmp:
        work = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        os.environ.pop("OPTUNA_STORAGE", None)
        from genlab.config import load_params, with_overrides
        from genlab.data import make_splits
        from genlab.stages.tune.space import base_params
        from genlab.stages.tune.workers import run_study
        from genlab.tracking import client, end_run, ensure_experiment

        params = load_params()
        splits = make_splits(base_params(params).data, params.seed)
        tune = params.tune
        print(
            f"study: {tune.model} on {tune.data}, {args.trials} trials x {tune.max_epochs} "
            f"epochs, pruner {args.pruner}, {tune.torch_threads} torch thread(s) per worker; "
            f"{os.cpu_count()} CPU cores"
        )
        ensure_experiment(params, "tune")  # create the MLflow store before any timing
        rates: dict[int, list[float]] = {n: [] for n in args.workers}
        for rep in range(args.repeats):  # alternate the order: background load drifts
            order = args.workers if rep % 2 == 0 else args.workers[::-1]
            for n in order:
                variant = with_overrides(
                    params,
                    {
                        "tune.n_workers": n,
                        "tune.n_trials": args.trials,
                        "tune.pruner.name": args.pruner,
                        "tune.storage": str(work / f"workers-{n}-{rep}.log"),
                    },
                )
                t0 = time.perf_counter()
                result = run_study(variant, splits)
                wall = time.perf_counter() - t0
                end_run(client(variant), result.parent_run_id, "FINISHED")
                recorded = len(result.study.trials)
                rates[n].append(recorded / wall * 60)
                print(
                    f"  run {rep + 1}, {n} worker(s): {recorded} trials in {wall:.1f} s = "
                    f"{rates[n][-1]:.1f} trials/min",
                    flush=True,
                )
    base = statistics.mean(rates[args.workers[0]])
    print(f"\n{'workers':>7} {'trials/min (mean)':>18} {'speed-up':>9}")
    for n, rs in rates.items():
        mean = statistics.mean(rs)
        print(f"{n:>7} {mean:>18.1f} {mean / base:>8.2f}x")


if __name__ == "__main__":
    main()
