"""Team stack settings and process helpers: no default password, stable secrets, overrides."""

from __future__ import annotations

import socket
import sys

import pytest

from genlab.team import process
from genlab.team.settings import DEFAULT_PORTS, TeamSettings, is_loopback


def test_secrets_are_generated_once_private_and_reused(tmp_path):
    s = TeamSettings(root=tmp_path)
    first = s.secrets()
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert len(set(first.values())) == len(first)  # no shared or default values
    assert TeamSettings(root=tmp_path).secrets() == first
    assert TeamSettings(root=tmp_path / "other").secrets() != first


def test_client_env_names_every_service(tmp_path):
    env = TeamSettings(root=tmp_path).env()
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:15000"
    assert env["OPTUNA_STORAGE"].startswith("postgresql+psycopg://genlab:")
    assert env["OPTUNA_STORAGE"].endswith("@127.0.0.1:15432/optuna")
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin" and env["MLFLOW_TRACKING_PASSWORD"]
    assert env["AWS_ENDPOINT_URL"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:18333"
    assert "MLFLOW_TRACKING_PASSWORD" not in TeamSettings(root=tmp_path, auth=False).env()


def test_environment_overrides_host_ports_and_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_TEAM_MLFLOW_PORT", "25000")
    monkeypatch.setenv("GENLAB_TEAM_DIR", str(tmp_path / "stack"))
    s = TeamSettings.from_env(tmp_path)
    assert s.ports == {**DEFAULT_PORTS, "mlflow": 25000}
    assert s.root == tmp_path / "stack"
    assert s.mlflow_uri == "http://127.0.0.1:25000"
    assert TeamSettings.from_env(tmp_path, host="0.0.0.0").advertise == socket.getfqdn()


@pytest.mark.parametrize(
    ("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                           ("0.0.0.0", False), ("10.1.2.3", False), ("build-host", False)]
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_taken_port_is_named():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        with pytest.raises(process.ServiceError, match=f"port 127.0.0.1:{port} is already in use"):
            process.require_free("MLflow", "127.0.0.1", port)


def test_a_service_that_dies_at_start_is_named_with_its_log(tmp_path):
    pid = process.spawn(
        [sys.executable, "-c", "import sys; print('bind failed: address in use'); sys.exit(3)"],
        tmp_path / "x.pid", tmp_path / "x.log",
    )
    with pytest.raises(process.ServiceError, match="exited at start: bind failed"):
        process.wait_until("X", lambda: False, pid, tmp_path / "x.log", timeout=10)


def test_stop_ends_the_process_and_forgets_the_pid(tmp_path):
    pidfile = tmp_path / "s.pid"
    pid = process.spawn([sys.executable, "-c", "import time; time.sleep(60)"], pidfile,
                        tmp_path / "s.log")
    assert process.read_pid(pidfile) == pid
    assert process.stop(pidfile, timeout=5)
    assert not process.alive(pid) and not pidfile.exists()
    assert process.stop(pidfile) is False  # idempotent


def test_missing_binary_is_one_line(tmp_path):
    with pytest.raises(process.ServiceError, match="not found"):
        process.spawn(["/nonexistent/weed"], tmp_path / "w.pid", tmp_path / "w.log")
