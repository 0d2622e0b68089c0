"""The few numbers `dvc metrics show` and `dvc exp show` print, apart from a stage's results.

DVC prints every key of every file declared under `metrics:` as a column, and `dvc exp show`
prefixes a key that two files share with the file's path. So metrics files hold only the main
model's headline (numbers and labels of at most `MAX_LABEL` characters, keys no other metrics
file uses) and everything a stage measures, prose included, goes to results/<stage>.json: the
file the report and the notebooks read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genlab.outputs import write_json

MAX_LABEL = 24
MAIN_KEYS = ("status", "test/loss", "test/acc", "gap/loss", "diagnosis")


def check_short(metrics: Mapping, prefix: str = "") -> None:
    """Refuse what would make a DVC table unreadable: prose, lists, long labels."""
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            check_short(value, f"{name}.")
        elif isinstance(value, str) and len(value) > MAX_LABEL:
            raise ValueError(f"metrics key {name}: {value[:40]!r}… is not a short label")
        elif not isinstance(value, str | int | float | bool | type(None)):
            raise ValueError(f"metrics key {name}: {type(value).__name__} is not a number")


def main_model(results: Mapping) -> dict:
    """evaluate: status, test loss and accuracy, gap and diagnosis of the model of `train`."""
    return {k: results[k] for k in MAIN_KEYS if k in results}


def companion_model(results: Mapping, key: str = "cnn") -> dict:
    """evaluate: the model trained beside the main one (`train_cnn`), under `cnn.`: its test
    accuracy alone, or its status when it has none (skipped, diverged). One column: with it,
    `dvc exp show` still fits 200 columns; its label is in results/evaluate.json."""
    if "test/acc" in results:
        return {key: {"test/acc": results["test/acc"]}}
    return {key: {"status": results.get("status")}}


def tuned_model(results: Mapping) -> dict:
    """train_best: the same numbers for the study's winner, under `tuned.` (own column names;
    its label is `tuned.diagnosis` in metrics/diagnosis.json, `diverged` for a diverged run)."""
    return {"tuned": {k: results[k] for k in MAIN_KEYS[1:] if k in results}}


def study(results: Mapping) -> dict:
    """tune: the best trial and its objective value."""
    return {k: results[k] for k in ("best_trial", "best_value") if k in results}


def write_results(
    results_path: str | Path,
    results: Mapping,
    metrics_path: str | Path,
    headline: Mapping,
) -> None:
    """The full results to `results_path` (results/<stage>.json), the headline to
    `metrics_path` (metrics/<stage>.json); the headline is checked first, so a refused one
    writes neither."""
    check_short(headline)
    write_json(results_path, results)
    write_json(metrics_path, headline)
