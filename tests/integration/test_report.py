"""The whole tiny pipeline ends in a report that a browser shows, and every notebook runs on it.

One `dvc repro` of every stage on tiny params in a temporary copy; then headless Chromium (Debian's
package, installed by `make test`) opens report/index.html, checks that each figure loaded and the
console stayed clean, and takes a screenshot; then each notebook in notebooks/ is executed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from tests.conftest import copy_of
from tests.repo_copy import ROOT, sh

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def repo(reproduced, tmp_path_factory) -> Path:
    """A private copy of the shared reproduced pipeline (a copy costs well under a second): a
    test changes params as it likes, and the tests run in any order, on any worker."""
    return copy_of(reproduced.path, tmp_path_factory.mktemp("full") / "repo")


def test_long_stages_print_one_line_per_unit_with_a_count_and_eta(reproduced):
    for first in (
        "regularization: 1/24 ",  # 12 variants x 2 seeds
        "optimizers: 1/10 ",  # 5 variants x 2 seeds
        "lr_range range tests: 1/4 ",
        "lr_range trainings: 1/",
        "polyfit: 1/",
        "biasvar: 1/4 ",
        "tune: 1/4 trial ",
    ):
        line = next((x for x in reproduced.stdout.splitlines() if x.startswith(first)), "")
        assert " done in " in line and ", ETA " in line, (first, reproduced.stdout[-3000:])


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


def _declared_metrics(repo: Path) -> list[Path]:
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values()
    return [repo / next(iter(m)) for s in stages for m in s.get("metrics", [])]


def _leaves(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_metrics_files_hold_numbers_and_short_labels_only(repo):
    files = _declared_metrics(repo)
    assert {f.name for f in files} >= {"evaluate.json", "train_best.json"}
    for f in files:
        for key, value in _leaves(json.loads(f.read_text())):
            short = isinstance(value, str) and len(value) <= 24
            ok = short or value is None or isinstance(value, int | float | bool)
            assert ok, f"{f.name}: {key} = {value!r}"
    # the details moved, unchanged, to results/<stage>.json: what the report reads
    main = json.loads((repo / "results/evaluate.json").read_text())
    assert "→" in main["diagnosis_reason"]
    shown = dict(_leaves(json.loads((repo / "metrics/evaluate.json").read_text())))
    assert {k: dict(_leaves(main))[k] for k in shown} == shown  # `cnn.test/acc`: main["cnn"]


def test_dvc_metrics_and_exp_show_fit_a_200_column_terminal(repo):
    env = {"COLUMNS": "200"}
    table = sh(["dvc", "metrics", "show"], repo, env=env).stdout.splitlines()
    assert max(map(len, table)) <= 200, "\n".join(table)
    for key in ("test/loss", "test/acc", "gap/loss", "diagnosis"):
        assert key in table[0]
    # HEAD holds no outputs, so every metric counts as changed: the widest case for metrics
    # (dependency hashes, a column per file, are left out)
    outs = "src|pipelines|data|models|models_cnn|tuned|plots|results|metrics|report"
    deps = rf"^({outs})(/|$)|.*\.(ok|yaml|json)$"
    exp = sh(
        ["dvc", "exp", "show", "--only-changed", "--no-pager", "--drop", deps], repo, env=env
    ).stdout
    assert "test/loss" in exp and "tuned.test/loss" in exp and "…" not in exp, exp
    assert "tuned.diagnosis" in exp, exp
    assert max(map(len, exp.splitlines())) <= 200, exp


# One params key changed at a time, and the stages `dvc status` then reports besides
# `check_params` (which validates every change). Where a run is tracked, threads, the
# evaluation batch and the process-group timeout cannot change a number: no stage reruns.
ONLY_WHAT_A_CHANGE_TOUCHES = [
    ("tracking.tracking_uri", "sqlite:///elsewhere.db", set()),
    ("train.eval_batch_size", 512, set()),
    ("train.torch_threads", 2, set()),
    ("tune.torch_threads", 2, set()),
    ("biasvar.torch_threads", 2, set()),
    ("train.ddp_timeout_s", 120, set()),
    ("tune.storage", "studies/elsewhere.journal", set()),
    # tune searches lr itself
    ("train.optimizer.lr", 0.02, {"train", "train_cnn", "train_seeds", "regularization"}),
    ("train.devices", 2, {"train", "train_cnn", "train_best"}),  # studies fit on one process
    (
        "train.optimizer.name",
        "adamw",
        {"train", "train_cnn", "train_seeds", "regularization", "tune", "train_best"},
    ),
    # early stopping, the checkpoint and tune's objective: every stage that selects an epoch
    # (the GD studies' fits too: their best epoch)
    (
        "train.selection.metric",
        "val/loss",
        {"train", "train_cnn", "train_seeds", "regularization", "tune", "train_best",
         "optimizers", "lr_range", "polyfit"},
    ),
    ("tune.n_trials", 5, {"tune"}),
    ("tune.train_best.max_epochs", 2, {"train_best"}),
    ("biasvar.draws", 13, {"biasvar"}),
    ("regularization.seeds", 3, {"regularization"}),
    ("optimizers.seeds", 3, {"optimizers"}),
    ("tune.min_trials_for_importance", 10, {"tune"}),  # a caveat on the figure, not a trial
    # labels come from stored numbers: no study retrains for a threshold
    ("diagnosis.classification.overfit_gap", 0.2, {"evaluate", "diagnosis"}),
]


def _status(repo: Path) -> dict:
    """`dvc status` through DVC's API (run from `repo`: stages are named as the CLI names
    them): one process for the 21 checks, where each CLI call pays for DVC's import again."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return dvc.status()


