"""The regularization study: what each regularizer does to training and test error.

One setting that clearly overfits without help (the params' model on a few hundred training
samples, trained to near-zero training loss), then the same training with one regularizer at
a time and with a combination. Every variant trains through `genlab.training.fit`, as one MLflow
child run of the study's run.

Which model is reported: the last epoch, because the variants share one epoch budget and the
point is what the regularizer itself does; a variant that includes early stopping reports the
epoch with the best `train.selection.metric` (val/acc for classification by default: the error
the lecture's claim is about), which is exactly what early stopping with restore keeps. Both
come from the per-epoch history, measured on whole splits in eval mode.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace

from genlab import tracking
from genlab.augmentation import Augmentation, augmentation_for
from genlab.config import ConfigError, Params, with_overrides
from genlab.config.regularization import RegularizationStudyConfig
from genlab.data.splits import Splits
from genlab.judged import judged, known_baseline, to_judge
from genlab.progress import Progress
from genlab.regularization import fraction_near_zero
from genlab.seeds import mean_std, seed_list, verdict

STAGE = "regularization"
SPLIT_KEYS = ("train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc")


@dataclass
class VariantPlan:
    """One variant, validated before any training: its params and its training-time extras."""

    name: str
    regularizers: list[str]
    params: Params
    description: str
    augmentation: Augmentation | None = None

    @property
    def early_stopping(self) -> bool:
        return "early_stopping" in self.regularizers


@dataclass
class VariantResult:
    plan: VariantPlan
    status: str
    history: list[dict[str, float]]
    final: dict[str, float]
    reported_epoch: int
    best_epoch: int
    epochs_run: int
    near_zero: float
    reason: str = ""  # why it diverged, when it did
    run_id: str = ""
    seed: int = 0  # init, shuffling, dropout masks (the data subsample stays params' seed)


def regularizers_of(variant: str, cfg: RegularizationStudyConfig) -> list[str]:
    if variant == "none":
        return []
    if variant == "combined":
        return list(cfg.combined)
    return [variant]


def variant_overrides(regs: list[str], params: Params) -> dict[str, object]:
    """Dotted overrides that switch every regularizer off, then on only those in `regs`.

    `none` really is unregularized whatever params.yaml says (the cnn1d default has batch
    norm on, the train default stops early).
    """
    cfg, model = params.regularization, params.model.name
    if model == "poly":
        raise ConfigError(
            "regularization study: model 'poly' has no dropout or normalization to vary; "
            "use model.name 'mlp' or 'cnn1d'"
        )
    if model == "cnn1d" and "dropconnect" in regs:
        raise ConfigError(
            "regularization study: DropConnect is an option of model 'mlp' (its hidden "
            "linear layers); drop 'dropconnect' from the variants for model 'cnn1d'"
        )
    r, m = "train.regularization", f"model.{model}"
    ov: dict[str, object] = {
        "train.max_epochs": cfg.max_epochs,
        f"{r}.l2": 0.0,
        f"{r}.weight_decay": 0.0,
        f"{r}.l1": 0.0,
        f"{m}.dropout": 0.0,
        f"{m}.norm": "none",
        "train.early_stopping.enabled": False,
    }
    if model == "mlp":
        ov[f"{m}.dropconnect"] = 0.0
    if "l2" in regs:
        ov[f"{r}.l2"] = cfg.l2
    if "weight_decay" in regs:
        ov[f"{r}.weight_decay"] = cfg.weight_decay
        if params.train.optimizer.name == "adam":  # Adam's own weight_decay is coupled L2
            ov["train.optimizer.name"] = "adamw"
    if "l1" in regs:
        ov[f"{r}.l1"] = cfg.l1
    if "dropout" in regs:
        ov[f"{m}.dropout"] = cfg.dropout
    if "dropconnect" in regs:
        ov[f"{m}.dropconnect"] = cfg.dropconnect
    for reg, norm in (("batch_norm", "batch"), ("layer_norm", "layer"), ("group_norm", "group")):
        if reg in regs:
            ov[f"{m}.norm"] = norm
    if "early_stopping" in regs:
        ov["train.early_stopping.enabled"] = True
        ov["train.early_stopping.patience"] = cfg.patience
        ov["train.early_stopping.min_delta"] = 0.0
    return ov


def describe(regs: list[str], params: Params, aug: Augmentation | None = None) -> str:
    """`l2 λ=0.001 + dropout p=0.5`: what the variant adds, with its strength."""
    cfg = params.regularization
    opt = params.train.optimizer.name
    text = {
        "l2": f"l2 λ={cfg.l2:g}",
        "weight_decay": f"weight_decay {cfg.weight_decay:g} ({'adamw' if opt == 'adam' else opt})",
        "l1": f"l1 λ={cfg.l1:g}",
        "dropout": f"dropout p={cfg.dropout:g}",
        "early_stopping": f"early_stopping patience {cfg.patience}",
        "augmentation": f"augmentation {aug.summary()}" if aug else "augmentation",
        "dropconnect": f"dropconnect p={cfg.dropconnect:g}",
        "batch_norm": "batch_norm",
        "layer_norm": "layer_norm",
        "group_norm": f"group_norm ({getattr(params.model, params.model.name).norm_groups} groups)",
    }
    return " + ".join(text[r] for r in regs) or "no regularization"


def plan_variants(params: Params, info: dict) -> list[VariantPlan]:
    """Every variant's params, validated up front (a bad combination fails before training)."""
    cfg = params.regularization
    plans = []
    for name in cfg.variants:
        regs = regularizers_of(name, cfg)
        try:
            vp = with_overrides(params, variant_overrides(regs, params))
        except ConfigError as err:
            raise ConfigError(f"regularization variant '{name}': {err}") from None
        aug = None
        if "augmentation" in regs:
            a = cfg.augmentation
            aug = augmentation_for(info, a.signal_shift, a.image_shift, a.noise_sigma, params.seed)
        plans.append(VariantPlan(name, regs, vp, describe(regs, params, aug), aug))
    return plans


