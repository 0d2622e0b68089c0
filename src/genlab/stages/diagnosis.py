"""Stage `diagnosis`: label every model the studies trained (underfit / overfit / good fit) from
the numbers they stored, and tag each model's MLflow run with its label.

No model is retrained: a threshold change (`dvc exp run -S
diagnosis.classification.overfit_gap=0.2`) reruns this stage alone. The rule is
`genlab.diagnosis`; this module runs it over the `to_judge` block each study leaves in its
results/<stage>.json (each trained model's final numbers, its MLflow run, the data's error
floor), through the study contract (`genlab.study`).
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from genlab.config import Params
from genlab.diagnosis import LABELS, judge, tags_for
from genlab.headline import write_results
from genlab.outputs import write_csv

STAGE = "diagnosis"


@dataclass(frozen=True)
class Labels:
    """Each study's models with their labels, and the MLflow tags each labelled run gets."""

    by_stage: dict[str, list[dict]]  # stage -> one row per model: label, reason, numbers
    tags: list[tuple[str, dict[str, str]]]  # (run id, its genlab.diagnosis tags)

    @property
    def counts(self) -> Counter:
        return Counter(r["label"] for rows in self.by_stage.values() for r in rows)

    @property
    def tuned(self) -> str:
        """The label of train_best's model: the headline's `tuned.diagnosis`."""
        rows = self.by_stage.get("train_best")
        return rows[0]["label"] if rows else "n/a"


def data(params: Params, paths: Namespace) -> dict[str, dict]:
    """Each study's `to_judge` block, by stage; a missing file or block names the stage to
    rerun."""
    blocks = {}
    for study in paths.studies:
        path, stage = Path(study), Path(study).stem  # results/<stage>.json
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `dvc repro {stage}` first")
        block = json.loads(path.read_text()).get("to_judge")
        if block is None:
            raise ValueError(f"{path} has no `to_judge` block: rerun `dvc repro -f {stage}`")
        blocks[stage] = block
    return blocks


def run(params: Params, data: dict[str, dict], runs: None) -> Labels:
    by_stage: dict[str, list[dict]] = {}
    tags: list[tuple[str, dict[str, str]]] = []
    for stage, block in data.items():
        rows = []
        for model, d in judge(block, params.diagnosis):
            rows.append({"model": model["model"], **d.as_dict()})
            if model.get("run_id"):
                tags.append((str(model["run_id"]), tags_for(d, str(model["tag"]))))
        by_stage[stage] = rows
    return Labels(by_stage, tags)


def write(result: Labels, paths: Namespace) -> list[Path]:
    """results/diagnosis.json (per stage: each model's label, reasoning and numbers; the
    counts), metrics/diagnosis.json (`tuned.diagnosis`, the column train_best's headline had),
    plots/diagnosis/labels.csv."""
    results = {"stages": result.by_stage, "counts": dict(result.counts)}
    write_results(paths.results, results, paths.metrics, {"tuned": {"diagnosis": result.tuned}})
    labels = [{"stage": s, **r} for s, rows in result.by_stage.items() for r in rows]
    write_csv(Path(paths.plots) / "labels.csv", labels)
    return []


def annotate(params: Params, result: Labels) -> str:
    """Tag each labelled run (one batch per run). A run the store lacks (results made against
    another store, e.g. before switching to the team server) is named and left untagged."""
    if not result.tags:
        return "; 0 MLflow runs tagged"
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    from genlab.tracking import check_tracking, client, resolve_tracking_uri

    check_tracking(resolve_tracking_uri(params.tracking))
    mlflow, missing = client(params), 0
    for run_id, tags in result.tags:
        try:
            mlflow.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        except MlflowException as err:
            if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            missing += 1
            print(f"diagnosis: MLflow run {run_id} not found, left untagged", file=sys.stderr)
    note = f"; {missing} runs not in this MLflow store (untagged)" if missing else ""
    return f"; {len(result.tags) - missing} MLflow runs tagged{note}"


def line(result: Labels, run_id: None) -> str:
    counts = result.counts
    return (
        f"diagnosis: {sum(counts.values())} models labelled ("
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in LABELS)
        + f"); tuned model {result.tuned}"
    )
