"""Trials per minute of one clone against two clones working on one study in PostgreSQL.

Run: `.venv/bin/python benchmarks/team_study_scaling.py [--trials 32] [--repeats 1] [--auth on off]`

Starts its own team stack (PostgreSQL, S3 store, MLflow server; `genlab.team.stack.up`) in a
temporary directory on free ports, stopped again at the end. Each "clone" is a separate process
running the `tune` stage's study (`genlab.stages.tune.workers.run_study`, n_workers 1) on the
default params.yaml study, pruner off and batch sizes 64-128 so every trial does about the same
work, against the stack's OPTUNA_STORAGE and MLflow server. One clone, then two started
together, fill a fresh study of `--trials` trials each time (rounds alternate the order).

Rate: counted trials / (last trial finished - first trial started), read from the study itself,
so the ~10 s of process start-up (imports) is left out; the wall time including it is printed
too. `--auth off` runs the MLflow server without basic-auth (loopback only) to show what the
server's per-request password check costs on a machine whose cores also train. On 2 cores the
ceiling is 2x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# every trial does about the same work: no pruning, batch sizes 64 or 128 (16 costs ~4x 256)
SAME_WORK = {"tune.pruner.name": "none", "tune.space.batch_size": [64, 128]}


def worker(study: str, trials: int) -> None:
    """One clone: the tune stage's study, until it holds `trials` trials."""
    from genlab.config import load_params, with_overrides
    from genlab.data import make_splits
    from genlab.stages.tune.space import base_params
    from genlab.stages.tune.workers import run_study
    from genlab.tracking import client, end_run

    params = with_overrides(load_params(), {"tune.n_trials": trials, "tune.study_name": study})
    params = with_overrides(params, SAME_WORK)
    splits = make_splits(base_params(params).data, params.seed)
    result = run_study(params, splits)
    end_run(client(params), result.parent_run_id, "FINISHED")


def run_clones(n: int, trials: int, env: dict[str, str]) -> tuple[float, float, int]:
    """Start `n` clones on a fresh study; returns (trials/min, wall s, counted trials)."""
    import optuna

    from genlab.stages.tune.trials import counts_toward_budget

    study = f"bench-{n}-{uuid.uuid4().hex[:6]}"
    cmd = [sys.executable, __file__, "--worker", study, "--trials", str(trials)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env) for _ in range(n)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"a clone failed: exit codes {codes}")
    storage = optuna.storages.RDBStorage(env["OPTUNA_STORAGE"])
    done = [
        t
        for t in optuna.load_study(study_name=study, storage=storage).trials
        if counts_toward_budget(t)
    ]
    span = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    return len(done) / span.total_seconds() * 60, wall, len(done)


def measure(auth: bool, args) -> dict[int, list[float]]:
    from genlab.team import stack
    from genlab.team.process import free_port
    from genlab.team.settings import DEFAULT_PORTS, TeamSettings

    root = Path(tempfile.mkdtemp(prefix="genlab-bench-team-"))
    root.chmod(0o755)  # the postgres user must reach its data dir
    taken: set[int] = set()
    s = TeamSettings(root=root, ports={n: free_port(taken) for n in DEFAULT_PORTS}, auth=auth)
    rates: dict[int, list[float]] = {1: [], 2: []}
    try:
        stack.up(s, log=lambda *_: None)
        env = {**os.environ, **s.env()}
        print(f"MLflow basic-auth {'on' if auth else 'off'}:", flush=True)
        for rep in range(args.repeats):
            for n in (1, 2) if rep % 2 == 0 else (2, 1):
                rate, wall, done = run_clones(n, args.trials, env)
                rates[n].append(rate)
                print(
                    f"  round {rep + 1}, {n} clone(s): {done} trials, {rate:.1f} trials/min "
                    f"(wall with start-up {wall:.1f} s)",
                    flush=True,
                )
    finally:
        stack.down(s, log=lambda *_: None)
        shutil.rmtree(root, ignore_errors=True)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="rounds, alternating the order")
    ap.add_argument("--auth", nargs="+", choices=["on", "off"], default=["on"])
    ap.add_argument("--worker", metavar="STUDY", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.trials)
        return

    from genlab.config import load_params

    tune = load_params(ROOT / "params.yaml").tune
    print(
        f"study: {tune.model} on {tune.data}, {args.trials} trials x {tune.max_epochs} epochs, "
        f"{SAME_WORK}, {tune.torch_threads} torch thread(s) per clone; {os.cpu_count()} CPU cores"
    )
    results = {mode: measure(mode == "on", args) for mode in args.auth}
    print(f"\n{'auth':>4} {'clones':>6} {'trials/min (mean)':>18} {'speed-up':>9}")
    for mode, rates in results.items():
        base = statistics.mean(rates[1])
        for n, rs in rates.items():
            mean = statistics.mean(rs)
            print(f"{mode:>4} {n:>6} {mean:>18.1f} {mean / base:>8.2f}x")


if __name__ == "__main__":
    main()
