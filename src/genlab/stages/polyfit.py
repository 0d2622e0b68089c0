"""Underfit, good fit, overfit: polynomial degree swept on few noisy points, fitted two ways.

Least squares on the Legendre design matrix is the exact minimiser of the training MSE; gradient
descent through `genlab.training.fit` (the Lightning module, model `poly`) runs for a fixed
budget of updates from a random start. Both are measured on the training set and on a large
fresh sample from the same f and noise (the generalization error).

Why Legendre: on x rescaled to [-1, 1] the columns P_0..P_d are orthogonal under the uniform
input distribution, so the design matrix stays far better conditioned than raw powers x^k,
which grow nearly collinear (and least squares through the normal equations squares the
condition number). The `cond/*` columns of the table record both (about 6e3 against 2e8 at degree 20
on the default 30 points).

Why GD differs at high degree: GD on the MSE is a linear iteration, w_t − w* = (I − ηH)^t
(w_0 − w*) with H = (2/n) ΦᵀΦ. A direction with curvature h is fitted to a fraction
1 − (1 − ηh)^t after t updates; on 30 points the degree-20 Gram matrix has eigenvalues down to
~1e-8, so those directions never move in any affordable budget. The sum of those fractions is
the number of parameters GD has actually fitted (`effective_params`, like ridge regression's
effective degrees of freedom): early-stopped GD is implicitly regularized.
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

from genlab import tracking
from genlab.config import Params, with_overrides
from genlab.data import make_splits
from genlab.data.poly import true_function
from genlab.data.splits import SPLIT_NAMES, Splits
from genlab.evaluation import evaluate_splits
from genlab.judged import TAG, judged, known_baseline, to_judge
from genlab.least_squares import legendre_design
from genlab.outputs import write_csv, write_json
from genlab.plotting import plt, save_figure
from genlab.progress import Progress
from genlab.training import fit

METHODS = ("ls", "gd")
_REGRESSION = {"data.name": "poly", "model.name": "poly", "train.loss": "mse"}


@dataclass
class DegreeResult:
    """One degree: least squares and gradient descent, each with its split losses."""

    degree: int
    ls: dict[str, float]
    gd: dict[str, float | str]
    ls_coef: np.ndarray
    gd_coef: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class PolyfitResult:
    splits: Splits
    degrees: list[DegreeResult]
    noise_var: float
    curve_degrees: list[int] = field(default_factory=list)  # the figure's and summary's degrees
    run_id: str | None = None  # the parent run, and each degree's child (`track`)
    children: dict[int, str] = field(default_factory=dict)

    def rows(self, method: str) -> list[dict]:
        """The table of one method, one row per degree (the CSV DVC plots)."""
        return [{"degree": r.degree, **getattr(r, method)} for r in self.degrees]

    def best(self, method: str) -> DegreeResult:
        """The degree with the lowest val/loss (selection on validation only)."""
        finite = [r for r in self.degrees if math.isfinite(getattr(r, method)["val/loss"])]
        return min(finite, key=lambda r: getattr(r, method)["val/loss"])


def polyfit_splits(params: Params) -> Splits:
    """data.poly's train and val points, and a fresh test sample of polyfit.n_test points.

    make_poly draws train, val, test in that order from one seeded stream, so train and val are
    exactly those of the prepared `poly` data; only the test draw is larger.
    """
    p = with_overrides(params, {**_REGRESSION, "data.poly.n_test": params.polyfit.n_test})
    return make_splits(p.data, p.seed)


def gd_params(params: Params, degree: int) -> Params:
    """The validated params of one GD fit: poly model of this degree, MSE, polyfit's optimizer."""
    gd = params.polyfit.gd
    return with_overrides(
        params,
        {
            **_REGRESSION,
            "model.poly.degree": degree,
            "train.optimizer.name": gd.optimizer,
            "train.optimizer.lr": gd.lr,
            "train.optimizer.batch_size": params.data.poly.n_train,
            "train.optimizer.schedule": "none",
            "train.max_epochs": gd.max_epochs,
            "train.early_stopping.enabled": False,
            "train.regularization.l1": 0.0,
            "train.regularization.l2": 0.0,
            "train.regularization.weight_decay": 0.0,
        },
    )


