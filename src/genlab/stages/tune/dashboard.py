"""`make dashboard`: optuna-dashboard on the study storage `tune` uses, reachable from this
machine only (127.0.0.1).

The storage is resolved as the stage resolves it (`OPTUNA_STORAGE`, else params `tune.storage`,
a path relative to the project root) and opened through optuna-dashboard's Python API, so an
RDB password never shows on a command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.config import load_params
from genlab.config.base import ConfigError
from genlab.paths import project_root
from genlab.stages.tune.storage import is_shared, open_storage, redacted, storage_spec

HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def study_storage(root: Path) -> str:
    """The storage spec of the project at `root`: an RDB URL, or the journal's absolute path."""
    spec = storage_spec(load_params(root / "params.yaml").tune)
    if is_shared(spec):
        return spec
    path = (root / spec).resolve()
    if not path.is_file():
        raise ConfigError(f"no Optuna study at {path} yet: run `dvc repro tune` first")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    """Serve the dashboard until Ctrl-C; a missing study or bad params is one line, exit 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        spec = study_storage(project_root())
        storage = open_storage(spec)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"genlab dashboard: error: {err}", file=sys.stderr)
        return 2
    from optuna_dashboard import run_server

    print(f"optuna-dashboard for {redacted(spec)} on http://{HOST}:{args.port} (Ctrl-C stops it)")
    try:
        run_server(storage, host=HOST, port=args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
