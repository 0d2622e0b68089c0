"""What the per-epoch evaluation costs beyond the forward passes it cannot avoid.

Run: `.venv/bin/python benchmarks/epoch_evaluation.py [--repeats N]` on a quiet machine.
After every epoch `GenLabModule` measures train/val/test in eval mode (loss sums and correct
counts per split); this times that work on the default params' model and data, batches
already in memory, against the bare forward passes over the same batches, in one process.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import torch

from genlab.config import load_params
from genlab.data import make_splits
from genlab.data.datamodule import SplitsDataModule
from genlab.data.splits import SPLIT_NAMES
from genlab.training import build_module, use_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=20, help="evaluations per repeat")
    args = parser.parse_args()
    params = load_params()
    use_threads(params.train.torch_threads)
    splits = make_splits(params.data, params.seed)
    module = build_module(params, splits).eval()
    dm = SplitsDataModule(splits, 1, params.train.eval_batch_size)
    batches = [(i, b) for i, name in enumerate(SPLIT_NAMES) for b in dm.eval_loader(name)]

    @torch.inference_mode()  # as Lightning's validation loop runs it
    def evaluation() -> dict[str, float]:
        module.on_validation_epoch_start()
        for idx, batch in batches:
            module.validation_step(batch, 0, idx)
        return module.split_metrics()

    @torch.inference_mode()
    def forward_only() -> None:
        for _, (x, _y) in batches:
            module(x)

    evaluation()  # warm-up
    runs = {"evaluation": [], "forward only": []}
    for _ in range(args.repeats):  # interleaved: load drift hits both alike
        runs["evaluation"].append(timeit.timeit(evaluation, number=args.number) / args.number)
        runs["forward only"].append(timeit.timeit(forward_only, number=args.number) / args.number)
    n = sum(len(b[1][1]) for b in batches)
    print(
        f"{params.model.name} on {params.data.name}: {n} samples in {len(batches)} batches, "
        f"torch threads {torch.get_num_threads()}; median (min) of {args.repeats} x "
        f"{args.number} per-epoch evaluations"
    )
    for name, t in runs.items():
        print(f"  {name:13s} {statistics.median(t) * 1e3:7.3f} ms ({min(t) * 1e3:.3f} ms)")
    extra = statistics.median(runs["evaluation"]) - statistics.median(runs["forward only"])
    print(f"  bookkeeping   {extra * 1e3:7.3f} ms per epoch (loss, labels, metrics)")


if __name__ == "__main__":
    main()
