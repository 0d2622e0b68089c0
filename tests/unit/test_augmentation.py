"""Augmentation transforms against hand-written loops, and that only training batches see them."""

from __future__ import annotations

import torch

from genlab.augmentation import (
    Augmentation,
    add_noise,
    augmentation_for,
    shift_signals,
    translate_images,
)


def draws(seed: int, n: int, k: int, times: int = 1) -> list[list[int]]:
    """The shifts the transforms draw for `seed` (same generator calls, same order)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(-k, k + 1, (n, 1), generator=g).flatten().tolist() for _ in range(times)]


def test_shift_signals_moves_each_row_and_repeats_the_edges():
    x = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    (shifts,) = draws(3, 4, 2)
    out = shift_signals(x, 2, torch.Generator().manual_seed(3))
    for i, s in enumerate(shifts):
        row = x[i].tolist()
        expected = [row[min(max(j - s, 0), 5)] for j in range(6)]
        assert out[i].tolist() == expected, (s, out[i].tolist())
    assert len(set(shifts)) > 1  # the rows really were shifted differently


def test_translate_images_moves_the_ink_with_zero_fill():
    n, h, w = 6, 3, 4
    x = torch.arange(1, n * h * w + 1, dtype=torch.float32).reshape(n, h * w)
    dy, dx = draws(5, n, 1, times=2)
    out = translate_images(x, (h, w), 1, torch.Generator().manual_seed(5))
    for i in range(n):
        img = x[i].reshape(h, w)
        expected = [
            [
                float(img[r - dy[i], c - dx[i]]) if 0 <= r - dy[i] < h and 0 <= c - dx[i] < w else 0
                for c in range(w)
            ]
            for r in range(h)
        ]
        assert out[i].reshape(h, w).tolist() == expected
    assert out.shape == x.shape


def test_zero_strength_is_the_identity_and_noise_has_the_asked_std():
    x = torch.randn(8, 40)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(shift_signals(x, 0, g), x)
    assert torch.equal(translate_images(x[:, :16], (4, 4), 0, g), x[:, :16])
    assert torch.equal(add_noise(x, 0.0, g), x)
    big = torch.zeros(200_000)
    noisy = add_noise(big, 0.3, g)
    assert abs(noisy.std().item() - 0.3) < 0.005 and abs(noisy.mean().item()) < 0.005


def test_augmentation_is_chosen_from_the_data_and_is_seeded():
    assert augmentation_for({"image_shape": [8, 8]}, 4, 1, 0.1, 0).kind == "image"
    assert augmentation_for({"signal_length": 40}, 4, 1, 0.1, 0).kind == "signal"
    assert augmentation_for({"bayes_error": 0.1}, 4, 1, 0.1, 0).kind == "noise"
    assert augmentation_for({"signal_length": 40}, 4, 1, 0.05, 0).summary() == (
        "shift ±4 samples + noise 0.05"
    )
    assert augmentation_for({"image_shape": [8, 8]}, 4, 1, 0.0, 0).summary() == "translate ±1 px"
    x = torch.randn(16, 40)
    a, b = Augmentation("signal", 4, 0.1, seed=7), Augmentation("signal", 4, 0.1, seed=7)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), Augmentation("signal", 4, 0.1, seed=8)(x))


def test_fit_applies_the_transform_to_training_batches_only(tiny_params):
    from genlab.config import with_overrides
    from genlab.data import make_splits
    from genlab.training import fit

    params = with_overrides(
        tiny_params,
        {"train.max_epochs": 2, "train.early_stopping.enabled": False},
    )
    splits = make_splits(params.data, params.seed)  # 120 training samples, batches of 32
    sizes: list[int] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        sizes.append(len(x))
        return x

    result = fit(params, splits, train_transform=record)
    assert result.status == "ok"
    # 2 epochs x (32, 32, 32, 24): never a whole split (train 120, val 60, test 200)
    assert sizes == [32, 32, 32, 24] * 2
