"""Params of the `optimizers` study (GD vs SGD vs mini-batch vs momentum vs Adam)."""

from __future__ import annotations

from genlab.config.base import Strict


class OptimizersConfig(Strict):
    """Placeholder: filled in by the work on this study."""
