"""The team's MLflow tracking server: runs in PostgreSQL, artifacts proxied by the server
(`--serve-artifacts`) into the object store, so clients need no S3 keys and get
`mlflow-artifacts:/` URIs. MLflow's `basic-auth` app guards it: an admin with a generated
password, every other user READ by default. Without auth it may only listen on loopback.

One process: the job runner (7 more processes, ~1.2 GB) is switched off, it serves no purpose
for training runs.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from genlab.team import process
from genlab.team.settings import ADMIN_USER, MLFLOW_BUCKET, TeamSettings, is_loopback

NAME = "MLflow"


def _paths(s: TeamSettings) -> tuple[Path, Path, Path]:
    return s.root / "mlflow", s.root / "run" / "mlflow.pid", s.root / "logs" / "mlflow.log"


def running(s: TeamSettings) -> bool:
    return process.read_pid(_paths(s)[1]) is not None


def healthy(s: TeamSettings) -> bool:
    try:
        with urllib.request.urlopen(s.mlflow_uri + "/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def auth_config(s: TeamSettings) -> Path:
    """MLflow's basic-auth ini: users and permissions in their own PostgreSQL database."""
    base, _, _ = _paths(s)
    base.mkdir(parents=True, exist_ok=True)
    ini = base / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {s.db_url('mlflow_auth')}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each request re-hashes the password (~0.1 s of CPU): without this cache, a study's
        # trials wait on the server. A changed or removed user keeps access for up to 60 s.
        "auth_cache_ttl_seconds = 60\n"
    )
    ini.chmod(0o600)
    return ini


def start(s: TeamSettings) -> None:
    if not s.auth and not is_loopback(s.host):
        raise process.ServiceError(
            f"{NAME}: refusing to listen on {s.host} without authentication: drop --no-auth "
            "(basic-auth is required beyond loopback) or bind 127.0.0.1"
        )
    process.require_free(NAME, s.host, s.ports["mlflow"])
    _, pidfile, log = _paths(s)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    keys = s.secrets()
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s.s3_endpoint,
        "AWS_ACCESS_KEY_ID": keys["s3_access_key"],
        "AWS_SECRET_ACCESS_KEY": keys["s3_secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": keys["flask_secret_key"],
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config(s)),
        "MLFLOW_AUTH_ADMIN_PASSWORD": keys["mlflow_admin_password"],
    }
    args = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--host", s.host, "--port", str(s.ports["mlflow"]),
        "--backend-store-uri", s.db_url("mlflow"),
        "--serve-artifacts", "--artifacts-destination", f"s3://{MLFLOW_BUCKET}/artifacts",
        "--workers", "1",
    ]
    if s.auth:
        args += ["--app-name", "basic-auth"]
    if not is_loopback(s.host):  # teammates address the server by this host's name
        args += ["--allowed-hosts", f"{s.advertise},{s.advertise}:{s.ports['mlflow']},"
                 f"localhost:{s.ports['mlflow']},127.0.0.1:{s.ports['mlflow']}"]
    pid = process.spawn(args, pidfile, log, env=env)
    process.wait_until(NAME, lambda: healthy(s), pid, log, timeout=90)


def stop(s: TeamSettings, discard: bool = False) -> bool:
    return process.stop(_paths(s)[1])


def describe(s: TeamSettings) -> str:
    state = "running" if running(s) and healthy(s) else "stopped"
    auth = "basic-auth" if s.auth else "no auth (loopback only)"
    return f"{NAME:<15} {state:<8} {s.mlflow_uri}  {auth}, artifacts s3://{MLFLOW_BUCKET}/"
