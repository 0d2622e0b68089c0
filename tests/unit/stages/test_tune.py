"""The tuning library (genlab.stages.tune): search space, study naming, budget bookkeeping
(exact under races: trials give way in number order), stale trials and their retry, the study's
one MLflow parent run (creator records it, joiners wait for it, old studies adopt one), summary
math (hand-computed), figures drawn from the recorded numbers. Real studies:
tests/integration/test_tune_study.py."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from genlab import tracking
from genlab.config import ConfigError, parse_params, with_overrides
from genlab.data import make_splits
from genlab.owners import owner_id, pid_alive
from genlab.stages.tune import figures
from genlab.stages.tune.figures import importance_title
from genlab.stages.tune.objective import Objective, best_value, search_splits
from genlab.stages.tune.results import (
    best_lr_per_batch,
    history_rows,
    importance_record,
    loglog_slope,
    trial_rows,
)
from genlab.stages.tune.runs import (
    PARENT_WAIT_S,
    claim_parent,
    close_run,
    finish_trial_run,
    resume_parent,
    shared_parent,
    study_parent_run,
    study_run_name,
    trial_run_name,
    wait_for_parent,
)
from genlab.stages.tune.space import (
    base_params,
    check_space,
    hp_from_params,
    objective_metric,
    study_name,
    suggest,
    trial_overrides,
)
from genlab.stages.tune.storage import OWNER, STATUS, open_storage, open_study
from genlab.stages.tune.trials import (
    counts_toward_budget,
    fail_stale_trials,
    n_counted,
    room_left,
    status,
    within_budget,
)
from genlab.stages.tune.workers import run_one_trial
from tests.conftest import fresh_store, tiny_raw


def params_with(**tune):
    raw = tiny_raw()
    for key, value in tune.items():
        node = raw["tune"]
        *parents, leaf = key.split("__")
        for k in parents:
            node = node[k]
        node[leaf] = value
    return parse_params(raw)


@pytest.fixture
def stores(tmp_path, monkeypatch, empty_store):
    """A throw-away MLflow store and Optuna journal; the project's stores are never touched."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh_store(empty_store, tmp_path))
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    return tmp_path


# ------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "key, value, message",
    [
        ("space__batch_size", [16, 48], "48 is not a power of two"),
        ("space__lr", [0.1, 0.01], "low (0.1) must be below high (0.01)"),
        ("space__penalty", "l3", "tune.space.penalty"),
        ("n_workers", 0, "tune.n_workers = 0"),
        ("pruner__n_warmup_steps", 3, "must be below max_epochs"),
        ("grace_period", 20, "grace_period (20 s) must exceed heartbeat_interval (20 s)"),
        ("heartbeat_interval", 0, "tune.heartbeat_interval = 0"),
    ],
)
def test_bad_tune_params_name_key_and_value(key, value, message):
    with pytest.raises(ConfigError) as err:
        params_with(**{key: value})
    assert message in str(err.value)


def test_tune_metric_is_refused_naming_its_successor():
    with pytest.raises(ConfigError) as err:
        params_with(metric="val/loss")
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("  tune.metric = 'val/loss': replaced by")
    assert "set train.selection.metric: val/loss" in lines[0]
    assert "tune.metric" not in str(parse_params(tiny_raw()).tune.model_dump())


def _regression_tune(**train_selection) -> dict:
    raw = tiny_raw()
    raw["tune"].update(data="poly", model="poly", loss="mse")
    raw["train"]["selection"].update(train_selection)
    return raw


def test_the_objective_is_the_selection_metric_resolved_for_the_tuned_loss():
    p = params_with()  # tune.loss ce, train.selection.metric auto
    assert objective_metric(p).name == "val/acc" and objective_metric(p).direction == "maximize"
    p = parse_params(_regression_tune())  # train.loss ce (gaussians), tune.loss mse (poly)
    assert p.train.selected.name == "val/acc"  # the train stage's own selection
    assert objective_metric(p).name == "val/loss" and objective_metric(p).direction == "minimize"


