"""The flagship over seeds: does "the MLP overfits, the CNN generalizes" survive another seed?

`train` (the main model, the 256×256 MLP by default) and `train_cnn` (the 1-D CNN) each train
once, from params' `seed`, and `evaluate` measures them. This study retrains both with the other
seeds of `seed_list(seed, train_seeds.seeds)` — same data, same `model`/`train` settings, one
process each — and reads every fit's selected epoch from its history: the numbers `evaluate`
reads from the checkpoint (whole splits, eval mode, the epoch `train.selection.metric` picks).
The row of params' own seed comes from what `train` / `train_cnn` wrote (the selected epoch of
their history): the flagship is not trained twice.
"""

from __future__ import annotations

import csv
import math
from argparse import Namespace
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from genlab.config import Params, with_overrides
from genlab.data.splits import Splits
from genlab.judged import judged, known_baseline, to_judge
from genlab.outputs import read_json, write_csv, write_json
from genlab.seeds import mean_std, seed_list, verdict

STAGE = "train_seeds"
SPLIT_KEYS = (
    "train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc", "gap/loss", "gap/acc"
)
SUMMARY_KEYS = ("train/acc", "test/acc", "gap/acc", "train/loss", "test/loss", "gap/loss")


def flagship_models(params: Params) -> list[str]:
    """The main model, and the 1-D CNN beside it where the data are MNIST-1D signals."""
    main = params.model.name
    cnn = params.data.name == "mnist1d" and main != "cnn1d"
    return [main, "cnn1d"] if cnn else [main]


def other_seeds(params: Params) -> list[int]:
    """The seeds this stage trains: all of `seed_list` but params' own (trained by `train`)."""
    return seed_list(params.seed, params.train_seeds.seeds)[1:]


def seed_params(params: Params, model: str, seed: int) -> Params:
    """The flagship's settings with another seed (and model.name for the CNN), validated."""
    return with_overrides(params, {"seed": seed, "model.name": model})


@dataclass
class SeedRow:
    """One trained model: which, from which seed, and its selected epoch's numbers."""

    model: str
    seed: int
    status: str
    best_epoch: int
    epochs_run: int
    numbers: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    run_id: str | None = None
    source: str = STAGE  # `train` / `train_cnn` for params' own seed

    def as_row(self) -> dict[str, object]:
        return {
            "model": self.model,
            "seed": self.seed,
            "source": self.source,
            "status": self.status,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            **self.numbers,
        }


def fit_seed(params: Params, splits: Splits, model: str, seed: int, logger=None) -> SeedRow:
    """Train one model from one seed and keep the epoch the selection metric picks."""
    from genlab.training import fit  # lazy: Lightning only where a model is trained

    result = fit(seed_params(params, model, seed), splits, logger=logger)
    ok = 0 <= result.best_epoch < len(result.history)
    row = result.history[result.best_epoch] if ok else {}
    return SeedRow(
        model,
        seed,
        result.status,
        result.best_epoch,
        result.epochs_run,
        {k: float(row[k]) for k in SPLIT_KEYS if k in row},
        result.reason,
    )


def training_stage(params: Params, model: str) -> str:
    """The stage that trained `model` at params' own seed: `train_cnn` for the CNN beside."""
    return "train_cnn" if model == "cnn1d" and params.model.name != "cnn1d" else "train"



def from_training(
    record: Mapping, history: list[dict[str, float]], params: Params, model: str
) -> SeedRow:
    """Params' own seed: the selected epoch's row of the history `train` (or `train_cnn`) wrote,
    the numbers `evaluate` measures from its checkpoint. Read from the training stage's own
    outputs, not from `evaluate`'s (which carry labels): a label change retrains nothing here."""
    best = int(record.get("best_epoch", -1))
    row = next((r for r in history if int(r.get("epoch", -1)) == best), {})
    return SeedRow(
        model,
        params.seed,
        str(record.get("status", "missing")),
        best,
        int(record.get("epochs_run", 0)),
        {k: float(row[k]) for k in SPLIT_KEYS if k in row},
        str(record.get("reason") or ""),
        source=training_stage(params, model),
    )


def summarize(rows: list[SeedRow]) -> dict[str, dict[str, object]]:
    """Per model: each number in SUMMARY_KEYS as mean and `<key>_std` over the seeds whose fit
    did not diverge; `seeds` and `seeds_ok` say how many ran and how many count."""
    out: dict[str, dict[str, object]] = {}
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        ok = [r for r in mine if r.status == "ok"]
        entry: dict[str, object] = {"seeds": len(mine), "seeds_ok": len(ok)}
        for key in SUMMARY_KEYS:
            entry[key], entry[f"{key}_std"] = mean_std([r.numbers.get(key, math.nan) for r in ok])
        out[model] = entry
    return out


def claims(rows: list[SeedRow], models: list[str]) -> dict[str, object]:
    """The story, seed by seed: the CNN's test accuracy is higher and its gap smaller than the
    MLP's (each a `verdict`: it holds only where every seed says so)."""
    if len(models) < 2:
        return {}
    main, cnn = models
    by_seed: dict[int, dict[str, SeedRow]] = {}
    for r in rows:
        by_seed.setdefault(r.seed, {})[r.model] = r

    def compare(key: str, better) -> dict[str, object]:
        outcome = []
        for pair in by_seed.values():
            a, b = pair.get(main), pair.get(cnn)
            known = a and b and a.status == b.status == "ok"
            outcome.append(better(b.numbers[key], a.numbers[key]) if known else None)
        return verdict(outcome)

    return {
        "cnn_higher_test_acc": compare("test/acc", lambda c, m: c > m),
        "cnn_smaller_gap": compare("gap/acc", lambda c, m: c < m),
    }


