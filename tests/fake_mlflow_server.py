"""A stand-in MLflow tracking server that dies on cue, for tests of a server lost mid-run.

Run: `python tests/fake_mlflow_server.py PORT_FILE ARTIFACT_DIR DIE_AT`. It answers the REST
calls a stage makes (experiments, runs, log-batch, tags) from memory and keeps artifacts in a
local folder the client writes itself. DIE_AT is `metrics` (the first metrics batch: during
the fit) or `set-tag` (the first tag set after metrics were logged: right after the fit); on
that request the process exits without answering, so every later call is refused.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

PORT_FILE, ARTIFACTS, DIE_AT = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
EXPERIMENTS: dict[str, dict] = {}
RUNS: dict[str, dict] = {}
IDS = itertools.count(1)
SEEN = {"metrics": False}


def experiment(name: str) -> dict:
    eid = str(next(IDS))
    EXPERIMENTS[eid] = {
        "experiment_id": eid,
        "name": name,
        "artifact_location": (ARTIFACTS / eid).as_uri(),
        "lifecycle_stage": "active",
        "tags": [],
    }
    return EXPERIMENTS[eid]


def run(body: dict) -> dict:
    rid = f"run{next(IDS)}"
    exp = EXPERIMENTS[body["experiment_id"]]
    RUNS[rid] = {
        "info": {
            "run_id": rid,
            "run_uuid": rid,
            "run_name": body.get("run_name", rid),
            "experiment_id": exp["experiment_id"],
            "status": "RUNNING",
            "start_time": int(time.time() * 1000),
            "artifact_uri": f"{exp['artifact_location']}/{rid}/artifacts",
            "lifecycle_stage": "active",
        },
        "data": {"tags": body.get("tags", []), "params": [], "metrics": []},
        "inputs": {},
    }
    return RUNS[rid]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet: the test reads the stage's stderr only
        pass

    def do_GET(self) -> None:
        self.answer(parse_qs(urlparse(self.path).query))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.answer(json.loads(self.rfile.read(length) or b"{}"))

    def answer(self, body: dict) -> None:
        path = urlparse(self.path).path
        one = {k: v[0] if isinstance(v, list) and k != "tags" else v for k, v in body.items()}
        if path.endswith("/runs/log-batch") and body.get("metrics"):
            SEEN["metrics"] = True
        if (DIE_AT == "metrics" and path.endswith("/runs/log-batch") and body.get("metrics")) or (
            DIE_AT == "set-tag" and SEEN["metrics"] and path.endswith("/runs/set-tag")
        ):
            os._exit(0)  # the server is gone: this request and every later one fail
        status, reply = 200, {}
        if path == "/health":
            return self.send(200, "OK")
        if path.endswith("/experiments/search"):
            reply = {"experiments": list(EXPERIMENTS.values())}
        elif path.endswith("/experiments/get-by-name"):
            found = [e for e in EXPERIMENTS.values() if e["name"] == one.get("experiment_name")]
            status, reply = (200, {"experiment": found[0]}) if found else (
                404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"})
        elif path.endswith("/experiments/get"):
            reply = {"experiment": EXPERIMENTS[one["experiment_id"]]}
        elif path.endswith("/experiments/create"):
            reply = {"experiment_id": experiment(one["name"])["experiment_id"]}
        elif path.endswith("/runs/create"):
            reply = {"run": run(body)}
        elif path.endswith("/runs/get"):
            reply = {"run": RUNS[one.get("run_id") or one["run_uuid"]]}
        elif path.endswith("/runs/update"):
            info = RUNS[body.get("run_id") or body["run_uuid"]]["info"]
            info["status"] = body.get("status", info["status"])
            reply = {"run_info": info}
        elif path.endswith("/runs/search"):
            reply = {"runs": []}
        self.send(status, json.dumps(reply))

    def send(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    PORT_FILE.write_text(str(server.server_address[1]))
    server.serve_forever()