def least_squares(splits: Splits, degree: int) -> tuple[np.ndarray, dict[str, float]]:
    """Exact least squares (SVD, float64) and its loss on each split, plus both conditions."""
    lo, hi = splits.info["x_min"], splits.info["x_max"]
    phi = legendre_design(splits.x_train, degree, lo, hi)
    coef = np.linalg.lstsq(phi, splits.y_train.astype(np.float64), rcond=None)[0]
    metrics = {}
    for name in SPLIT_NAMES:
        x, y = splits.split(name)
        pred = legendre_design(x, degree, lo, hi) @ coef
        metrics[f"{name}/loss"] = float(np.mean((pred - y.astype(np.float64)) ** 2))
    metrics["gap/loss"] = metrics["test/loss"] - metrics["train/loss"]
    metrics["cond/legendre"] = float(np.linalg.cond(phi))
    metrics["cond/monomial"] = float(np.linalg.cond(np.vander(splits.x_train[:, 0], degree + 1)))
    return coef, metrics


def effective_params(splits: Splits, degree: int, lr: float, updates: int) -> float:
    """Σ_i 1 − (1 − η h_i)^t over the eigenvalues h_i of the MSE Hessian (2/n) ΦᵀΦ.

    How many directions t plain GD updates have fitted (degree + 1 when converged).
    """
    phi = legendre_design(splits.x_train, degree, splits.info["x_min"], splits.info["x_max"])
    h = np.clip(np.linalg.eigvalsh(2.0 * phi.T @ phi / len(phi)), 0.0, None)
    return float(np.sum(1.0 - (1.0 - lr * h) ** updates))


def gradient_descent(
    params: Params, splits: Splits, degree: int
) -> tuple[np.ndarray, dict[str, float | str], list[dict[str, float]]]:
    """One Lightning fit (fixed budget, last epoch kept) and its loss on each split."""
    result = fit(gd_params(params, degree), splits)
    net = result.module.net
    coef = net.linear.weight.detach().double().numpy()[0]
    metrics: dict[str, float | str] = {"status": result.status, "epochs": result.epochs_run}
    if result.status == "ok":
        metrics.update(evaluate_splits(result.module, splits, params.train.eval_batch_size))
    else:
        metrics.update({f"{s}/loss": float("nan") for s in (*SPLIT_NAMES, "gap")})
    gd = params.polyfit.gd
    metrics["effective_params"] = (
        effective_params(splits, degree, gd.lr, result.epochs_run)
        if gd.optimizer == "gd" and result.status == "ok"
        else float("nan")
    )
    return coef, metrics, result.history


def run_polyfit(params: Params, splits: Splits) -> PolyfitResult:
    """Every degree of the sweep, least squares and GD, on the same points (`polyfit_splits`)."""
    torch.set_num_threads(params.polyfit.torch_threads)
    out = []
    degrees = list(params.polyfit.sweep())
    progress = Progress(STAGE, len(degrees))
    for degree in degrees:
        ls_coef, ls = least_squares(splits, degree)
        gd_coef, gd, history = gradient_descent(params, splits, degree)
        gd["dist_to_ls"] = float(np.linalg.norm(gd_coef - ls_coef))
        out.append(DegreeResult(degree, ls, gd, ls_coef, gd_coef, history))
        progress.step(f"degree {degree}")
    noise_var = float(params.data.poly.noise_sigma) ** 2
    return PolyfitResult(splits, out, noise_var, list(params.polyfit.curve_degrees))


