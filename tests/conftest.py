"""Shared fixtures: the real params schema, shrunk so the true code path runs in seconds."""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from genlab.config import Params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """Each test process imports torch, Lightning and MLflow and keeps them, as a stage does."""
    from genlab.cli import gc_for_long_lived_imports

    gc_for_long_lived_imports()


def tiny_raw() -> dict:
    """The project's own params.yaml with budgets cut down (few samples, epochs, units)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["data"]["name"] = "gaussians"
    raw["data"]["gaussians"].update(n_train=120, n_val=60, n_test=200, bayes_mc_samples=5000)
    raw["data"]["mnist1d"]["num_samples"] = 400
    raw["model"]["mlp"]["hidden"] = [16]
    raw["model"]["cnn1d"].update(channels=[4], hidden=8)  # train_cnn: a few hundred weights
    raw["train"]["max_epochs"] = 4
    raw["train"]["optimizer"].update(name="adam", lr=0.01, batch_size=32)
    # Study sections, shrunk so each study stage runs in seconds (one block per study).
    # regularization: every variant, on a handful of samples and epochs
    raw["regularization"].update(n_train=80, max_epochs=4, patience=1, seeds=1)
    # train_seeds: the flagship once more, one other seed
    raw["train_seeds"]["seeds"] = 2
    # tune / train_best: 4 tiny trials of 3 epochs on the gaussians, pruning after 1 trial
    raw["tune"].update(data="gaussians", max_epochs=3, n_trials=4)
    raw["tune"]["sampler"]["n_startup_trials"] = 2
    raw["tune"]["pruner"].update(n_startup_trials=1, n_warmup_steps=1)
    # optimizers: every variant x 2 seeds, 3 epochs on the 120 gaussian samples (SGD: 120
    # updates/epoch)
    raw["optimizers"].update(dataset="gaussians", hidden=[8], max_epochs=3, batch_size=16, seeds=2)
    # lr_range: 2 batch sizes x 2 seeds, 30-step range tests, 2 epochs; GPU search 2 trials
    raw["lr_range"].update(
        dataset="gaussians", hidden=[8], batch_sizes=[8, 32], seeds=[1, 2], num_training=30
    )
    raw["lr_range"].update(epochs=2, max_batch_size={"enabled": True, "max_trials": 2})
    # polyfit: degrees 1, 2, 4, 20 (the curve degrees stay), 15 GD epochs; biasvar: K=12
    raw["polyfit"].update(degrees=[2], n_test=500)
    raw["polyfit"]["gd"]["max_epochs"] = 15
    raw["biasvar"]["draws"] = 12  # models per level; few levels, short training below
    raw["biasvar"]["regression"].update(degrees=[0, 3, 8], widths=[2, 8], grid_points=21)
    raw["biasvar"]["regression"]["mlp"].update(epochs=[5, 40], epoch_sweep_width=8)
    raw["biasvar"]["classification"].update(widths=[1, 4], test_points=50, n_train=30)
    raw["biasvar"]["classification"]["mlp"].update(epochs=[2, 20], epoch_sweep_width=4)
    # double_descent: 3 seeds x 3 widths, 200 of the 260 tiny MNIST-1D training signals, 4 epochs
    raw["double_descent"].update(
        n_train=200, widths=[2, 8, 32], epochs=4, batch_size=64, epoch_curve_points=3
    )
    return raw


@pytest.fixture
def raw_params() -> dict:
    return tiny_raw()


@pytest.fixture
def tiny_params() -> Params:
    return parse_params(tiny_raw())


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, its schema migrated once per session: migrating a new
    store takes about 1.5 s on a 2-core CPU, copying this one milliseconds."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("empty_store") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()  # creates the tables
    return db


def fresh_store(empty_store: Path, folder: Path) -> str:
    """A new, empty store `folder/mlflow.db` (a copy of `empty_store`); its sqlite URI."""
    db = folder / "mlflow.db"
    shutil.copyfile(empty_store, db)
    return f"sqlite:///{db}"


@pytest.fixture
def store(tmp_path, monkeypatch, tiny_params, empty_store):
    """Params recording into a fresh SQLite MLflow store, and a client on it (tracker tests)."""
    from mlflow.tracking import MlflowClient

    from genlab.config import with_overrides

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = fresh_store(empty_store, tmp_path)
    return with_overrides(tiny_params, {"tracking.tracking_uri": uri}), MlflowClient(uri)


# Team mode: the real shared stack, started once per session by the tests that ask for it.
from tests.team_stack import sshd, team_env, team_settings  # noqa: E402, F401


def pipeline_raw() -> dict:
    """tiny_raw on MNIST-1D (train_cnn trains, the shift augmentation runs), 2 regularization
    seeds (a spread): the params of the one reproduced pipeline the integration tests share."""
    raw = tiny_raw()
    raw["data"]["name"] = "mnist1d"
    raw["regularization"]["seeds"] = 2
    return raw


@dataclass(frozen=True)
class Reproduced:
    """A git+DVC copy of the project after one `dvc repro` of every stage, and what it printed."""

    path: Path
    stdout: str
    reads: Path  # the params keys each stage read: <stage>.<pid>.json (genlab.config.reads)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Reproduced:
    """The whole pipeline reproduced once per test run on `pipeline_raw` params, shared by every
    integration test that reads outputs, runs or tags. Read-only: a test that changes params,
    outputs or the store works on `copy_of` it. Under pytest-xdist (`make test`) the first
    worker that needs it builds it in the run's shared temporary directory while the others
    wait on a lock; then all of them read the one copy."""
    from filelock import FileLock

    from tests.repo_copy import make_repo_copy, sh

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    dst, log, reads = shared / "reproduced", shared / "reproduced.stdout", shared / "params_read"
    with FileLock(str(shared / "reproduced.lock")):
        if not log.exists():
            if dst.exists():
                pytest.fail("the shared tiny `dvc repro` failed in another worker (see there)")
            dst.mkdir()
            make_repo_copy(dst, pipeline_raw())
            out = sh(["dvc", "repro"], dst, timeout=1500, env={"GENLAB_PARAMS_READ": str(reads)})
            assert "Running stage 'report'" in out.stdout, out.stdout[-3000:]
            log.write_text(out.stdout)
    return Reproduced(dst, log.read_text(), reads)


def copy_of(repo: Path, dst: Path) -> Path:
    """A private copy of a reproduced repo (git, DVC cache, MLflow store and all): the copy's
    stages are up to date, so a test pays only for what it changes. DVC's `.dvc/tmp` (locks,
    hash cache) stays behind: another worker's DVC command may be changing it meanwhile."""

    def dvc_tmp(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == repo / ".dvc" else []

    shutil.copytree(repo, dst, symlinks=True, ignore=dvc_tmp)
    return dst


# ------------------------------------------------------------------ the order of a parallel run
# `make test` runs pytest-xdist with `--dist loadgroup`: a group's tests run on one worker, in
# this order. A module's tests form a group (they share module fixtures), the two team modules
# one (they share the stack); the tests of UNGROUPED modules each work on their own copy, so
# any worker takes any of them. The order keeps every worker busy while one builds
# `reproduced`, and leaves short work for the end:
#   1. a module that needs `reproduced` (its worker builds it);
#   2. the work that does not: team stack, stage processes on their own data, unit tests;
#   3. on the reproduced pipeline, the long work first: the tune group, then the tests marked
#      `long`, then the other ungrouped tests and the small groups, one at a time on whichever
#      worker is free, so that no worker is left alone with a long test at the end.
# The first module has more than 2 tests: xdist hands a worker whose group has 2 or fewer a
# second group at once, which would wait behind the build.
TEAM = {"test_team_mode.py", "test_team_study.py"}
UNGROUPED = {"test_train.py", "test_report.py"}
FIRST = ["test_distributed.py"]
WITHOUT_REPRODUCED = [
    *sorted(TEAM), "test_train_failures.py", "test_tracking.py", "test_tune_study.py",
    "test_cli.py", "test_dashboard.py",
]
LONG_GROUPS = ["test_tune.py"]


def _rank(item: pytest.Item) -> tuple[int, int]:
    name = item.path.name
    for rank, names in enumerate((FIRST, WITHOUT_REPRODUCED)):
        if name in names:
            return rank, names.index(name)
    if "unit" in item.path.parts:
        return 3, 0
    if "reproduced" not in item.fixturenames:
        return 2, 0
    if name in LONG_GROUPS:
        return 4, LONG_GROUPS.index(name)
    if item.get_closest_marker("long"):
        return 5, 0
    return (6, 0) if name in UNGROUPED else (7, 0)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in UNGROUPED and "unit" not in item.path.parts:
            continue  # no group: each test on its own copy of the reproduced pipeline
        group = "team" if item.path.name in TEAM else str(item.path.relative_to(ROOT))
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_rank)  # stable: each module keeps its own order


@pytest.hookimpl(optionalhook=True)  # an xdist hook, in the controller
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Under `--dist loadgroup` xdist marks each grouped test's id with `@group` (its
    scheduler reads nothing else). A pytest or xdist release that loses the mark would spread a
    module's tests over all workers, each building the module's fixtures (a team stack per
    worker): the run stops here instead of silently taking twice as long."""
    if node.config.getvalue("dist") == "loadgroup" and not any("@" in i for i in ids):
        pytest.exit(
            f"pytest-xdist's --dist loadgroup groups nothing under pytest {pytest.__version__} "
            "(pytest-xdist issue #1386): install the versions requirements.lock pins "
            "(`make setup`)", returncode=4,
        )
