"""Background service processes: start detached with a PID file and a log, wait until ready,
stop by PID. Enough for a local stack without systemd, and nothing is left running when a
start fails (the caller stops what it started)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from genlab.owners import pid_alive


class ServiceError(RuntimeError):
    """A team service could not be started, reached or stopped (one line says which and why)."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(taken: set[int]) -> int:
    """A free 127.0.0.1 port below 55535 whose +10000 twin (SeaweedFS gRPC) is free too:
    for stacks beside others (tests, benchmarks). `taken` collects what was handed out."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 55535 or port in taken or port + 10000 in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        taken.update({port, port + 10000})
        return port


def require_free(name: str, host: str, port: int) -> None:
    """Fail before starting `name` when its port is taken by another program."""
    if port_open(host, port):
        raise ServiceError(
            f"{name}: port {host}:{port} is already in use by another program; stop it or "
            f"choose another port (see `python -m genlab.team up --help`)"
        )


def read_pid(pidfile: Path) -> int | None:
    """The PID recorded in pidfile if that process still runs, else None."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


alive = pid_alive


def spawn(
    args: list[str], pidfile: Path, log: Path, env: dict[str, str] | None = None, cwd=None
) -> int:
    """Start a detached process (own session: a Ctrl-C in the caller's terminal spares it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ServiceError(
                f"{args[0]} not found: run `make team-up` (it installs what the stack needs)"
            ) from None
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_until(
    name: str, ready: Callable[[], bool], pid: int | None, log: Path, timeout: float
) -> None:
    """Poll `ready` until true; fail with the log's last line when the process dies or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not alive(pid):
            raise ServiceError(f"{name} exited at start: {last_line(log)} (log: {log})")
        time.sleep(0.2)
    raise ServiceError(f"{name} not ready after {timeout:.0f} s: {last_line(log)} (log: {log})")


def last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip()[:300] if lines else "empty log"


def stop(pidfile: Path, timeout: float = 15.0) -> bool:
    """SIGTERM the process group recorded in pidfile, SIGKILL after timeout; True if it ran."""
    pid = read_pid(pidfile)
    pidfile.unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return True
            time.sleep(0.1)
    return True
