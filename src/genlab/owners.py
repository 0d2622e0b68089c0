"""Which process owns a run or a trial (`host:pid`), and whether that process is gone.

Runs and trials record their owner so that a later start can tell a run left RUNNING by a
killed process (close it) from one still working (leave it), without a server-side lease.
Only this host's processes can be checked; other machines' trials rely on Optuna heartbeats.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def owner_id() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """False for a process that is gone or a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_gone(owner: str) -> bool:
    """True only when `owner` is a process of this host that no longer runs."""
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))
