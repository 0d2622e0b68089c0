"""Study `optimizers`: how the update rule and the samples per update shape training.

Full-batch GD, SGD (one sample per update), mini-batch SGD, SGD with momentum and Adam train
the same MLP on the same data from the same seed for the same number of epochs, each at its
own learning rate (params `optimizers.variants`). The training loss (whole training set, eval
mode, end of each epoch) is compared against four clocks: epochs, parameter updates, samples
seen and wall-clock seconds. The lecture's claims are checked with numbers: GD makes one update
per epoch, so per epoch it falls behind; SGD's one-sample steps make its loss curve the
noisiest; mini-batches sit in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from genlab.config import Params, with_overrides
from genlab.data import Splits
from genlab.data.datamodule import InMemoryBatches, to_tensors
from genlab.experiments.gd_base import (
    StudyRuns,
    final_row,
    fits_to_judge,
    splits_hash,
    study_params,
    study_splits,
)
from genlab.outputs import write_csv, write_json
from genlab.plotting import plt, save_figure
from genlab.progress import Progress
from genlab.training import FitResult, build_module, fit, use_threads

STAGE = "optimizers"
FINAL_KEYS = ("train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc", "gap/loss")
CLOCKS = (  # (column, axis label, log-scale x)
    ("epochs", "epochs", False),
    ("updates", "parameter updates", True),
    ("samples_seen", "samples seen", False),
    ("time_s", "wall-clock seconds (incl. per-epoch evaluation)", True),
)


@dataclass
class Variant:
    """One optimizer setting: its validated params and how many samples one update uses."""

    name: str
    params: Params
    batch_size: int
    samples_per_epoch: int


@dataclass
class Outcome:
    variant: Variant
    result: FitResult
    curve: list[dict[str, float]]
    summary: dict[str, object]
    run_id: str = ""


@dataclass
class StudyResult:
    base: Params
    splits: Splits
    outcomes: list[Outcome]
    claims: dict[str, object]
    runs: StudyRuns | None = None


def base_params(params: Params) -> Params:
    """The study's shared setup: data, model and epoch budget from `optimizers`."""
    cfg = params.optimizers
    return study_params(
        params,
        cfg.dataset,
        cfg.hidden,
        {
            "train.max_epochs": cfg.max_epochs,
            "train.optimizer.batch_size": cfg.batch_size,
            "train.optimizer.momentum": cfg.momentum,
        },
    )


def samples_per_epoch(splits: Splits, batch_size: int) -> int:
    """Samples one epoch really feeds (the loader may drop a trailing one-sample batch)."""
    x, y = to_tensors(splits, "train")
    return sum(len(yb) for _, yb in InMemoryBatches(x, y, batch_size, shuffle=False))


def build_variants(params: Params, splits: Splits) -> list[Variant]:
    """One validated params object per entry of `optimizers.variants` (name -> lr)."""
    base = base_params(params)
    n = len(splits.x_train)
    out = []
    for name, lr in params.optimizers.variants.items():
        p = with_overrides(base, {"train.optimizer.name": name, "train.optimizer.lr": lr})
        bs = p.train.optimizer.effective_batch_size(n)
        out.append(Variant(name, p, bs, samples_per_epoch(splits, bs)))
    return out


def curve(history: list[dict[str, float]], samples_per_epoch: int) -> list[dict[str, float]]:
    """Per-epoch rows with the four clocks: epochs done, updates, samples seen, seconds."""
    rows = []
    for r in history:
        done = int(r["epoch"]) + 1
        rows.append(
            {
                "epoch": int(r["epoch"]),
                "epochs": done,
                "updates": int(r["updates"]),
                "samples_seen": done * samples_per_epoch,
                "time_s": r["time_s"],
                **{k: r[k] for k in FINAL_KEYS if k in r},
            }
        )
    return rows


