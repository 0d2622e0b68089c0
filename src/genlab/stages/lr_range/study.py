"""Study `lr_range`: the learning-rate range test (Smith, arXiv 1506.01186) per batch size.

For each batch size B and each seed, Lightning's LR finder (`Tuner.lr_find`) trains a fresh
initialisation for `num_training` steps while the learning rate grows exponentially from
`min_lr` to `max_lr`, records the smoothed loss against the learning rate, suggests the LR of
steepest descent and restores the initial weights. Then:

- `log(lr*) = a + s·log(B)` is fitted by ordinary least squares over every (B, seed) pair
  (`genlab.slopes`, the fit `tune` uses too):
  s = 1 is the linear scaling rule, s = 0.5 square-root scaling, s = 0 "B does not matter";
- each B is trained for the same number of epochs at one fixed LR and at its own (median)
  suggestion, so the fit is checked against what the LR does to val/test loss.
"""

from __future__ import annotations

import math
import tempfile
from argparse import Namespace
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.tuner import Tuner

from genlab.config import Params, with_overrides
from genlab.data import Splits
from genlab.data.datamodule import SplitsDataModule
from genlab.gd_study import (
    final_row,
    fits_to_judge,
    open_study,
    quiet_progress,
    study_params,
    study_splits,
    variant_run,
)
from genlab.outputs import write_csv, write_json
from genlab.plotting import plt, save_figure
from genlab.progress import Progress
from genlab.slopes import loglog_fit
from genlab.tracking import Study
from genlab.training import FitResult, accelerator, build_module, fit, use_threads

STAGE = "lr_range"
FINAL_KEYS = ("train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc", "gap/loss")


@dataclass
class RangeTest:
    """One LR-finder run: (lr, smoothed loss) curve, suggestion, whether the weights came back."""

    batch_size: int
    seed: int
    lrs: list[float]
    losses: list[float]
    suggestion: float | None
    restored: bool


@dataclass
class Training:
    """One fixed-budget training of batch size B at one LR (`kind` "fixed" or "suggested")."""

    batch_size: int
    kind: str
    lr: float
    result: FitResult
    final: dict[str, float]
    run_id: str = ""


@dataclass
class StudyResult:
    base: Params
    splits: Splits
    tests: list[RangeTest]
    scaling: dict[str, float]
    spread: dict[int, dict[str, float]]
    trainings: list[Training]
    max_batch_size: dict[str, object]


def base_params(params: Params) -> Params:
    cfg = params.lr_range
    return study_params(
        params,
        cfg.dataset,
        cfg.hidden,
        {
            "train.max_epochs": cfg.epochs,
            "train.optimizer.name": cfg.optimizer,
            "train.optimizer.momentum": cfg.momentum,
            "train.optimizer.lr": cfg.fixed_lr,
        },
    )


def check_batch_sizes(batch_sizes: list[int], n_train: int) -> None:
    """A batch larger than the training set would silently be the whole set: refuse it."""
    too_big = [b for b in batch_sizes if b > n_train]
    if too_big:
        raise ValueError(
            f"lr_range.batch_sizes {too_big} exceed the {n_train} training samples of the "
            "study's data: use sizes up to n_train"
        )


def _trainer(p: Params, root: str) -> pl.Trainer:
    accel = accelerator(p.train.accelerator)
    return pl.Trainer(
        max_epochs=-1,  # the finder stops after num_training steps
        accelerator=accel,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=accel != "cpu",
        default_root_dir=root,
    )


def range_test(p: Params, splits: Splits, batch_size: int, seed: int) -> RangeTest:
    """Lightning's LR finder on a fresh initialisation for `seed`; weights restored afterwards.

    The module steps `trainer.lr_scheduler_configs` with interval "step" itself (manual
    optimization), which is how the finder's exponential schedule reaches the optimizer.
    """
    cfg = p.lr_range
    pl.seed_everything(seed, workers=True, verbose=False)
    pb = with_overrides(p, {"train.optimizer.batch_size": batch_size})
    module = build_module(pb, splits)
    initial = {k: v.detach().clone() for k, v in module.state_dict().items()}
    dm = SplitsDataModule(splits, batch_size, p.train.eval_batch_size, seed=seed)
    with tempfile.TemporaryDirectory(prefix="genlab-lr-find-") as root:
        with quiet_progress("Finding best initial lr"):
            finder = Tuner(_trainer(pb, root)).lr_find(
                module,
                datamodule=dm,
                min_lr=cfg.min_lr,
                max_lr=cfg.max_lr,
                num_training=cfg.num_training,
                mode="exponential",
                update_attr=False,
            )
    after = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    restored = all(torch.equal(initial[k].cpu(), after[k]) for k in initial)
    lrs = [float(v) for v in finder.results["lr"]]
    losses = [float(v) for v in finder.results["loss"]]
    suggestion = finder.suggestion() if len(losses) > 12 else None
    return RangeTest(batch_size, seed, lrs, losses, _finite_or_none(suggestion), restored)


