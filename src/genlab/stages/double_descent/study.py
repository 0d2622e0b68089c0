"""Double descent: test error over model width on MNIST-1D with label noise.

The lecture's picture is a U: test error falls while a bigger model fits more of the signal,
then rises as it starts fitting the noise. Past the *interpolation threshold* (the smallest
width that fits every training label, the corrupted ones too) that picture breaks: wider
networks interpolate the same noisy labels ever more smoothly and test error falls a second
time (Belkin et al. 2019; Nakkiran et al. 2020; reproduced on MNIST-1D by Greydanus 2020).

Each of K seeds is a full replicate: its own training subset of `data.mnist1d`'s training split,
its own corrupted labels (a fixed fraction replaced by a *different* class), its own
initialisation and shuffling. The K one-hidden-layer MLPs of a width train together as one
stacked network (`genlab.stacked.StackedModels`), mini-batch Adam, no weight
decay, no early stopping: a fixed budget that lets wide networks fit the noise. Test and
validation labels stay clean, so test error measures what was learned about the digits.

Whether a second descent is seen is read off the numbers (`read_curve`), never assumed: the
peak near the threshold must stand above both the classical minimum before it and the widest
width's error by more than the seeds' spread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genlab import tracking
from genlab.config import Params
from genlab.config.double_descent import DoubleDescentConfig
from genlab.config.train import OptimizerConfig
from genlab.data.mnist1d_signals import make_mnist1d
from genlab.losses import loss_fn, predict_labels
from genlab.models import MLP
from genlab.progress import Progress
from genlab.stacked import StackedModels, seeded_models
from genlab.update_rules import build_optimizer

STAGE = "double_descent"
# Independent random streams, all derived from params.seed.
STREAM = {"subset": 0, "noise": 1, "shuffle": 2}


def rng(seed: int, stream: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAM[stream], *key])


# ------------------------------------------------------------------------------ the data


def flip_labels(
    y: np.ndarray, fraction: float, n_classes: int, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Replace exactly round(fraction·n) labels, each by a class other than its own.

    Returns the noisy labels and the sorted indices that were changed. Drawing the offset from
    1..C−1 (not the class from 0..C−1) makes every chosen label really wrong, so the noise rate
    is exactly `fraction` and not fraction·(C−1)/C.
    """
    n = len(y)
    chosen = generator.choice(n, int(round(fraction * n)), replace=False)
    noisy = np.array(y, copy=True)
    noisy[chosen] = (noisy[chosen] + generator.integers(1, n_classes, len(chosen))) % n_classes
    return noisy, np.sort(chosen)


@dataclass
class NoisyTask:
    """K training sets (one per seed) with corrupted labels, and the clean test split."""

    x_train: np.ndarray  # (K, n, 40) float32
    y_train: np.ndarray  # (K, n) the labels trained on, noisy
    y_clean: np.ndarray  # (K, n) the true labels of the same signals
    x_test: np.ndarray  # (G, 40)
    y_test: np.ndarray  # (G,) clean
    n_classes: int
    available: int  # signals in data.mnist1d's training split

    @property
    def seeds(self) -> int:
        return len(self.y_train)

    @property
    def n_train(self) -> int:
        return self.y_train.shape[1]

    @property
    def noise_rate(self) -> float:
        """Measured fraction of training labels that differ from the truth."""
        return float((self.y_train != self.y_clean).mean())

    def data_hash(self) -> str:
        """`tracking.data_hash` of every training set, its labels and the test split."""
        return tracking.data_hash(self.x_train, self.y_train, self.x_test, self.y_test)


