"""A stage's code dependencies, derived from its script's imports: dvc.yaml lists exactly these.

A module a stage imports but dvc.yaml does not list is a reproducibility bug (changing it leaves
the stage's outputs stale while `dvc status` says all is well); a listed module it does not
import reruns the stage for nothing. So the lists are computed, not kept by hand:
`python -m genlab.stage_deps` rewrites every stage's code deps in dvc.yaml (data deps, params,
outs and comments stay as they are) and `--check` says which stage differs (tests run it).

Imports inside functions count (they run when the stage runs), and so does a module named in a
string (`run_stage("polyfit", "genlab.stages.polyfit")` imports it). A folder is listed when the
stage imports every module in it; a package `__init__.py` holding only a docstring is left out.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import sys
from pathlib import Path

import yaml

from genlab.paths import project_root

CODE = ("src/", "pipelines/")  # deps under these are code, computed; the rest is data


def _module_file(src: Path, name: str) -> Path | None:
    base = src.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return base / "__init__.py" if (base / "__init__.py").is_file() else None


@functools.cache  # one parse per file per process: every stage walks the same modules
def _imports(path: Path) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("genlab")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genlab"):
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}  # submodules too
        elif _names_a_study(node):  # imported by name: run_stage("polyfit", "genlab.x")
            names.add(node.args[1].value)
    return frozenset(names)


def _names_a_study(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and len(node.args) >= 2):
        return False
    func, module = node.func, node.args[1]
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return (
        called == "run_stage"
        and isinstance(module, ast.Constant)
        and str(module.value).startswith("genlab.")
    )


@functools.cache
def docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


def import_closure(script: Path, src: Path) -> set[Path]:
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
                found = _module_file(src, ".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return {p for p in seen if p != script and not docstring_only(p)}


def _modules_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*.py") if not docstring_only(p)}


def code_deps(script: str, root: Path) -> list[str]:
    """`script` and its import closure, relative to `root`; whole folders where it imports
    every module of one (the shortest list that says the same)."""
    src = root / "src"
    closure = import_closure(root / script, src)
    folders: list[Path] = []
    for folder in sorted({p.parent for p in closure}, key=lambda f: len(f.parts)):
        if folder == src / "genlab" or any(f in folder.parents for f in folders):
            continue
        if _modules_under(folder) <= closure and len(_modules_under(folder)) > 1:
            folders.append(folder)
    files = {p for p in closure if not any(f in p.parents for f in folders)}
    return [script] + sorted(str(p.relative_to(root)) for p in {*files, *folders})


def _script(cmd: str) -> str:
    return next(w for w in cmd.split() if w.endswith(".py"))


def expected(root: Path) -> dict[str, list[str]]:
    """Each stage's deps as they should read: its data deps in their order, then its code."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, spec in stages.items():
        data = [str(d) for d in spec.get("deps", []) if not str(d).startswith(CODE)]
        out[name] = data + code_deps(_script(spec["cmd"]), root)
    return out


def differences(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per stage whose listed deps differ from `expected`: (missing, extra)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, want in expected(root).items():
        have = [str(d).rstrip("/") for d in stages[name].get("deps", [])]
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if missing or extra:
            found[name] = (missing, extra)
    return found


def rewrite(root: Path) -> list[str]:
    """Rewrite the deps block of every stage in dvc.yaml; returns the stages changed."""
    path = root / "dvc.yaml"
    lines = path.read_text().splitlines(keepends=True)
    want = expected(root)
    changed, out, stage, i = [], [], None, 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"^  (\w+):\s*$", line):
            stage = m.group(1)
        if stage in want and re.match(r"^    deps:\s*$", line):
            out.append(line)
            i += 1
            old = []
            while i < len(lines) and lines[i].startswith("      - "):
                old.append(lines[i])
                i += 1
            new = [f"      - {d}\n" for d in want[stage]]
            changed += [stage] if new != old else []
            out += new
            continue
        out.append(line)
        i += 1
    if changed:
        path.write_text("".join(out))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    args = parser.parse_args(argv)
    root = project_root()
    if args.check:
        diff = differences(root)
        for stage, (missing, extra) in diff.items():
            print(f"dvc.yaml stage '{stage}': missing {missing}, not imported {extra}")
        if diff:
            print("run `python -m genlab.stage_deps` to rewrite them", file=sys.stderr)
        return 1 if diff else 0
    for stage in rewrite(root):
        print(f"dvc.yaml: {stage}: code deps rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