def _finite_or_none(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) and v > 0 else None


def spread(tests: list[RangeTest]) -> dict[int, dict[str, float]]:
    """Per batch size: median, min and max suggestion over seeds, and how many seeds gave one."""
    out: dict[int, dict[str, float]] = {}
    for b in sorted({t.batch_size for t in tests}):
        s = [t.suggestion for t in tests if t.batch_size == b and t.suggestion is not None]
        n_seeds = sum(1 for t in tests if t.batch_size == b)
        out[b] = {
            "median": float(np.median(s)) if s else float("nan"),
            "min": float(min(s)) if s else float("nan"),
            "max": float(max(s)) if s else float("nan"),
            "n": len(s),
            "n_seeds": n_seeds,
        }
    return out


def local_slopes(per_b: dict[int, dict[str, float]]) -> dict[str, float]:
    """Slope of log(median lr*) between neighbouring batch sizes: where the scaling bends."""
    sizes = [b for b in sorted(per_b) if math.isfinite(per_b[b]["median"])]
    return {
        f"{a}-{b}": math.log(per_b[b]["median"] / per_b[a]["median"]) / math.log(b / a)
        for a, b in zip(sizes, sizes[1:], strict=False)
    }


def answer(scaling: dict[str, float], trainings: list[Training]) -> dict[str, object]:
    """'Larger batch size, higher learning rate?' decided by numbers.

    `lr_grows_with_batch_size`: the slope is positive by more than two standard errors.
    `suggested_beats_fixed`: per B, whether training at its own suggestion ended with a lower
    val/loss than at the fixed LR (val only; test is reported, never used to decide).
    """
    s, se = scaling["slope"], scaling["slope_stderr"]
    grows = bool(math.isfinite(s) and math.isfinite(se) and s - 2 * se > 0)
    by_b: dict[int, dict[str, Training]] = {}
    for t in trainings:
        by_b.setdefault(t.batch_size, {})[t.kind] = t
    beats = {}
    for b, kinds in sorted(by_b.items()):
        if {"fixed", "suggested"} <= kinds.keys():
            f = kinds["fixed"].final.get("val/loss", float("nan"))
            g = kinds["suggested"].final.get("val/loss", float("nan"))
            beats[str(b)] = bool(math.isfinite(g) and (not math.isfinite(f) or g < f))
    return {"lr_grows_with_batch_size": grows, "suggested_beats_fixed": beats}


def run_training(
    p: Params, splits: Splits, batch_size: int, kind: str, lr: float, runs: Study | None
) -> Training:
    pv = with_overrides(p, {"train.optimizer.batch_size": batch_size, "train.optimizer.lr": lr})
    extra = {"lr_range.batch_size": batch_size, "lr_range.lr_kind": kind}
    with variant_run(runs, pv, f"bs{batch_size}-{kind}", extra) as child:
        result = fit(pv, splits, logger=child and child.logger)
        last = final_row(result.history)
        final = {k: float(last[k]) for k in FINAL_KEYS if k in last}
        if child is not None:
            runs.log_metrics(child.run_id, {f"final/{k}": v for k, v in final.items()})
            child.outcome(result.status, result.reason)
    return Training(batch_size, kind, lr, result, final, child.run_id if child else "")


def data(params: Params, paths: Namespace | None = None) -> Splits:
    """The study's data, drawn from params' seed."""
    return study_splits(base_params(params))


def open_runs(params: Params, splits: Splits) -> AbstractContextManager[Study]:
    """The study's MLflow parent run (fit, figure, tables), named by what its runs share."""
    cfg = params.lr_range
    hidden = "x".join(map(str, cfg.hidden))
    name = f"{cfg.optimizer}-{cfg.dataset}-mlp{hidden}-s{params.seed}"  # stage: experiment
    return open_study(params, STAGE, name, splits)


