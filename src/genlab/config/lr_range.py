"""Params of the `lr_range` study (learning-rate range test per batch size)."""

from __future__ import annotations

from genlab.config.base import Strict


class LrRangeConfig(Strict):
    """Placeholder: filled in by the work on this study."""
