"""Params of the `tune` Optuna study and the `train_best` retrain."""

from __future__ import annotations

from genlab.config.base import Strict


class TuneConfig(Strict):
    """Placeholder: filled in by the work on this study."""
