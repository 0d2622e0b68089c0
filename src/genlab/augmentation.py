"""Label-preserving data augmentation, applied to training batches only.

Why these transforms: a digit drawn one pixel to the left, or an MNIST-1D signal shifted by a
few samples, is still the same digit, so the model sees new inputs with correct labels and has
to learn the invariance instead of memorising positions. Small Gaussian input noise smooths the
fit the same way (Bishop 1995: training with input noise ≈ a Tikhonov penalty). Validation and
test inputs are never transformed (`GenLabModule.training_step` is the only caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


def shift_signals(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Shift each row of (N, L) by its own random s ∈ [−max_shift, max_shift] samples.

    out[i, j] = x[i, j − s_i]; samples that enter at an edge repeat the edge value, so a shift
    adds no artificial step to the signal.
    """
    if max_shift <= 0:
        return x
    n, length = x.shape
    s = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=generator).to(x.device)
    idx = (torch.arange(length, device=x.device)[None, :] - s).clamp(0, length - 1)
    return x.gather(1, idx)


def translate_images(
    x: Tensor, image_shape: tuple[int, int], max_shift: int, generator: torch.Generator
) -> Tensor:
    """Translate each flattened (N, H·W) image by its own random (dy, dx), |dy|, |dx| ≤ max_shift.

    out[i, r, c] = img[i, r − dy, c − dx]; pixels that enter from outside are 0, the digits'
    background, so the ink is moved, never wrapped around.
    """
    if max_shift <= 0:
        return x
    h, w = image_shape
    n = len(x)
    dev = x.device
    dy = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=generator).to(dev)
    dx = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=generator).to(dev)
    rows = torch.arange(h, device=dev)[None, :] - dy  # (N, H): source row of each output row
    cols = torch.arange(w, device=dev)[None, :] - dx  # (N, W)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    src = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]
    out = x.reshape(n, h * w).gather(1, src.reshape(n, h * w)).reshape(n, h, w)
    return (out * inside).reshape(x.shape)


def add_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """x + N(0, sigma²) per input value."""
    if sigma <= 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return x + sigma * noise


@dataclass
class Augmentation:
    """A seeded batch transform: shift/translate (when the data has a layout), then noise.

    `kind` is "signal" (1-D signals, e.g. MNIST-1D), "image" (flattened images, e.g. digits)
    or "noise" (anything else: only the noise applies).
    """

    kind: str
    max_shift: int
    noise_sigma: float
    seed: int
    image_shape: tuple[int, int] | None = None
    generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("signal", "image", "noise"):
            raise ValueError(f"unknown augmentation kind '{self.kind}': signal, image or noise")
        if self.kind == "image" and self.image_shape is None:
            raise ValueError("image augmentation needs image_shape (H, W)")
        self.generator = torch.Generator().manual_seed(self.seed)

    def __call__(self, x: Tensor) -> Tensor:
        if self.kind == "signal":
            x = shift_signals(x, self.max_shift, self.generator)
        elif self.kind == "image":
            x = translate_images(x, self.image_shape, self.max_shift, self.generator)
        return add_noise(x, self.noise_sigma, self.generator)

    def summary(self) -> str:
        """`shift ±4 samples + noise 0.05`: the transform in a few words."""
        move = {
            "signal": f"shift ±{self.max_shift} samples",
            "image": f"translate ±{self.max_shift} px",
            "noise": "",
        }[self.kind]
        noise = f"noise {self.noise_sigma:g}" if self.noise_sigma > 0 else ""
        return " + ".join(t for t in (move, noise) if t) or "none"

    def describe(self) -> dict[str, object]:
        """What the transform does, for MLflow params and the study's table."""
        return {"kind": self.kind, "max_shift": self.max_shift, "noise_sigma": self.noise_sigma}


def augmentation_for(
    info: dict, signal_shift: int, image_shift: int, noise_sigma: float, seed: int
) -> Augmentation:
    """The transform suited to the data, read from the dataset's recorded facts (`Splits.info`):
    `image_shape` → small translations, `signal_length` → shifts, otherwise noise only."""
    if info.get("image_shape"):
        h, w = info["image_shape"]
        return Augmentation("image", image_shift, noise_sigma, seed, (int(h), int(w)))
    if info.get("signal_length"):
        return Augmentation("signal", signal_shift, noise_sigma, seed)
    return Augmentation("noise", 0, noise_sigma, seed)
