"""Params of the `regularization` study (each regularizer's effect on train and test error)."""

from __future__ import annotations

from genlab.config.base import Strict


class RegularizationStudyConfig(Strict):
    """Placeholder: filled in by the work on this study."""
