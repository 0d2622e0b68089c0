"""Params of the diagnosis (underfit / overfit / good fit) given to every trained model."""

from __future__ import annotations

from genlab.config.base import Strict


class DiagnosisConfig(Strict):
    """Placeholder: filled in by the work on this study."""
