"""Stage `train_seeds`: the flagship (the main model and the 1-D CNN) over several seeds.

Run: `dvc repro train_seeds`; then see results/train_seeds.json or the report.
Reads: params `seed`, `model`, `train` (the keys `train` reads), `train_seeds`, `tracking`;
data/prepared; models/train.json, plots/train/history.csv and their `train_cnn` twins (params'
own seed: the selected epoch of what `train` / `train_cnn` trained).
Writes: results/train_seeds.json (per model: mean and std over seeds of train/test accuracy,
loss and gap; the claims "the CNN's test accuracy is higher / its gap smaller" seed by seed;
`to_judge`: what the `diagnosis` stage labels), plots/train_seeds/seeds.csv (one row per model
and seed); MLflow experiment `genlab/train_seeds`: one parent run, one child run per model and
seed it trains (curves per epoch).
"""

import csv

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.data import load_splits
from genlab.outputs import read_json, write_csv, write_json
from genlab.progress import Progress
from genlab.stages import train_seeds as study

DATA = "data/prepared"
RESULTS, TABLE = "results/train_seeds.json", "plots/train_seeds/seeds.csv"


def main() -> None:
    params = load_params()
    splits, _ = load_splits(DATA)
    from genlab.tracking import (
        check_tracking,
        describe_run,
        resolve_tracking_uri,
        run_params,
        run_tags,
        splits_hash,
    )
    from genlab.tracking import study as tracking_study
    from genlab.training import use_threads

    check_tracking(resolve_tracking_uri(params.tracking))
    use_threads(params.train_seeds.torch_threads)
    models = study.flagship_models(params)
    rows = [own_seed(params, m) for m in models]
    todo = [(m, s) for m in models for s in study.other_seeds(params)]
    progress = Progress(study.STAGE, len(todo))
    tags = run_tags(params, study.STAGE, splits_hash(splits), curves=False)
    name = f"{params.train_seeds.seeds}seeds-{describe_run(params)}"
    logged = run_params(params, study.STAGE, trained=False)
    with tracking_study(params, study.STAGE, name, tags, logged) as runs:
        for model, seed in todo:
            with runs.child(**study.child_run(params, model, seed, runs.data_hash),
                            logger=True) as child:
                row = study.fit_seed(params, splits, model, seed, child.logger)
                row.run_id = child.run_id
                child.outcome(row.status, row.reason)
                runs.log_metrics(child.run_id, {f"final/{k}": v for k, v in row.numbers.items()})
            rows.append(row)
            progress.step(f"{model} s{seed}")
        rows.sort(key=lambda r: (models.index(r.model), r.seed))
        summary = study.summarize(rows)
        results = {
            "seeds": sorted({r.seed for r in rows}),
            "models": summary,
            "claims": study.claims(rows, models),
            "to_judge": study.models_to_judge(rows, splits),
        }
        write_csv(TABLE, [r.as_row() for r in rows])
        write_json(RESULTS, results)
        runs.log_metrics(runs.run_id, study.parent_metrics(summary))
        runs.artifact(TABLE)
    parts = [
        f"{m} test/acc {s['test/acc']:.3f} ± {s['test/acc_std']:.3f}, gap/acc "
        f"{s['gap/acc']:.3f} ± {s['gap/acc_std']:.3f}"
        for m, s in summary.items()
    ]
    print(f"train_seeds: {len(results['seeds'])} seeds; " + "; ".join(parts))


def own_seed(params, model: str) -> "study.SeedRow":
    """Params' own seed of `model`, from the outputs of the stage that trained it."""
    record_path, history_path = study.trained_paths(params, model)
    fix = f"run `dvc repro {study.training_stage(params, model)}`"
    record = read_json(record_path, "the training record", fix)
    with open(history_path, newline="") as f:
        history = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return study.from_training(record, history, params, model)


if __name__ == "__main__":
    run_stage("train_seeds", main)
