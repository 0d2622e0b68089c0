"""Stage `lr_range`: the range test per batch size (`study`) and the largest batch that fits
the accelerator (`batch_size_finder`); the study contract (`genlab.study`) is `study`'s."""

from genlab.stages.lr_range.study import (
    STAGE,
    data,
    line,
    open_runs,
    parent_metrics,
    run,
    write,
)

__all__ = ["STAGE", "data", "line", "open_runs", "parent_metrics", "run", "write"]
