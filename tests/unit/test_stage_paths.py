"""A stage's paths are written once, as arguments of its `cmd` in dvc.yaml (genlab.stage_paths):
each names one of the stage's deps or outs, no pipeline holds a path of its own, and a stage run
by hand takes what dvc.yaml gives it."""

from __future__ import annotations

import ast
import shlex

import pytest
import yaml

from genlab import stage_paths
from tests.repo_copy import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
NOT_PATHS = ("--stage", "--model")  # names, not paths


def _declared(spec: dict) -> set[str]:
    out = set()
    for kind in ("deps", "outs", "metrics", "plots"):
        for entry in spec.get(kind, []):
            out.add(str(next(iter(entry)) if isinstance(entry, dict) else entry).rstrip("/"))
    return out


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_path_argument_is_a_dep_or_an_out_of_its_stage(stage):
    spec = STAGES[stage]
    declared = _declared(spec)
    flag, undeclared = None, []
    for word in stage_paths.cmd_args(stage, ROOT):
        if word.startswith("--"):
            flag = word
        elif flag not in NOT_PATHS and not any(
            word == d or word.startswith(d + "/") for d in declared
        ):
            undeclared.append(f"{flag} {word}")
    assert not undeclared, f"dvc.yaml stage '{stage}': {undeclared} is no dep or out of it"


def _path_literals(path) -> list[str]:
    tops = ("results/", "plots/", "metrics/", "models/", "models_cnn/", "data/", "tuned/",
            "report/", "studies/")
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and (node.value.startswith(tops) or node.value == "params.ok") and " " not in node.value
    ]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "pipelines").glob("*.py")))
def test_no_pipeline_writes_a_path_of_its_own(script):
    assert _path_literals(ROOT / "pipelines" / script) == []


@pytest.fixture
def project(tmp_path, monkeypatch):
    cmd = "python pipelines/x.py --results results/x.json --plots 'plots/x y'"
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"x": {"cmd": cmd}}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENLAB_ROOT", raising=False)
    return tmp_path


def test_run_by_hand_a_stage_takes_its_paths_from_dvc_yaml(project):
    parser = stage_paths.parser_for("x", ("results", "plots"))
    args = stage_paths.parse("x", parser, ("results", "plots"), argv=[])
    assert (args.results, args.plots) == ("results/x.json", "plots/x y")
    given = stage_paths.parse("x", parser, ("results", "plots"), ["--results", "r.json"])
    assert (given.results, given.plots) == ("r.json", "plots/x y")  # the command line wins


def test_a_path_nowhere_to_be_found_is_one_line_naming_the_flag(project):
    parser = stage_paths.parser_for("x", ("results", "plots", "data_dir"))
    with pytest.raises(ValueError, match=r"no --data-dir given, and dvc.yaml's cmd of stage 'x'"):
        stage_paths.parse("x", parser, ("results", "data_dir"), argv=[])
    with pytest.raises(ValueError, match="has no stage 'y'"):
        stage_paths.parse("y", parser, ("results",), argv=[])


def test_the_repository_cmds_parse_back_to_their_paths():
    args = stage_paths.cmd_args("train_cnn", ROOT)
    assert shlex.join(args).startswith("--stage train_cnn --model cnn1d --data data/prepared")


def test_an_edited_dvc_yaml_is_read_again(tmp_path):
    """dvc.yaml is parsed once per version (the report asks for many paths), not once ever."""
    dvc_yaml = tmp_path / "dvc.yaml"
    dvc_yaml.write_text("stages:\n  s:\n    cmd: python pipelines/s.py --results a.json\n")
    assert stage_paths.flag("s", "results", tmp_path) == "a.json"
    dvc_yaml.write_text("stages:\n  s:\n    cmd: python pipelines/s.py --results longer.json\n")
    assert stage_paths.flag("s", "results", tmp_path) == "longer.json"
