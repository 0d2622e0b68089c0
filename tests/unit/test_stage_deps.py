"""Every stage lists, in dvc.yaml, the code it runs: its script's import closure within genlab.

A module a stage imports but does not list is a reproducibility bug: changing it would leave
that stage's outputs stale while `dvc status` says all is well. Imports inside functions count
(they run when the stage runs). A listed folder covers the modules under it; a package's
`__init__.py` holding nothing but a docstring is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.repo_copy import ROOT

SRC = ROOT / "src"


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return base / "__init__.py" if (base / "__init__.py").is_file() else None


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("genlab")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genlab"):
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}  # submodules too
    return names


def import_closure(script: Path) -> set[Path]:
    """The genlab source files `script` imports, directly or not (packages' __init__ too)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return {p for p in seen if p != script and not _docstring_only(p)}


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_lists_every_module_a_stage_imports(stage):
    spec = STAGES[stage]
    script = ROOT / next(w for w in spec["cmd"].split() if w.endswith(".py"))  # args may follow
    deps = [str(d).rstrip("/") for d in spec.get("deps", [])]
    assert str(script.relative_to(ROOT)) in deps
    missing = sorted(
        rel
        for rel in (str(p.relative_to(ROOT)) for p in import_closure(script))
        if not any(rel == d or rel.startswith(d + "/") for d in deps)
    )
    assert not missing, f"dvc.yaml stage '{stage}' misses deps: {missing}"


def test_the_closure_follows_lazy_and_submodule_imports():
    closure = {str(p.relative_to(ROOT)) for p in import_closure(ROOT / "pipelines/train.py")}
    assert "src/genlab/training.py" in closure
    assert "src/genlab/dropconnect.py" in closure  # via models.py
    assert "src/genlab/distributed.py" in closure
