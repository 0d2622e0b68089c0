"""The local team stack as one unit: start in dependency order (database and object store,
then the MLflow server on both), stop in reverse, report where each service listens. Starting
is idempotent and all-or-nothing: what runs is left alone, and when one service fails the ones
this call started are stopped again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from genlab.team import mlflow_server, objectstore, postgres
from genlab.team.process import ServiceError
from genlab.team.settings import TeamSettings

SERVICES = (postgres, objectstore, mlflow_server)
ENV_FILE = "team.env"
REMOTE = "team"


def saved(root: Path) -> TeamSettings | None:
    """The settings the stack under `root` was started with (ports, host, auth)."""
    path = root / "stack.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return TeamSettings(root=root, host=raw["host"], ports=raw["ports"], auth=raw["auth"])


def _save(s: TeamSettings) -> None:
    data = {k: v for k, v in asdict(s).items() if k != "root"}
    (s.root / "stack.json").write_text(json.dumps(data, indent=1) + "\n")


def up(s: TeamSettings, log=print) -> list[str]:
    """Start whatever is not running; returns the names of the services this call started."""
    previous = saved(s.root)
    if previous is not None and any(svc.running(previous) for svc in SERVICES):
        if (previous.host, previous.ports, previous.auth) != (s.host, s.ports, s.auth):
            log(f"team stack in {s.root} already runs with {previous.host} and its own ports: "
                "keeping them (`make team-down` first to change them)")
        s = previous
    s.root.mkdir(parents=True, exist_ok=True)
    s.secrets()
    _save(s)
    started = []
    try:
        for svc in SERVICES:
            if svc.running(s):
                log(f"{svc.NAME}: already running")
                if svc is postgres:
                    postgres.ensure_databases(s)
                continue
            log(f"{svc.NAME}: starting ...")
            svc.start(s)
            started.append(svc)
    except BaseException:
        for svc in reversed(started):
            svc.stop(s, discard=True)
        raise
    return [svc.NAME for svc in started]


def down(s: TeamSettings, log=print, discard: bool = False) -> None:
    """Stop every service; `discard`: the data is thrown away next, skip graceful shutdown."""
    s = saved(s.root) or s
    for svc in reversed(SERVICES):
        try:
            stopped = svc.stop(s, discard=discard)
        except ServiceError as err:
            log(f"{svc.NAME}: {err}")
            continue
        log(f"{svc.NAME}: {'stopped' if stopped else 'was not running'}")


def status(s: TeamSettings) -> list[str]:
    s = saved(s.root) or s
    return [svc.describe(s) for svc in SERVICES]


def write_env(s: TeamSettings, path: Path) -> Path:
    """`export` lines a shell sources (`source team.env`); mode 0600, it holds credentials."""
    lines = [
        "# genlab team stack: `source team.env` in every shell that runs stages or studies.",
        "# Written by `make team-up`; git-ignored, it holds credentials. For a team's own",
        "# servers, set the same variables to their addresses (README, Team mode).",
    ]
    lines += [f"export {k}='{v}'" for k, v in s.env().items()]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def configure_dvc_remote(s: TeamSettings, project: Path, name: str = REMOTE) -> None:
    """The object store as the default DVC remote, in `.dvc/config.local` (keys stay local).
    `--` ends the options: a generated key may begin with `-` (token_urlsafe)."""
    env = s.env()
    dvc = str(Path(sys.executable).parent / "dvc")
    steps = [
        ["remote", "add", "--local", "--default", "--force", name, env["GENLAB_DVC_REMOTE_URL"]],
        ["remote", "modify", "--local", "--", name, "endpointurl", env["AWS_ENDPOINT_URL"]],
        ["remote", "modify", "--local", "--", name, "access_key_id", env["AWS_ACCESS_KEY_ID"]],
        ["remote", "modify", "--local", "--", name, "secret_access_key",
         env["AWS_SECRET_ACCESS_KEY"]],
    ]
    for step in steps:
        proc = subprocess.run([dvc, *step], cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServiceError(f"DVC remote: `dvc {' '.join(step[:3])}` failed: "
                               f"{(proc.stderr or proc.stdout).strip()}")
