"""What the gradient-descent studies (`optimizers`, `lr_range`) share.

Both train the same small MLP on classification data generated in-process, with everything but
the knob under study held fixed: no penalty, no schedule, no early stopping (every variant gets
the same epoch budget). Variants are built with `with_overrides`, so each is validated exactly
like params.yaml, and trained through `genlab.training.fit`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import sys
import time
from collections.abc import Iterator, Sequence

from genlab.config import Params, with_overrides
from genlab.data import Splits, make_splits
from genlab.judged import judged, known_baseline, to_judge
from genlab.tracking import (
    attach_logger,
    client,
    log_params,
    run_params,
    run_tags,
    short,
    start_run,
)
from genlab.training import FitResult


def study_params(
    params: Params, dataset: str, hidden: Sequence[int], overrides: dict[str, object]
) -> Params:
    """`params` with the study's fixed setup (MLP, CE, nothing but the update rule varies)."""
    fixed: dict[str, object] = {
        "data.name": dataset,
        "model.name": "mlp",
        "model.mlp.hidden": list(hidden),
        "model.mlp.activation": "relu",
        "model.mlp.dropout": 0.0,
        "model.mlp.norm": "none",
        "train.loss": "ce",
        "train.optimizer.schedule": "none",
        "train.optimizer.nesterov": False,
        "train.optimizer.betas": [0.9, 0.999],
        "train.regularization.l2": 0.0,
        "train.regularization.weight_decay": 0.0,
        "train.regularization.l1": 0.0,
        "train.early_stopping.enabled": False,
    }
    return with_overrides(params, {**fixed, **overrides})


def study_splits(params: Params) -> Splits:
    """The study's data, generated from `params.seed` (never from a variant's seed)."""
    return make_splits(params.data, params.seed)


def splits_hash(splits: Splits) -> str:
    """sha256 over the split arrays: tags MLflow runs with the exact data they saw."""
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        for arr in splits.split(name):
            h.update(arr.tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def quiet_progress(marker: str) -> Iterator[None]:
    """Drop a progress bar Lightning always draws (the LR finder's) unless stderr is a TTY;
    everything else written to stderr meanwhile (warnings) is passed on."""
    if sys.stderr.isatty():
        yield
        return
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            yield
    finally:
        kept = [
            line
            for line in buf.getvalue().replace("\r", "\n").splitlines()
            if line.strip() and marker not in line
        ]
        if kept:
            print("\n".join(kept), file=sys.stderr)


class StudyRuns:
    """One MLflow parent run per stage execution, one child per variant, same metric names."""

    def __init__(self, params: Params, stage: str, name: str, data_hash: str) -> None:
        self.params, self.stage, self.data_hash = params, stage, data_hash
        self.mlflow = client(params)
        tags = run_tags(params, stage, data_hash, curves=False)  # the children hold the curves
        self.parent = start_run(params, stage, name, tags)
        self.log_params(self.parent, run_params(params, stage, trained=False))

    def log_params(self, run_id: str, values: dict[str, object]) -> None:
        log_params(self.mlflow, run_id, values)

    def child(self, p: Params, variant: str, extra: dict[str, object]):
        """A child run for one variant and a Lightning logger writing into it, named by what
        differs between the study's variants (`adam-lr0.003`, `bs32-suggested-lr0.0123`): the
        parent's name says what they share."""
        tags = {**run_tags(p, self.stage, self.data_hash), "genlab.variant": variant}
        name = f"{variant}-lr{short(p.train.optimizer.lr)}"
        run_id = start_run(p, self.stage, name, tags, self.parent)
        self.log_params(run_id, {**run_params(p), **extra})  # the variant's data/model/train
        return run_id, attach_logger(self.params, self.stage, run_id)

    def log_series(self, run_id: str, history: list[dict[str, float]], keys: Sequence[str]):
        """Extra per-epoch values (e.g. samples seen, seconds) as metrics, step = epoch."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(k, float(row[k]), now, int(row["epoch"]))
            for row in history
            for k in keys
            if k in row and math.isfinite(row[k])
        ]
        for i in range(0, len(metrics), 1000):
            self.mlflow.log_batch(run_id, metrics=metrics[i : i + 1000])

    def finish_child(self, run_id: str, result: FitResult, final: dict[str, float]) -> None:
        from mlflow.entities import Metric

        # NaN too (a diverged run's loss, Adam's undefined noise scale): every child of the
        # study then has the same metric names side by side in the MLflow UI
        now = int(time.time() * 1000)
        values = [Metric(k, float(v), now, 0) for k, v in final.items()]
        if values:
            self.mlflow.log_batch(run_id, metrics=values)
        self.mlflow.set_tag(run_id, "genlab.status", result.status)
        if result.status != "ok":
            self.mlflow.set_tag(run_id, "genlab.diverged_reason", result.reason)
        self.mlflow.set_terminated(run_id, "FINISHED" if result.status == "ok" else "FAILED")

    def finish(self, artifacts: Sequence[str], metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        finite = {k: v for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)}
        if finite:
            self.mlflow.log_batch(
                self.parent, metrics=[Metric(k, v, now, 0) for k, v in finite.items()]
            )
        for path in artifacts:
            self.mlflow.log_artifact(self.parent, str(path))
        self.mlflow.set_terminated(self.parent)

    def fail(self) -> None:
        """Mark the parent FAILED when the stage stops on an error (children stay as they are)."""
        self.mlflow.set_terminated(self.parent, "FAILED")


def final_row(history: list[dict[str, float]]) -> dict[str, float]:
    """The last epoch's metrics (the same epoch budget for every variant: no selection)."""
    return dict(history[-1]) if history else {}


def fits_to_judge(fits: Sequence[tuple[str, FitResult, str]], splits: Splits) -> dict:
    """The `to_judge` block of a study's results: each (name, fit, MLflow run id) judged on
    its last epoch's numbers against the data's error floor (labelled by the `diagnosis` stage)."""
    models = [
        judged(name, {**final_row(r.history), "status": r.status, "reason": r.reason}, run_id)
        for name, r, run_id in fits
    ]
    return to_judge(models, known_baseline(splits.info))
