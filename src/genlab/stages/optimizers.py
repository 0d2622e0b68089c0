"""Study `optimizers`: how the update rule and the samples per update shape training.

Full-batch GD, SGD (one sample per update), mini-batch SGD, SGD with momentum and Adam train
the same MLP on the same data for the same number of epochs, each at its own learning rate
(params `optimizers.variants`), each over the same `optimizers.seeds` seeds (`seed`, `seed`+1,
…: init and shuffling; the data is always the one drawn from `seed`). The training loss (whole
training set, eval mode, end of each epoch) is compared against four clocks: epochs, parameter
updates, samples seen and wall-clock seconds. The lecture's claims are checked with numbers,
seed by seed: GD makes one update per epoch, so per epoch it falls behind; SGD's one-sample
steps make its loss curve the noisiest; mini-batches sit in between. A claim holds only where
every seed says so; where the seeds disagree it is within the noise, not established.
"""

from __future__ import annotations

import math
from argparse import Namespace
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from genlab.config import Params, with_overrides
from genlab.data import Splits
from genlab.data.datamodule import InMemoryBatches, to_tensors
from genlab.gd_study import (
    final_row,
    fits_to_judge,
    open_study,
    study_params,
    study_splits,
    variant_run,
)
from genlab.outputs import write_csv, write_json
from genlab.plotting import plt, save_figure
from genlab.progress import Progress
from genlab.seeds import mean_std, verdict
from genlab.seeds import seed_list as seeds_from
from genlab.tracking import Study
from genlab.training import FitResult, build_module, fit, use_threads

STAGE = "optimizers"
FINAL_KEYS = ("train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc", "gap/loss")
# per-variant numbers reported as mean over seeds and `<key>_std` (sample std, ddof 1)
SPREAD_KEYS = (
    *FINAL_KEYS,
    "s_per_epoch",
    "gradient_noise",
    "train_loss_increase_frac",
    "train_loss_delta_std",
)
# the same in every seed (set by the variant, the data and the epoch budget)
FIXED_KEYS = ("lr", "batch_size", "epochs", "updates_per_epoch", "updates", "samples_seen")
# the lecture's claims (`lecture_claims`): each is decided seed by seed
CLAIMS = (
    "gd_highest_train_loss_at_equal_epochs",
    "update_noise_sgd_gt_minibatch_gt_gd",
    "curve_goes_up_more_often_sgd_ge_minibatch_ge_gd",
    "sgd_slowest_per_epoch_wallclock",
    "gd_fastest_per_epoch_wallclock",
)
CLOCKS = (  # (column, axis label, log-scale x)
    ("epochs", "epochs", False),
    ("updates", "parameter updates", True),
    ("samples_seen", "samples seen", False),
    ("time_s", "wall-clock seconds (incl. per-epoch evaluation)", True),
)


@dataclass
class Variant:
    """One optimizer setting at one seed: its validated params and how many samples one update
    uses."""

    name: str
    params: Params
    batch_size: int
    samples_per_epoch: int

    @property
    def seed(self) -> int:
        return self.params.seed


@dataclass
class Outcome:
    """One trained (variant, seed)."""

    variant: Variant
    result: FitResult
    curve: list[dict[str, float]]
    summary: dict[str, object]
    run_id: str = ""

    @property
    def label(self) -> str:
        """`adam-s43`: the model's name in `to_judge` and in the per-seed table."""
        return f"{self.variant.name}-s{self.variant.seed}"


@dataclass
class StudyResult:
    base: Params
    splits: Splits
    outcomes: list[Outcome]  # variant by variant, each over the seeds in order
    claims: dict[str, object]
    seeds: list[int] = field(default_factory=list)
    summaries: dict[str, dict[str, object]] = field(default_factory=dict)  # per variant

    def first_seed(self) -> list[Outcome]:
        """One outcome per variant: the run at params' own seed (what the figure draws)."""
        return [o for o in self.outcomes if o.variant.seed == self.seeds[0]]


