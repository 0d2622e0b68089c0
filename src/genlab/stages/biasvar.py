"""The bias-variance decomposition, measured over model complexity.

For each complexity level, K training sets D are drawn fresh from the true distribution, one
model is trained per D (all K together: `genlab.stacked`), and the models are
decomposed on fixed test points with `genlab.bias_variance`:

- regression (`data.poly`'s f, noise and x range; an evenly spaced grid of x): polynomial
  degree by exact least squares, MLP width after the last epoch, and training epochs of one
  width (snapshots of the same runs), under squared error;
- classification (`data.gaussians`' classes; test points drawn once from the mixture): MLP
  width and training epochs under 0-1 loss, decomposed as in Domingos (2000), with the Bayes
  error recorded for the data as the irreducible part.

The expected error is measured against labels sampled afresh for every model and test point
(y = f(x) + ε; t ~ p(·|x)), so "expected error = sum of the terms" is a real check whose
Monte-Carlo standard error is reported. Next to it stands the lecture's shortcut (training error
for bias, test minus training error for variance) on the same models.
"""

from __future__ import annotations

import math
from argparse import Namespace
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from scipy.stats import spearmanr

from genlab import tracking
from genlab.bias_variance import (
    Decomposition,
    fresh_sets,
    squared_error_decomposition,
    zero_one_decomposition,
)
from genlab.config import Params
from genlab.config.biasvar import BiasVarMlp
from genlab.config.train import OptimizerConfig
from genlab.data.gaussians import (
    balanced_counts,
    make_gaussians,
    sample_gaussians,
    true_posteriors,
)
from genlab.data.poly import sample_poly, true_function
from genlab.least_squares import batched_lstsq, legendre_design
from genlab.models import MLP
from genlab.outputs import write_csv, write_json
from genlab.plotting import plt, save_figure
from genlab.progress import Progress
from genlab.stacked import StackedModels, seeded_models, train_stacked

STAGE = "biasvar"
# Independent random streams, all derived from params.seed.
STREAM = {"reg_sets": 0, "reg_labels": 1, "clf_sets": 2, "clf_points": 3, "clf_labels": 4}
SWEEP_IDS = {"degree": 0, "width": 1, "epochs": 2}


def rng(seed: int, stream: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAM[stream], *key])


@dataclass
class Problem:
    """K training sets, the fixed test points and everything known about the truth there."""

    task: str  # "regression" | "classification"
    x_sets: np.ndarray  # (K, n, d)
    y_sets: np.ndarray  # (K, n)
    x_test: np.ndarray  # (G, d)
    truth: np.ndarray  # regression: f(x) (G,); classification: Bayes label y*(x) (G,)
    seed: int
    noise_var: float = 0.0  # regression: σ²
    posteriors: np.ndarray | None = None  # classification: p(k|x) (G, C)
    info: dict = field(default_factory=dict)

    @property
    def draws(self) -> int:
        return len(self.y_sets)

    def labels(self, sweep: str, value: int) -> np.ndarray:
        """(K, G) fresh labels, one per model and test point, own stream per level.

        Independent draws per level keep the identity checks of different levels independent.
        """
        key = (SWEEP_IDS[sweep], int(value))
        shape = (self.draws, len(self.truth))
        if self.task == "regression":
            noise = rng(self.seed, "reg_labels", *key).standard_normal(shape)
            return self.truth + np.sqrt(self.noise_var) * noise
        u = rng(self.seed, "clf_labels", *key).random((*shape, 1))
        return (u > np.cumsum(self.posteriors, axis=1)[None, :, :-1]).sum(axis=2)