def subsample_train(splits: Splits, n_train: int | None, seed: int) -> Splits:
    """Keep `n_train` training samples (stratified for classification); val/test unchanged.

    Few samples and a wide network is the setting where a model overfits without help.
    """
    n = len(splits.x_train)
    if n_train is None or n_train >= n:
        return splits
    if splits.task == "classification" and n_train < (splits.n_classes or 0):
        raise ConfigError(
            f"regularization.n_train = {n_train}: needs at least one sample per class "
            f"({splits.n_classes})"
        )
    from sklearn.model_selection import train_test_split  # lazy: see genlab.data.splits

    stratify = splits.y_train if splits.task == "classification" else None
    x, _, y, _ = train_test_split(
        splits.x_train, splits.y_train, train_size=n_train, random_state=seed, stratify=stratify
    )
    return replace(splits, x_train=x, y_train=y)


def reported_row(history: list[dict[str, float]], best_epoch: int, early_stopping: bool) -> dict:
    """The last epoch, or, for variants that stop early, the epoch `fit` selected on
    `train.selection.metric` (`FitResult.best_epoch`; see module doc)."""
    if early_stopping and 0 <= best_epoch < len(history):
        return history[best_epoch]
    return history[-1] if history else {}


def claim_verdict(d_train: float, d_test: float) -> str:
    """Does "regularization increases training error and decreases test error" hold?"""
    if not (math.isfinite(d_train) and math.isfinite(d_test)):
        return "n/a"
    up, down = d_train > 0, d_test < 0
    if up and down:
        return "holds"
    if down:
        return "test only"
    if up:
        return "train only"
    return "neither"


def error_of(row: dict, split: str) -> float:
    """1 − accuracy for classification, the (MSE) loss for regression."""
    if f"{split}/acc" in row:
        return 1.0 - row[f"{split}/acc"]
    return _get(row, f"{split}/loss")


def epochs_to_train_loss(history: list[dict[str, float]], target: float) -> float:
    """Epochs until the training loss (whole split, eval mode) first reaches `target`; NaN if
    it never does. The lecture's "dropout needs more epochs", measured."""
    for row in history:
        loss = row.get("train/loss", math.nan)
        if math.isfinite(loss) and loss <= target:
            return int(row["epoch"]) + 1
    return math.nan


def epochs_claim(rows: list[dict[str, object]], target: float) -> dict[str, object]:
    """Dropout and DropConnect against `none`: more epochs to the same training loss?

    `rows` are per-seed rows (`seed_rows`); each seed compares with `none` of the same seed.
    The verdict is True or False only when every seed agrees, else None (within the noise)."""
    by_seed: dict[object, dict[str, float]] = {}
    for r in rows:
        by_seed.setdefault(r.get("seed"), {})[str(r["variant"])] = float(r["epochs_to_train_loss"])
    base = [e.get("none", math.nan) for e in by_seed.values()]
    out: dict[str, object] = {
        "train_loss_target": target, "none": mean_std(base)[0], "seeds": len(base)
    }
    for name in ("dropout", "dropconnect"):
        pairs = [(e["none"], e[name]) for e in by_seed.values() if name in e and "none" in e]
        if not pairs:
            continue
        out[name] = mean_std([m for _, m in pairs])[0]
        more = [m > b if math.isfinite(b) and math.isfinite(m) else None for b, m in pairs]
        seeds = verdict(more)
        out[f"{name}_needs_more"] = seeds["holds"]
        out[f"{name}_needs_more_seeds"] = f"{seeds['seeds_holding']}/{seeds['seeds']}"
    return out


