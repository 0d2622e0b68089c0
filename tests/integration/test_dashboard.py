"""`make dashboard`: optuna-dashboard is a locked dev dependency and serves the project's study
on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import yaml

from tests.conftest import tiny_raw
from tests.repo_copy import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(addr)
    return found


def test_optuna_dashboard_is_a_locked_dev_dependency():
    lock = (ROOT / "requirements.lock").read_text()
    assert "\noptuna-dashboard==" in lock and "# via optuna-dashboard" in lock
    assert "pip install optuna-dashboard" not in (ROOT / "README.md").read_text()
    dry = subprocess.run(["make", "-n", "dashboard"], cwd=ROOT, capture_output=True, text=True)
    assert "genlab.stages.tune.dashboard" in dry.stdout, dry.stdout + dry.stderr


def test_dashboard_serves_the_study_on_loopback_only(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    raw = tiny_raw()
    raw["tune"]["storage"] = "studies/optuna.journal"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    journal = tmp_path / "studies/optuna.journal"
    journal.parent.mkdir()
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="tiny-study", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)

    port = _free_port()
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path)}
    env.pop("OPTUNA_STORAGE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "genlab.stages.tune.dashboard", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        body, deadline = None, time.monotonic() + 60
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies") as r:
                    body = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.3)
        assert body is not None, "the dashboard did not answer within 60 s"
        assert [s["study_name"] for s in body["study_summaries"]] == ["tiny-study"]
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_dashboard_without_a_study_says_what_to_run(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_raw()))
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path)}
    env.pop("OPTUNA_STORAGE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "genlab.stages.tune.dashboard"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "dvc repro tune" in proc.stderr
