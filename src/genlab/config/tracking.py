"""The `tracking` section: where MLflow records runs."""

from __future__ import annotations

from genlab.config.base import Strict


class TrackingConfig(Strict):
    """Where MLflow writes. `MLFLOW_TRACKING_URI` in the environment wins over `tracking_uri`."""

    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_dir: str = "mlartifacts"
    experiment_prefix: str = "genlab"