def regression_problem(params: Params) -> Problem:
    """K sets of n points from data.poly's f + ε; an evenly spaced grid of test x."""
    p, cfg = params.data.poly, params.biasvar
    reg = cfg.regression

    def sampler(n: int, g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return sample_poly(p.function, p.noise_sigma, n, g, p.x_min, p.x_max)

    sets = list(fresh_sets(sampler, reg.n_train, cfg.draws, rng(params.seed, "reg_sets")))
    grid = np.linspace(p.x_min, p.x_max, reg.grid_points)
    return Problem(
        task="regression",
        x_sets=np.stack([x for x, _ in sets]),
        y_sets=np.stack([y for _, y in sets]),
        x_test=grid[:, None],
        truth=true_function(p.function)(grid),
        seed=params.seed,
        noise_var=float(p.noise_sigma) ** 2,
        info={"function": p.function, "x_min": p.x_min, "x_max": p.x_max},
    )


def classification_problem(params: Params) -> Problem:
    """K balanced sets of n points from data.gaussians' mixture; fixed test points from it.

    The class means and the recorded Bayes error are exactly those of the prepared `gaussians`
    data (same generator, same seed).
    """
    g, cfg = params.data.gaussians, params.biasvar
    clf = cfg.classification
    ref = make_gaussians(
        g.n_classes, g.dim, g.separation, g.sigma, 2, 2, 2, params.seed, g.bayes_mc_samples
    )
    means = np.asarray(ref.info["means"])

    def sampler(n: int, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return sample_gaussians(balanced_counts(n, g.n_classes), means, g.sigma, r)

    sets = list(fresh_sets(sampler, clf.n_train, cfg.draws, rng(params.seed, "clf_sets")))
    x_test, _ = sampler(clf.test_points, rng(params.seed, "clf_points"))
    post = true_posteriors(x_test, means, g.sigma)
    return Problem(
        task="classification",
        x_sets=np.stack([x for x, _ in sets]),
        y_sets=np.stack([y for _, y in sets]),
        x_test=x_test,
        truth=post.argmax(axis=1),
        seed=params.seed,
        posteriors=post,
        info={
            "bayes_error": ref.info["bayes_error"],
            "bayes_error_stderr": ref.info["bayes_error_stderr"],
            "bayes_error_method": ref.info["bayes_error_method"],
            "n_classes": g.n_classes,
        },
    )


@dataclass
class Level:
    """One complexity level of one sweep: the decomposition and the shortcut's inputs."""

    task: str
    sweep: str  # "degree" | "width" | "epochs"
    value: int
    decomposition: Decomposition
    train_error: float  # mean over the K models of the loss on their own training set
    status: str = "ok"

    def row(self) -> dict:
        d = self.decomposition
        row: dict = {
            self.sweep: self.value,
            "bias2" if d.loss == "mse" else "bias": d.bias,
            "variance": d.variance,
            "noise": d.noise,
        }
        if d.loss == "mse":
            row["bias2_corrected"] = d.extra["bias_corrected"]
        if d.loss == "0-1":
            row |= {
                "variance_unbiased": d.extra["variance_unbiased"],
                "variance_biased": d.extra["variance_biased"],
                "net_variance": d.extra["net_variance"],
                "noise_term": d.extra["noise_term"],
            }
        row |= {
            "expected_error": d.expected_loss,
            "sum": d.total,
            "mc_stderr": d.mc_stderr,
            "z": d.z,
        }
        row |= {f"stderr/{k}": v for k, v in d.stderr.items()}
        row |= {
            "train/loss": self.train_error,
            "gap/loss": d.expected_loss - self.train_error,
            "status": self.status,
        }
        return row

    def metrics(self) -> dict[str, float]:
        """The row's numbers without the level's own value (for MLflow)."""
        return {
            k: float(v)
            for k, v in self.row().items()
            if k != self.sweep and isinstance(v, int | float) and not isinstance(v, bool)
        }


def decompose(problem: Problem, preds: np.ndarray, sweep: str, value: int) -> Decomposition:
    """The level's decomposition, its expected error measured on the level's own labels."""
    labels = problem.labels(sweep, value)
    if problem.task == "regression":
        return squared_error_decomposition(preds, problem.truth, problem.noise_var, labels)
    return zero_one_decomposition(preds, problem.truth, problem.posteriors, labels)


def degree_sweep(problem: Problem, degrees: list[int]) -> list[Level]:
    """Exact least squares on Legendre features, the K problems of a degree in one call."""
    lo, hi = problem.info["x_min"], problem.info["x_max"]
    k, n = problem.y_sets.shape
    levels = []
    for d in degrees:
        design = legendre_design(problem.x_sets, d, lo, hi).reshape(k, n, d + 1)
        coef = batched_lstsq(design, problem.y_sets)
        preds = coef @ legendre_design(problem.x_test, d, lo, hi).T
        fitted = np.einsum("knp,kp->kn", design, coef)
        train = float(np.mean((fitted - problem.y_sets) ** 2))
        dec = decompose(problem, preds, "degree", d)
        levels.append(Level(problem.task, "degree", d, dec, train))
    return levels


def mlp_sweeps(
    problem: Problem,
    widths: list[int],
    cfg: BiasVarMlp,
    seed: int,
    progress: Progress | None = None,
) -> list[Level]:
    """Width sweep (after the last epoch) and epoch sweep (of `cfg.epoch_sweep_width`).

    Every width trains its K models together; the epoch levels are snapshots of the same runs.
    Model k starts from the initialisation `fit` gives seed + k. `progress` gets a line per
    width (its K models trained).
    """
    regression = problem.task == "regression"
    x = torch.as_tensor(problem.x_sets, dtype=torch.float32)
    y = torch.as_tensor(problem.y_sets, dtype=torch.float32 if regression else torch.long)
    x_test = torch.as_tensor(problem.x_test, dtype=torch.float32)
    d_in = x.shape[-1]
    out_dim = 1 if regression else int(problem.posteriors.shape[1])
    loss = "mse" if regression else "ce"
    opt = OptimizerConfig(name=cfg.optimizer, lr=cfg.lr)
    seeds = [seed + i for i in range(problem.draws)]
    levels: list[Level] = []
    for width in widths:
        models = StackedModels(
            seeded_models(lambda w=width: MLP(d_in, out_dim, [w], cfg.activation), seeds)
        )
        epochs = cfg.epochs if width == cfg.epoch_sweep_width else cfg.epochs[-1:]
        for snap in train_stacked(models, x, y, loss, opt, epochs, x_test):
            if regression:
                preds = snap.eval_out.reshape(problem.draws, -1).double().numpy()
                train = float(snap.train_loss.mean())
            else:
                preds = snap.eval_out.argmax(dim=-1).numpy()
                train = float((snap.train_out.argmax(dim=-1) != y).float().mean())
            finite = bool(np.isfinite(snap.eval_out.numpy()).all())
            status = "ok" if finite and math.isfinite(train) else "diverged"
            if not finite:
                preds = np.nan_to_num(preds) if regression else preds
            if width == cfg.epoch_sweep_width:
                dec = decompose(problem, preds, "epochs", snap.epoch)
                levels.append(Level(problem.task, "epochs", snap.epoch, dec, train, status))
            if snap.epoch == cfg.epochs[-1]:
                dec = decompose(problem, preds, "width", width)
                levels.append(Level(problem.task, "width", width, dec, train, status))
        if progress is not None:
            progress.step(f"{problem.task} width {width} ({problem.draws} models)")
    return levels


@dataclass
class BiasVarResult:
    regression: Problem
    classification: Problem
    levels: list[Level]
    run_id: str | None = None

    def sweep(self, task: str, sweep: str) -> list[Level]:
        return sorted(
            (lv for lv in self.levels if lv.task == task and lv.sweep == sweep),
            key=lambda lv: lv.value,
        )

    def sweeps(self) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        for lv in self.levels:
            if (lv.task, lv.sweep) not in seen:
                seen.append((lv.task, lv.sweep))
        return seen


def run_biasvar(params: Params, problems: tuple[Problem, Problem]) -> BiasVarResult:
    """Both variants (`regression_problem`, `classification_problem`), every sweep."""
    cfg = params.biasvar
    torch.set_num_threads(cfg.torch_threads)
    reg, clf = problems
    levels = degree_sweep(reg, cfg.regression.degrees)
    progress = Progress(STAGE, len(cfg.regression.widths) + len(cfg.classification.widths))
    levels += mlp_sweeps(reg, cfg.regression.widths, cfg.regression.mlp, params.seed, progress)
    levels += mlp_sweeps(
        clf, cfg.classification.widths, cfg.classification.mlp, params.seed, progress
    )
    return BiasVarResult(reg, clf, levels)


# ------------------------------------------------------------------------ the shortcut


def shortcut(levels: list[Level]) -> dict[str, float]:
    """How well "train error ~ bias, test − train ~ variance" holds over one sweep.

    Regression compares train error with Bias² + σ² (what a perfectly fitted training set
    would still show) and with Bias² alone; 0-1 loss with bias + noise. The gap is compared with
    the variance. Ratios are medians over the levels; rank correlations say whether the shortcut
    at least orders the complexities like the true terms.
    """
    dec = [lv.decomposition for lv in levels]
    train = np.array([lv.train_error for lv in levels])
    gap = np.array([d.expected_loss for d in dec]) - train
    bias = np.array([d.bias for d in dec])
    var = np.array([d.variance for d in dec])
    noise = np.array([d.noise for d in dec])
    out = {
        "train_minus_bias_plus_noise/median": float(np.median(train - (bias + noise))),
        "train_over_bias/median": _median_ratio(train, bias),
        "gap_over_variance/median": _median_ratio(gap, var),
    }
    if len(levels) >= 3:
        out["rank_corr/train_vs_bias"] = _spearman(train, bias)
        out["rank_corr/gap_vs_variance"] = _spearman(gap, var)
    return out


def _median_ratio(a: np.ndarray, b: np.ndarray) -> float:
    ok = b > 0
    return float(np.median(a[ok] / b[ok])) if ok.any() else float("nan")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def summary(result: BiasVarResult) -> dict:
    """The metrics file: per sweep the best level, the identity check and the shortcut."""
    out: dict = {
        "draws": result.regression.draws,
        "regression": {"noise_var": result.regression.noise_var},
        "classification": {
            "bayes_error": result.classification.info["bayes_error"],
            "bayes_error_stderr": result.classification.info["bayes_error_stderr"],
        },
    }
    for task, sweep in result.sweeps():
        levels = result.sweep(task, sweep)
        dec = [lv.decomposition for lv in levels]
        best = min(range(len(levels)), key=lambda i: dec[i].expected_loss)
        z = [abs(d.z) for d in dec]
        block = {
            "best": levels[best].value,
            "best/expected_error": dec[best].expected_loss,
            "identity/max_abs_z": float(max(z)),
            "identity/within_3_stderr": int(sum(v <= 3 for v in z)),
            "levels": len(levels),
        }
        if task == "classification":
            block["noise_on_test_points"] = dec[0].noise
        block |= {f"shortcut/{k}": v for k, v in shortcut(levels).items()}
        out[task][sweep] = block
    return out


# ------------------------------------------------------------------------------ figures

AXIS = {"degree": "polynomial degree", "width": "MLP hidden width", "epochs": "training epochs"}


def _errorbars(ax, x: list, dec: list[Decomposition]) -> None:
    ax.errorbar(
        x,
        [d.expected_loss for d in dec],
        yerr=[2 * d.mc_stderr for d in dec],
        fmt="o",
        ms=4,
        color="k",
        capsize=2,
        label="expected error, measured (±2 s.e.)",
    )
    ax.plot(x, [d.total for d in dec], "-", color="k", lw=1, label="sum of the terms")


def _axes(n: int, width: float = 4.6):
    fig, axes = plt.subplots(1, n, figsize=(width * n, 4.0))
    return fig, list(np.atleast_1d(axes))


def plot_regression(result: BiasVarResult, path: str | Path) -> Path:
    """The U: Bias², variance, σ² and their sum against the measured error, per sweep."""
    sweeps = [s for t, s in result.sweeps() if t == "regression"]
    fig, axes = _axes(len(sweeps))
    for ax, sweep in zip(axes, sweeps, strict=True):
        levels = result.sweep("regression", sweep)
        x = [lv.value for lv in levels]
        dec = [lv.decomposition for lv in levels]
        ax.plot(x, [d.bias for d in dec], "-s", ms=3, color="C0", label="bias² (plug-in)")
        corrected = np.array([d.extra["bias_corrected"] for d in dec])
        ax.plot(
            x,
            np.where(corrected > 0, corrected, np.nan),
            ":",
            color="C0",
            label="bias² − Var/(K−1) (finite-K corrected)",
        )
        ax.plot(x, [d.variance for d in dec], "-^", ms=3, color="C3", label="variance")
        ax.axhline(result.regression.noise_var, color="grey", ls=":", label="noise σ²")
        _errorbars(ax, x, dec)
        ax.set_yscale("log")
        if sweep == "degree":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.set_xscale("log", base=2 if sweep == "width" else 10)
        ax.set_xlabel(AXIS[sweep])
        ax.set_ylabel("squared error (mean over the test grid)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Regression, K = {result.regression.draws} training sets of "
        f"{result.regression.y_sets.shape[1]} points"
    )
    return save_figure(fig, path)


def plot_classification(result: BiasVarResult, path: str | Path) -> Path:
    """Domingos' terms under 0-1 loss: bias, unbiased and biased variance, noise."""
    sweeps = [s for t, s in result.sweeps() if t == "classification"]
    fig, axes = _axes(len(sweeps))
    bayes = result.classification.info["bayes_error"]
    for ax, sweep in zip(axes, sweeps, strict=True):
        levels = result.sweep("classification", sweep)
        x = [lv.value for lv in levels]
        dec = [lv.decomposition for lv in levels]
        ax.plot(x, [d.bias for d in dec], "-s", ms=3, color="C0", label="bias")
        ax.plot(
            x,
            [d.extra["variance_unbiased"] for d in dec],
            "-^",
            ms=3,
            color="C3",
            label="unbiased variance (adds)",
        )
        ax.plot(
            x,
            [d.extra["variance_biased"] for d in dec],
            "-v",
            ms=3,
            color="C1",
            label="biased variance (subtracts)",
        )
        ax.plot(x, [d.extra["noise_term"] for d in dec], "--", color="C2", label="noise term c1·N")
        ax.axhline(bayes, color="grey", ls=":", label=f"Bayes error {bayes:.3f}")
        _errorbars(ax, x, dec)
        ax.set_xscale("log", base=2 if sweep == "width" else 10)
        ax.set_xlabel(AXIS[sweep])
        ax.set_ylabel("0-1 loss (mean over the test points)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Classification (0-1 loss, Domingos 2000), K = {result.classification.draws} "
        f"training sets of {result.classification.y_sets.shape[1]} points"
    )
    return save_figure(fig, path)


def plot_shortcut(result: BiasVarResult, path: str | Path) -> Path:
    """The lecture's shortcut next to the true terms, for the same models."""
    sweeps = result.sweeps()
    fig, axes = _axes(len(sweeps), width=3.8)
    for ax, (task, sweep) in zip(axes, sweeps, strict=True):
        levels = result.sweep(task, sweep)
        x = [lv.value for lv in levels]
        dec = [lv.decomposition for lv in levels]
        train = np.array([lv.train_error for lv in levels])
        gap = np.array([d.expected_loss for d in dec]) - train
        ax.plot(x, [d.bias + d.noise for d in dec], "-", color="C0", label="bias + noise (true)")
        ax.plot(x, train, "--", color="C0", label="training error (shortcut)")
        ax.plot(x, [d.variance for d in dec], "-", color="C3", label="variance (true)")
        ax.plot(x, gap, "--", color="C3", label="test − train (shortcut)")
        if sweep == "degree":
            ax.set_yscale("log")
        else:
            ax.set_xscale("log", base=2 if sweep == "width" else 10)
        ax.set_title(f"{task}: {sweep}", fontsize=9)
        ax.set_xlabel(AXIS[sweep])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


# ------------------------------------------------------------------------------ MLflow


def data_hash(problems: tuple[Problem, Problem]) -> str:
    """`tracking.data_hash` of every training set and test point the study uses."""
    arrays = (a for problem in problems for a in (problem.x_sets, problem.y_sets, problem.x_test))
    return tracking.data_hash(*arrays)


# ------------------------------------------------------------------ the stage (genlab.study)


def data(params: Params, paths: Namespace) -> tuple[Problem, Problem]:
    """The K training sets and the test points of both variants (each from its own seeded
    stream), made before any run exists."""
    return regression_problem(params), classification_problem(params)


def run_name(params: Params) -> str:
    return f"K{params.biasvar.draws}-s{params.seed}"  # the stage is the experiment


def open_runs(
    params: Params, problems: tuple[Problem, Problem]
) -> AbstractContextManager[tracking.Study]:
    """The stage's parent run; `track` adds one child per complexity level."""
    tags = tracking.run_tags(params, STAGE, data_hash(problems))
    # the study draws its own data from both generators: their sections apply, nothing else
    logged = tracking.run_params(params, STAGE, trained=False, datasets=("poly", "gaussians"))
    return tracking.study(params, STAGE, run_name(params), tags, logged)


def run(params: Params, problems: tuple[Problem, Problem], runs: tracking.Study) -> BiasVarResult:
    result = run_biasvar(params, problems)
    result.run_id = runs.run_id
    return result


def track(runs: tracking.Study, result: BiasVarResult) -> None:
    """One child per complexity level, logged after the (vectorized) training."""
    name = run_name(runs.params)
    for lv in result.levels:
        variant = f"{lv.task}-{lv.sweep}{lv.value}"
        problem = result.regression if lv.task == "regression" else result.classification
        level = {
            "task": lv.task,
            "sweep": lv.sweep,
            lv.sweep: lv.value,
            "draws": problem.draws,
            "n_train": problem.y_sets.shape[1],
        }
        with runs.child(
            f"{variant}-{name}",  # what differs first: MLflow cuts long names
            {**runs.tags, "genlab.variant": variant},
            level,
        ) as child:
            runs.log_metrics(child.run_id, lv.metrics())
            child.outcome(lv.status)


def write(result: BiasVarResult, paths: Namespace) -> list[Path]:
    """plots/biasvar/: one CSV per sweep (bias, variance, noise, expected error and its
    Monte-Carlo error, training error, gap) and the three figures; results/biasvar.json. The
    figures go on the parent run."""
    plots = Path(paths.plots)
    for task, sweep in result.sweeps():
        write_csv(plots / f"{task}_{sweep}.csv", [lv.row() for lv in result.sweep(task, sweep)])
    figures = [
        plot_regression(result, plots / "regression.png"),
        plot_classification(result, plots / "classification.png"),
        plot_shortcut(result, plots / "shortcut.png"),
    ]
    write_json(paths.results, summary(result) | {"mlflow_run_id": result.run_id})
    return figures


def parent_metrics(result: BiasVarResult) -> dict[str, float]:
    return as_flat_dict_plain(summary(result))


def line(result: BiasVarResult, run_id: str | None) -> str:
    metrics = summary(result)
    z = max(abs(lv.decomposition.z) for lv in result.levels)
    reg, clf = metrics["regression"], metrics["classification"]
    return (
        f"biasvar: {len(result.levels)} levels x K={metrics['draws']} models; best degree "
        f"{reg['degree']['best']}, width {reg['width']['best']}, epochs {reg['epochs']['best']} "
        f"(regression), width {clf['width']['best']} (0-1 loss, Bayes error "
        f"{clf['bayes_error']:.3f}); expected error = sum of terms within {z:.1f} s.e. "
        f"(MLflow run {run_id})"
    )


def as_flat_dict_plain(d: dict, prefix: str = "") -> dict[str, float]:
    """Nested metrics as `regression/degree/best`-style keys (numbers only)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= as_flat_dict_plain(v, f"{key}/")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    return out
