"""Team mode end to end, against the real shared stack (PostgreSQL, S3 store, MLflow server
with basic-auth): clone A reproduces and pushes, a fresh clone B pulls and recomputes nothing
while seeing A's runs on the shared server; the server's auth refuses anonymous and read-only
writes; `make team-up`'s pieces are idempotent and fail with one line."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from genlab.team import stack
from genlab.team.process import ServiceError, free_port
from genlab.team.settings import TeamSettings
from genlab.tracking import file_sha256
from tests.conftest import tiny_raw
from tests.repo_copy import BIN, make_repo_copy, sh
from tests.team_stack import reachable_dir

pytestmark = pytest.mark.slow
TARGET = "evaluate"  # prepare → train → evaluate: data, a model, metrics and an MLflow run
GIT = ["git", "-c", "user.email=test@genlab", "-c", "user.name=test"]


def tracked_outputs(repo: Path) -> dict[str, bytes]:
    files = sh(["git", "ls-files", "metrics", "results", "plots", "dvc.lock"], repo).stdout.split()
    return {f: (repo / f).read_bytes() for f in files}


@pytest.fixture(scope="module")
def clones(team_settings, tmp_path_factory):
    """Clone A: repro + commit + `dvc push --run-cache`. Clone B: fresh clone, `dvc pull`."""
    env = team_settings.env()
    raw = tiny_raw()
    raw["data"]["name"] = "mnist1d"
    a = make_repo_copy(tmp_path_factory.mktemp("clone_a"), raw)
    stack.configure_dvc_remote(team_settings, a)
    sh(["dvc", "repro", TARGET], a, env=env)
    sh([*GIT, "add", "-A"], a)
    sh([*GIT, "commit", "-qm", "results"], a)
    pushed = sh(["dvc", "push", "--run-cache"], a, env=env).stdout
    b = tmp_path_factory.mktemp("clone_b") / "repo"
    sh(["git", "clone", "-q", str(a), str(b)], a)
    stack.configure_dvc_remote(team_settings, b)
    pulled = sh(["dvc", "pull", "--with-deps", TARGET], b, env=env).stdout
    return a, b, env, pushed, pulled


def test_fresh_clone_pulls_and_recomputes_nothing(clones):
    a, b, env, pushed, pulled = clones
    assert "pushed" in pushed and ("fetched" in pulled or "added" in pulled)
    assert (b / "models/model.ckpt").read_bytes() == (a / "models/model.ckpt").read_bytes()
    out = sh(["dvc", "repro", TARGET], b, env=env).stdout
    assert "Running stage" not in out, out
    assert sh(["git", "status", "--porcelain"], b).stdout == ""
    assert tracked_outputs(b) == tracked_outputs(a)  # metrics, plots, dvc.lock: same bytes


def test_clone_b_sees_clone_a_runs_and_artifacts(clones, team_env):
    from mlflow.tracking import MlflowClient

    a, b, *_ = clones
    client = MlflowClient()  # the shared server, with the team credentials
    exp = client.get_experiment_by_name("genlab/train")
    sha = file_sha256(b / "models/model.ckpt")  # pulled from the DVC remote
    (run,) = client.search_runs([exp.experiment_id], f"tags.`genlab.checkpoint_sha256` = '{sha}'")
    record = {"run_id": run.info.run_id}
    assert run.info.status == "FINISHED"
    assert run.data.tags["genlab.stage"] == "train"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: no S3 keys needed
    artifacts = {f.path for f in client.list_artifacts(record["run_id"])}
    assert "resolved_params.yaml" in artifacts
    local = client.download_artifacts(record["run_id"], "resolved_params.yaml", str(b))
    assert Path(local).read_text() == (a / "models/resolved_params.yaml").read_text()


def test_dvc_push_and_pull_through_an_ssh_remote(clones, sshd, tmp_path):
    """The same round trip through an SSH remote (dvc-ssh against a real OpenSSH server)."""
    a, _, env, *_ = clones
    port, user, key = sshd
    url = f"ssh://{user}@127.0.0.1:{port}{tmp_path / 'store'}"
    for repo in (a,):
        sh(["dvc", "remote", "add", "--local", "-f", "ssh", url], repo)
        sh(["dvc", "remote", "modify", "--local", "ssh", "keyfile", str(key)], repo)
    out = sh(["dvc", "push", "-r", "ssh"], a).stdout
    assert "pushed" in out
    c = tmp_path / "clone_c"
    sh(["git", "clone", "-q", str(a), str(c)], a)
    sh(["dvc", "remote", "add", "--local", "-f", "ssh", url], c)
    sh(["dvc", "remote", "modify", "--local", "ssh", "keyfile", str(key)], c)
    sh(["dvc", "pull", "-r", "ssh", "--with-deps", TARGET], c)
    assert (c / "models/model.ckpt").read_bytes() == (a / "models/model.ckpt").read_bytes()
    assert "Running stage" not in sh(["dvc", "repro", TARGET], c).stdout


def start_queue(repo: Path, env: dict, jobs: int) -> None:
    """`dvc queue start`, its workers detached from our pipes: they inherit the caller's stdout,
    so capturing it would wait for the last worker to exit instead of for the command."""
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    subprocess.run(["dvc", "queue", "start", "-j", str(jobs)], cwd=repo, env=full, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                   start_new_session=True)


def wait_for_queue(repo: Path, env: dict, jobs: int, timeout: float = 300) -> str:
    """Until no task is queued or running. DVC's workers can stop with tasks still queued
    (treeverse/dvc#10562): as a user would, start them again; on time-out, their logs."""
    deadline = started = time.monotonic()
    deadline += timeout
    while time.monotonic() < deadline:
        out = sh(["dvc", "queue", "status"], repo, env=env).stdout
        if not any(word in out for word in ("Queued", "Running")):
            return out
        idle = "Running" not in out and "0 active" in out
        if idle and time.monotonic() - started > 20:  # workers had time to pick a task up
            start_queue(repo, env, jobs)
            started = time.monotonic()
        time.sleep(2)
    logs = "\n".join(
        sh(["dvc", "queue", "logs", line.split()[0]], repo, check=False, env=env).stdout[-2000:]
        for line in out.splitlines()[1:] if "Running" in line or "Queued" in line
    )
    sh(["dvc", "queue", "stop", "--kill"], repo, check=False, env=env)
    raise AssertionError(f"queue still busy after {timeout} s:\n{out}\n{logs}")


def test_exp_runs_in_temp_and_queue_log_to_the_shared_server(clones, team_env):
    """`dvc exp run --temp` and `--queue` + `dvc queue start -j 2` run in throw-away copies of
    clone B; their MLflow runs land on the team server, tagged with the DVC experiment."""
    from mlflow.tracking import MlflowClient

    _, b, env, *_ = clones
    sh(["dvc", "exp", "run", "--temp", "-n", "tmp-e2", "train", "-S", "train.max_epochs=2"], b,
       env=env)
    for name, epochs in (("q-e3", 3), ("q-e5", 5)):
        sh(["dvc", "exp", "run", "--queue", "-n", name, "train", "-S",
            f"train.max_epochs={epochs}"], b, env=env)
    start_queue(b, env, jobs=2)
    status = wait_for_queue(b, env, jobs=2)
    assert "Failed" not in status, status
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], b, env=env).stdout)
    names = {exp["name"] for rev in shown for exp in (rev.get("experiments") or [])}
    names |= {r["name"] for rev in shown for exp in (rev.get("experiments") or [])
              for r in exp.get("revs", []) if r.get("name")}
    assert {"tmp-e2", "q-e3", "q-e5"} <= names, names
    baseline = sh(["git", "rev-parse", "HEAD"], b).stdout.strip()
    client = MlflowClient()
    exp = client.get_experiment_by_name("genlab/train")
    for name, epochs in (("tmp-e2", "2"), ("q-e3", "3"), ("q-e5", "5")):
        runs = client.search_runs([exp.experiment_id], f"tags.`dvc.exp_name` = '{name}'")
        assert len(runs) == 1, name
        assert runs[0].data.tags["dvc.baseline_rev"] == baseline
        assert runs[0].data.params["train.max_epochs"] == epochs
        assert runs[0].info.status == "FINISHED"
    assert not list(b.glob(".dvc/tmp/exps/**/mlflow.db"))  # nothing left in throw-away copies


