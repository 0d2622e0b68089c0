"""Params of the `polyfit` study (under/overfitting over polynomial degree)."""

from __future__ import annotations

from genlab.config.base import Strict


class PolyfitConfig(Strict):
    """Placeholder: filled in by the work on this study."""