def seed_rows(
    results: list[VariantResult], train_loss_target: float = 0.5
) -> list[dict[str, object]]:
    """One row per (variant, seed), with the change against `none` of the same seed."""
    base = {r.seed: r.final for r in results if r.plan.name == "none"}
    rows = []
    for r in results:
        f, b = r.final, base[r.seed]
        row: dict[str, object] = {
            "variant": r.plan.name,
            "seed": r.seed,
            "regularizers": r.plan.description,
            "status": r.status,
            **{k: f[k] for k in (*SPLIT_KEYS, "gap/loss", "gap/acc") if k in f},
            "reported_epoch": r.reported_epoch,
            "epochs_to_best": r.best_epoch + 1 if r.best_epoch >= 0 else math.nan,
            "epochs_run": r.epochs_run,
            "epochs_to_train_loss": epochs_to_train_loss(r.history, train_loss_target),
            "near_zero": r.near_zero,
        }
        deltas = {
            "loss": (
                _get(f, "train/loss") - _get(b, "train/loss"),
                _get(f, "test/loss") - _get(b, "test/loss"),
            ),
            "error": (
                error_of(f, "train") - error_of(b, "train"),
                error_of(f, "test") - error_of(b, "test"),
            ),
        }
        for measure, (d_train, d_test) in deltas.items():
            row[f"d_train_{measure}"] = d_train
            row[f"d_test_{measure}"] = d_test
            verdict = claim_verdict(d_train, d_test)
            row[f"claim_{measure}"] = "baseline" if r.plan.name == "none" else verdict
        rows.append(row)
    return rows


# what the table reports as mean ± sample std over seeds (the rest: mean only)
SPREAD_KEYS = (
    *SPLIT_KEYS, "gap/loss", "d_train_loss", "d_test_loss", "d_train_error", "d_test_error",
    "epochs_to_train_loss",
)


def summary_rows(
    results: list[VariantResult], train_loss_target: float = 0.5
) -> list[dict[str, object]]:
    """One table row per variant: means and spreads over seeds, and the claim's verdict.

    A verdict stands only where every seed gives it ("holds" in 3 of 3 seeds); seeds that
    disagree give "seeds disagree", with the count of seeds where the claim holds beside it.
    """
    per_variant: dict[str, list[dict[str, object]]] = {}
    for row in seed_rows(results, train_loss_target):
        per_variant.setdefault(str(row["variant"]), []).append(row)
    rows = []
    for name, group in per_variant.items():
        n = len(group)
        ok = [g for g in group if g["status"] == "ok"]
        row: dict[str, object] = {
            "variant": name,
            "regularizers": group[0]["regularizers"],
            "status": "ok" if len(ok) == n else "diverged",
            "seeds": n,
            "seeds_ok": len(ok),
        }
        numeric = [k for k, v in group[0].items() if k != "seed" and _is_number(v)]
        for key in numeric:
            mean, std = mean_std([float(g[key]) for g in group if g.get(key) is not None])
            row[key] = mean
            if key in SPREAD_KEYS:
                row[f"{key}_std"] = std
        for measure in ("loss", "error"):
            verdicts = [str(g[f"claim_{measure}"]) for g in group]
            row[f"claim_{measure}"] = verdicts[0] if len(set(verdicts)) == 1 else "seeds disagree"
            row[f"claim_{measure}_seeds"] = f"{verdicts.count('holds')}/{n}"
        rows.append(row)
    return rows


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _get(row: dict, key: str) -> float:
    value = row.get(key)
    return math.nan if value is None else float(value)


def curve_rows(results: list[VariantResult]) -> list[dict[str, object]]:
    """Long-format learning curves: one row per (variant, seed, epoch)."""
    keep = ("epoch", "updates", *SPLIT_KEYS, "gap/loss", "gap/acc")
    return [
        {"variant": r.plan.name, "seed": r.seed, **{k: h[k] for k in keep if k in h}}
        for r in results
        for h in r.history
    ]


def variant_run(runs: tracking.Study | None, plan: VariantPlan):
    """The child run of one (variant, seed) with a Lightning logger writing into it (nothing
    when untracked): its description first on the page, what it trained with as params."""
    if runs is None:
        return contextlib.nullcontext()
    tags = tracking.run_tags(plan.params, STAGE, runs.data_hash, plan.description)
    tags["genlab.variant"] = plan.name
    logged = {  # what this variant trained with: its dataset, model and train sections
        **tracking.run_params(plan.params),
        "variant": plan.name,
        "regularizers": plan.description,
    }
    if plan.augmentation is not None:
        logged.update({f"augmentation.{k}": v for k, v in plan.augmentation.describe().items()})
    name = f"{plan.name}-s{plan.params.seed}"  # what differs first: MLflow cuts long names
    return runs.child(name, tags, logged, logger=True)


