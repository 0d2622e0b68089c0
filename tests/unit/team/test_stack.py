"""The team stack's DVC remote, configured with the project's own `dvc` (no servers needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from genlab.team import stack
from genlab.team.settings import TeamSettings


def test_a_generated_key_that_begins_with_a_dash_configures_the_remote(tmp_path):
    """token_urlsafe draws `-` first one time in 64: `dvc remote modify` must not read the key
    as an option (it did: 'unrecognized arguments')."""
    team = TeamSettings(root=tmp_path / ".team")
    team.root.mkdir()
    keys = {"s3_access_key": "genlab0a1b2c", "s3_secret_key": "-8c3Z3_fNkl4-PlZ_qTkaRGDgY"}
    (team.root / "secrets.json").write_text(json.dumps(
        {"postgres_password": "p", "db_password": "d", "mlflow_admin_password": "m",
         "flask_secret_key": "f", **keys}))
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=project,
                   check=True)
    stack.configure_dvc_remote(team, project)
    from dvc.config import Config

    local = Config(dvc_dir=str(project / ".dvc"), validate=False).load_one("local")
    assert local["core"]["remote"] == stack.REMOTE
    remote = local["remote"][stack.REMOTE]
    assert remote["secret_access_key"] == keys["s3_secret_key"]
    assert remote["access_key_id"] == keys["s3_access_key"]
    assert remote["endpointurl"] == team.env()["AWS_ENDPOINT_URL"]
