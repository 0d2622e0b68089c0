"""One trial: sample a configuration, train it with pruning, record it in Optuna and in its
own MLflow child run.

Every trial trains through `genlab.training.fit` (Lightning) and reports its validation metric
per epoch to the pruner (optuna-integration's Lightning callback). The test split never reaches
a trial: the search sees train and val only (`search_splits`).
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import optuna
from lightning.pytorch.loggers import Logger

from genlab import tracking
from genlab.config import Params, with_overrides
from genlab.data.splits import Splits
from genlab.owners import owner_id
from genlab.stages.tune.runs import STAGE, close_run, finish_trial_run, trial_run_name
from genlab.stages.tune.space import check_space, suggest, trial_overrides
from genlab.stages.tune.storage import EPOCHS, OWNER, REASON, RETRY_OF, RUN_ID, STATUS
from genlab.stages.tune.trials import within_budget


class TrialDiverged(Exception):
    """The trial's loss became NaN/inf: recorded as a FAIL trial, the study goes on."""


class TrialSurplus(Exception):
    """Workers racing for the last slot created one trial too many: this one gives way."""


def search_splits(splits: Splits) -> Splits:
    """The splits a trial sees: train and val. The module evaluates a third split each epoch;
    here it is val again (its metrics are dropped before logging), so test never reaches the
    search."""
    return Splits(
        splits.x_train,
        splits.y_train,
        splits.x_val,
        splits.y_val,
        splits.x_val,
        splits.y_val,
        splits.task,
        splits.n_classes,
        splits.info,
    )


HIDDEN = ("test/", "gap/")


class SearchLogger(Logger):
    """Lightning's MLflow logger for a trial's child run, minus `test/*` and `gap/*` (in the
    search the third split is val again, see `search_splits`)."""

    def __init__(self, inner: Logger) -> None:
        super().__init__()
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def experiment(self):
        return self.inner.experiment

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        self.inner.log_hyperparams(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        kept = {k: v for k, v in metrics.items() if not k.startswith(HIDDEN)}
        self.inner.log_metrics(kept, step)

    def finalize(self, status: str) -> None:
        """Nothing: the trial ends its run itself, with the trial's own state
        (`finish_trial_run`, `close_run`); Lightning's finalize would cost two more server
        requests per trial."""


class HistoryRecorder(pl.Callback):
    """Keeps the module's per-epoch history even when the pruner stops fit with an exception."""

    def __init__(self) -> None:
        self.module = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.module = pl_module

    @property
    def history(self) -> list[dict[str, float]]:
        rows = self.module.history if self.module is not None else []
        return [{k: v for k, v in r.items() if not k.startswith(HIDDEN)} for r in rows]

    @property
    def diverged(self) -> str | None:
        return self.module.diverged if self.module is not None else None


def best_value(history: list[dict[str, float]], metric: str, direction: str) -> float:
    values = [r[metric] for r in history if math.isfinite(r.get(metric, math.nan))]
    if not values:
        return math.nan
    return max(values) if direction == "maximize" else min(values)


class Objective:
    """One trial: sample, train with pruning, record in Optuna and in an MLflow child run."""

    def __init__(self, params: Params, splits: Splits, parent_run_id: str, data_id: str) -> None:
        self.params, self.tune = params, params.tune
        self.base = check_space(params)
        self.selected = self.base.train.selected
        self.splits = search_splits(splits)
        self.parent = parent_run_id
        self.tags = tracking.run_tags(self.base, STAGE, data_id)  # git commit: looked up once

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(OWNER, owner_id())
        trials = trial.study.get_trials(deepcopy=False)
        if not within_budget(trials, trial.number, self.tune.n_trials):
            reason = f"the {self.tune.n_trials}-trial budget was taken by lower-numbered trials"
            trial.set_user_attr(STATUS, "surplus")
            trial.set_user_attr(REASON, reason)
            raise TrialSurplus(reason)
        try:
            return self._train(trial)
        except (optuna.TrialPruned, TrialDiverged):
            raise
        except BaseException as err:  # a bug or Ctrl-C: close the run, let the study see it
            state = "interrupted" if isinstance(err, KeyboardInterrupt) else "error"
            trial.set_user_attr(STATUS, state)
            trial.set_user_attr(REASON, repr(err)[:500])
            if trial.user_attrs.get(RUN_ID):
                status = "KILLED" if state == "interrupted" else "FAILED"
                close_run(self.params, trial.user_attrs[RUN_ID], state, status)
            raise

    def _train(self, trial: optuna.Trial) -> float:
        from optuna_integration import PyTorchLightningPruningCallback

        from genlab.training import fit

        hp = suggest(trial, self.tune)  # a retried trial gets its predecessor's values back
        trial.set_user_attr("batch_size", int(hp["batch_size"]))
        variant = with_overrides(self.base, trial_overrides(self.tune, hp))
        name = trial_run_name(trial.number, hp, self.tune.space.penalty)
        tags = {
            **self.tags,
            "genlab.variant": f"trial-{trial.number}",
            "genlab.owner": owner_id(),
            "optuna.study": trial.study.study_name,
            "optuna.trial": str(trial.number),
        }
        if RETRY_OF in trial.user_attrs:
            tags["optuna.retry_of"] = str(trial.user_attrs[RETRY_OF])
        run_id = tracking.start_run(self.params, STAGE, name, tags, parent_run_id=self.parent)
        trial.set_user_attr(RUN_ID, run_id)
        logger = SearchLogger(tracking.attach_logger(self.params, STAGE, run_id))
        logger.log_hyperparams(tracking.run_params(variant))  # the trial's data/model/train
        recorder = HistoryRecorder()
        pruning = PyTorchLightningPruningCallback(trial, monitor=self.selected.name)
        state, reason = "complete", ""
        try:
            fit(variant, self.splits, logger=logger, extra_callbacks=[recorder, pruning])
        except optuna.TrialPruned as pruned:
            state, reason = "pruned", str(pruned)
        if recorder.diverged:
            state, reason = "diverged", recorder.diverged
        history = recorder.history
        value = best_value(history, self.selected.name, self.selected.direction)
        trial.set_user_attr(STATUS, state)
        trial.set_user_attr(EPOCHS, len(history))
        if reason:
            trial.set_user_attr(REASON, reason)
        finish_trial_run(self.params, run_id, state, reason, value, len(history))
        if state == "pruned":
            raise optuna.TrialPruned(reason)
        if state == "diverged":
            raise TrialDiverged(reason)
        return value
