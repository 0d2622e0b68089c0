"""A temporary git+DVC copy of the project, for tests that run the real `dvc repro`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GENERATED = ("data/", "models/", "metrics/", "results/", "plots/", "report/")


def sh(args: list[str], cwd: Path, check: bool = True, env: dict | None = None, timeout=600):
    """Run a command with the project's venv first on PATH and no outside MLflow server."""
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.update(env or {})
    proc = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_params(repo: Path, raw: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def make_repo_copy(dst: Path, raw_params: dict) -> Path:
    """Copy tracked and new (not ignored) files, minus generated outputs, and commit them."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in files:
        src = ROOT / rel
        if src.is_file() and not rel.startswith(GENERATED):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    (dst / "dvc.lock").unlink(missing_ok=True)
    write_params(dst, raw_params)
    git = ["git", "-c", "user.email=test@genlab", "-c", "user.name=test"]
    sh(["git", "init", "-q", "-b", "main"], dst)
    sh([*git, "add", "-A"], dst)
    sh([*git, "commit", "-qm", "tiny params"], dst)
    return dst
