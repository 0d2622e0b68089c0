"""Every stage lists, in dvc.yaml, exactly the code it runs (genlab.stage_deps): its script and
the script's import closure within genlab, no module missing and none it does not import."""

from __future__ import annotations

import shutil

import pytest
import yaml

from genlab import stage_deps
from tests.repo_copy import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def differences():
    return stage_deps.differences(ROOT)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_lists_exactly_the_code_a_stage_imports(stage, differences):
    missing, extra = differences.get(stage, ([], []))
    assert not missing and not extra, (
        f"dvc.yaml stage '{stage}': missing {missing}, not imported {extra}: "
        "run `python -m genlab.stage_deps`"
    )


def test_the_closure_follows_lazy_and_submodule_imports():
    closure = {
        str(p.relative_to(ROOT))
        for p in stage_deps.import_closure(ROOT / "pipelines/train.py", ROOT / "src")
    }
    assert "src/genlab/training.py" in closure
    assert "src/genlab/dropconnect.py" in closure  # via models.py
    assert "src/genlab/distributed.py" in closure
    by_name = stage_deps.import_closure(ROOT / "pipelines/polyfit.py", ROOT / "src")
    assert ROOT / "src/genlab/stages/polyfit.py" in by_name  # run_stage(_, "genlab.stages...")


def test_rewrite_restores_a_dropped_dep_and_keeps_everything_else(tmp_path):
    for name in ("dvc.yaml", "src", "pipelines"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    text = (tmp_path / "dvc.yaml").read_text()
    assert "      - src/genlab/training.py\n" in text
    broken = text.replace("      - src/genlab/training.py\n", "", 1)
    (tmp_path / "dvc.yaml").write_text(broken)
    assert "train" in stage_deps.differences(tmp_path)
    assert stage_deps.rewrite(tmp_path) == ["train"]
    assert (tmp_path / "dvc.yaml").read_text() == text  # comments, params, outs untouched
    assert stage_deps.differences(tmp_path) == {}
