"""The human-facing report: one HTML file plus its images, built only from pipeline outputs.

Each section shows a study's figures and tables, two or three sentences on what they show
(written from the numbers in its results file), and the params that produced it (read from
dvc.lock, i.e. what actually ran). The top names the git commit and the DVC data hashes.
Nothing here trains or recomputes anything.
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from genlab import stage_paths
from genlab.tracking import git_commit

Text = Callable[[dict], str]


@dataclass
class Section:
    """One study in the report; `text` turns its results file into a few sentences. Where the
    stage writes its results file and plots folder is its own `--results` and `--plots` in
    dvc.yaml, and its figures are the images dvc.yaml's `plots:` lists in that folder (all
    written there once); the section names the tables of that folder it shows."""

    title: str
    stage: str  # the dvc.yaml stage whose params and results the section shows
    text: Text
    tables: list[str] = field(default_factory=list)  # CSVs in its plots folder, as tables
    params_stage: str = ""  # stage whose params produced the result, if not `stage`

    def results(self, root: Path) -> str:
        """The stage's results file, relative to the project `root`."""
        return stage_paths.flag(self.stage, "results", root)

    def figures(self, root: Path) -> list[str]:
        """The stage's figures, relative to the project `root` (`stage_paths.figures`)."""
        return stage_paths.figures(self.stage, root)

    def plots(self, root: Path, names: list[str]) -> list[str]:
        """`names` in the stage's plots folder, relative to the project `root`."""
        folder = stage_paths.flag(self.stage, "plots", root)
        return [f"{folder}/{name}" for name in names]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict | list):
        return html.escape(json.dumps(v))
    return html.escape(str(v))


def _table(rows: list[dict], limit: int = 40) -> str:
    if not rows:
        return "<p><em>empty table</em></p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(_num(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows[:limit]
    )
    more = f"<p class='note'>first {limit} of {len(rows)} rows</p>" if len(rows) > limit else ""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='wide'>{table}</div>{more}"


def _num(v: object) -> object:
    if isinstance(v, str):
        try:
            return float(v) if any(ch in v for ch in ".eE") else int(v)
        except ValueError:
            return v
    return v


def _flat(d: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def read_lock(root: Path) -> dict:
    lock = root / "dvc.lock"
    return yaml.safe_load(lock.read_text())["stages"] if lock.is_file() else {}


def data_hashes(lock: dict) -> dict[str, str]:
    """md5 of every cached output recorded in dvc.lock (the data and models a result used)."""
    out = {}
    for stage in lock.values():
        for o in stage.get("outs", []):
            if "md5" in o:
                out[o["path"]] = o["md5"]
    return out


def render(root: Path, sections: list[Section], out_dir: Path) -> Path:
    """Write out_dir/index.html and out_dir/img/*; returns the HTML path."""
    lock = read_lock(root)
    img_dir = out_dir / "img"
    if img_dir.exists():
        shutil.rmtree(img_dir)
    img_dir.mkdir(parents=True)
    hashes = "".join(
        f"<li><code>{html.escape(p)}</code> md5 <code>{h}</code></li>"
        for p, h in data_hashes(lock).items()
    )
    parts = [
        f"<h1>genlab report</h1><p>git commit <code>{git_commit()}</code></p>",
        f"<details><summary>DVC data and model hashes</summary><ul>{hashes}</ul></details>",
        "<nav><ol>"
        + "".join(f"<li><a href='#{s.stage}'>{html.escape(s.title)}</a></li>" for s in sections)
        + "</ol></nav>",
    ]
    for s in sections:
        parts.append(_section(root, s, lock, img_dir))
    page = _PAGE.format(body="\n".join(parts))
    index = out_dir / "index.html"
    index.write_text(page)
    return index


def _section(root: Path, s: Section, lock: dict, img_dir: Path) -> str:
    head = f"<section id='{s.stage}'><h2>{html.escape(s.title)}</h2>"
    metrics_path = root / s.results(root)
    if not metrics_path.is_file():
        return head + f"<p class='note'>not run yet: <code>dvc repro {s.stage}</code></p></section>"
    metrics = json.loads(metrics_path.read_text())
    body = [f"<p>{s.text(metrics)}</p>"]
    for fig in s.figures(root):
        src = root / fig
        if src.is_file():
            name = fig.replace("/", "__")
            shutil.copy2(src, img_dir / name)
            body.append(
                f"<figure><img src='img/{name}' alt='{html.escape(fig)}'>"
                f"<figcaption>{html.escape(fig)}</figcaption></figure>"
            )
    for table in s.plots(root, s.tables):
        path = root / table
        if path.is_file():
            with open(path, newline="") as f:
                body.append(f"<h3>{html.escape(table)}</h3>" + _table(list(csv.DictReader(f))))
    scalars = {k: v for k, v in _flat(metrics).items() if not isinstance(v, list)}
    body.append("<details><summary>results file</summary>" + _table([scalars], 1) + "</details>")
    params = lock.get(s.params_stage or s.stage, {}).get("params", {}).get("params.yaml", {})
    if params:
        rows = [{"param": k, "value": v} for k, v in _flat(params).items()]
        body.append(
            "<details><summary>params that produced it (from dvc.lock)</summary>"
            + _table(rows, 200)
            + "</details>"
        )
    return head + "\n".join(body) + "</section>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genlab report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }}
h2 {{ border-bottom: 1px solid #ccc; padding-top: 1em; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption, .note {{ color: #777; font-size: 0.85em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
th {{ background: #f4f4f4; }} code {{ font-size: 0.9em; }} .wide {{ overflow-x: auto; }}
</style></head><body>
{body}
</body></html>
"""
