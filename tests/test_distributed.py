"""Scale-out training (DDP): the sharding arithmetic, and the `train` stage on two processes.

The stage-level tests run the real `pipelines/train.py` as Lightning's `ddp` (via `dvc repro`),
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
import torch

from genlab.config import parse_params
from genlab.data.datamodule import InMemoryBatches, shard
from genlab.distributed import check_splittable, launch_rank, peer_failure
from genlab.team.process import free_port
from genlab.training import accelerator, one_device
from tests.conftest import tiny_raw
from tests.repo_copy import sh, write_params

# One process vs two: the same global batches, so only float summation order differs.
TOLERANCE = 1e-4


# ------------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(("n", "batch", "world"), [(600, 64, 2), (601, 64, 2), (100, 32, 3)])
def test_ranks_split_each_global_batch_and_agree_on_the_count(n, batch, world):
    x, y = torch.arange(n).float().unsqueeze(1), torch.arange(n)
    ranks = [
        list(InMemoryBatches(x, y, batch, True, seed=3, rank=r, world=world)) for r in range(world)
    ]
    assert len({len(r) for r in ranks}) == 1  # same number of steps on every rank, else DDP waits
    one = list(InMemoryBatches(x, y, batch, True, seed=3))
    for step, parts in enumerate(zip(*ranks, strict=True)):
        joined = torch.cat([xb for xb, _ in parts])
        assert all(len(xb) >= 2 for xb, _ in parts)
        if step < len(one):
            assert torch.equal(joined, one[step][0])  # rank parts make up the global batch


def test_one_process_keeps_the_trailing_batch_rule():
    x, y = torch.zeros(66, 1), torch.zeros(66)
    assert [len(b[0]) for b in InMemoryBatches(x[:65], y[:65], 64, shuffle=False)] == [64]
    assert [len(b[0]) for b in InMemoryBatches(x, y, 64, shuffle=False)] == [64, 2]


def test_evaluation_shards_cover_the_split_once():
    x, y = torch.arange(11).float(), torch.arange(11)
    parts = [shard(x, y, r, 3)[1] for r in range(3)]
    assert torch.equal(torch.cat(parts), y)


def test_too_small_batches_and_sgd_are_refused_with_the_key(tiny_params):
    two = tiny_params.train.model_copy(update={"devices": 2})
    with pytest.raises(ValueError, match="batch_size 3 is too small.*use ≥ 4"):
        check_splittable(two, 3)
    sgd = two.model_copy(update={"optimizer": two.optimizer.model_copy(update={"name": "sgd"})})
    with pytest.raises(ValueError, match="'sgd' updates on one sample"):
        check_splittable(sgd, 1)
    check_splittable(two, 4)


def test_mixed_precision_on_cpu_is_refused():
    raw = tiny_raw()
    raw["train"].update(accelerator="cpu", precision="bf16-mixed")
    with pytest.raises(ValueError, match="precision 'bf16-mixed' needs a GPU"):
        parse_params(raw)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.precision '16-mixed' needs a GPU"):
            accelerator("auto", "16-mixed")


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"LOCAL_RANK": "1", "NODE_RANK": "0"}, 1),
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 1000),
        ({"RANK": "3", "LOCAL_RANK": "0"}, 3),
        ({"SLURM_PROCID": "0", "LOCAL_RANK": "0"}, 0),
    ],
)
def test_launch_rank_reads_each_launcher(monkeypatch, env, rank):
    for var in ("RANK", "SLURM_PROCID", "NODE_RANK", "GROUP_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert launch_rank() == rank


def test_studies_stay_on_one_process(tiny_params, monkeypatch, capsys):
    two = tiny_params.model_copy(
        update={"train": tiny_params.train.model_copy(update={"devices": 2})}
    )
    assert one_device(two).train.world_size == 1
    assert "apply to the train and train_best stages" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="without torchrun"):
        one_device(tiny_params)


def test_a_dead_peer_is_told_apart_from_a_bug():
    gone = RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]")
    assert peer_failure(gone)
    assert not peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


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
def ddp_repo(tiny_pipeline, tmp_path_factory):
    """A copy of the session's tiny pipeline, with `train` up to date on one process."""
    work = tmp_path_factory.mktemp("ddp") / "repo"
    shutil.copytree(tiny_pipeline, work, symlinks=True)
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


def test_one_process_gets_no_process_group(tiny_params):
    from genlab.distributed import strategy

    auto = tiny_params.train.model_copy(update={"devices": "auto"})
    assert strategy(auto, "cpu") == "auto"  # `devices: auto` on a CPU is one process
    assert strategy(tiny_params.train, "cpu") == "auto"
    two = tiny_params.train.model_copy(update={"devices": 2})
    assert type(strategy(two, "cpu")).__name__ == "DDPStrategy"