def seed_list(params: Params) -> list[int]:
    """The study's seeds (`genlab.seeds.seed_list` of `optimizers.seeds`)."""
    return seeds_from(params.seed, params.optimizers.seeds)


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


def build_variants(params: Params, splits: Splits, seed: int | None = None) -> list[Variant]:
    """One validated params object per entry of `optimizers.variants` (name -> lr), trained
    from `seed` (default: params' own). The data (`splits`) does not depend on it."""
    base = base_params(params)
    if seed is not None:
        base = with_overrides(base, {"seed": seed})
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
    """The table row of one variant at one seed: its setting, its clocks, its final
    (last-epoch) numbers and its noise (of one update's gradient, and of the epoch-end loss
    curve)."""
    last = final_row(result.history)
    o = v.params.train.optimizer
    epochs = len(rows)
    return {
        "variant": v.name,
        "seed": v.seed,
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


def aggregate(per_seed: list[dict[str, object]]) -> dict[str, object]:
    """One variant's table row over its seeds: each number in SPREAD_KEYS as its mean and
    `<key>_std`, over the seeds that trained without diverging (all seeds when none did, so a
    variant that always diverges still shows its timing). `status` is "ok" only when every seed
    is; `seeds_ok` says how many were."""
    first = per_seed[0]
    ok = [s for s in per_seed if s["status"] == "ok"]
    pool = ok or per_seed
    row: dict[str, object] = {
        "variant": first["variant"],
        **{k: first[k] for k in FIXED_KEYS},
        "status": "ok" if len(ok) == len(per_seed) else "diverged",
        "seeds": len(per_seed),
        "seeds_ok": len(ok),
        "time_s": mean_std([s["time_s"] for s in pool])[0],
    }
    for key in SPREAD_KEYS:
        row[key], row[f"{key}_std"] = mean_std([s.get(key, math.nan) for s in pool])
    row["noise_scale"] = first["noise_scale"]
    return row


def claim_numbers(s: dict[str, dict[str, object]]) -> dict[str, object]:
    """The numbers the claims rest on, per variant (one seed's, or means over seeds)."""
    keys = {  # results key: summary key
        "updates_per_epoch": "updates_per_epoch",
        "final_train_loss": "train/loss",
        "gradient_noise": "gradient_noise",
        "noise_scale": "noise_scale",
        "train_loss_increase_frac": "train_loss_increase_frac",
        "train_loss_delta_std": "train_loss_delta_std",
        "s_per_epoch": "s_per_epoch",
    }
    return {name: {k: v.get(key) for k, v in s.items()} for name, key in keys.items()}


def lecture_claims(summaries: dict[str, dict[str, object]]) -> dict[str, object]:
    """The lecture's claims on one seed's runs, each with the numbers that decide it.

    Only claims whose variants were run appear. A claim that is false is reported as false:
    the point is to see where the textbook picture holds here and where it does not.
    """
    s = summaries
    ok = {k: v for k, v in s.items() if v["status"] == "ok"}
    claims = claim_numbers(s)
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


def claims_over_seeds(
    per_seed: Sequence[dict[str, object]], summaries: dict[str, dict[str, object]]
) -> dict[str, object]:
    """The results file's `claims`: the numbers behind them as means over seeds (from the
    aggregated `summaries`), then each claim some seed could decide, as a `verdict`."""
    s = summaries
    claims = claim_numbers(s)
    for name in CLAIMS:
        if any(name in c for c in per_seed):
            claims[name] = verdict([c.get(name) for c in per_seed])
    return claims


def data(params: Params, paths: Namespace | None = None) -> Splits:
    """The study's data, drawn from params' seed, whatever seed a variant trains with."""
    return study_splits(base_params(params))


def open_runs(params: Params, splits: Splits) -> AbstractContextManager[Study]:
    """The study's MLflow parent run (the means), named by what its variants share."""
    cfg = params.optimizers
    seeds = seed_list(params)
    hidden = "x".join(map(str, cfg.hidden))  # the stage is the experiment: not repeated
    tail = f"s{seeds[0]}" if len(seeds) == 1 else f"s{seeds[0]}-{seeds[-1]}"
    return open_study(params, STAGE, f"{cfg.dataset}-mlp{hidden}-bs{cfg.batch_size}-{tail}", splits)


def run(params: Params, splits: Splits, runs: Study | None = None) -> StudyResult:
    """Train every variant at every seed on `splits` (`data`); with `runs` (`open_runs`),
    one MLflow child run each."""
    cfg = params.optimizers
    use_threads(cfg.torch_threads)
    base = base_params(params)
    seeds = seed_list(params)
    per_seed = {seed: build_variants(params, splits, seed) for seed in seeds}
    outcomes = []
    noise: dict[tuple[int, int], float] = {}  # (batch size, seed): the init differs by seed
    progress = Progress(STAGE, len(cfg.variants) * len(seeds))
    for i in range(len(cfg.variants)):  # variant by variant, each over the seeds
        for seed in seeds:
            v = per_seed[seed][i]
            if (v.batch_size, seed) not in noise:
                noise[v.batch_size, seed] = gradient_noise(v.params, splits, v.batch_size)
            extra = {"optimizers.variant": v.name, "effective_batch_size": v.batch_size}
            with variant_run(runs, v.params, v.name, extra, seeded=True) as child:
                result = fit(v.params, splits, logger=child and child.logger)
                rows = curve(result.history, v.samples_per_epoch)
                summary = summarize(v, result, rows, noise[v.batch_size, seed])
                if child is not None:
                    runs.log_series(child.run_id, rows, ("samples_seen", "time_s"))
                    runs.log_metrics(child.run_id, final_metrics(summary))
                    child.outcome(result.status, result.reason)
            outcomes.append(Outcome(v, result, rows, summary, child.run_id if child else ""))
            progress.step(v.name if len(seeds) == 1 else f"{v.name} s{seed}")
    summaries = {
        name: aggregate([o.summary for o in outcomes if o.variant.name == name])
        for name in cfg.variants
    }
    seed_claims = [
        lecture_claims({o.variant.name: o.summary for o in outcomes if o.variant.seed == seed})
        for seed in seeds
    ]
    claims = claims_over_seeds(seed_claims, summaries)
    return StudyResult(base, splits, outcomes, claims, seeds, summaries)


def final_metrics(summary: dict[str, object]) -> dict[str, float]:
    """The child run's single-valued metrics (`final/test/loss`, noise measures, clocks)."""
    out = {f"final/{k}": summary[k] for k in FINAL_KEYS if k in summary}
    for k in ("gradient_noise", "noise_scale", "train_loss_delta_std", "train_loss_increase_frac"):
        out[f"noise/{k}"] = summary[k]
    out["s_per_epoch"] = summary["s_per_epoch"]
    out["updates_per_epoch"] = float(summary["updates_per_epoch"])
    return {k: float(v) for k, v in out.items()}


def parent_metrics(study: StudyResult) -> dict[str, float]:
    """The parent run's metrics: each variant's means over seeds and their spreads
    (`adam/final/test/loss`, `adam/final/test/loss_std`), same names as the children's."""
    out: dict[str, float] = {}
    for name, row in study.summaries.items():
        for key in SPREAD_KEYS:
            metric = f"final/{key}" if key in FINAL_KEYS else key
            out[f"{name}/{metric}"] = float(row[key])
            out[f"{name}/{metric}_std"] = float(row[f"{key}_std"])
    return out


# ------------------------------------------------------------------------------ outputs


def _band(outcomes: list[Outcome], col: str) -> tuple[list[float], np.ndarray, np.ndarray] | None:
    """Min and max training loss over the seeds that ran every epoch, where they share the
    x values (epochs, updates, samples seen; not seconds); None with fewer than two such."""
    curves = [o.curve for o in outcomes if o.result.status == "ok"]
    if len(curves) < 2 or len({len(c) for c in curves}) != 1:
        return None
    xs = [[r[col] for r in c] for c in curves]
    if any(x != xs[0] for x in xs):
        return None
    ys = np.asarray([[r["train/loss"] for r in c] for c in curves], dtype=float)
    return xs[0], ys.min(axis=0), ys.max(axis=0)


def four_views(
    outcomes: list[Outcome], path: str | Path, title: str = "", seeds: Sequence[int] = ()
) -> Path:
    """Training loss against epochs, updates, samples seen and seconds: one line per variant
    (the run at `seeds[0]`, or the first outcome of each variant), with the min–max band over
    all its seeds shaded where the seeds share the x axis (every clock but seconds)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    by_variant: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_variant.setdefault(o.variant.name, []).append(o)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (col, label, logx) in zip(axes.flat, CLOCKS, strict=True):
        for color, group in enumerate(by_variant.values()):
            shown = next((o for o in group if seeds and o.variant.seed == seeds[0]), group[0])
            xs = [r[col] for r in shown.curve]
            ys = [r["train/loss"] for r in shown.curve]
            lr = shown.variant.params.train.optimizer.lr
            name = f"{shown.variant.name} (B={shown.variant.batch_size}, lr={lr:g})"
            ax.plot(xs, ys, marker=".", ms=4, color=f"C{color}", label=name)
            band = _band(group, col)
            if band is not None:
                ax.fill_between(band[0], band[1], band[2], color=f"C{color}", alpha=0.2, lw=0)
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
        "seeds": list(study.seeds),
        "variants": {
            name: {k: v for k, v in row.items() if k != "variant"}
            for name, row in study.summaries.items()
        },
        "claims": study.claims,
        "to_judge": fits_to_judge(
            [(o.label, o.result, o.run_id) for o in study.outcomes], study.splits
        ),
    }


def figure_title(study: StudyResult) -> str:
    b, seeds = study.base, study.seeds
    spread = (
        f"; shaded: min–max over seeds {seeds[0]}–{seeds[-1]} (not on seconds)"
        if len(seeds) > 1
        else ""
    )
    return (
        f"{b.data.name}, n_train={len(study.splits.x_train)}, "
        f"mlp{'x'.join(map(str, b.model.mlp.hidden))}, {b.train.max_epochs} epochs; "
        f"lines: seed {seeds[0]}{spread}"
    )


def write(study: StudyResult, paths: Namespace) -> list[Path]:
    """Per-variant curves (first seed), the summary table (means and spreads), the per-seed
    table, the four-view figure and the metrics file; returns the files to attach to the parent
    MLflow run."""
    plots_dir, results_path = Path(paths.plots), paths.results
    for o in study.first_seed():
        write_csv(plots_dir / f"curve_{o.variant.name}.csv", o.curve)
    table = write_csv(plots_dir / "summary.csv", list(study.summaries.values()))
    per_seed = write_csv(plots_dir / "seeds.csv", [o.summary for o in study.outcomes])
    fig = four_views(study.outcomes, plots_dir / "optimizers.png", figure_title(study), study.seeds)
    write_json(results_path, metrics(study))
    return [table, per_seed, fig]


def line(study: StudyResult, run_id: str | None = None) -> str:
    parts = []
    for name, s in study.summaries.items():
        loss, std = s.get("test/loss", math.nan), s.get("test/loss_std", math.nan)
        spread = f" ± {std:.3f}" if math.isfinite(std) else ""
        status = s["status"] if s["status"] == "ok" else f"{s['seeds_ok']}/{s['seeds']} ok"
        parts.append(f"{name} {status} test/loss {loss:.3f}{spread} ({s['time_s']:.1f}s/seed)")
    n = len(study.seeds)
    head = f"optimizers ({n} seed{'s' if n > 1 else ''}, mean ± std): "
    return head + "; ".join(parts) + f" (MLflow run {run_id})"