def _request(s: TeamSettings, path: str, user: str | None = None, pw: str = "", body=None):
    req = urllib.request.Request(s.mlflow_uri + path, method="POST" if body else "GET")
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    if user:
        token = base64.b64encode(f"{user}:{pw}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text.startswith(b"{") else {}
    except urllib.error.HTTPError as err:
        return err.code, {}


def test_server_auth_refuses_anonymous_and_read_only_writes(team_settings):
    s = team_settings
    admin_pw = s.secrets()["mlflow_admin_password"]
    assert _request(s, "/health")[0] == 200
    assert _request(s, "/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
    assert _request(s, "/api/2.0/mlflow/experiments/search?max_results=1", "admin", "no")[0] == 401
    status, body = _request(
        s, "/api/2.0/mlflow/experiments/create", "admin", admin_pw, {"name": "auth-check"}
    )
    assert status == 200
    exp_id = body["experiment_id"]
    status, _ = _request(
        s, "/api/2.0/mlflow/users/create", "admin", admin_pw,
        {"username": "reader", "password": "reader-pass-123"},
    )
    assert status == 200
    read = _request(s, f"/api/2.0/mlflow/experiments/get?experiment_id={exp_id}",
                    "reader", "reader-pass-123")
    assert read[0] == 200  # default permission READ
    write = _request(s, "/api/2.0/mlflow/runs/create", "reader", "reader-pass-123",
                     {"experiment_id": exp_id})
    assert write[0] == 403


def test_object_store_refuses_anonymous_requests(team_settings):
    url = f"{team_settings.s3_endpoint}/genlab-dvc"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 403


def test_database_refuses_connections_without_the_password(team_settings):
    import psycopg

    port = team_settings.ports["postgres"]
    for password in ("", "wrong"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=port, user="genlab", password=password,
                            dbname="optuna", connect_timeout=5)
    url = team_settings.db_url("optuna").replace("+psycopg", "")
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("select current_user").fetchone() == ("genlab",)


def test_team_up_again_starts_nothing(team_settings):
    lines: list[str] = []
    assert stack.up(team_settings, log=lines.append) == []
    assert len(lines) == 3 and all("already running" in line for line in lines)


def test_taken_port_fails_in_one_line_and_starts_nothing(team_settings):
    root = reachable_dir()
    ports = dict(team_settings.ports)
    ports["s3"] = team_settings.ports["mlflow"]  # taken by the running MLflow server
    ports["postgres"] = free_port(set(ports.values()))  # a free one (port + 1 may be taken)
    s = TeamSettings(root=root, ports=ports)
    with pytest.raises(ServiceError, match=r"port 127\.0\.0\.1:\d+ is already in use"):
        stack.up(s, log=lambda *_: None)
    from genlab.team import postgres

    assert not postgres.running(s)  # the database it had started was stopped again
    shutil.rmtree(root)


def test_auth_off_is_refused_beyond_loopback(tmp_path):
    from genlab.team import mlflow_server

    s = TeamSettings(root=tmp_path, host="0.0.0.0", auth=False)
    with pytest.raises(ServiceError, match="without authentication"):
        mlflow_server.start(s)


def test_team_env_file_exports_the_client_settings(team_settings, tmp_path):
    env = stack.write_env(team_settings, tmp_path / "team.env")
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    out = subprocess.run(
        ["bash", "-c", f"source {env} && echo $MLFLOW_TRACKING_URI $OPTUNA_STORAGE"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == [team_settings.mlflow_uri, team_settings.db_url("optuna")]
