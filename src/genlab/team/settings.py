"""Where the local team stack lives, which ports it takes and the credentials it generates.

Everything has a default (127.0.0.1, fixed ports, `.team/` in the project) and an environment
override (`GENLAB_TEAM_HOST`, `GENLAB_TEAM_DIR`, `GENLAB_TEAM_<SERVICE>_PORT`). Credentials are
generated once, on the first `up`, into `.team/secrets.json` (mode 0600): there is no default
password anywhere, and a restarted stack keeps the ones its data was created with.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

# HTTP ports stay below 55535: SeaweedFS puts each gRPC port at HTTP port + 10000.
DEFAULT_PORTS = {
    "postgres": 15432,
    "mlflow": 15000,
    "s3": 18333,
    "master": 19333,
    "volume": 18080,
    "filer": 18888,
}
MLFLOW_BUCKET, DVC_BUCKET = "genlab-mlflow", "genlab-dvc"
DB_USER, ADMIN_USER = "genlab", "admin"
DATABASES = ("mlflow", "mlflow_auth", "optuna")  # runs, MLflow users/permissions, studies


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TeamSettings:
    """The stack's layout. `host` is what the services bind; clients use `advertise`."""

    root: Path
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    auth: bool = True  # MLflow basic-auth; may only be off on loopback

    @classmethod
    def from_env(cls, project: Path | None = None, **overrides) -> TeamSettings:
        project = Path(project or Path.cwd())
        root = Path(os.environ.get("GENLAB_TEAM_DIR") or project / ".team")
        ports = {
            name: int(os.environ.get(f"GENLAB_TEAM_{name.upper()}_PORT", default))
            for name, default in DEFAULT_PORTS.items()
        }
        kwargs = {
            "root": root.resolve(),
            "host": os.environ.get("GENLAB_TEAM_HOST", "127.0.0.1"),
            "ports": ports,
        }
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)

    @property
    def advertise(self) -> str:
        """The address teammates' clients use: the bind address, or this host's name when the
        services listen on every interface."""
        if self.host in ("0.0.0.0", "::"):
            return socket.getfqdn()
        return self.host

    def secrets(self) -> dict[str, str]:
        """Generated on first use, then read back: the stored data was made with them."""
        path = self.root / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        self.root.mkdir(parents=True, exist_ok=True)
        values = {
            "postgres_password": secrets.token_urlsafe(24),
            "db_password": secrets.token_urlsafe(24),
            "s3_access_key": "genlab" + secrets.token_hex(6),
            "s3_secret_key": secrets.token_urlsafe(30),
            "mlflow_admin_password": secrets.token_urlsafe(18),
            "flask_secret_key": secrets.token_hex(32),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(values, f, indent=1)
        return values

    # ------------------------------------------------------------------ client addresses
    def db_url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver, named explicitly) of one of the stack's databases."""
        pw = self.secrets()["db_password"]
        return (
            f"postgresql+psycopg://{DB_USER}:{pw}@{self.advertise}:"
            f"{self.ports['postgres']}/{database}"
        )

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.advertise}:{self.ports['mlflow']}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.advertise}:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        """What a client (clone, teammate, CI job) needs to use the stack; `team.env` holds it."""
        s = self.secrets()
        env = {
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "OPTUNA_STORAGE": self.db_url("optuna"),
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": s["s3_access_key"],
            "AWS_SECRET_ACCESS_KEY": s["s3_secret_key"],
            "GENLAB_DVC_REMOTE_URL": f"s3://{DVC_BUCKET}/cache",
        }
        if self.auth:
            env["MLFLOW_TRACKING_USERNAME"] = ADMIN_USER
            env["MLFLOW_TRACKING_PASSWORD"] = s["mlflow_admin_password"]
        return env