def test_accuracy_objective_needs_classification():
    p = parse_params(_regression_tune(metric="val/acc"))
    with pytest.raises(ConfigError, match="metric 'val/acc' needs a classification loss"):
        objective_metric(p)


def test_space_must_fit_the_training_config():
    p = params_with(space__penalty="weight_decay")
    with pytest.raises(ConfigError, match="tune.space does not fit"):
        check_space(p)  # weight_decay with train.optimizer.name adam is refused
    p = with_overrides(p, {"train.optimizer.name": "gd"})
    with pytest.raises(ConfigError, match="batch_size, which optimizer 'gd' ignores"):
        check_space(p)


# --------------------------------------------------------------------------------- space
def test_a_sampled_configuration_maps_onto_params():
    p = params_with(space__dropout=[0.0, 0.5])
    trial = optuna.trial.FixedTrial({"lr": 0.01, "batch_size_log2": 5, "l2": 1e-4, "dropout": 0.2})
    hp = suggest(trial, p.tune)
    assert hp == {"lr": 0.01, "batch_size": 32, "l2": 1e-4, "dropout": 0.2}
    variant = with_overrides(base_params(p), trial_overrides(p.tune, hp))
    assert variant.train.optimizer.lr == 0.01 and variant.train.optimizer.batch_size == 32
    assert variant.train.regularization.l2 == 1e-4 and variant.model.mlp.dropout == 0.2
    assert variant.data.name == "gaussians" and variant.train.max_epochs == 3
    assert hp_from_params({"batch_size_log2": 7, "lr": 0.1}) == {
        "lr": 0.1,
        "batch_size": 128,
    }


def test_study_name_follows_what_defines_a_trial_value():
    p = params_with()
    name = study_name(p)
    assert name.startswith("tune-gaussians-mlp-") and len(name) == len("tune-gaussians-mlp-") + 8
    same = {  # how the study proceeds, or keys the search overrides anyway
        "tune.n_trials": 50,
        "tune.n_workers": 2,
        "tune.torch_threads": 2,
        "tune.storage": "sqlite:///x.db",
        "tune.heartbeat_interval": 5,
        "tune.grace_period": 300,
        "tune.pruner.name": "hyperband",
        "tune.sampler.n_startup_trials": 9,
        "train.optimizer.lr": 0.5,
        "data.poly.n_train": 99,
        "train.eval_batch_size": 128,
        "train.devices": 2,
        "train.ddp_timeout_s": 300,
        "train.selection.metric": "val/acc",  # what auto resolves to for loss ce
    }
    for key, value in same.items():
        assert study_name(with_overrides(p, {key: value})) == name, key
    different = {
        "tune.space.lr": [1e-3, 1e-1],
        "tune.max_epochs": 5,
        "train.selection.metric": "val/loss",
        "seed": 7,
        "train.optimizer.name": "adamw",
        "model.mlp.hidden": [8],
        "data.gaussians.n_train": 99,
    }
    for key, value in different.items():
        assert study_name(with_overrides(p, {key: value})) != name, key
    assert study_name(with_overrides(p, {"tune.study_name": "mine"})) == "mine"


# ---------------------------------------------------------------------------- bookkeeping
def _trial(state, **attrs):
    value = 1.0 if state == TrialState.COMPLETE else None
    return optuna.trial.create_trial(state=state, value=value, user_attrs=attrs)


def test_budget_counts_finished_trials_not_interrupted_ones():
    cases = [
        (_trial(TrialState.COMPLETE), "complete", True),
        (_trial(TrialState.PRUNED), "pruned", True),
        (_trial(TrialState.FAIL, status="diverged"), "diverged", True),
        (_trial(TrialState.FAIL, status="interrupted"), "interrupted", False),
        (_trial(TrialState.FAIL, status="error"), "error", False),
        (_trial(TrialState.FAIL, status="surplus"), "surplus", False),
        (_trial(TrialState.FAIL), "interrupted", False),  # its worker vanished (heartbeat)
        # killed after recording its outcome, before Optuna did: no value, so not counted
        (_trial(TrialState.FAIL, status="complete"), "interrupted", False),
        (_trial(TrialState.FAIL, status="pruned"), "interrupted", False),
    ]
    for t, expected, counted in cases:
        assert status(t) == expected
        assert counts_toward_budget(t) is counted


