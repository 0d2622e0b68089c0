"""Session fixtures for team mode: the real stack (PostgreSQL, SeaweedFS S3, MLflow server with
basic-auth) on free 127.0.0.1 ports in a throw-away directory, stopped by PID at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from genlab.team import postgres, stack
from genlab.team.process import ServiceError, free_port, port_open
from genlab.team.settings import DEFAULT_PORTS, TeamSettings


def team_unavailable() -> str | None:
    """Why the stack cannot run here (a skip reason), or None."""
    try:
        postgres.bin_dir()
    except ServiceError as err:
        return str(err)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser missing: cannot start PostgreSQL as the postgres user"
    try:
        import boto3  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as err:
        return f"team extra not installed ({err}): pip install -e '.[team]'"
    return None


def reachable_dir() -> Path:
    """A fresh directory the postgres user can reach (pytest's tmp dirs are root-only)."""
    root = Path(tempfile.mkdtemp(prefix="genlab-team-"))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def team_settings():
    """A running team stack; yields its TeamSettings (use `.env()` for client variables)."""
    reason = team_unavailable()
    if reason:
        pytest.skip(f"team stack unavailable: {reason}")
    root = reachable_dir()
    taken: set[int] = set()
    s = TeamSettings(root=root, ports={name: free_port(taken) for name in DEFAULT_PORTS})
    try:
        stack.up(s, log=lambda *_: None)
    except ServiceError:
        stack.down(s, log=lambda *_: None, discard=True)
        raise
    yield s
    stack.down(s, log=lambda *_: None, discard=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def team_env(team_settings, monkeypatch) -> dict[str, str]:
    """The stack's client variables, set in this process for the test."""
    env = team_settings.env()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """An OpenSSH server on a free 127.0.0.1 port accepting one generated key (a DVC SSH
    remote's far end). Yields (port, user, private key path)."""
    exe = Path("/usr/sbin/sshd")
    if not exe.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server missing: `make team-deps` installs Debian's openssh-server")
    if os.geteuid() != 0:
        pytest.skip("sshd on a private config needs root here")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port(set())
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        f"PidFile {d / 'sshd.pid'}\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([str(exe), "-D", "-f", str(config), "-E", str(d / "sshd.log")])
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"sshd did not start: {(d / 'sshd.log').read_text()[-500:]}")
        time.sleep(0.1)
    yield port, "root", d / "client_key"
    proc.terminate()
    proc.wait(timeout=10)
