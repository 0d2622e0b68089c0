"""Diagnosis of a trained model from its final numbers: underfit, overfit or good fit.

Why a rule and not an eyeball: the same thresholds (params `diagnosis`) judge every run in the
project, the reasoning is stored beside the label, and the label is an MLflow tag
(`genlab.diagnosis`), so runs can be filtered by it (`tags.genlab.diagnosis = 'overfit'`).

The rule:
1. **underfit** — the training error is far above the error no model can beat (the baseline):
   `train error > baseline + underfit_margin`. The model cannot even fit the data it saw.
2. **overfit** — the generalization gap is large: `gap > overfit_gap`, where the gap is
   test − train error (or `gap/loss` with `gap_measure: loss`).
3. **both** tests fire: the label follows the larger excess over its threshold (training
   error above baseline + margin, against gap above its limit), and the reasoning says both
   are large. A model whose gap dominates is overfit, even if it also fits the training set
   imperfectly: that is what its curves show (validation loss rising while training loss falls).
4. **good_fit** — neither.
A run with no finite numbers is **diverged**.

Labels are recomputed from stored numbers, never by retraining: each study records, per trained
model, the few numbers the rule reads (`genlab.judged`: `to_judge` in results/<stage>.json), and
the cheap `diagnosis` stage labels them all and tags their MLflow runs. A threshold change then
reruns that stage only.

Errors: classification uses 1 − accuracy; regression the MSE. The baseline is the Bayes error
(data `gaussians`) or the noise variance σ² (data `poly`) when the data records one, otherwise
the per-task `baseline_error` in params (0 by default: a model could fit the data perfectly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from genlab.config.diagnosis import DiagnosisConfig
from genlab.judged import TAG, known_baseline  # noqa: F401 - known_baseline: evaluate, tests

LABELS = ("underfit", "overfit", "good_fit", "diverged")
REASON_TAG = f"{TAG}_reason"
_MAX_TAG_CHARS = 5000  # MLflow's tag value limit is at least this on every backend


@dataclass(frozen=True)
class Diagnosis:
    """The label, the sentence that justifies it, and the numbers it was computed from."""

    label: str
    reasoning: str
    measure: str = ""  # "error" (1 − accuracy) or "MSE"
    train_error: float | None = None
    baseline_error: float | None = None
    baseline_source: str = ""
    gap: float | None = None
    gap_measure: str = ""
    train_error_high: bool = False  # the underfit test alone
    gap_large: bool = False  # the overfit test alone (both can hold; the label says which wins)

    def as_metrics(self) -> dict[str, str]:
        """The two keys written into metrics files and tables."""
        return {"diagnosis": self.label, "diagnosis_reason": self.reasoning}

    def as_tags(self) -> dict[str, str]:
        return {TAG: self.label, REASON_TAG: self.reasoning[:_MAX_TAG_CHARS]}

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def diagnose(
    metrics: Mapping[str, object],
    baseline_error: float | None,
    cfg: DiagnosisConfig,
    baseline_source: str = "",
) -> Diagnosis:
    """Judge one model from its final `train/*`, `test/*` (and `gap/*`) metrics.

    `metrics` uses the project's names (`train/loss`, `train/acc`, `test/loss`, `test/acc`);
    the presence of `train/acc` makes it classification. `baseline_error` is the data's known
    floor (see `known_baseline`); `None` takes the params' `baseline_error`. A `status` other
    than "ok", or a non-finite number, gives "diverged".
    """
    status = str(metrics.get("status", "ok"))
    if status != "ok":
        why = metrics.get("reason") or f"status {status}"
        return Diagnosis("diverged", f"no finite numbers to judge: {why}")
    if "train/loss" not in metrics or "test/loss" not in metrics:
        raise ValueError(f"diagnose needs train/loss and test/loss, got keys {sorted(metrics)}")
    m = _measures(metrics, cfg)
    if baseline_error is None:
        baseline_error, baseline_source = m.default_baseline, "params"
    source = baseline_source or "given"
    if not _finite(m.train_error, m.gap, baseline_error):
        return Diagnosis(
            "diverged", f"train {m.measure} {m.train_error} or gap {m.gap} is not finite"
        )
    under_by = m.train_error - (baseline_error + m.margin)
    over_by = m.gap - m.gap_limit
    under, over = under_by > 0, over_by > 0
    if under and over:
        label = "overfit" if over_by > under_by else "underfit"
    else:
        label = "underfit" if under else "overfit" if over else "good_fit"
    reasoning = (
        f"train {m.measure} {m.train_error:.3f} {'>' if under else '≤'} baseline "
        f"{baseline_error:.3f} ({source}) + {m.margin:g}; "
        f"{m.gap_name} {m.gap:.3f} {'>' if over else '≤'} {m.gap_limit:g} → {label}"
    )
    if under and over:
        reasoning += (
            f" (both are large; the {'gap' if label == 'overfit' else 'training error'} "
            f"exceeds its threshold more: {max(over_by, under_by):.3f} vs "
            f"{min(over_by, under_by):.3f})"
        )
    return Diagnosis(
        label,
        reasoning,
        measure=m.measure,
        train_error=m.train_error,
        baseline_error=float(baseline_error),
        baseline_source=source,
        gap=m.gap,
        gap_measure=m.gap_measure,
        train_error_high=under,
        gap_large=over,
    )


@dataclass(frozen=True)
class _Measures:
    measure: str
    train_error: float
    gap_measure: str
    gap_name: str
    gap: float
    margin: float
    gap_limit: float
    default_baseline: float


def _measures(metrics: Mapping[str, object], cfg: DiagnosisConfig) -> _Measures:
    """Classification (`train/acc` present): errors are 1 − accuracy; regression: MSE."""
    if "train/acc" in metrics:
        c = cfg.classification
        train_err = 1.0 - _num(metrics, "train/acc")
        if c.gap_measure == "error":
            gap, gap_name = (
                (1.0 - _num(metrics, "test/acc")) - train_err,
                "gap (test − train error)",
            )
        else:
            gap, gap_name = _gap_loss(metrics), "gap/loss"
        return _Measures(
            "error",
            train_err,
            c.gap_measure,
            gap_name,
            gap,
            c.underfit_margin,
            c.overfit_gap,
            c.baseline_error,
        )
    r = cfg.regression
    return _Measures(
        "MSE",
        _num(metrics, "train/loss"),
        "loss",
        "gap/loss",
        _gap_loss(metrics),
        r.underfit_margin,
        r.overfit_gap,
        r.baseline_error,
    )


def _num(metrics: Mapping[str, object], key: str) -> float:
    value = metrics.get(key)
    return float("nan") if value is None else float(value)  # JSON null = non-finite


def _gap_loss(metrics: Mapping[str, object]) -> float:
    if "gap/loss" in metrics:
        return _num(metrics, "gap/loss")
    return _num(metrics, "test/loss") - _num(metrics, "train/loss")


def tag_run(client, run_id: str, diagnosis: Diagnosis) -> None:
    """Set `genlab.diagnosis` and `genlab.diagnosis_reason` on an MLflow run.

    `client` is an `MlflowClient` (e.g. `genlab.tracking.client(params)`); filter in the UI
    with `tags.genlab.diagnosis = 'overfit'`.
    """
    for key, value in diagnosis.as_tags().items():
        client.set_tag(run_id, key, value)


def judge(block: Mapping, cfg: DiagnosisConfig) -> list[tuple[dict, Diagnosis]]:
    """Label every model of a `to_judge` block under the thresholds `cfg`."""
    base, source = block.get("baseline_error"), str(block.get("baseline_source") or "")
    return [(m, diagnose(m, base, cfg, source)) for m in block.get("models", [])]


def tags_for(diagnosis: Diagnosis, tag: str = TAG) -> dict[str, str]:
    """The run tags of one label: `tag` and `<tag>_reason` (`genlab.diagnosis_ls` for polyfit's
    least-squares fit, which shares its degree's run with the gradient-descent fit)."""
    return {tag: diagnosis.label, f"{tag}_reason": diagnosis.reasoning[:_MAX_TAG_CHARS]}