def summary(result: PolyfitResult) -> dict:
    """The metrics file: per method the val-selected degree and the loss at the curve degrees."""
    out: dict = {"noise_var": result.noise_var, "n_train": len(result.splits.y_train)}
    by_degree = {r.degree: r for r in result.degrees}
    for method in METHODS:
        best = result.best(method)
        m = getattr(best, method)
        block = {
            "best_degree": best.degree,
            "best/val/loss": m["val/loss"],
            "best/test/loss": m["test/loss"],
        }
        for d in result.curve_degrees:
            r = getattr(by_degree[d], method)
            block[f"degree{d}/train/loss"] = r["train/loss"]
            block[f"degree{d}/test/loss"] = r["test/loss"]
        out[method] = block
    return out


# ------------------------------------------------------------------------------ figures


def plot_errors(result: PolyfitResult, path: str | Path) -> Path:
    """Training and generalization error per degree for both methods; conditioning beside."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    deg = [r.degree for r in result.degrees]
    style = {"ls": ("C0", "least squares"), "gd": ("C3", "gradient descent (Lightning)")}
    for method, (color, label) in style.items():
        rows = result.rows(method)
        ax.plot(
            deg, [r["test/loss"] for r in rows], "-o", color=color, ms=3, label=f"{label}: test"
        )
        ax.plot(deg, [r["train/loss"] for r in rows], "--", color=color, label=f"{label}: train")
    ax.axhline(result.noise_var, color="grey", lw=1, ls=":", label="noise σ² (irreducible)")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("polynomial degree")
    ax.set_ylabel("MSE")
    ax.set_title(f"{len(result.splits.y_train)} training points, fresh test sample")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ls_rows = result.rows("ls")
    ax2.semilogy(deg, [r["cond/legendre"] for r in ls_rows], "-o", ms=3, label="Legendre basis")
    ax2.semilogy(deg, [r["cond/monomial"] for r in ls_rows], "-s", ms=3, label="monomials x^k")
    ax2.set_xlabel("polynomial degree")
    ax2.set_ylabel("condition number of the design matrix")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    return save_figure(fig, path)


def plot_curves(result: PolyfitResult, degrees: list[int], path: str | Path) -> Path:
    """Fitted curves of the chosen degrees over the training points and the true f."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = result.splits
    lo, hi = s.info["x_min"], s.info["x_max"]
    f = true_function(s.info["function"])
    x = np.linspace(lo, hi, 600)
    by_degree = {r.degree: r for r in result.degrees}
    span = float(np.ptp(s.y_train))
    ylim = (float(s.y_train.min()) - 0.5 * span, float(s.y_train.max()) + 0.5 * span)
    fig, axes = plt.subplots(1, len(degrees), figsize=(4.2 * len(degrees), 3.8), sharey=True)
    for ax, d in zip(np.atleast_1d(axes), degrees, strict=True):
        r = by_degree[d]
        phi = legendre_design(x, d, lo, hi)
        ax.plot(x, f(x), color="k", lw=1.5, label="true f")
        ax.plot(x, phi @ r.ls_coef, color="C0", label="least squares")
        ax.plot(x, phi @ r.gd_coef, color="C3", ls="--", label="gradient descent")
        ax.scatter(s.x_train[:, 0], s.y_train, s=14, color="C2", zorder=3, label="training data")
        ax.set_ylim(*ylim)
        ax.set_title(
            f"degree {d}: test MSE LS {r.ls['test/loss']:.3g}, GD {r.gd['test/loss']:.3g}",
            fontsize=9,
        )
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower left")
    return save_figure(fig, path)


# ------------------------------------------------------------------------------ MLflow


STAGE = "polyfit"
CURVE_KEYS = ("train/loss", "val/loss", "test/loss", "gap/loss", "updates")


def models_to_judge(result: PolyfitResult, children: dict[int, str]) -> dict:
    """Both trained models of each degree for the `diagnosis` stage (baseline: the noise
    variance σ²). They share the degree's run: least squares labels go to `_ls` tags."""
    models = []
    for r in result.degrees:
        run = children.get(r.degree)
        models.append(judged(f"degree{r.degree}-gd", r.gd, run))
        models.append(judged(f"degree{r.degree}-ls", {**r.ls, "status": "ok"}, run, f"{TAG}_ls"))
    return to_judge(models, known_baseline(result.splits.info))


