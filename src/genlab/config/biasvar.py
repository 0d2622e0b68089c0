"""Params of the `biasvar` study (measured bias-variance decomposition)."""

from __future__ import annotations

from genlab.config.base import Strict


class BiasVarConfig(Strict):
    """Placeholder: filled in by the work on this study."""