def child_metrics(result: VariantResult) -> dict[str, float]:
    """A child run's single values: the reported epoch's split metrics and gaps (`final/*`)."""
    values = {f"final/{k}": v for k, v in result.final.items()}
    values.update(
        {
            "epochs_to_best": result.best_epoch + 1 if result.best_epoch >= 0 else math.nan,
            "reported_epoch": result.reported_epoch,
            "near_zero_fraction": result.near_zero,
        }
    )
    return values


def run_variant(plan: VariantPlan, splits: Splits, logger=None) -> VariantResult:
    """Train one variant through `fit` (the `diagnosis` stage labels it later)."""
    from genlab.training import fit

    cfg = plan.params.regularization
    result = fit(plan.params, splits, logger=logger, train_transform=plan.augmentation)
    row = reported_row(result.history, result.best_epoch, plan.early_stopping)
    final = {k: v for k, v in row.items() if "/" in k}
    return VariantResult(
        plan=plan,
        status=result.status,
        history=result.history,
        final=final,
        reported_epoch=int(row.get("epoch", -1)),
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        near_zero=fraction_near_zero(result.module.decayed, cfg.near_zero_tol),
        reason=result.reason,
        seed=plan.params.seed,
    )


@dataclass
class Study:
    """The study's outcome: one result per variant, in params order."""

    results: list[VariantResult]
    n_train: int
    parent_run_id: str | None = None
    baseline: tuple[float | None, str] = (None, "")  # the data's error floor, if recorded
    target: float = 0.0  # regularization.train_loss_target: the "epochs to reach it" claim
    seed: int = 0  # params' own seed: its curves are the ones drawn

    def to_judge(self) -> dict:
        """Each variant's reported numbers and run, for the `diagnosis` stage."""
        models = [
            judged(
                f"{r.plan.name}-s{r.seed}",
                {**r.final, "status": r.status, "reason": r.reason},
                r.run_id,
            )
            for r in self.results
        ]
        return to_judge(models, self.baseline)


@dataclass
class StudyPlan:
    """Every (variant, seed) validated before any training or run, and the data they share."""

    plans: list[VariantPlan]  # variant by variant, each over the seeds
    data: Splits  # `regularization.n_train` training samples; val/test whole
    baseline: tuple[float | None, str] = (None, "")  # the data's error floor, if recorded


def plan_study(params: Params, splits: Splits) -> StudyPlan:
    """Plan (validate) every variant for every seed: `seed`, `seed`+1, …, params' own first."""
    cfg = params.regularization
    per_seed = [
        plan_variants(with_overrides(params, {"seed": s}), splits.info)
        for s in seed_list(params.seed, cfg.seeds)
    ]
    plans = [p for variant in zip(*per_seed, strict=True) for p in variant]  # variant by variant
    data = subsample_train(splits, cfg.n_train, params.seed)
    return StudyPlan(plans, data, known_baseline(splits.info))


def open_runs(params: Params, plan: StudyPlan):
    """The study's MLflow parent run (`tracking.study`; the children hold the curves), tagged
    with the hash of the data the variants train and are tested on."""
    tags = tracking.run_tags(params, STAGE, tracking.splits_hash(plan.data), curves=False)
    name = f"n{params.regularization.n_train or 'all'}-{tracking.describe_run(params)}"
    logged = tracking.run_params(params, STAGE, trained=False)
    return tracking.study(params, STAGE, name, tags, logged)  # the stage is the experiment


def run_study(params: Params, plan: StudyPlan, runs: tracking.Study | None = None) -> Study:
    """Train each planned (variant, seed); with `runs` (`open_runs`), one MLflow child each."""
    cfg = params.regularization
    study = Study(
        [], len(plan.data.x_train), runs.run_id if runs else None, plan.baseline,
        cfg.train_loss_target, params.seed,
    )
    progress = Progress(STAGE, len(plan.plans))
    for vp in plan.plans:
        with variant_run(runs, vp) as child:
            res = run_variant(vp, plan.data, child and child.logger)
            if child is not None:
                res.run_id = child.run_id
                runs.log_metrics(child.run_id, child_metrics(res))
                child.outcome(res.status, res.reason)
        study.results.append(res)
        progress.step(vp.name if cfg.seeds == 1 else f"{vp.name} s{vp.params.seed}")
    return study
