"""PostgreSQL for the team stack: Debian's server binaries, a throw-away cluster in
`<team dir>/postgres`, one role (`genlab`, generated password) owning the databases MLflow and
Optuna use. Runs as the `postgres` user when started by root (the server refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from genlab.team.process import ServiceError, port_open, require_free
from genlab.team.settings import DATABASES, DB_USER, TeamSettings, is_loopback

NAME = "PostgreSQL"


def bin_dir() -> Path:
    """The newest installed server version (Debian keeps them under /usr/lib/postgresql)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).parent
    raise ServiceError(
        f"{NAME}: server binaries (pg_ctl) not found: `make team-up` installs Debian's "
        "postgresql package (needs root and apt), or install PostgreSQL yourself"
    )


def _as_owner(cmd: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(_as_owner(cmd), capture_output=True, text=True, timeout=120, **kw)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ServiceError(f"{NAME}: {what} failed: {detail[-1] if detail else proc.returncode}")
    return proc


def data_dir(s: TeamSettings) -> Path:
    return s.root / "postgres" / "data"


def socket_dir(s: TeamSettings) -> Path:
    return s.root / "postgres" / "run"


def _prepare_dirs(s: TeamSettings) -> None:
    base = s.root / "postgres"
    for d in (base, socket_dir(s)):
        d.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(socket_dir(s), "postgres", "postgres")
        probe = subprocess.run(_as_owner(["test", "-w", str(base)]), capture_output=True)
        if probe.returncode != 0:
            raise ServiceError(
                f"{NAME}: the postgres user cannot reach {base}: make its parent directories "
                "traversable (chmod o+x) or set GENLAB_TEAM_DIR to a directory it can reach"
            )


def initialized(s: TeamSettings) -> bool:
    return (data_dir(s) / "PG_VERSION").exists()


def init(s: TeamSettings) -> None:
    """Create the cluster once: password auth over TCP, trust only on its private socket."""
    _prepare_dirs(s)
    if initialized(s):
        return
    pwfile = s.root / "postgres" / "pwfile"
    pwfile.write_text(s.secrets()["postgres_password"] + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    pwfile.chmod(0o600)
    try:
        _run(
            [
                str(bin_dir() / "initdb"),
                "-D", str(data_dir(s)),
                "-U", "postgres",
                "-E", "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if not is_loopback(s.host):  # teammates' workers connect from other hosts (password)
        with open(data_dir(s) / "pg_hba.conf", "a") as f:
            f.write("host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")


def running(s: TeamSettings) -> bool:
    if not initialized(s):
        return False
    proc = subprocess.run(
        _as_owner([str(bin_dir() / "pg_ctl"), "-D", str(data_dir(s)), "status"]),
        capture_output=True,
    )
    return proc.returncode == 0


def start(s: TeamSettings) -> None:
    port = s.ports["postgres"]
    require_free(NAME, s.host, port)
    init(s)
    # synchronous_commit=off: Optuna and MLflow commit many small rows; a crash of the machine
    # may lose the last fraction of a second, never corrupts the cluster (unlike fsync=off).
    opts = (
        f"-p {port} -k {socket_dir(s)} -c listen_addresses={s.host} "
        "-c synchronous_commit=off -c max_connections=200"
    )
    log = s.root / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    _run(
        [str(bin_dir() / "pg_ctl"), "-D", str(data_dir(s)), "-l", str(log), "-w", "-t", "60",
         "-o", opts, "start"],
        f"start (log: {log})",
    )
    ensure_databases(s)


def _psql(s: TeamSettings, sql: str, db: str = "postgres") -> str:
    cmd = [
        str(bin_dir() / "psql"), "-h", str(socket_dir(s)), "-p", str(s.ports["postgres"]),
        "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql,
    ]
    return _run(cmd, f"psql {sql.split()[0]}").stdout.strip()


def ensure_databases(s: TeamSettings) -> None:
    """The `genlab` role (its password from the stack's secrets) and its databases; idempotent.
    CREATE DATABASE cannot run inside a transaction, so each statement is its own call."""
    pw = s.secrets()["db_password"].replace("'", "''")
    if not _psql(s, f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'"):
        _psql(s, f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{pw}'")
    for db in DATABASES:
        if not _psql(s, f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
            _psql(s, f"CREATE DATABASE {db} OWNER {DB_USER}")


def stop(s: TeamSettings, discard: bool = False) -> bool:
    if not running(s):
        return False
    mode = "immediate" if discard else "fast"
    _run([str(bin_dir() / "pg_ctl"), "-D", str(data_dir(s)), "-m", mode, "-w", "stop"], "stop")
    return True


def describe(s: TeamSettings) -> str:
    up = running(s) and port_open(s.advertise, s.ports["postgres"])
    where = f"{s.advertise}:{s.ports['postgres']}"
    state = "running" if up else "stopped"
    return f"{NAME:<15} {state:<8} {where}  databases {', '.join(DATABASES)} (data {data_dir(s)})"