def test_pid_alive():
    import os

    assert pid_alive(os.getpid())
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    assert not pid_alive(int(done.stdout))


def test_stale_running_trials_of_dead_processes_are_failed(stores):
    p = params_with()
    storage = open_storage("studies/optuna.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    owners = {
        "dead": f"{socket.gethostname()}:{int(dead.stdout)}",
        "alive": owner_id(),
        "elsewhere": "another-host:1",
    }
    for owner in owners.values():
        study.ask().set_user_attr(OWNER, owner)
    study.ask()  # no owner: killed before its first attribute
    stale = fail_stale_trials(study, storage, p, shared=False)
    assert stale == [0, 3]
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state for t in trials] == [
        TrialState.FAIL,
        TrialState.RUNNING,
        TrialState.RUNNING,
        TrialState.FAIL,
    ]
    assert trials[0].user_attrs["status"] == "interrupted"
    assert not counts_toward_budget(trials[0])


def _numbered(states: list[TrialState]) -> list:
    trials = []
    for number, state in enumerate(states):
        t = _trial(state)
        t.number = number
        trials.append(t)
    return trials


def test_budget_is_taken_in_trial_number_order():
    C, R, W, F = TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING, TrialState.FAIL
    trials = _numbered([C, F, R, C, W, R, R])  # 0..6; the FAIL (1) was interrupted
    # budget 4: trials 0, 3 counted and 2, 4 live come first; 5 and 6 must give way
    assert [within_budget(trials, n, 4) for n in range(7)] == [True] * 5 + [False] * 2
    assert within_budget(trials, 6, 6)
    # room for one more trial: counted (0, 3) + running (2, 5, 6) = 5; the queued 4 is run next
    assert room_left(trials, 6) and not room_left(trials, 5)


def test_a_surplus_trial_gives_way_before_training(stores):
    p = params_with(n_trials=2)
    study = optuna.create_study(study_name="s", storage=open_storage("studies/j.log"))
    for _ in range(2):
        study.add_trial(_trial(TrialState.COMPLETE))
    splits = make_splits(base_params(p).data, p.seed)
    objective = Objective(p, splits, "no-parent-needed", "hash")
    t = run_one_trial(study, objective)
    assert t.state == TrialState.FAIL and status(t) == "surplus"
    assert "mlflow_run_id" not in t.user_attrs and not t.params  # no run, nothing sampled
    assert n_counted(study) == 2


def test_the_study_creator_records_the_parent_run_and_joiners_reuse_it(stores):
    p = params_with()
    storage = open_storage("studies/optuna.journal")
    made = []

    def new_run() -> str:
        made.append(tracking.start_run(p, "tune", "parent", {}))
        return made[-1]

    def joiner_must_not_create() -> str:
        raise AssertionError("a joining process created a parent run")

    first, created = open_study("s", storage, "minimize", None, None)
    assert created
    parent = study_parent_run(p, first, created, new_run)
    assert parent == made[0] and first.user_attrs["mlflow_parent_run_id"] == parent
    second, created = open_study("s", storage, "minimize", None, None)
    assert not created
    assert study_parent_run(p, second, created, joiner_must_not_create) == parent
    with pytest.raises(ConfigError, match="already exists with direction minimize"):
        open_study("s", storage, "maximize", None, None)


