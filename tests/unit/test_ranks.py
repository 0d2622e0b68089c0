"""genlab.ranks: the rank each launcher gives a process, read before Lightning exists."""

from __future__ import annotations

import pytest

from genlab.ranks import launch_rank, launched_world_size


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


def test_world_size_comes_from_an_external_launcher_only(monkeypatch):
    for var in ("WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(var, raising=False)
    assert launched_world_size() == 1
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    assert launched_world_size() == 4
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched_world_size() == 2
