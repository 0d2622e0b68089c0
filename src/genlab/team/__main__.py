"""`python -m genlab.team up|down|status`: the local team stack (see genlab.team)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.team import stack
from genlab.team.process import ServiceError
from genlab.team.settings import DEFAULT_PORTS, TeamSettings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genlab.team", description=__doc__)
    ap.add_argument("action", choices=("up", "down", "status"))
    ap.add_argument("--project", type=Path, default=Path.cwd(),
                    help="project whose team.env and .dvc/config.local are written (default: .)")
    ap.add_argument("--host", help="address to bind (default 127.0.0.1; GENLAB_TEAM_HOST)")
    ap.add_argument("--no-auth", action="store_true",
                    help="MLflow without basic-auth (refused unless the host is loopback)")
    ap.add_argument("--no-dvc", action="store_true", help="leave .dvc/config.local alone")
    ports = ", ".join(f"GENLAB_TEAM_{k.upper()}_PORT={v}" for k, v in DEFAULT_PORTS.items())
    ap.epilog = f"Ports from the environment: {ports}. Data: GENLAB_TEAM_DIR (default .team/)."
    args = ap.parse_args(argv)
    project = args.project.resolve()
    s = TeamSettings.from_env(project, host=args.host, auth=False if args.no_auth else None)
    try:
        if args.action == "up":
            stack.up(s)
            s = stack.saved(s.root) or s
            env = stack.write_env(s, project / stack.ENV_FILE)
            if not args.no_dvc and (project / ".dvc").is_dir():
                stack.configure_dvc_remote(s, project)
                print(f"DVC: default remote '{stack.REMOTE}' -> "
                      f"{s.env()['GENLAB_DVC_REMOTE_URL']} (in .dvc/config.local)")
            print("\n".join(stack.status(s)))
            print(f"wrote {env}: run `source {env.name}` in each shell that runs stages; "
                  f"MLflow UI {s.mlflow_uri} (user admin, password in {env.name})")
        elif args.action == "down":
            stack.down(s)
        else:
            print("\n".join(stack.status(s)))
            env = project / stack.ENV_FILE
            print(f"{env.name}: {'present' if env.exists() else 'missing (run make team-up)'}")
    except ServiceError as err:
        print(f"genlab team: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
