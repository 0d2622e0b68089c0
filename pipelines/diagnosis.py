"""Stage `diagnosis`: label every model the studies trained (underfit / overfit / good fit).

Run: `dvc repro diagnosis` (also after `dvc exp run -S diagnosis.classification.overfit_gap=0.2`:
only this stage reruns, no model is retrained).
Reads: params `diagnosis`, `tracking`; the `to_judge` block of results/{train_best,train_seeds,
regularization,optimizers,lr_range,polyfit}.json (each trained model's final numbers, its MLflow
run, the data's error floor).
Writes: results/diagnosis.json (per stage: each model's label, reasoning and the numbers behind
it; how many models got each label), metrics/diagnosis.json (`tuned.diagnosis`: the label of
`train_best`'s model),
plots/diagnosis/labels.csv; tags each model's MLflow run `genlab.diagnosis` (+ `_reason`).
The main model of `train` is labelled by `evaluate`, from the same rule.
"""

import json
import sys
from argparse import Namespace
from collections import Counter
from pathlib import Path

from genlab import stage_paths
from genlab.cli import run_stage
from genlab.config import load_params
from genlab.diagnosis import LABELS, judge, tags_for
from genlab.headline import write_results
from genlab.outputs import write_csv

PATHS = ("studies", "metrics", "results", "plots")


def arguments():
    """`--studies`: the results/<stage>.json files whose `to_judge` blocks are labelled."""
    parser = stage_paths.parser_for("diagnosis", PATHS[1:])
    parser.add_argument("--studies", nargs="+", metavar="PATH")
    return parser


def main(paths: Namespace) -> None:
    params = load_params()
    by_stage: dict[str, list[dict]] = {}
    tagged: list[tuple[str, dict[str, str]]] = []
    for study in paths.studies:
        path, stage = Path(study), Path(study).stem  # results/<stage>.json
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `dvc repro {stage}` first")
        block = json.loads(path.read_text()).get("to_judge")
        if block is None:
            raise ValueError(f"{path} has no `to_judge` block: rerun `dvc repro -f {stage}`")
        rows = []
        for model, d in judge(block, params.diagnosis):
            rows.append({"model": model["model"], **d.as_dict()})
            if model.get("run_id"):
                tagged.append((str(model["run_id"]), tags_for(d, str(model["tag"]))))
        by_stage[stage] = rows

    counts = Counter(r["label"] for rows in by_stage.values() for r in rows)
    tuned = by_stage["train_best"][0]["label"] if by_stage.get("train_best") else "n/a"
    headline = {"tuned": {"diagnosis": tuned}}  # the column train_best's headline had
    # Local outputs first: a tracking store that is down costs the tags, not the labels.
    results = {"stages": by_stage, "counts": dict(counts)}
    write_results(paths.results, results, paths.metrics, headline)
    labels = [{"stage": s, **r} for s, rows in by_stage.items() for r in rows]
    write_csv(Path(paths.plots) / "labels.csv", labels)
    missing = _tag_runs(params, tagged)
    note = f"; {missing} runs not in this MLflow store (untagged)" if missing else ""
    print(
        f"diagnosis: {sum(counts.values())} models labelled ("
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in LABELS)
        + f"); tuned model {tuned}; {len(tagged) - missing} MLflow runs tagged{note}"
    )


def _tag_runs(params, tagged: list[tuple[str, dict[str, str]]]) -> int:
    """Set each run's label tags (one batch per run); returns how many runs the store lacks
    (results made against another store, e.g. before switching to the team server)."""
    if not tagged:
        return 0
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    from genlab.tracking import check_tracking, client, resolve_tracking_uri

    check_tracking(resolve_tracking_uri(params.tracking))
    mlflow, missing = client(params), 0
    for run_id, tags in tagged:
        try:
            mlflow.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        except MlflowException as err:
            if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            missing += 1
            print(f"diagnosis: MLflow run {run_id} not found, left untagged", file=sys.stderr)
    return missing


if __name__ == "__main__":
    run_stage("diagnosis", main, paths=PATHS, parser=arguments())