def run(params: Params, splits: Splits, runs: Study | None = None) -> StudyResult:
    """Range tests over batch sizes x seeds, the scaling fit, then the fixed-vs-suggested runs
    on `splits` (`data`); with `runs` (`open_runs`), one MLflow child per training."""
    from genlab.stages.lr_range.batch_size_finder import max_batch_size

    cfg = params.lr_range
    use_threads(cfg.torch_threads)
    base = base_params(params)
    check_batch_sizes(cfg.batch_sizes, len(splits.x_train))
    pairs = [(b, s) for b in cfg.batch_sizes for s in cfg.seeds]
    progress = Progress(f"{STAGE} range tests", len(pairs))
    tests = []
    for b, s in pairs:
        tests.append(range_test(base, splits, b, s))
        progress.step(f"B={b} seed {s}")
    ok = [t for t in tests if t.suggestion is not None]
    scaling = loglog_fit([t.batch_size for t in ok], [t.suggestion for t in ok])
    per_b = spread(tests)
    trainings = []
    todo = [(b, "fixed", cfg.fixed_lr) for b in cfg.batch_sizes]
    todo += [(b, "suggested", per_b[b]["median"]) for b in cfg.batch_sizes]
    todo = sorted((t for t in todo if math.isfinite(t[2])), key=lambda t: t[0])
    progress = Progress(f"{STAGE} trainings", len(todo))
    for b, kind, lr in todo:
        trainings.append(run_training(base, splits, b, kind, lr, runs))
        progress.step(f"B={b} {kind} lr")
    mbs = max_batch_size(base, splits, cfg.max_batch_size)
    return StudyResult(base, splits, tests, scaling, per_b, trainings, mbs)


# ------------------------------------------------------------------------------ outputs