@pytest.mark.long
def test_a_single_key_change_reruns_only_the_stages_it_touches(repo, monkeypatch):
    monkeypatch.chdir(repo)
    text = (repo / "params.yaml").read_text()
    assert sh(["dvc", "status", "--json"], repo).stdout.strip() in ("{}", "")
    assert _status(repo) == {}
    for key, value, expected in ONLY_WHAT_A_CHANGE_TOUCHES:
        raw = yaml.safe_load(text)
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
        (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        status = _status(repo)
        assert "check_params" in status, key
        assert set(status) - {"check_params"} == expected, (key, status)


def test_every_study_model_is_labelled_from_stored_numbers_and_tagged(repo):
    from mlflow.tracking import MlflowClient

    from genlab.diagnosis import LABELS

    result = json.loads((repo / "results/diagnosis.json").read_text())["stages"]
    assert set(result) == {
        "train_best", "train_seeds", "regularization", "optimizers", "lr_range", "polyfit"
    }
    assert len(result["regularization"]) == 24 and len(result["optimizers"]) == 10
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    for stage, rows in result.items():
        stored = json.loads((repo / f"results/{stage}.json").read_text())["to_judge"]["models"]
        assert [r["model"] for r in rows] == [m["model"] for m in stored], stage
        for row, model in zip(rows, stored, strict=True):
            assert row["label"] in LABELS and f"→ {row['label']}" in row["reasoning"]
            if model["run_id"] is None:  # train_seeds' own seed: `evaluate` labels its run
                assert stage == "train_seeds" and model["model"].endswith("-s42")
                continue
            run = client.get_run(model["run_id"])  # every tracked model carries its label
            assert run.data.tags[model["tag"]] == row["label"], (stage, row["model"])
            assert run.data.tags[model["tag"] + "_reason"] == row["reasoning"]
    headline = json.loads((repo / "metrics/diagnosis.json").read_text())
    assert headline == {"tuned": {"diagnosis": result["train_best"][0]["label"]}}
    counts = json.loads((repo / "results/diagnosis.json").read_text())["counts"]
    assert sum(counts.values()) == sum(map(len, result.values()))
    assert "Diagnosis of every trained model" in (repo / "report/index.html").read_text()


@pytest.mark.long
def test_a_threshold_change_relabels_without_retraining(repo):
    """A threshold reruns the labelling stages only."""
    text = (repo / "params.yaml").read_text()
    before = json.loads((repo / "results/diagnosis.json").read_text())["stages"]
    raw = yaml.safe_load(text)
    raw["diagnosis"]["classification"]["overfit_gap"] = 1.0  # nothing can be overfit
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    out = sh(["dvc", "repro"], repo).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {"check_params", "evaluate", "diagnosis", "report"}, out
    after = json.loads((repo / "results/diagnosis.json").read_text())["stages"]
    labels = [r["label"] for rows in after.values() for r in rows if r["measure"] == "error"]
    assert labels and "overfit" not in labels
    was = [r["label"] for rows in before.values() for r in rows if r["measure"] == "error"]
    assert len(was) == len(labels)