def test_a_joiner_waits_for_the_creator_to_record_the_parent(stores):
    storage = open_storage("studies/optuna.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    threading.Timer(0.5, lambda: study.set_user_attr("mlflow_parent_run_id", "abc")).start()
    t0 = time.monotonic()
    assert wait_for_parent(study, timeout_s=10) == "abc"
    assert 0.4 < time.monotonic() - t0 < 5
    # no creator will come: gives up after the bound instead of hanging
    lonely = optuna.create_study(study_name="lonely", storage=storage)
    assert wait_for_parent(lonely, timeout_s=0.3) is None


def test_a_study_from_before_shared_parents_gets_one_once(stores):
    p = params_with()
    storage = open_storage("studies/optuna.journal")
    legacy = optuna.create_study(study_name="old", storage=storage)
    legacy.add_trial(_trial(TrialState.COMPLETE))  # trials, but no recorded parent: adopt now
    t0 = time.monotonic()
    parent = study_parent_run(
        p, legacy, False, lambda: tracking.start_run(p, "tune", "old", {})
    )
    assert time.monotonic() - t0 < PARENT_WAIT_S / 2
    assert legacy.user_attrs["mlflow_parent_run_id"] == parent
    # two adopters racing: both end with the run that holds, the other's is dropped
    racing = optuna.create_study(study_name="race", storage=storage)
    held: list[str] = []
    threads = [
        threading.Thread(target=lambda r=r: held.append(claim_parent(racing, r, 0.5)))
        for r in ("run-a", "run-b")
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert held[0] == held[1] == racing.user_attrs["mlflow_parent_run_id"]


def test_a_stale_trial_is_closed_in_mlflow_and_retried_with_its_params(stores):
    p = params_with(heartbeat_interval=1, grace_period=2)
    storage = open_storage("sqlite:///optuna.db", p)
    study = optuna.create_study(study_name="s", storage=storage)
    with warnings.catch_warnings():  # ask() outside optimize: no heartbeat, fine here
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    run_id = tracking.start_run(p, "tune", "trial-0", {})
    for key, value in {"owner": "far-away:1", "mlflow_run_id": run_id, "batch_size": 32}.items():
        trial.set_user_attr(key, value)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # as the heartbeat does
    stale = study.trials[0]
    storage.get_heartbeat_stale_trial_callback()(study, stale)
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING and retry.params == stale.params
    assert retry.system_attrs["failed_trial"] == 0
    assert retry.user_attrs == {"retry_of": 0}  # its own owner, run and status to come
    assert status(study.trials[0]) == "interrupted"
    run = tracking.client(p).get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "interrupted"
    assert "no heartbeat for 2 s" in run.data.tags["optuna.reason"]


# --------------------------------------------------------------------------- summary math
ROWS = [
    {"trial": 0, "status": "complete", "value": 0.9, "lr": 1e-3, "batch_size": 32},
    {"trial": 1, "status": "pruned", "value": math.nan, "lr": 1e-2, "batch_size": 32},
    {"trial": 2, "status": "complete", "value": 0.7, "lr": 2e-3, "batch_size": 32},
    {"trial": 3, "status": "complete", "value": 0.8, "lr": 4e-3, "batch_size": 128},
    {"trial": 4, "status": "diverged", "value": math.nan, "lr": 1.0, "batch_size": 128},
    {"trial": 5, "status": "complete", "value": 0.75, "lr": 8e-3, "batch_size": 128},
]


def test_history_keeps_the_best_so_far():
    hist = history_rows(ROWS, "minimize")
    assert [h["trial"] for h in hist] == [0, 2, 3, 5]
    assert [h["best_so_far"] for h in hist] == [0.9, 0.7, 0.7, 0.7]
    assert [h["best_so_far"] for h in history_rows(ROWS, "maximize")] == [0.9, 0.9, 0.9, 0.9]


def test_best_lr_per_batch_size_and_its_scaling_slope():
    best = best_lr_per_batch(ROWS, "minimize")
    assert best == [
        {"batch_size": 32, "lr": 2e-3, "value": 0.7},
        {"batch_size": 128, "lr": 8e-3, "value": 0.75},
    ]
    # lr x4 for batch x4: linear scaling, slope 1
    assert loglog_slope([(b["batch_size"], b["lr"]) for b in best]) == pytest.approx(1.0)
    assert loglog_slope([(32, 1e-3), (128, 2e-3)]) == pytest.approx(0.5)  # square root
    # three points (1,1), (2,2), (4,2): least squares in log-log gives 1/2 (by hand)
    assert loglog_slope([(1, 1), (2, 2), (4, 2)]) == pytest.approx(0.5)
    assert loglog_slope([(32, 1e-3), (32, 2e-3)]) is None


def test_best_value_follows_the_direction():
    hist = [{"val/loss": 0.5, "val/acc": 0.8}, {"val/loss": math.nan}, {"val/loss": 0.4}]
    assert best_value(hist, "val/loss", "minimize") == 0.4
    assert best_value(hist, "val/acc", "maximize") == 0.8
    assert math.isnan(best_value([{"val/loss": math.inf}], "val/loss", "minimize"))


def _study_with(n_complete: int, n_pruned: int = 0) -> optuna.Study:
    """Complete trials whose value depends on lr only (batch size, l2: no effect)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    dists = {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "batch_size_log2": IntDistribution(4, 8),
        "l2": FloatDistribution(1e-6, 1e-2, log=True),
    }
    study, rng = optuna.create_study(), np.random.default_rng(0)
    for i in range(n_complete + n_pruned):
        x = {
            "lr": 10 ** rng.uniform(-4, -1),
            "batch_size_log2": int(rng.integers(4, 9)),
            "l2": 10 ** rng.uniform(-6, -2),
        }
        state = TrialState.COMPLETE if i < n_complete else TrialState.PRUNED
        value = (math.log10(x["lr"]) + 2.5) ** 2 if state == TrialState.COMPLETE else None
        study.add_trial(
            optuna.trial.create_trial(state=state, value=value, params=x, distributions=dists)
        )
    return study


def test_importances_count_as_a_ranking_only_from_enough_complete_trials():
    few = importance_record(_study_with(5, n_pruned=11), seed=0, min_trials=30)
    assert few["importance_reliable"] is False
    assert few["importance_trials"] == 5 and few["importance_min_trials"] == 30  # pruned: not
    assert set(few["importance"]) == {"lr", "batch_size", "l2"}  # kept, flagged as noise
    enough = importance_record(_study_with(30), seed=0, min_trials=30)
    assert enough["importance_reliable"] is True and enough["importance_trials"] == 30
    assert max(enough["importance"], key=enough["importance"].get) == "lr"  # the true driver
    assert importance_title(5, False).endswith("5 complete trials:\nnoise, not a ranking")
    assert importance_title(30, True) == "Hyperparameter importance from 30 complete trials"


def _with_pruned_and_diverged(study: optuna.Study) -> optuna.Study:
    """Adds one pruned trial (reported 0.3 at epoch 2) and one diverged one (FAIL, status)."""
    dists = study.trials[0].distributions
    params = study.trials[0].params
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=dists,
            intermediate_values={0: 0.9, 2: 0.3},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.FAIL,
            params=params,
            distributions=dists,
            user_attrs={STATUS: "diverged"},
        )
    )
    return study


def test_study_figures_are_optunas_with_ours_on_top(tmp_path, monkeypatch):
    """History: Optuna's complete trials and best-so-far, plus the pruned trial's last value and
    the diverged trial, both read from the trial rows; importances: Optuna's bars with the
    recorded values of `importance_record`, batch_size named as in the results, grey as noise
    below min trials, and fANOVA fitted once for the record and the figure together (the two
    calls the stage makes). Optuna's global ggplot style does not leak into later figures."""
    import matplotlib

    study = _with_pruned_and_diverged(_study_with(6))
    rows = trial_rows(study, params_with().tune)
    before = dict(matplotlib.rcParams)
    shown = {}

    def keep(fig, path):
        shown[Path(path).name] = fig.axes[0]
        return Path(path)

    monkeypatch.setattr(figures, "save_figure", keep)
    figures.history_figure(study, rows, "val/loss", "minimize", tmp_path / "h.png")
    ax = shown["h.png"]
    assert "pruned (last)" in [t.get_text() for t in ax.get_legend().get_texts()]
    crosses = [c for c in ax.collections if c.get_label() == "pruned (last)"][0]
    assert crosses.get_offsets().tolist() == [[6.0, 0.3]]  # trial 6, its last reported value
    assert [line.get_xdata()[0] for line in ax.lines if line.get_label() == "diverged"] == [7]
    assert ax.get_title() == "Optimization history (minimize val/loss)"

    fanova = optuna.importance.FanovaImportanceEvaluator
    fits, evaluate = [], fanova.evaluate
    monkeypatch.setattr(fanova, "evaluate", lambda *a, **k: fits.append(1) or evaluate(*a, **k))
    record = importance_record(study, seed=3, min_trials=30)
    figures.importance_figure(study, record, tmp_path / "i.png")
    assert len(fits) == 1  # the figure draws the recorded numbers, no second fANOVA fit
    ax = shown["i.png"]
    names = [t.get_text() for t in ax.get_yticklabels()]
    bars = {n: p.get_width() for n, p in zip(names, ax.patches, strict=True)}
    assert bars == pytest.approx(record["importance"]) and set(bars) == {"lr", "batch_size", "l2"}
    assert names == list(record["importance"])[::-1]  # the most important on top, as Optuna's
    assert all(p.get_facecolor()[:3] == pytest.approx((0.6, 0.6, 0.6)) for p in ax.patches)
    assert ax.get_title() == importance_title(6, reliable=False)
    few = importance_record(_study_with(2), seed=3, min_trials=30)
    figures.importance_figure(_study_with(2), few, tmp_path / "few.png")
    assert not shown["few.png"].patches  # "too few complete trials", no bars
    assert shown["few.png"].get_title() == importance_title(2, reliable=False)
    changed = {k for k in before if str(before[k]) != str(matplotlib.rcParams[k])}
    assert not changed


def test_the_report_does_not_rank_importances_from_too_few_trials():
    from genlab.stages.report.sections import tune_text

    m = {"importance": {"l2": 0.41, "batch_size": 0.30, "lr": 0.29}, "trials": {"complete": 5}}
    noisy = {**m, "importance_reliable": False, "importance_trials": 5, "importance_min_trials": 30}
    text = tune_text(noisy)
    assert "not shown as a ranking because only 5 trials completed (need 30)" in text
    assert "l2 0.41" not in text
    ranked = {**noisy, "importance_reliable": True, "importance_trials": 31}
    assert "Importance (fANOVA from 31 complete trials): l2 0.41, batch_size 0.30" in tune_text(
        ranked
    )


def test_the_importance_threshold_names_no_study_and_is_checked():
    p = params_with()
    bigger = with_overrides(p, {"tune.min_trials_for_importance": 100})
    assert study_name(bigger) == study_name(p)  # it changes no trial
    with pytest.raises(ConfigError, match="tune.min_trials_for_importance = 1"):
        params_with(min_trials_for_importance=1)


def test_search_never_sees_the_test_split():
    p = params_with()
    splits = make_splits(base_params(p).data, p.seed)
    seen = search_splits(splits)
    assert seen.x_test is splits.x_val and seen.y_test is splits.y_val
    assert seen.x_train is splits.x_train


def test_a_trial_run_is_named_by_what_it_tried():
    """`trial-3` said nothing in MLflow's runs table: the name leads with the trial number and
    the values it tried, each cut to 3 significant digits."""
    hp = {"lr": 0.0021317, "batch_size": 64, "l2": 1.234e-5}
    assert trial_run_name(3, hp, "l2") == "t3-lr0.00213-bs64-l2=1.23e-05"
    hp = {**hp, "dropout": 0.25}
    assert trial_run_name(3, hp, "l2").endswith("-dropout=0.25")
    assert study_run_name("tune-mnist1d-mlp-f67a3956") == "f67a3956-mnist1d-mlp"
    assert study_run_name("my-study") == "my-study"


@pytest.mark.parametrize(
    "state, status, tag",
    [
        ("complete", "FINISHED", "ok"),
        ("pruned", "FINISHED", "pruned"),
        ("diverged", "FAILED", "diverged"),
    ],
)
def test_a_trial_run_ends_with_its_outcome(stores, state, status, tag):
    """A pruned trial is a normal outcome of the search: its run ends FINISHED (not a red
    KILLED in MLflow's runs table) and says `pruned` in its tags. KILLED stays for trials whose
    worker was really stopped."""
    p = params_with()
    run_id = tracking.start_run(p, "tune", "trial", {})
    finish_trial_run(p, run_id, state, "why" if state != "complete" else "", 0.5, 2)
    run = tracking.client(p).get_run(run_id)
    assert run.info.status == status
    assert run.data.tags["optuna.state"] == state and run.data.tags["genlab.status"] == tag
    killed = tracking.start_run(p, "tune", "trial", {})
    close_run(p, killed, "interrupted", "KILLED", "worker gone")
    assert tracking.client(p).get_run(killed).info.status == "KILLED"
    # killed after its run ended but before Optuna recorded the trial: the trial does not
    # count (interrupted), so its FINISHED run is ended again as KILLED, with the reason
    finish_trial_run(p, run_id, state, "", 0.5, 2)
    close_run(p, run_id, "interrupted", "KILLED", "worker gone")
    run = tracking.client(p).get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "interrupted"
    assert run.data.tags["genlab.end_reason"] == "worker gone"


def test_unreachable_shared_storage_is_one_line_without_the_password():
    with pytest.raises(ValueError) as err:
        open_storage("postgresql+psycopg://genlab:s3cret@127.0.0.1:1/optuna")
    text = str(err.value)
    assert "127.0.0.1:1/optuna cannot be used" in text and "Connection refused" in text
    assert "s3cret" not in text and "\n" not in text


def test_a_parent_tag_written_by_two_joiners_at_once_is_written_again(stores, monkeypatch):
    """PostgreSQL refuses the second of two simultaneous first writes of a tag (duplicate
    key); `resume_parent` writes it again instead of failing the joining process's stage."""
    from mlflow.tracking import MlflowClient

    p = params_with()
    parent = tracking.start_run(p, "tune", "parent", {})
    real, calls = MlflowClient.set_tag, []

    def duplicate_once(self, run_id, key, value, *args, **kwargs):
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError('duplicate key value violates unique constraint "tag_pk"')
        return real(self, run_id, key, value, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_tag", duplicate_once)
    resume_parent(p, parent, {"genlab.n_trials": "8"})
    run = tracking.client(p).get_run(parent)
    assert calls == ["genlab.n_trials", "genlab.n_trials"]
    assert run.info.status == "RUNNING" and run.data.tags["genlab.n_trials"] == "8"


@pytest.mark.parametrize("error", [None, RuntimeError("figures failed")])
def test_the_stage_ends_the_shared_parent_only_once_the_study_gave_it_one(store, error):
    """The stage's block (`shared_parent`) ends the study's parent FINISHED after publishing,
    FAILED with the reason when publishing failed; an error before the study found its parent
    ends nothing (the run is shared: `run_study` decides)."""
    params, client = store
    run_id = tracking.start_run(params, "tune", "shared", {})
    with pytest.raises(RuntimeError), shared_parent(params):
        raise RuntimeError("the study failed to start")
    assert client.get_run(run_id).info.status == "RUNNING"
    try:
        with shared_parent(params) as parent:
            parent.run_id = run_id  # as `run` sets it once run_study returns
            if error is not None:
                raise error
    except RuntimeError:
        pass
    run = client.get_run(run_id)
    assert run.info.status == ("FINISHED" if error is None else "FAILED")
    if error is not None:
        assert run.data.tags["genlab.end_reason"] == "RuntimeError: figures failed"