# ------------------------------------------------------------------ the stage (genlab.study)


def data(params: Params, paths: Namespace) -> Splits:
    """data.poly's points with polyfit's large fresh test sample."""
    return polyfit_splits(params)


def open_runs(params: Params, splits: Splits) -> AbstractContextManager[tracking.Study]:
    """The stage's parent run; `track` adds one child per degree."""
    tags = tracking.run_tags(params, STAGE, tracking.splits_hash(splits))
    logged = tracking.run_params(params, STAGE, trained=False, datasets=("poly",))
    return tracking.study(params, STAGE, run_name(params), tags, logged)


def run_name(params: Params) -> str:
    p = params.data.poly
    return f"{p.function}-n{p.n_train}-sigma{p.noise_sigma:g}-s{params.seed}"


def run(params: Params, splits: Splits, runs: tracking.Study) -> PolyfitResult:
    """Every degree, both methods; the children are logged after, by `track`."""
    result = run_polyfit(params, splits)
    result.run_id = runs.run_id
    return result


def track(runs: tracking.Study, result: PolyfitResult) -> None:
    """One child per degree (GD curves, both methods' losses), logged after the fits, batched:
    Lightning's logger writes one store transaction per epoch (~20 ms here), longer than an
    epoch of these 30-point fits."""
    name = run_name(runs.params)
    keep = ("model.poly.degree", "train.optimizer.name", "train.optimizer.lr", "train.max_epochs")
    for r in result.degrees:
        flat = tracking.run_params(gd_params(runs.params, r.degree))
        with runs.child(
            f"degree{r.degree}-{name}",  # what differs first: MLflow cuts long names
            {**runs.tags, "genlab.variant": f"degree{r.degree}"},
            {k: flat[k] for k in keep},
        ) as child:
            runs.log_series(child.run_id, r.history, CURVE_KEYS)
            values = {f"ls/{k}": v for k, v in r.ls.items()}
            runs.log_metrics(child.run_id, values | {f"gd/{k}": v for k, v in r.gd.items()})
            child.outcome(r.gd["status"], r.gd.get("reason", ""))
        result.children[r.degree] = child.run_id


def write(result: PolyfitResult, paths: Namespace) -> list[Path]:
    """plots/polyfit/{ls,gd}.csv, errors.png, curves.png and results/polyfit.json (the
    val-selected degree and losses per method, what `diagnosis` labels); the figures go on
    the parent run."""
    plots = Path(paths.plots)
    figures = [
        plot_errors(result, plots / "errors.png"),
        plot_curves(result, sorted(result.curve_degrees), plots / "curves.png"),
    ]
    for method in METHODS:
        write_csv(plots / f"{method}.csv", result.rows(method))
    judge = models_to_judge(result, result.children)
    results = summary(result) | {"mlflow_run_id": result.run_id, "to_judge": judge}
    write_json(paths.results, results)
    return figures


def parent_metrics(result: PolyfitResult) -> dict[str, object]:
    metrics = summary(result)
    return {f"{m}/{k}": v for m in METHODS for k, v in metrics[m].items()}


def line(result: PolyfitResult, run_id: str | None) -> str:
    metrics = summary(result)
    ls, gd = metrics["ls"], metrics["gd"]
    top = max(result.curve_degrees)
    return (
        f"polyfit: {len(result.degrees)} degrees on {metrics['n_train']} points; best by val: "
        f"LS degree {ls['best_degree']} (test {ls['best/test/loss']:.4f}), GD degree "
        f"{gd['best_degree']} (test {gd['best/test/loss']:.4f}); degree {top} test: LS "
        f"{ls[f'degree{top}/test/loss']:.4g}, GD {gd[f'degree{top}/test/loss']:.4g} "
        f"(MLflow run {run_id})"
    )
