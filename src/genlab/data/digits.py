"""sklearn's bundled 8x8 digits: a small real image task that needs no download."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from genlab.data.splits import Splits, classification_splits


def make_digits(val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0) -> Splits:
    """Flattened 8x8 images scaled to [0, 1] (float32, (N, 64)), stratified split by ``seed``."""
    bunch = load_digits()
    x = (bunch.images.reshape(len(bunch.images), -1) / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    info = {"source": "sklearn.datasets.load_digits", "image_shape": [8, 8]}
    return classification_splits(x, y, 10, info, val_fraction, test_fraction, seed)
