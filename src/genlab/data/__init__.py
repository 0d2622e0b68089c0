"""Datasets: generated or bundled locally (never downloaded), split train/val/test."""

from __future__ import annotations

from genlab.config.data import DataConfig
from genlab.data.splits import DataError, Splits, load_splits, save_splits

__all__ = ["DataError", "Splits", "load_splits", "make_splits", "save_splits"]


def make_splits(cfg: DataConfig, seed: int) -> Splits:
    """Build the dataset named in params.data, deterministically for `seed`."""
    if cfg.name == "poly":
        from genlab.data.poly import make_poly

        p = cfg.poly
        return make_poly(
            p.function, p.noise_sigma, p.n_train, p.n_val, p.n_test, p.x_min, p.x_max, seed
        )
    if cfg.name == "gaussians":
        from genlab.data.gaussians import make_gaussians

        g = cfg.gaussians
        return make_gaussians(
            g.n_classes,
            g.dim,
            g.separation,
            g.sigma,
            g.n_train,
            g.n_val,
            g.n_test,
            seed,
            bayes_mc_samples=g.bayes_mc_samples,
        )
    if cfg.name == "digits":
        from genlab.data.digits import make_digits

        return make_digits(cfg.digits.val_fraction, cfg.digits.test_fraction, seed)
    if cfg.name == "mnist1d":
        from genlab.data.mnist1d_signals import make_mnist1d

        m = cfg.mnist1d
        return make_mnist1d(m.num_samples, m.val_fraction, m.test_fraction, seed)
    raise ValueError(f"unknown dataset '{cfg.name}': allowed poly, gaussians, digits, mnist1d")
