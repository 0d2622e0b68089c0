"""What a finished study says: its best trial and the configuration train_best retrains,
one row per trial, the optimization history, the best learning rate per batch size and its
scaling slope, and the parameters' fANOVA importances (computed once, here: the figure draws
these numbers)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from genlab.config import Params
from genlab.config.tune import TuneConfig
from genlab.slopes import loglog_fit
from genlab.stages.tune.space import (
    hp_from_params,
    objective_metric,
    target_overrides,
    trial_overrides,
)
from genlab.stages.tune.storage import EPOCHS, REASON
from genlab.stages.tune.trials import status


def best_trial(study: optuna.Study) -> FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(
            f"study {study.study_name}: no trial completed (all pruned or diverged): raise "
            "tune.n_trials, loosen tune.pruner or narrow tune.space"
        )
    return study.best_trial


def best_params_doc(params: Params, study: optuna.Study) -> dict[str, Any]:
    """The winning configuration as `best_params.yaml` holds it: the overrides train_best
    applies to params, plus where they came from."""
    tune, selected = params.tune, objective_metric(params)
    best = best_trial(study)
    hp = hp_from_params(best.params)
    return {
        "study": study.study_name,
        "trial": best.number,
        "metric": selected.name,
        "direction": selected.direction,
        "value": float(best.value),
        "hyperparameters": {k: (int(v) if k == "batch_size" else float(v)) for k, v in hp.items()},
        "overrides": {**target_overrides(tune), **trial_overrides(tune, hp)},
    }


def trial_rows(study: optuna.Study, tune: TuneConfig) -> list[dict[str, object]]:
    """One row per finished or interrupted trial: its status, value and hyperparameters.

    `value` is the objective of complete trials; `last` the last value reported to the pruner
    (pruned trials have no objective, only the epoch where they stopped)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        steps = sorted(t.intermediate_values)
        hp = hp_from_params(t.params)
        rows.append(
            {
                "trial": t.number,
                "status": status(t),
                "value": float(t.value) if t.state == TrialState.COMPLETE else math.nan,
                "last": float(t.intermediate_values[steps[-1]]) if steps else math.nan,
                "epochs": int(t.user_attrs.get(EPOCHS, len(steps))),
                "lr": float(hp.get("lr", math.nan)),
                "batch_size": int(hp.get("batch_size", 0)),
                "strength": float(hp.get(tune.space.penalty, math.nan)),
                **({"dropout": float(hp.get("dropout", math.nan))} if tune.space.dropout else {}),
                "reason": str(t.user_attrs.get(REASON, "")),
            }
        )
    return rows


def _better(direction: str):
    return max if direction == "maximize" else min


def history_rows(rows: list[dict], direction: str) -> list[dict[str, float]]:
    """Complete trials in order, with the best value found so far (the optimization history)."""
    out, best = [], None
    pick = _better(direction)
    for r in sorted(rows, key=lambda r: r["trial"]):
        if r["status"] != "complete":
            continue
        best = r["value"] if best is None else pick(best, r["value"])
        out.append({"trial": r["trial"], "value": r["value"], "best_so_far": best})
    return out


def best_lr_per_batch(rows: list[dict], direction: str) -> list[dict[str, float]]:
    """For each batch size, the learning rate of its best complete trial."""
    by_bs: dict[int, dict] = {}
    better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)
    for r in rows:
        if r["status"] != "complete":
            continue
        cur = by_bs.get(r["batch_size"])
        if cur is None or better(r["value"], cur["value"]):
            by_bs[r["batch_size"]] = r
    return [
        {"batch_size": bs, "lr": by_bs[bs]["lr"], "value": by_bs[bs]["value"]}
        for bs in sorted(by_bs)
    ]


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x) (`genlab.slopes.loglog_fit`, the fit lr_range
    uses): 1 = linear scaling, 0.5 = square-root scaling. None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    return loglog_fit([x for x, _ in points], [y for _, y in points])["slope"]


# fANOVA needs a few complete trials to fit its forest at all; below this it says nothing.
_FANOVA_MIN_TRIALS = 3
# Optuna searches log2 of the batch size (powers of two); figures and results say batch_size.
_SHOWN_AS = {"batch_size_log2": "batch_size"}


def importances(study: optuna.Study, seed: int) -> dict[str, float]:
    """fANOVA importance of each searched parameter over the complete trials (sums to 1);
    empty when there are too few complete trials to tell."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < _FANOVA_MIN_TRIALS:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {_SHOWN_AS.get(k, k): float(v) for k, v in raw.items()}


def importance_record(study: optuna.Study, seed: int, min_trials: int) -> dict[str, object]:
    """The results' importance keys: the fANOVA values, how many complete trials they come
    from, and whether that is enough (`tune.min_trials_for_importance`) to read them as a
    ranking. Below it they are noise: on the 5 complete trials of a default study, 20 fANOVA
    seeds gave 5 of the 6 possible orders of its 3 parameters."""
    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return {
        "importance": importances(study, seed),
        "importance_reliable": n >= min_trials,
        "importance_trials": n,
        "importance_min_trials": min_trials,
    }