@torch.no_grad()
def _flat(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def gradient_noise(p: Params, splits: Splits, batch_size: int, max_batches: int = 256) -> float:
    """Mean ‖g_B − g‖² / ‖g‖² at the initial weights (the ones `fit` starts from).

    g is the full-batch gradient of the training loss, g_B the gradient on one batch of the
    loader the variant trains with. It is the noise one update carries: 0 for GD, about
    tr(Σ)/(B‖g‖²) for batches of B (times (N−B)/(N−1), sampling without replacement), so SGD's
    single-sample updates are the noisiest. Averaged over up to `max_batches` batches of one
    shuffled epoch; a ragged last batch is skipped.
    """
    pl.seed_everything(p.seed, workers=True, verbose=False)
    module = build_module(p, splits)
    net, loss = module.net, module.loss
    weights = [w for w in net.parameters() if w.requires_grad]
    x, y = to_tensors(splits, "train")

    def grad(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return _flat(torch.autograd.grad(loss(net(xb), yb), weights))

    full = grad(x, y)
    if batch_size >= len(x):
        return 0.0
    sq = []
    for xb, yb in InMemoryBatches(x, y, batch_size, shuffle=True, seed=p.seed):
        if len(yb) == batch_size:
            sq.append(float((grad(xb, yb) - full).pow(2).sum()))
        if len(sq) >= max_batches:
            break
    return float(np.mean(sq)) / float(full.pow(2).sum())


def noise_scale(p: Params, batch_size: int) -> float:
    """lr/B (lr/((1−μ)B) with momentum): the temperature of SGD's noise in its SDE picture.

    Curves at equal noise scale fluctuate alike; NaN for Adam, whose step is rescaled per weight.
    """
    o = p.train.optimizer
    if o.name in ("gd", "sgd", "minibatch"):
        return o.lr / batch_size
    if o.name == "momentum":
        return o.lr / ((1 - o.momentum) * batch_size)
    return float("nan")


def curve_noise(train_loss: list[float]) -> dict[str, float]:
    """How ragged the epoch-end training-loss curve is.

    `train_loss_delta_std`: std of the epoch-to-epoch changes; `train_loss_increase_frac`:
    share of epochs after which the loss went up (0 for a monotone descent). Non-finite values
    (a diverged run) are left out.
    """
    y = np.asarray([v for v in train_loss if math.isfinite(v)], dtype=float)
    d = np.diff(y)
    return {
        "train_loss_delta_std": float(np.std(d, ddof=1)) if len(d) >= 2 else float("nan"),
        "train_loss_increase_frac": float(np.mean(d > 0)) if len(d) else float("nan"),
    }


def summarize(
    v: Variant, result: FitResult, rows: list[dict[str, float]], grad_noise: float
) -> dict[str, object]:
    """The table row of one variant: its setting, its clocks, its final (last-epoch) numbers
    and its noise (of one update's gradient, and of the epoch-end loss curve)."""
    last = final_row(result.history)
    o = v.params.train.optimizer
    epochs = len(rows)
    return {
        "variant": v.name,
        "lr": o.lr,
        "batch_size": v.batch_size,
        "status": result.status,
        "epochs": epochs,
        "updates_per_epoch": int(rows[0]["updates"]) if rows else 0,
        "updates": int(rows[-1]["updates"]) if rows else 0,
        "samples_seen": int(rows[-1]["samples_seen"]) if rows else 0,
        "time_s": float(rows[-1]["time_s"]) if rows else float("nan"),
        "s_per_epoch": float(rows[-1]["time_s"]) / epochs if rows else float("nan"),
        **{k: float(last[k]) for k in FINAL_KEYS if k in last},
        "gradient_noise": grad_noise,
        "noise_scale": noise_scale(v.params, v.batch_size),
        **curve_noise([r["train/loss"] for r in rows]),
    }


def lecture_claims(summaries: dict[str, dict[str, object]]) -> dict[str, object]:
    """The lecture's claims, each with the numbers that decide it on this data.

    Only claims whose variants were run appear. A claim that is false is reported as false:
    the point is to see where the textbook picture holds here and where it does not.
    """
    s = summaries
    ok = {k: v for k, v in s.items() if v["status"] == "ok"}
    claims: dict[str, object] = {
        "updates_per_epoch": {k: v["updates_per_epoch"] for k, v in s.items()},
        "final_train_loss": {k: v.get("train/loss") for k, v in s.items()},
        "gradient_noise": {k: v["gradient_noise"] for k, v in s.items()},
        "noise_scale": {k: v["noise_scale"] for k, v in s.items()},
        "train_loss_increase_frac": {k: v["train_loss_increase_frac"] for k, v in s.items()},
        "train_loss_delta_std": {k: v["train_loss_delta_std"] for k, v in s.items()},
        "s_per_epoch": {k: v["s_per_epoch"] for k, v in s.items()},
    }
    if "gd" in ok and len(ok) > 1:
        others = [v["train/loss"] for k, v in ok.items() if k != "gd"]
        # one update per epoch: after the same epochs GD has moved least
        claims["gd_highest_train_loss_at_equal_epochs"] = bool(ok["gd"]["train/loss"] > max(others))
    if {"gd", "sgd", "minibatch"} <= s.keys():
        g = {k: s[k]["gradient_noise"] for k in ("gd", "sgd", "minibatch")}
        # the update's own noise: one sample > a mini-batch > the full batch (none)
        claims["update_noise_sgd_gt_minibatch_gt_gd"] = bool(g["sgd"] > g["minibatch"] > g["gd"])
    if {"gd", "sgd", "minibatch"} <= ok.keys():
        frac = {k: ok[k]["train_loss_increase_frac"] for k in ("gd", "sgd", "minibatch")}
        # what survives in the epoch-end curve depends on lr/B, not on B alone
        claims["curve_goes_up_more_often_sgd_ge_minibatch_ge_gd"] = bool(
            frac["sgd"] >= frac["minibatch"] >= frac["gd"]
        )
    if "sgd" in s and len(s) > 1:
        others = [v["s_per_epoch"] for k, v in s.items() if k != "sgd"]
        claims["sgd_slowest_per_epoch_wallclock"] = bool(s["sgd"]["s_per_epoch"] > max(others))
    if "gd" in s and len(s) > 1:
        others = [v["s_per_epoch"] for k, v in s.items() if k != "gd"]
        claims["gd_fastest_per_epoch_wallclock"] = bool(s["gd"]["s_per_epoch"] < min(others))
    return claims


def run_study(params: Params, track: bool = True) -> StudyResult:
    """Train every variant (one MLflow child run each under one parent run)."""
    cfg = params.optimizers
    use_threads(cfg.torch_threads)
    base = base_params(params)
    splits = study_splits(base)
    variants = build_variants(params, splits)
    runs = None
    if track:
        hidden = "x".join(map(str, cfg.hidden))  # the stage is the experiment: not repeated
        name = f"{cfg.dataset}-mlp{hidden}-bs{cfg.batch_size}-s{params.seed}"
        runs = StudyRuns(params, STAGE, name, splits_hash(splits))
    outcomes = []
    noise: dict[int, float] = {}
    progress = Progress(STAGE, len(variants))
    try:
        for v in variants:
            if v.batch_size not in noise:
                noise[v.batch_size] = gradient_noise(v.params, splits, v.batch_size)
            run_id, logger = "", None
            if runs is not None:
                extra = {"optimizers.variant": v.name, "effective_batch_size": v.batch_size}
                run_id, logger = runs.child(v.params, v.name, extra)
            result = fit(v.params, splits, logger=logger)
            rows = curve(result.history, v.samples_per_epoch)
            summary = summarize(v, result, rows, noise[v.batch_size])
            if runs is not None:
                runs.log_series(run_id, rows, ("samples_seen", "time_s"))
                runs.finish_child(run_id, result, final_metrics(summary))
            outcomes.append(Outcome(v, result, rows, summary, run_id))
            progress.step(v.name)
    except BaseException:
        if runs is not None:
            runs.fail()
        raise
    claims = lecture_claims({o.variant.name: o.summary for o in outcomes})
    return StudyResult(base, splits, outcomes, claims, runs)


def final_metrics(summary: dict[str, object]) -> dict[str, float]:
    """The child run's single-valued metrics (`final/test/loss`, noise measures, clocks)."""
    out = {f"final/{k}": summary[k] for k in FINAL_KEYS if k in summary}
    for k in ("gradient_noise", "noise_scale", "train_loss_delta_std", "train_loss_increase_frac"):
        out[f"noise/{k}"] = summary[k]
    out["s_per_epoch"] = summary["s_per_epoch"]
    out["updates_per_epoch"] = float(summary["updates_per_epoch"])
    return {k: float(v) for k, v in out.items()}


# ------------------------------------------------------------------------------ outputs


def four_views(outcomes: list[Outcome], path: str | Path, title: str = "") -> Path:
    """Training loss against epochs, updates, samples seen and seconds, one line per variant."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (col, label, logx) in zip(axes.flat, CLOCKS, strict=True):
        for o in outcomes:
            xs = [r[col] for r in o.curve]
            ys = [r["train/loss"] for r in o.curve]
            lr = o.variant.params.train.optimizer.lr
            name = f"{o.variant.name} (B={o.variant.batch_size}, lr={lr:g})"
            ax.plot(xs, ys, marker=".", ms=4, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("train/loss (whole train set)")
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        ax.grid(alpha=0.3, which="both")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def metrics(study: StudyResult) -> dict[str, object]:
    cfg = study.base
    return {
        "dataset": cfg.data.name,
        "n_train": len(study.splits.x_train),
        "model": f"mlp{'x'.join(map(str, cfg.model.mlp.hidden))}",
        "epochs": cfg.train.max_epochs,
        "seed": cfg.seed,
        "variants": {
            o.variant.name: {k: v for k, v in o.summary.items() if k != "variant"}
            for o in study.outcomes
        },
        "claims": study.claims,
        "to_judge": fits_to_judge(
            [(o.variant.name, o.result, o.run_id) for o in study.outcomes], study.splits
        ),
    }


def write_outputs(
    study: StudyResult, plots_dir: str | Path, results_path: str | Path
) -> list[Path]:
    """Per-variant curves, the summary table, the four-view figure and the metrics file;
    returns the files to attach to the parent MLflow run."""
    plots_dir = Path(plots_dir)
    for o in study.outcomes:
        write_csv(plots_dir / f"curve_{o.variant.name}.csv", o.curve)
    table = write_csv(plots_dir / "summary.csv", [o.summary for o in study.outcomes])
    b = study.base
    title = (
        f"{b.data.name}, n_train={len(study.splits.x_train)}, "
        f"mlp{'x'.join(map(str, b.model.mlp.hidden))}, {b.train.max_epochs} epochs, seed {b.seed}"
    )
    fig = four_views(study.outcomes, plots_dir / "optimizers.png", title)
    write_json(results_path, metrics(study))
    return [table, fig]


def summary_line(study: StudyResult) -> str:
    parts = []
    for o in study.outcomes:
        s = o.summary
        loss = s.get("test/loss", float("nan"))
        parts.append(f"{o.variant.name} {s['status']} test/loss {loss:.3f} ({s['time_s']:.1f}s)")
    return "optimizers: " + "; ".join(parts)
