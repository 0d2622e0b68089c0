"""Stage `check_params`: validate all of params.yaml before any stage touches an output.

Run: first in every `dvc repro` / `dvc exp run` (every other stage depends on its output), or
`python pipelines/check_params.py` from the project root.
Reads: params.yaml, every section. Writes: params.ok.

Why a stage: DVC deletes a stage's outputs just before it runs the stage, so a value rejected
inside the stage would already have cost its earlier results. Failing here, first, DVC stops
before it removes anything. params.ok holds the same bytes for every valid params.yaml, so a
valid change reruns only the stages whose own params changed; it is persistent (DVC keeps it
while this stage runs), so a rejected value leaves it too in place.
"""

from argparse import Namespace
from pathlib import Path

from genlab.cli import run_stage
from genlab.config import load_params

TEXT = "params.yaml is valid (checked by genlab.config before any stage runs)\n"


def main(paths: Namespace) -> None:
    load_params()
    out = Path(paths.out)
    if not out.exists() or out.read_text() != TEXT:
        out.write_text(TEXT)
    print("check_params: params.yaml is valid")


if __name__ == "__main__":
    run_stage("check_params", main, paths=["out"])
