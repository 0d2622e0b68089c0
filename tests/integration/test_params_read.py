"""Every params key a stage's code read while the shared pipeline ran (genlab.config.reads) is
declared in dvc.yaml for that stage, or for a stage whose outputs it reads (`data.name` reaches
`train` through the prepared data), or changes no output. A key read but not declared is one
whose change `dvc repro` ignores: the stage's results go stale without a word."""

from __future__ import annotations

import json
from collections import defaultdict

import yaml

from tests.unit.test_stage_params import _changes_no_output, _covered, _declared


def _producers(stages: dict) -> dict[str, set[str]]:
    """Each stage's upstream stages (those whose outs it reads, transitively), but
    `check_params`: every stage waits for its `params.ok`, which declares the whole file."""
    outs = {
        (out if isinstance(out, str) else next(iter(out))): name
        for name, spec in stages.items() if name != "check_params"
        for out in spec.get("outs", [])
    }

    def upstream(name: str, seen: set[str]) -> set[str]:
        for dep in stages[name].get("deps", []):
            for out, producer in outs.items():
                if (dep == out or dep.startswith(f"{out}/")) and producer not in seen:
                    seen.add(producer)
                    upstream(producer, seen)
        return seen

    return {name: upstream(name, set()) for name in stages}


def test_every_key_a_stage_reads_is_declared_for_it(reproduced):
    read: dict[str, set[str]] = defaultdict(set)
    for path in reproduced.reads.glob("*.json"):  # <stage>.<pid>.json
        read[path.name.split(".")[0]] |= set(json.loads(path.read_text()))
    stages = yaml.safe_load((reproduced.path / "dvc.yaml").read_text())["stages"]
    assert set(read) == set(stages)  # every stage recorded, even one that read nothing
    assert {"seed", "train.optimizer.lr", "model.mlp.hidden"} <= read["train"]
    assert "data.mnist1d.num_samples" in read["prepare"] and read["report"] == set()
    declared, producers = _declared(), _producers(stages)
    undeclared = {}
    for stage, keys in read.items():
        if stage == "check_params":  # validates every key: it declares the whole file
            continue
        covering = declared[stage].union(*(declared[p] for p in producers[stage]))
        missing = sorted(k for k in keys if not _covered(k, covering) and not _changes_no_output(k))
        if missing:
            undeclared[stage] = missing
    assert undeclared == {}, (
        f"stages read params that dvc.yaml does not declare for them: {undeclared}; declare "
        "each under the stage's `params` (or pin it in the study's variant if it must not count)"
    )
