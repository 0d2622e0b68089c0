"""Each stage's fixed cost (interpreter start + imports) beside its whole run, on tiny params.

Run: `make bench` (or `.venv/bin/python benchmarks/stage_startup.py [--stages train,tune]`).
In a temporary copy of the project on the test suite's tiny params (`dvc repro` once, so
every input exists), for each stage of dvc.yaml:
- `fixed`: wall time of `python <script> --help`, the median of 3: the script's imports, then
  its docstring; nothing is read, trained or written. A study stage imports its study only
  after params load (`run_stage("polyfit", "genlab.stages.polyfit")`), so for it `fixed` also
  imports that module;
- `total`: wall time of the stage's own `cmd` from dvc.yaml, run once more in that copy
  (a stage process as `dvc repro` starts it, DVC's own bookkeeping left out).
The baseline, measured in the same run, is `python -c "import torch"`, the floor of any stage
that trains; the table prints fixed / total (the share of a stage process spent before its
work starts) and fixed / baseline (what a stage imports beyond torch).
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import pipeline_raw  # noqa: E402 - the suite's tiny params
from tests.repo_copy import make_repo_copy, sh  # noqa: E402

STUDY = re.compile(r'run_stage\(\s*[\w."]+,\s*"(genlab\.[\w.]+)"')  # name: a string or a variable


def wall(args: list[str], cwd: Path, repeats: int = 1) -> float:
    """Median wall seconds of a command (it must succeed)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sh(args, cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", help="comma-separated stage names (default: all)")
    args = parser.parse_args()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    names = args.stages.split(",") if args.stages else list(stages)
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo_copy(Path(tmp) / "repo", pipeline_raw())
        t0 = time.perf_counter()
        sh(["dvc", "repro"], repo, timeout=1800)
        print(f"tiny pipeline reproduced in {time.perf_counter() - t0:.0f} s")
        base = wall([sys.executable, "-c", "import torch"], repo, repeats=3)
        print(f"baseline: python -c 'import torch' {base:.2f} s\n")
        print(f"{'stage':<16}{'fixed s':>9}{'total s':>9}{'fixed/total':>13}{'fixed/base':>12}")
        for name in names:
            cmd = shlex.split(stages[name]["cmd"])
            script = next(w for w in cmd if w.endswith(".py"))
            study = STUDY.search((repo / script).read_text())
            help_ = [sys.executable, script, "--help"]
            if study:  # the --help run, then the import the stage makes once params are read
                code = f"import runpy, sys; sys.argv = {help_[1:]!r}; import {study[1]}; "
                code += f"runpy.run_path({script!r}, run_name='__main__')"
                help_ = [sys.executable, "-c", code]
            fixed = wall(help_, repo, repeats=3)
            total = wall([sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd, repo)
            ratios = f"{fixed / total:>13.2f}{fixed / base:>12.1f}"
            print(f"{name:<16}{fixed:>9.2f}{total:>9.2f}{ratios}")


if __name__ == "__main__":
    main()
