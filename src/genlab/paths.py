"""Finding the project root from wherever code runs (a stage, a notebook, a test copy)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """`GENLAB_ROOT` if set, else the nearest folder at or above `start` holding dvc.yaml."""
    if os.environ.get("GENLAB_ROOT"):
        return Path(os.environ["GENLAB_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise FileNotFoundError(f"no dvc.yaml at or above {here}: run from inside the project")