def noisy_task(params: Params) -> NoisyTask:
    """`data.mnist1d` as `prepare` splits it; per seed a training subset with label noise."""
    m, cfg = params.data.mnist1d, params.double_descent
    splits = make_mnist1d(m.num_samples, m.val_fraction, m.test_fraction, params.seed)
    available = len(splits.y_train)
    if cfg.n_train > available:
        raise ValueError(
            f"double_descent.n_train = {cfg.n_train}: data.mnist1d's training split holds only "
            f"{available} signals; lower n_train or raise data.mnist1d.num_samples"
        )
    n_classes = int(splits.n_classes or 10)
    xs, ys, clean = [], [], []
    for k in range(cfg.seeds):
        subset = rng(params.seed, "subset", k).choice(available, cfg.n_train, replace=False)
        y = splits.y_train[subset]
        noisy, _ = flip_labels(y, cfg.label_noise, n_classes, rng(params.seed, "noise", k))
        xs.append(splits.x_train[subset])
        ys.append(noisy)
        clean.append(y)
    return NoisyTask(
        x_train=np.stack(xs).astype(np.float32),
        y_train=np.stack(ys).astype(np.int64),
        y_clean=np.stack(clean).astype(np.int64),
        x_test=splits.x_test.astype(np.float32),
        y_test=splits.y_test.astype(np.int64),
        n_classes=n_classes,
        available=available,
    )


def n_params(width: int, d_in: int = 40, n_classes: int = 10) -> int:
    """Weights and biases of a one-hidden-layer MLP d_in → width → n_classes."""
    return (d_in + 1) * width + (width + 1) * n_classes


# -------------------------------------------------------------------------- training