def figure(study: StudyResult, path: str | Path) -> Path:
    """Three panels: the range-test curves, log lr* against log B with the fit, and val loss
    after training at the fixed LR vs at each B's suggestion."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = study.base.lr_range
    sizes = sorted(study.spread)
    colors = {b: plt.cm.viridis(i / max(1, len(sizes) - 1)) for i, b in enumerate(sizes)}
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(16, 4.8))
    for t in study.tests:
        first = t.seed == cfg.seeds[0]
        a1.plot(
            t.lrs,
            t.losses,
            color=colors[t.batch_size],
            alpha=0.9 if first else 0.3,
            lw=1.4 if first else 0.8,
            label=f"B={t.batch_size}" if first else None,
        )
        if t.suggestion is not None:
            i = int(np.argmin(np.abs(np.asarray(t.lrs) - t.suggestion)))
            a1.plot(t.lrs[i], t.losses[i], "o", color=colors[t.batch_size], ms=4)
    plateau = [v for t in study.tests for v in t.losses[10:] if math.isfinite(v)]
    if plateau:  # the finder stops at 4x the best loss: keep the informative part in view
        a1.set_ylim(0.9 * min(plateau), 1.6 * float(np.median(plateau)))
    a1.set_xscale("log")
    a1.set_xlabel("learning rate")
    a1.set_ylabel("smoothed training loss")
    a1.set_title(f"range tests ({len(cfg.seeds)} seeds; dots: suggestions)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3, which="both")

    ok = [t for t in study.tests if t.suggestion is not None]
    a2.scatter(
        [t.batch_size for t in ok],
        [t.suggestion for t in ok],
        c=[colors[t.batch_size] for t in ok],
        alpha=0.7,
        label="suggestion (one seed)",
    )
    med = [study.spread[b]["median"] for b in sizes]
    a2.plot(sizes, med, "k_", ms=18, mew=2, label="median over seeds")
    sc = study.scaling
    if math.isfinite(sc["slope"]):
        xb = np.array([min(sizes), max(sizes)], dtype=float)
        a2.plot(
            xb,
            np.exp(sc["intercept"]) * xb ** sc["slope"],
            "r-",
            label=f"OLS: s = {sc['slope']:.2f} ± {sc['slope_stderr']:.2f}",
        )
        mid = math.exp(float(np.mean(np.log(med))))
        bmid = math.exp(float(np.mean(np.log(sizes))))
        for ref, style in ((1.0, ":"), (0.5, "--")):
            a2.plot(xb, mid * (xb / bmid) ** ref, "grey", ls=style, lw=1, label=f"slope {ref:g}")
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xlabel("batch size B")
    a2.set_ylabel("suggested learning rate lr*")
    a2.set_title("log lr* = a + s log B")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3, which="both")

    width = 0.38
    for j, kind in enumerate(("fixed", "suggested")):
        ts = {t.batch_size: t for t in study.trainings if t.kind == kind}
        vals = [ts[b].final.get("val/loss", np.nan) if b in ts else np.nan for b in sizes]
        vals = [v if math.isfinite(v) else np.nan for v in vals]  # a diverged run: no bar
        label = f"fixed lr {cfg.fixed_lr:g}" if kind == "fixed" else "own median suggestion"
        a3.bar(np.arange(len(sizes)) + (j - 0.5) * width, vals, width, label=label)
    a3.set_xticks(np.arange(len(sizes)), [f"B={b}" for b in sizes])
    a3.set_ylabel(f"val/loss after {cfg.epochs} epochs")
    a3.set_title("same epochs: fixed LR vs suggested LR")
    a3.legend(fontsize=8)
    a3.grid(alpha=0.3, axis="y")
    b = study.base
    fig.suptitle(
        f"{b.data.name}, n_train={len(study.splits.x_train)}, "
        f"mlp{'x'.join(map(str, b.model.mlp.hidden))}, {cfg.optimizer}, "
        f"lr_find {cfg.min_lr:g}..{cfg.max_lr:g} in {cfg.num_training} steps"
    )
    return save_figure(fig, path)


def median_curve(tests: list[RangeTest]) -> list[dict[str, float]]:
    """Median smoothed loss over seeds at each finder step (seeds may stop early, at different
    steps; a step counts the seeds that reached it). The LR grid is the same for every run."""
    longest = max(tests, key=lambda t: len(t.lrs))
    rows = []
    for i, lr in enumerate(longest.lrs):
        vals = [t.losses[i] for t in tests if i < len(t.losses) and math.isfinite(t.losses[i])]
        if vals:
            rows.append({"step": i, "lr": lr, "loss": float(np.median(vals)), "seeds": len(vals)})
    return rows


def metrics(study: StudyResult) -> dict[str, object]:
    cfg = study.base.lr_range
    training: dict[str, dict[str, object]] = {}
    for t in study.trainings:
        training.setdefault(str(t.batch_size), {})[t.kind] = {
            "lr": t.lr,
            "status": t.result.status,
            **t.final,
        }
    return {
        "dataset": study.base.data.name,
        "n_train": len(study.splits.x_train),
        "optimizer": cfg.optimizer,
        "range": {"min_lr": cfg.min_lr, "max_lr": cfg.max_lr, "num_training": cfg.num_training},
        "seeds": list(cfg.seeds),
        "scaling": {**study.scaling, "local_slopes": local_slopes(study.spread)},
        "suggested_lr": {str(b): v for b, v in study.spread.items()},
        "weights_restored": all(t.restored for t in study.tests),
        "training": training,
        "answer": answer(study.scaling, study.trainings),
        "max_batch_size": study.max_batch_size,
        "to_judge": fits_to_judge(
            [(f"bs{t.batch_size}-{t.kind}", t.result, t.run_id) for t in study.trainings],
            study.splits,
        ),
    }


def write(study: StudyResult, paths: Namespace) -> list[Path]:
    """Range-test curves (all runs, and the median per B), suggestions, training table, figure,
    metrics; returns the files to attach to the parent MLflow run."""
    plots_dir, results_path = Path(paths.plots), paths.results
    rows = [
        {"batch_size": t.batch_size, "seed": t.seed, "step": i, "lr": lr, "loss": loss}
        for t in study.tests
        for i, (lr, loss) in enumerate(zip(t.lrs, t.losses, strict=True))
    ]
    curves = write_csv(plots_dir / "range_tests.csv", rows)
    for b in sorted(study.spread):
        write_csv(
            plots_dir / f"range_test_bs{b}.csv",
            median_curve([t for t in study.tests if t.batch_size == b]),
        )
    suggestions = write_csv(
        plots_dir / "suggestions.csv",
        [
            {"batch_size": t.batch_size, "seed": t.seed, "suggested_lr": t.suggestion}
            for t in study.tests
            if t.suggestion is not None
        ],
    )
    table = write_csv(
        plots_dir / "training.csv",
        [
            {
                "variant": f"B={t.batch_size} {t.kind}",
                "batch_size": t.batch_size,
                "kind": t.kind,
                "lr": t.lr,
                "status": t.result.status,
                **t.final,
            }
            for t in study.trainings
        ],
    )
    fig = figure(study, plots_dir / "lr_range.png")
    write_json(results_path, metrics(study))
    return [fig, curves, suggestions, table]


def parent_metrics(study: StudyResult) -> dict[str, float]:
    out = {f"scaling/{k}": float(v) for k, v in study.scaling.items()}
    for b, s in study.spread.items():
        out[f"suggested_lr/median/bs{b}"] = s["median"]
    return out


def line(study: StudyResult, run_id: str | None = None) -> str:
    sc = study.scaling
    med = ", ".join(f"B={b}: {s['median']:.3g}" for b, s in study.spread.items())
    mbs = study.max_batch_size
    found = mbs.get("max_batch_size", mbs.get("status"))
    return (
        f"lr_range: slope s = {sc['slope']:.2f} ± {sc['slope_stderr']:.2f} "
        f"(median lr* {med}); max batch size: {found} (MLflow run {run_id})"
    )
