"""Stage `prepare`: build the dataset named in params.data and write its train/val/test splits.

Run: `dvc repro prepare` (or `python pipelines/prepare.py` from the project root).
Reads: params `seed`, `data`. Writes: data/prepared/{train,val,test}.npz + meta.json.
"""

from argparse import Namespace

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.data import make_splits, save_splits


def main(paths: Namespace) -> None:
    params = load_params()
    splits = make_splits(params.data, params.seed)
    meta = save_splits(splits, paths.out, params.data.name)
    sizes = ", ".join(f"{k} {v}" for k, v in meta["sizes"].items())
    print(
        f"prepare: {params.data.name} ({splits.task}) -> {paths.out}: {sizes}; "
        f"hash {meta['content_hash'][:12]}"
    )


if __name__ == "__main__":
    run_stage("prepare", main, paths=["out"])
