"""A stage's input and output paths: written once, as arguments of its `cmd` in dvc.yaml.

`dvc repro polyfit` runs `python pipelines/polyfit.py --results results/polyfit.json --plots
plots/polyfit`; the stage's deps and outs in dvc.yaml name the same paths right beside that
line (a test checks that every path argument is one of them), and no pipeline holds a path of
its own. Run by hand without them (`python pipelines/tune.py` on a second machine, `torchrun
... pipelines/train.py`), a stage takes the arguments of its own `cmd` in dvc.yaml, so it
reads and writes exactly what `dvc repro` would.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from genlab.paths import project_root


@functools.cache
def _parsed(dvc_yaml: Path, stamp: tuple[int, int]) -> dict:
    """dvc.yaml, parsed once per version of it (`stamp`: its mtime and size): the report asks
    for every study's paths, several per section."""
    return yaml.safe_load(dvc_yaml.read_text()) or {}


def _dvc_yaml(root: Path | None) -> dict:
    dvc_yaml = (root or project_root()) / "dvc.yaml"
    info = dvc_yaml.stat()
    return _parsed(dvc_yaml, (info.st_mtime_ns, info.st_size))


def _stage(stage: str, root: Path | None) -> dict:
    spec = (_dvc_yaml(root).get("stages") or {}).get(stage)
    if spec is None:
        dvc_yaml = (root or project_root()) / "dvc.yaml"
        raise ValueError(f"{dvc_yaml} has no stage '{stage}': run the stage from its project")
    return spec


def params(stage: str, root: Path | None = None) -> list[str]:
    """The params.yaml keys dvc.yaml declares for `stage` (a section stands for all under it):
    what its outputs may depend on, since DVC reruns it when one of them changes."""
    keys: list[str] = []
    for entry in _stage(stage, root).get("params", []):
        keys += [entry] if isinstance(entry, str) else [k for v in entry.values() for k in v or []]
    return keys


def cmd_args(stage: str, root: Path | None = None) -> list[str]:
    """The arguments dvc.yaml's `cmd` of `stage` gives its script."""
    words = shlex.split(_stage(stage, root)["cmd"])
    script = next(i for i, w in enumerate(words) if w.endswith(".py"))
    return words[script + 1 :]


def flag(stage: str, name: str, root: Path | None = None) -> str:
    """The path `--name` in dvc.yaml's `cmd` of `stage`: where another stage finds that
    stage's files (the report reads each study's results file and plots folder)."""
    args, option = cmd_args(stage, root), f"--{name.replace('_', '-')}"
    if option not in args[:-1]:
        raise ValueError(f"dvc.yaml's cmd of stage '{stage}' has no {option} PATH")
    return args[args.index(option) + 1]


def figures(stage: str, root: Path | None = None) -> list[str]:
    """The images in `stage`'s plots folder (its `--plots`) that dvc.yaml's top-level `plots:`
    lists, in that order: what `dvc plots show` renders of the stage, and what the report
    shows of it (their file names are written in dvc.yaml only, beside the stage's code)."""
    folder = flag(stage, "plots", root).rstrip("/") + "/"
    listed = [p for p in _dvc_yaml(root).get("plots") or [] if isinstance(p, str)]
    return [p for p in listed if p.startswith(folder) and "/" not in p.removeprefix(folder)]


def parser_for(stage: str, names: Sequence[str]) -> argparse.ArgumentParser:
    """`--name PATH` for each of `names` (`_` written `-`); none has a default of its own."""
    parser = argparse.ArgumentParser(prog=f"pipelines/{stage}.py", add_help=False)
    for name in names:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="PATH")
    return parser


def parse(
    stage: str,
    parser: argparse.ArgumentParser,
    paths: Sequence[str],
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """The command line's arguments; each of `paths` left out is taken from dvc.yaml's `cmd` of
    `stage`, and must be found in one or the other."""
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    left_out = [k for k in paths if getattr(args, k) is None]
    if left_out:
        from_dvc_yaml = parser.parse_args(cmd_args(stage))
        for key in left_out:
            setattr(args, key, getattr(from_dvc_yaml, key))
    missing = [k for k in paths if getattr(args, k) is None]
    if missing:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in missing)
        raise ValueError(f"no {flags} given, and dvc.yaml's cmd of stage '{stage}' has none")
    return args
