"""What a study stores about each trained model so that the `diagnosis` stage can label it later.

Labelling needs only a model's final numbers, its MLflow run and the data's error floor. Studies
write them under `to_judge` in results/<stage>.json, and never import the rule
(`genlab.diagnosis`) itself: changing a threshold or the rule then reruns the cheap `diagnosis`
stage alone, not the trainings.
"""

from __future__ import annotations

from collections.abc import Mapping

TAG = "genlab.diagnosis"  # the MLflow tag a model's label goes to
# what the rule reads from a model's final numbers (`judged` keeps only these)
JUDGED_KEYS = ("status", "reason", "train/loss", "test/loss", "train/acc", "test/acc", "gap/loss")


def judged(
    name: str, metrics: Mapping[str, object], run_id: str | None = None, tag: str = TAG
) -> dict[str, object]:
    """One trained model as a study stores it for the `diagnosis` stage: its name, the numbers
    the rule reads, its MLflow run (None when untracked) and the tag its label goes to."""
    numbers = {k: metrics[k] for k in JUDGED_KEYS if k in metrics}
    return {"model": name, "run_id": run_id or None, "tag": tag, **numbers}


def to_judge(models: list[dict[str, object]], baseline: tuple[float | None, str]) -> dict:
    """A study's `to_judge` block: its models (`judged`) and the data's error floor."""
    value, source = baseline
    return {"baseline_error": value, "baseline_source": source, "models": models}


def known_baseline(info: Mapping) -> tuple[float | None, str]:
    """The data's own error floor from `Splits.info` / meta.json: Bayes error or noise σ²."""
    if info.get("bayes_error") is not None:
        return float(info["bayes_error"]), "Bayes error"
    if info.get("irreducible_error") is not None:
        return float(info["irreducible_error"]), "noise variance"
    return None, ""

