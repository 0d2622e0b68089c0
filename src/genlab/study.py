"""A study stage: the small interface every study exports, and the one way a stage runs it.

A study module (`genlab.stages.<stage>`) exports, beside its science:

- `STAGE`: its name, the dvc.yaml stage and the MLflow experiment `genlab/<stage>`;
- `data(params, paths)` (optional, else None): what it studies, made or loaded before any run
  exists (a bad input fails here, with nothing to clean up);
- `open_runs(params, data)` (optional: a study that tracks nothing has none): its MLflow
  parent run, `tracking.study` with the study's name, tags and params;
- `run(params, data, runs) -> result`: the study. One that trains logs each variant's child
  run while it trains (live curves in the UI); one that computes in bulk logs nothing here;
- `track(runs, result)` (optional): children logged after a bulk computation (the run ids go
  on `result`, for the diagnosis);
- `write(result, paths) -> list[Path]`: its local outputs (results/<stage>.json, the tables
  and figures in plots/<stage>/, at the paths dvc.yaml gives); returns what the parent run
  attaches;
- `parent_metrics(result) -> dict` (with `open_runs`): the parent run's metrics;
- `annotate(params, result) -> str` (optional): for a stage that records on runs other stages
  made (diagnosis tags each model's run with its label), after the local outputs: a store
  that is down costs the tags, not the results; returns what the stage's line adds;
- `line(result, run_id) -> str`: the one line the stage prints;
- `DISTRIBUTED = True` (optional): a stage whose fit DDP spreads over processes (`train`):
  every rank but 0 only runs `run` (with no runs: its share of the fit); rank 0 does the rest.

`run_study` calls them in one order: params, data, tracking checked, parent run, study, and
the local outputs written even when the tracking server is lost in `track` (a computed result
is never lost to it); `cli.run_stage` around it turns known failures into one line.
"""

from __future__ import annotations

import contextlib
import importlib
from argparse import Namespace
from collections.abc import Callable
from types import ModuleType


def run_study(module: str) -> Callable[[Namespace], None]:
    """The `main` of the stage whose study is `module` (imported after params load: a bad
    param fails in a second, before torch, Lightning and MLflow are imported)."""

    def main(paths: Namespace) -> None:
        from genlab.config import load_params

        params = load_params()
        study = importlib.import_module(module)
        run(study, params, paths)

    return main


def run(study: ModuleType, params, paths: Namespace) -> None:
    """One study stage, start to end (see the module docstring for the order and why)."""
    data = study.data(params, paths) if hasattr(study, "data") else None
    if getattr(study, "DISTRIBUTED", False):
        from genlab.ranks import is_primary  # not genlab.distributed: Lightning

        if not is_primary():  # another DDP rank: its share of the work, no runs, no files
            study.run(params, data, None)
            return
    tracked = hasattr(study, "open_runs")
    if tracked:
        from genlab.tracking import check_tracking, resolve_tracking_uri

        check_tracking(resolve_tracking_uri(params.tracking))
    opened = study.open_runs(params, data) if tracked else contextlib.nullcontext()
    with opened as runs:
        result = study.run(params, data, runs)
        try:
            if hasattr(study, "track"):
                study.track(runs, result)
        finally:  # computed numbers are kept even when the tracking server is lost now
            artifacts = study.write(result, paths)
        if runs is not None:
            runs.log_metrics(runs.run_id, study.parent_metrics(result))
            runs.artifact(*artifacts)
        note = study.annotate(params, result) if hasattr(study, "annotate") else ""
    print(study.line(result, runs.run_id if runs is not None else None) + note)
