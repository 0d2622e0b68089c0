"""The whole tiny pipeline ends in a report that a browser shows, and every notebook runs on it.

One `dvc repro` of every stage on tiny params in a temporary copy; then headless Chromium (Debian's
package, installed by `make test`) opens report/index.html, checks that each figure loaded and the
console stayed clean, and takes a screenshot; then each notebook in notebooks/ is executed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import tiny_raw
from tests.repo_copy import ROOT, make_repo_copy, sh

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    dst = make_repo_copy(tmp_path_factory.mktemp("full"), tiny_raw())
    out = sh(["dvc", "repro"], dst, timeout=1200)
    assert "Running stage 'report'" in out.stdout, out.stdout
    return dst


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")
def test_report_opens_in_a_browser_with_every_figure(repo, tmp_path):
    from playwright.sync_api import sync_playwright

    index = repo / "report/index.html"
    assert index.is_file()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(index.as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])"
        )
        shot = Path(os.environ.get("GENLAB_SCREENSHOT_DIR", tmp_path)) / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert len(images) >= 3, images
    assert [src for src, width in images if width == 0] == []
    assert problems == []
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_pipeline_outputs(repo, notebook, monkeypatch):
    nb = nbformat.read(notebook, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{notebook.name} is stored with outputs: clear them before committing"
    )
    monkeypatch.setenv("GENLAB_ROOT", str(repo))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