def models_to_judge(rows: list[SeedRow], splits: Splits) -> dict:
    """Every (model, seed) for the `diagnosis` stage; params' own seed too (its run is labelled
    by `evaluate`, so it has no run id here)."""
    models = [
        judged(
            f"{r.model}-s{r.seed}",
            {**r.numbers, "status": r.status, "reason": r.reason},
            r.run_id,
        )
        for r in rows
    ]
    return to_judge(models, known_baseline(splits.info))



def child_run(params: Params, model: str, seed: int, data_hash: str) -> dict[str, object]:
    """The MLflow child of one fit: its name (what differs first), tags and params."""
    from genlab.tracking import run_params, run_tags

    p = seed_params(params, model, seed)
    tags = {**run_tags(p, STAGE, data_hash), "genlab.variant": model}
    return {"name": f"{model}-s{seed}", "tags": tags, "params": run_params(p)}


# ------------------------------------------------------------------ the stage (genlab.study)


@dataclass
class SeedsData:
    """What the stage works on: the prepared data, the flagship models and their rows at
    params' own seed (read from what `train` / `train_cnn` wrote)."""

    splits: Splits
    models: list[str]
    own: list[SeedRow]


@dataclass
class SeedsResult:
    rows: list[SeedRow]  # every model and seed, in (model, seed) order
    models: list[str]
    splits: Splits

    @property
    def summary(self) -> dict[str, dict[str, object]]:
        return summarize(self.rows)


def data(params: Params, paths: Namespace) -> SeedsData:
    """The prepared data; each model's own-seed row from the training stage's record and
    history (`--record`/`--history`, `--cnn-record`/`--cnn-history`)."""
    from genlab.data import load_splits
    from genlab.training import use_threads

    splits, _ = load_splits(paths.data)
    use_threads(params.train_seeds.torch_threads)
    trained = {
        "train": (paths.record, paths.history),
        "train_cnn": (paths.cnn_record, paths.cnn_history),
    }
    models = flagship_models(params)
    return SeedsData(splits, models, [_own_seed(params, m, trained) for m in models])


def _own_seed(params: Params, model: str, trained: dict[str, tuple[str, str]]) -> SeedRow:
    """Params' own seed of `model`, from the outputs of the stage that trained it."""
    stage = training_stage(params, model)
    record_path, history_path = trained[stage]
    fix = f"run `dvc repro {stage}`"
    record = read_json(record_path, "the training record", fix)
    with open(history_path, newline="") as f:
        history = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return from_training(record, history, params, model)


def open_runs(params: Params, seeds: SeedsData) -> AbstractContextManager:
    """The stage's parent run; one child per model and seed it trains."""
    from genlab.tracking import describe_run, run_params, run_tags, splits_hash, study

    tags = run_tags(params, STAGE, splits_hash(seeds.splits), curves=False)
    name = f"{params.train_seeds.seeds}seeds-{describe_run(params)}"
    return study(params, STAGE, name, tags, run_params(params, STAGE, trained=False))


def run(params: Params, seeds: SeedsData, runs) -> SeedsResult:
    """Every other seed of each model, trained with its curves in its own child run."""
    from genlab.progress import Progress

    rows = list(seeds.own)
    todo = [(m, s) for m in seeds.models for s in other_seeds(params)]
    progress = Progress(STAGE, len(todo))
    for model, seed in todo:
        child_spec = child_run(params, model, seed, runs.data_hash)
        with runs.child(**child_spec, logger=True) as child:
            row = fit_seed(params, seeds.splits, model, seed, child.logger)
            row.run_id = child.run_id
            child.outcome(row.status, row.reason)
            runs.log_metrics(child.run_id, {f"final/{k}": v for k, v in row.numbers.items()})
        rows.append(row)
        progress.step(f"{model} s{seed}")
    rows.sort(key=lambda r: (seeds.models.index(r.model), r.seed))
    return SeedsResult(rows, seeds.models, seeds.splits)


def write(result: SeedsResult, paths: Namespace) -> list[Path]:
    """plots/train_seeds/seeds.csv (one row per model and seed) and results/train_seeds.json
    (means and spreads, the claims seed by seed, `to_judge`); the table goes on the parent."""
    table = write_csv(Path(paths.plots) / "seeds.csv", [r.as_row() for r in result.rows])
    write_json(
        paths.results,
        {
            "seeds": sorted({r.seed for r in result.rows}),
            "models": result.summary,
            "claims": claims(result.rows, result.models),
            "to_judge": models_to_judge(result.rows, result.splits),
        },
    )
    return [table]


def parent_metrics(result: SeedsResult) -> dict[str, object]:
    """The parent run's metrics: each model's means and spreads (`mlp/test/acc_std`)."""
    return {f"{m}/{k}": v for m, s in result.summary.items() for k, v in s.items()}


def line(result: SeedsResult, run_id: str | None) -> str:
    parts = [
        f"{m} test/acc {s['test/acc']:.3f} ± {s['test/acc_std']:.3f}, gap/acc "
        f"{s['gap/acc']:.3f} ± {s['gap/acc_std']:.3f}"
        for m, s in result.summary.items()
    ]
    seeds = len({r.seed for r in result.rows})
    return f"train_seeds: {seeds} seeds; " + "; ".join(parts) + f" (MLflow run {run_id})"
