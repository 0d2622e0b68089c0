"""What the gradient-descent studies (`optimizers`, `lr_range`) share.

Both train the same small MLP on classification data generated in-process, with everything but
the knob under study held fixed: no penalty, no DropConnect, no schedule, no early stopping
(every variant gets the same epoch budget). Variants are built with `with_overrides`, so each is
validated exactly like params.yaml, and trained through `genlab.training.fit`.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator, Sequence

from genlab.config import Params, with_overrides
from genlab.data import Splits, make_splits
from genlab.judged import judged, known_baseline, to_judge
from genlab.tracking import Child, Study, run_params, run_tags, short, splits_hash, study
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
        "model.mlp.dropconnect": 0.0,
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


def open_study(params: Params, stage: str, name: str, splits: Splits):
    """The study's MLflow parent run (`tracking.study`): the children hold the curves."""
    tags = run_tags(params, stage, splits_hash(splits), curves=False)
    return study(params, stage, name, tags, run_params(params, stage, trained=False))


def variant_run(
    runs: Study | None, p: Params, variant: str, extra: dict[str, object], seeded: bool = False
) -> contextlib.AbstractContextManager[Child | None]:
    """The child run of one variant with a Lightning logger writing into it (nothing when
    untracked), named by what differs between the study's variants (`adam-lr0.003`,
    `bs32-suggested-lr0.0123`; with `seeded`, where each variant runs over several seeds,
    `adam-s43-lr0.003`): the parent's name says what they share. The `genlab.seed` tag is
    `p.seed` either way; params: the variant's data/model/train and `extra`."""
    if runs is None:
        return contextlib.nullcontext()
    tags = {**run_tags(p, runs.stage, runs.data_hash), "genlab.variant": variant}
    seed = f"-s{p.seed}" if seeded else ""
    name = f"{variant}{seed}-lr{short(p.train.optimizer.lr)}"
    return runs.child(name, tags, {**run_params(p), **extra}, logger=True)


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
