"""Exact least squares on Legendre features, one problem or K at once.

The closed-form fit the `polyfit` and `biasvar` studies set beside gradient descent: on the
Legendre basis the design stays well conditioned up to high degrees, and the minimum-norm
solution is the true minimiser of the training MSE even where p > n.
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.models import legendre_features


def legendre_design(x: np.ndarray, degree: int, x_min: float, x_max: float) -> np.ndarray:
    """The Legendre design matrix (float64) of x (any shape, flattened), columns P_0..P_degree."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1))
    return legendre_features(t, degree, x_min, x_max).numpy()


def batched_lstsq(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares weights for K problems at once: design (K, n, p), y (K, n) -> (K, p).

    The minimum-norm solution where a design is rank deficient (p > n), computed per problem
    through the SVD (`gelsd`), so it is the true minimiser of each training MSE.
    """
    a = torch.as_tensor(np.asarray(design, dtype=np.float64))
    b = torch.as_tensor(np.asarray(y, dtype=np.float64))[..., None]
    return torch.linalg.lstsq(a, b, driver="gelsd").solution[..., 0].numpy()


class LegendreLeastSquares:
    """Scikit-learn-style fit/predict for exact least squares on Legendre features.

    The same estimator the batched path computes K at a time, so the library decomposition
    (`genlab.bias_variance`) can check the vectorized numbers one model at a time.
    """

    def __init__(self, degree: int, x_min: float = -1.0, x_max: float = 1.0) -> None:
        self.degree, self.x_min, self.x_max = degree, x_min, x_max

    def get_params(self, deep: bool = True) -> dict:
        return {"degree": self.degree, "x_min": self.x_min, "x_max": self.x_max}

    def set_params(self, **params) -> LegendreLeastSquares:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, x: np.ndarray, y: np.ndarray) -> LegendreLeastSquares:
        phi = legendre_design(x, self.degree, self.x_min, self.x_max)
        self.coef_ = np.linalg.lstsq(phi, np.asarray(y, dtype=np.float64), rcond=None)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return legendre_design(x, self.degree, self.x_min, self.x_max) @ self.coef_
