"""genlab: reproducible experiments on why a deep-learning model generalizes."""

__version__ = "0.1.0"