@dataclass
class Measure:
    """All K models after `epoch` epochs: per-seed errors (0-1) and cross-entropies."""

    epoch: int
    train_error: np.ndarray  # (K,) on the noisy labels they were trained on
    test_error: np.ndarray  # (K,) on the clean test labels
    train_loss: np.ndarray  # (K,)
    test_loss: np.ndarray  # (K,)

    def stats(self) -> dict[str, float]:
        """Mean, std (over seeds, ddof 1), min and max of each quantity."""
        out: dict[str, float] = {}
        for key, values in self.values().items():
            out[f"{key}/mean"] = float(values.mean())
            out[f"{key}/std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            out[f"{key}/min"] = float(values.min())
            out[f"{key}/max"] = float(values.max())
        return out

    def values(self) -> dict[str, np.ndarray]:
        return {
            "train/error": self.train_error,
            "test/error": self.test_error,
            "train/loss": self.train_loss,
            "test/loss": self.test_loss,
        }


def errors_and_losses(out: Tensor, y: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-model 0-1 error and mean cross-entropy: out (K, n, C), y (K, n) → two (K,) arrays."""
    error = (predict_labels("ce", out) != y).double().mean(dim=1)  # exact: counts / n
    loss = F.cross_entropy(out.permute(0, 2, 1), y, reduction="none").double().mean(dim=1)
    return error.numpy(), loss.numpy()


def measure(models: StackedModels, task: NoisyTask, epoch: int) -> Measure:
    """Errors and losses of all K models on their own (noisy) training set and the test set."""
    k = task.seeds
    x = torch.as_tensor(task.x_train)
    y = torch.as_tensor(task.y_train)
    x_test = torch.as_tensor(task.x_test).expand(k, *task.x_test.shape)
    y_test = torch.as_tensor(task.y_test).expand(k, -1)
    with torch.no_grad():
        train_error, train_loss = errors_and_losses(models(x), y)
        test_error, test_loss = errors_and_losses(models(x_test), y_test)
    return Measure(epoch, train_error, test_error, train_loss, test_loss)


def shuffle_generator(seed: int, width: int) -> torch.Generator:
    """The batch order of one width's run, reproducible from params.seed."""
    return torch.Generator().manual_seed(int(rng(seed, "shuffle", width).integers(2**62)))


def batch_order(k: int, n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of batches: model i gets its own permutation of its n samples, cut in turns.

    All models see batches of the same size at the same step, so the summed loss still gives
    each model exactly its own mini-batch gradient.
    """
    perm = torch.argsort(torch.rand(k, n, generator=generator), dim=1)
    return list(perm.split(batch_size, dim=1))


def snapshot_epochs(epochs: int, points: int) -> list[int]:
    """About `points` log-spaced epochs from 1 to `epochs` (both included)."""
    return sorted({int(e) for e in np.geomspace(1, epochs, points).round()} | {epochs})


def train_width(
    task: NoisyTask,
    width: int,
    cfg: DoubleDescentConfig,
    seed: int,
    snapshots: Sequence[int],
) -> list[Measure]:
    """Train the K MLPs of one width together; a `Measure` after each epoch in `snapshots`.

    Model k starts from the initialisation `genlab.training.fit` gives seed + k. One Adam over
    the stacked tensors is K independent Adams (every element is updated on its own).
    """
    k, n = task.y_train.shape
    d_in = task.x_train.shape[-1]
    models = StackedModels(
        seeded_models(
            lambda: MLP(d_in, task.n_classes, [width], cfg.activation),
            [seed + i for i in range(k)],
        )
    )
    opt = build_optimizer(
        list(models.params.values()), [], OptimizerConfig(name="adam", lr=cfg.lr), 0.0
    )
    lossf = loss_fn("ce")
    x = torch.as_tensor(task.x_train)
    y = torch.as_tensor(task.y_train)
    rows = torch.arange(k)[:, None]
    generator = shuffle_generator(seed, width)
    want = set(snapshots)
    out: list[Measure] = []
    for epoch in range(1, cfg.epochs + 1):
        for idx in batch_order(k, n, cfg.batch_size, generator):
            logits = models(x[rows, idx])
            # each model's mean loss, summed: model i's gradient is exactly its own
            loss = lossf(logits.reshape(-1, task.n_classes), y[rows, idx].reshape(-1)) * k
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch in want:
            out.append(measure(models, task, epoch))
    return out


# ---------------------------------------------------------------------------- reading


@dataclass
class Reading:
    """What the width curve shows, as indices into the widths (None where undefined)."""

    threshold: int | None  # first width whose mean train error <= tol
    peak: int | None  # highest mean test error within the window around the threshold
    classical_min: int | None  # lowest mean test error before the peak
    widest: int
    best: int  # lowest mean test error overall
    second_descent: bool
    classical_u: bool  # the narrowest width, too, is above the classical minimum
    reason: str  # why `second_descent` is False ('' when it is True)


def interpolation_index(train_error: Sequence[float], tol: float) -> int | None:
    """The first width whose mean train error (noisy labels) is at most `tol`."""
    return next((i for i, e in enumerate(train_error) if e <= tol), None)


def read_curve(
    widths: Sequence[int],
    train_error: Sequence[float],
    test_error: Sequence[float],
    test_spread: Sequence[float],
    tol: float,
    window: float,
) -> Reading:
    """Threshold, peak, classical minimum and the verdict, from mean curves and seed spread.

    The peak is looked for among widths within a factor `window` of the interpolation width
    (the test-error peak sits at or just before it). A difference counts when it exceeds the
    two points' spreads added: "above" means above beyond seed-to-seed variation.
    """
    test, spread = np.asarray(test_error, float), np.asarray(test_spread, float)
    widest, best = len(widths) - 1, int(np.argmin(test))
    threshold = interpolation_index(train_error, tol)

    def above(a: int, b: int) -> bool:
        return bool(test[a] - test[b] > spread[a] + spread[b])

    def no(reason: str, peak=None, cmin=None) -> Reading:
        u = cmin is not None and cmin > 0 and above(0, cmin) and above(peak, cmin)
        return Reading(threshold, peak, cmin, widest, best, False, bool(u), reason)

    if threshold is None:
        return no(f"no width reaches mean train error <= {tol:g}")
    w0 = widths[threshold]
    near = [i for i, w in enumerate(widths) if w0 / window <= w <= w0 * window]
    peak = max(near, key=lambda i: test[i])
    if peak == 0:
        return no("the peak is the narrowest width: nothing before it", peak)
    cmin = min(range(peak), key=lambda i: test[i])
    if peak == widest:
        return no("test error is highest at the widest width", peak, cmin)
    if not above(peak, cmin):
        return no("the peak is not above the classical minimum beyond the spread", peak, cmin)
    if not above(peak, widest):
        return no("the widest width is not below the peak beyond the spread", peak, cmin)
    u = cmin > 0 and above(0, cmin)
    return Reading(threshold, peak, cmin, widest, best, True, bool(u), "")


# ----------------------------------------------------------------------------- result


@dataclass
class WidthResult:
    width: int
    n_params: int
    final: Measure

    def row(self) -> dict:
        return {"width": self.width, "n_params": self.n_params} | self.final.stats()


@dataclass
class DoubleDescentResult:
    task: NoisyTask
    cfg: DoubleDescentConfig
    widths: list[WidthResult]
    curve_width: int
    curve: list[Measure]  # the epoch curve of `curve_width`
    seconds: dict[int, float] = field(default_factory=dict)  # wall time per width
    run_id: str | None = None

    def mean(self, key: str) -> list[float]:
        return [float(w.final.values()[key].mean()) for w in self.widths]

    def std(self, key: str) -> list[float]:
        return [w.final.stats()[f"{key}/std"] for w in self.widths]

    def reading(self) -> Reading:
        return read_curve(
            [w.width for w in self.widths],
            self.mean("train/error"),
            self.mean("test/error"),
            self.std("test/error"),
            self.cfg.interpolation_tol,
            self.cfg.peak_window,
        )

    def width_rows(self) -> list[dict]:
        return [w.row() for w in self.widths]

    def epoch_rows(self) -> list[dict]:
        return [{"epoch": m.epoch} | m.stats() for m in self.curve]

    def seed_rows(self) -> list[dict]:
        """Every width and seed: the raw numbers behind the means."""
        rows = []
        for w in self.widths:
            for k in range(self.task.seeds):
                rows.append(
                    {"width": w.width, "seed": k}
                    | {key: float(v[k]) for key, v in w.final.values().items()}
                )
        return rows


def run_double_descent(params: Params, task: NoisyTask) -> DoubleDescentResult:
    """Every width of the section, K seeds each (`noisy_task`); the epoch curve of one."""
    cfg = params.double_descent
    torch.set_num_threads(cfg.torch_threads)
    curve_points = snapshot_epochs(cfg.epochs, cfg.epoch_curve_points)
    progress = Progress(STAGE, len(cfg.widths))
    d_in = task.x_train.shape[-1]
    widths, curve, seconds = [], [], {}
    for width in cfg.widths:
        start = time.monotonic()
        snaps = curve_points if width == cfg.curve_width else [cfg.epochs]
        measures = train_width(task, width, cfg, params.seed, snaps)
        seconds[width] = time.monotonic() - start
        if width == cfg.curve_width:
            curve = measures
        final = measures[-1]
        widths.append(WidthResult(width, n_params(width, d_in, task.n_classes), final))
        progress.step(
            f"width {width} ({task.seeds} seeds: train error {final.train_error.mean():.3f}, "
            f"test error {final.test_error.mean():.3f})"
        )
    return DoubleDescentResult(task, cfg, widths, cfg.curve_width, curve, seconds)


# ---------------------------------------------------------------------------- summary


def _at(result: DoubleDescentResult, index: int | None, key: str = "test/error") -> dict:
    if index is None:
        return {"width": None, "mean": None, "std": None}
    stats = result.widths[index].final.stats()
    return {
        "width": result.widths[index].width,
        "mean": stats[f"{key}/mean"],
        "std": stats[f"{key}/std"],
    }


def sentence(result: DoubleDescentResult, r: Reading) -> str:
    """The report's sentence, written from the numbers (never a fixed claim)."""
    k, n = result.task.seeds, result.task.n_train
    noise = result.cfg.label_noise

    def at(i: int) -> str:
        s = _at(result, i)
        return f"{s['mean']:.3f} ± {s['std']:.3f} (width {s['width']})"

    head = f"MNIST-1D, {n} training signals with {noise:.0%} of labels corrupted, K = {k} seeds:"
    if r.threshold is None:
        last = result.mean("train/error")[-1]
        return (
            f"{head} no width interpolated the noisy labels (the widest still has train error "
            f"{last:.3f} > {result.cfg.interpolation_tol:g}), so the interpolation threshold "
            f"and a second descent cannot be read; test error ranges from "
            f"{min(result.mean('test/error')):.3f} to {max(result.mean('test/error')):.3f}."
        )
    th = (
        f"the interpolation threshold (train error ≤ {result.cfg.interpolation_tol:g}) "
        f"at width {result.widths[r.threshold].width}"
    )
    if r.second_descent:
        first = "falls to a classical minimum of" if r.classical_u else "is lowest at"
        return (
            f"{head} test error {first} {at(r.classical_min)}, rises to "
            f"{at(r.peak)} near {th}, and falls again to {at(r.widest)}: a second descent, "
            f"beyond the seed spread (mean ± std)."
        )
    seen = [f"the highest test error near it is {at(r.peak)}"]
    if r.classical_min is not None:
        seen.append(f"the lowest before that {at(r.classical_min)}")
    seen.append(f"the widest width's {at(r.widest)}")
    return (
        f"{head} the training labels are interpolated from width "
        f"{result.widths[r.threshold].width} on (train error ≤ {result.cfg.interpolation_tol:g});"
        f" {', '.join(seen)}: no second descent beyond the seed spread "
        f"({r.reason}; mean ± std)."
    )


def summary(result: DoubleDescentResult) -> dict:
    """Everything the stage measured (results/double_descent.json)."""
    r = result.reading()
    cfg, task = result.cfg, result.task
    return {
        "seeds": task.seeds,
        "n_train": task.n_train,
        "label_noise": cfg.label_noise,
        "label_noise_measured": task.noise_rate,
        "n_test": len(task.y_test),
        "n_classes": task.n_classes,
        "interpolation_tol": cfg.interpolation_tol,
        "n_train_x_classes": task.n_train * task.n_classes,
        "interpolation": _at(result, r.threshold, "train/error")
        | {"n_params": None if r.threshold is None else result.widths[r.threshold].n_params},
        "peak": _at(result, r.peak),
        "classical_min": _at(result, r.classical_min),
        "widest": _at(result, r.widest),
        "best": _at(result, r.best),
        "narrowest": _at(result, 0),
        "second_descent": r.second_descent,
        "classical_u": r.classical_u,
        "reason": r.reason,
        "sentence": sentence(result, r),
        "widths": result.width_rows(),
        "epoch_curve": {"width": result.curve_width, "rows": result.epoch_rows()},
    }


# ----------------------------------------------------------------------------- MLflow


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _numbers(v, f"{prefix}{k}/")
        elif isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
        elif isinstance(v, int | float):
            out[f"{prefix}{k}"] = float(v)
    return out


def run_name(params: Params, task: NoisyTask) -> str:
    cfg = params.double_descent
    return f"K{task.seeds}-n{task.n_train}-noise{cfg.label_noise:g}-s{params.seed}"


def open_runs(params: Params, task: NoisyTask) -> AbstractContextManager[tracking.Study]:
    """The stage's parent run; `track` adds one child per width and the reading's sentence."""
    tags = tracking.run_tags(params, STAGE, task.data_hash(), curves=False)
    tags["genlab.dataset"] = "mnist1d"  # this study always draws MNIST-1D, whatever data.name
    logged = tracking.run_params(params, STAGE, trained=False, datasets=("mnist1d",))
    return tracking.study(params, STAGE, run_name(params, task), tags, logged)


def track(runs: tracking.Study, result: DoubleDescentResult) -> None:
    """One child per width (the epoch curve as steps on its width's child), logged after the
    stacked training; the parent's description is the reading's sentence."""
    note = {"mlflow.note.content": summary(result)["sentence"]}
    runs.tag(runs.run_id, note)
    cfg, name = result.cfg, run_name(runs.params, result.task)
    for w in result.widths:
        variant = f"width{w.width}"
        width = {
            "width": w.width,
            "n_params": w.n_params,
            "seeds": result.task.seeds,
            "n_train": result.task.n_train,
            "label_noise": cfg.label_noise,
            "epochs": cfg.epochs,
        }
        tags = {**runs.tags, **note, "genlab.variant": variant}
        with runs.child(f"{variant}-{name}", tags, width) as c:
            curve = result.curve if w.width == result.curve_width else [w.final]
            for m in curve[:-1]:
                runs.log_metrics(c.run_id, m.stats(), m.epoch)
            last = curve[-1].stats() | {"time_s": result.seconds.get(w.width, math.nan)}
            runs.log_metrics(c.run_id, last, curve[-1].epoch)


def parent_metrics(result: DoubleDescentResult) -> dict[str, float]:
    """The summary's numbers, without the per-width and per-epoch lists (the children's)."""
    flat = _numbers(summary(result))
    return {k: v for k, v in flat.items() if not k.startswith(("widths/", "epoch_curve/"))}
