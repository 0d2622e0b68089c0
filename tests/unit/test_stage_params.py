"""Every params.yaml key is declared in dvc.yaml by a stage whose outputs it can change, besides
`check_params` (which validates them all): a key no stage declares is one `dvc repro` ignores,
so changing it leaves stale results behind. The keys below change no output, only where runs
are recorded or how a stage runs; integration/test_report.py checks that changing some of them
reruns nothing."""

from __future__ import annotations

import yaml

from genlab import stage_paths
from tests.repo_copy import ROOT

NO_OUTPUT_CHANGES = {
    "tracking.tracking_uri": "where MLflow records the runs",
    "tracking.artifact_dir": "where an embedded store keeps artifacts",
    "tracking.experiment_prefix": "the MLflow experiments' names",
    "tune.storage": "where the Optuna study lives",
    "tune.heartbeat_interval": "how often a tune worker shows it is alive",
    "tune.grace_period": "how long a silent worker's trial waits before it is retried",
    "train.ddp_timeout_s": "how long DDP ranks wait for each other",
    "train.eval_batch_size": "evaluation sums in float64, whatever the batch",
}


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _declared() -> dict[str, set[str]]:
    """Each stage's declared params keys (a section stands for every key under it), but
    `check_params`'s: it validates the whole file."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages.pop("check_params")["params"] == [{"params.yaml": None}]
    return {name: set(stage_paths.params(name, ROOT)) for name in stages}


def _covered(key: str, keys: set[str]) -> bool:
    return any(key == k or key.startswith(k + ".") for k in keys)


def _changes_no_output(key: str) -> bool:
    return key in NO_OUTPUT_CHANGES or key.endswith(".torch_threads")  # same numbers, any count


def test_every_key_is_declared_by_a_stage_it_can_change():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    by_a_stage = set().union(*_declared().values())
    undeclared = [
        k for k in _leaves(params) if not _covered(k, by_a_stage) and not _changes_no_output(k)
    ]
    assert undeclared == [], (
        f"params {undeclared} are read by no stage in dvc.yaml: declare each under the stage "
        "that reads it (or list it here if it changes no output)"
    )


def test_a_key_that_changes_no_output_reruns_no_stage():
    declared = _declared()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key in _leaves(params):
        if _changes_no_output(key):
            rerun = sorted(s for s, keys in declared.items() if _covered(key, keys))
            assert rerun == [], f"{key} changes no output but reruns {rerun}"
