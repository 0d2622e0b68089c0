"""MNIST-1D: 40-sample 1-D signals of ten digit templates, generated offline.

Small enough to train in seconds yet, unlike the 8x8 digits, hard enough that architecture
and regularisation choices visibly change test accuracy.
"""

from __future__ import annotations

import random

import numpy as np

from genlab.data.splits import Splits, classification_splits

SIGNAL_LENGTH = 40


def make_mnist1d(
    num_samples: int = 5000, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> Splits:
    """Generate MNIST-1D with ``mnist1d.make_dataset`` and re-split it stratified by ``seed``.

    ``make_dataset`` yields ``10 * (num_samples // 10)`` signals (whole classes only). It
    reseeds Python's and NumPy's global RNGs, so both states are restored afterwards;
    ``get_dataset`` is never used because it downloads.
    """
    if num_samples < 10:
        raise ValueError(f"num_samples must be >= 10 (one per class), got {num_samples}")
    # Imported lazily: the package pulls in matplotlib at import time.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)

    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    info = {"source": "mnist1d.make_dataset", "signal_length": SIGNAL_LENGTH}
    return classification_splits(x, y, 10, info, val_fraction, test_fraction, seed)
