"""Scale-out training (DDP): the `train` stage on two processes.

The tests run the real `pipelines/train.py` as Lightning's `ddp` (via `dvc repro`),
`ddp_spawn` and two torchrun "nodes" on 127.0.0.1 would, on CPU with gloo, and compare each with
the one-process run of the same params: same per-epoch numbers (the global batch is split, the
gradients averaged, the evaluation sums all-reduced), one MLflow run, no file from another rank.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genlab.team.process import free_port
from tests.conftest import copy_of, tiny_raw
from tests.repo_copy import sh, write_params

# One process vs two: the same global batches, so only float summation order differs.
TOLERANCE = 1e-4


# ------------------------------------------------------------------------ the train stage
def _history(repo: Path) -> list[dict[str, float]]:
    with (repo / "plots/train/history.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _train_runs(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT r.run_uuid, r.status FROM runs r JOIN experiments e "
            "ON r.experiment_id = e.experiment_id WHERE e.name = 'genlab/train' "
            "ORDER BY r.start_time"
        ).fetchall()


def _files(repo: Path) -> set[str]:
    skip = (".git/", ".dvc/", "mlartifacts/", "mlflow.db")
    return {
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.is_file() and not str(p.relative_to(repo)).startswith(skip)
    }


def _assert_same_as_one_process(repo: Path, baseline: list[dict[str, float]]) -> None:
    got = _history(repo)
    assert [r["epoch"] for r in got] == [r["epoch"] for r in baseline]
    for mine, ref in zip(got, baseline, strict=True):
        assert mine["updates"] == ref["updates"]  # same global batches per epoch
        for key in ("train/loss", "val/loss", "test/loss", "train/acc", "test/acc"):
            assert mine[key] == pytest.approx(ref[key], abs=TOLERANCE), key


@pytest.fixture(scope="module")
def ddp_repo(reproduced, tmp_path_factory):
    """A copy of the session's reproduced pipeline, with `train` up to date on one process."""
    work = copy_of(reproduced.path, tmp_path_factory.mktemp("ddp") / "repo")
    raw = tiny_raw()
    raw["data"]["name"] = "mnist1d"
    write_params(work, raw)
    sh(["dvc", "repro", "-s", "train"], work)  # nothing to do unless the copy was changed
    return work, raw, _history(work)


@pytest.mark.slow
def test_dvc_repro_on_two_processes_leaves_what_one_process_leaves(ddp_repo):
    repo, raw, baseline = ddp_repo
    runs, files = _train_runs(repo / "mlflow.db"), _files(repo)
    raw = {**raw, "train": {**raw["train"], "devices": 2, "strategy": "ddp"}}
    write_params(repo, raw)
    out = sh(["dvc", "repro", "-s", "train"], repo)
    assert "Running stage 'train'" in out.stdout
    _assert_same_as_one_process(repo, baseline)
    after = _train_runs(repo / "mlflow.db")
    assert len(after) == len(runs) + 1 and after[-1][1] == "FINISHED"  # rank 0's run only
    assert _files(repo) == files  # no per-rank checkpoint, history or log
    assert sorted(p.name for p in (repo / "models").iterdir()) == [
        "model.ckpt", "resolved_params.yaml", "train.json",
    ]


@pytest.mark.slow
def test_ddp_spawn_hands_the_history_back(ddp_repo):
    repo, raw, baseline = ddp_repo
    runs = _train_runs(repo / "mlflow.db")
    write_params(repo, {**raw, "train": {**raw["train"], "devices": 2, "strategy": "ddp_spawn"}})
    sh([sys.executable, "pipelines/train.py"], repo)
    _assert_same_as_one_process(repo, baseline)
    assert len(_train_runs(repo / "mlflow.db")) == len(runs) + 1


def _torchrun(repo: Path, node: int, port: int, env: dict | None = None) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "torchrun"), "--nnodes=2", "--nproc_per_node=1", f"--node_rank={node}",
        "--master_addr=127.0.0.1", f"--master_port={port}", "pipelines/train.py",
    ]
    full = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    full.pop("MLFLOW_TRACKING_URI", None)  # the copy's own store unless `env` names one
    full.update(env or {})
    return subprocess.Popen(
        cmd, cwd=repo, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_two_torchrun_nodes_train_like_one_process(ddp_repo):
    repo, raw, baseline = ddp_repo
    runs = _train_runs(repo / "mlflow.db")
    write_params(repo, {**raw, "train": {**raw["train"], "num_nodes": 2}})
    port = free_port(set())
    nodes = [_torchrun(repo, n, port) for n in (0, 1)]
    for node in nodes:
        out, err = node.communicate(timeout=180)
        assert node.returncode == 0, err[-3000:]
    _assert_same_as_one_process(repo, baseline)
    assert len(_train_runs(repo / "mlflow.db")) == len(runs) + 1


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (torchrun starts its workers in their own session)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


@pytest.mark.slow
def test_a_dead_node_stops_the_other_with_one_line_and_a_failed_run(ddp_repo, tmp_path):
    repo, raw, _ = ddp_repo
    work = tmp_path / "repo"
    shutil.copytree(repo, work, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db", ".dvc"))
    long = {**raw["train"], "num_nodes": 2, "max_epochs": 5000}
    long["early_stopping"] = {**raw["train"]["early_stopping"], "enabled": False}
    write_params(work, {**raw, "train": long})
    db = tmp_path / "runs.db"
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    port = free_port(set())
    nodes = [_torchrun(work, n, port, env) for n in (0, 1)]
    deadline = time.monotonic() + 90
    while not (db.exists() and _train_runs(db)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _train_runs(db), nodes[0].stderr.read() if nodes[0].poll() is not None else "no run"
    time.sleep(3)  # training under way
    for pid in [nodes[1].pid, *_descendants(nodes[1].pid)]:  # node 1 dies: agent and worker
        os.kill(pid, signal.SIGKILL)
    start = time.monotonic()
    try:
        _, err = nodes[0].communicate(timeout=90)
    finally:
        for pid in [nodes[0].pid, *_descendants(nodes[0].pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert time.monotonic() - start < 60
    assert nodes[0].returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("genlab train:")]
    assert len(ours) == 1 and "another training process" in ours[0], err[-3000:]
    assert _train_runs(db)[-1][1] == "FAILED"
