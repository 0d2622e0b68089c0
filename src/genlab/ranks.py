"""Which process this is in a DDP job, read from what its launcher set, before any process
group (or Lightning) exists.

Only rank 0 creates runs and writes outputs (`genlab.distributed` says why). A stage asks
before it has imported Lightning, so that a bad input or a store that is down ends it in about
a second: the launchers' variables say enough.
"""

from __future__ import annotations

import os


def launch_rank() -> int:
    """This process's global rank as its launcher set it, before any Trainer exists.

    torchrun sets RANK, srun SLURM_PROCID; Lightning's `ddp` gives the processes it starts
    LOCAL_RANK ≥ 1, and each node's first process NODE_RANK. No variable: a lone process, 0.
    """
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    node = int(os.environ.get("NODE_RANK") or os.environ.get("GROUP_RANK") or 0)
    local = int(os.environ.get("LOCAL_RANK") or 0)
    return node * 1_000 + local  # only "is it 0" matters before the process group exists


def is_primary() -> bool:
    """Whether this process creates runs and writes outputs (global rank 0)."""
    return launch_rank() == 0


def launched_world_size() -> int:
    """Processes an external launcher (torchrun, srun) started for this job; 1 without one."""
    for var in ("WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1
