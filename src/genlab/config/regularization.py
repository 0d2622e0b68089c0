"""Params of the `regularization` study (each regularizer's effect on train and test error).

The study trains the model of params `model`/`train` on a subsample of the prepared training
split, once per variant: `none` (every regularizer off, no early stopping, the full epoch
budget), then one regularizer at a time at the strength given here, then `combined`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genlab.config.base import PosFloat, PosInt, Strict

Regularizer = Literal[
    "l2",
    "weight_decay",
    "l1",
    "dropout",
    "dropconnect",
    "early_stopping",
    "augmentation",
    "batch_norm",
    "layer_norm",
    "group_norm",
]
# The baseline, each regularizer alone, then the combination (nested Literals flatten).
Variant = Literal["none", Regularizer, "combined"]
ALL_VARIANTS: list[str] = list(Variant.__args__)


class AugmentationConfig(Strict):
    """Label-preserving transforms of training batches (val/test are never transformed)."""

    signal_shift: Annotated[int, Field(ge=0, le=20)] = 4  # 1-D signals: max shift (samples)
    image_shift: Annotated[int, Field(ge=0, le=3)] = 1  # 8x8 images: max translation (pixels)
    noise_sigma: Annotated[float, Field(ge=0, le=1)] = 0.05  # Gaussian input noise std


class RegularizationStudyConfig(Strict):
    variants: list[Variant] = ALL_VARIANTS
    n_train: PosInt | None = 500  # training samples kept (stratified); null keeps all
    max_epochs: PosInt = 60
    seeds: Annotated[int, Field(ge=1, le=100)] = 3  # every variant with seed, seed+1, …
    l2: PosFloat = 1e-2  # penalty λ/2·‖W‖²
    weight_decay: PosFloat = 2.0  # decoupled decay (adam becomes adamw)
    l1: PosFloat = 3e-4  # penalty λ·‖W‖₁
    dropout: Annotated[float, Field(gt=0, lt=1)] = 0.3
    dropconnect: Annotated[float, Field(gt=0, lt=1)] = 0.3  # weights dropped (model mlp)
    patience: PosInt = 5  # early stopping on train.selection.metric (val/acc by default)
    augmentation: AugmentationConfig = AugmentationConfig()
    combined: list[Regularizer] = ["weight_decay", "dropout", "augmentation"]
    near_zero_tol: PosFloat = 1e-3  # |w| below this counts as a zero weight
    # "dropout needs more epochs": epochs each variant takes to bring the training loss to this
    train_loss_target: PosFloat = 0.5
    torch_threads: Annotated[int, Field(ge=1, le=256)] = 1  # 1 is fastest for these models

    @model_validator(mode="after")
    def _variants(self) -> RegularizationStudyConfig:
        for key, values in (("variants", self.variants), ("combined", self.combined)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{key} lists {dupes} more than once")
        if "none" not in self.variants:
            raise ValueError(
                "variants must include 'none', the unregularized baseline every other "
                f"variant is compared with (got {self.variants})"
            )
        if "combined" in self.variants and len(self.combined) < 2:
            raise ValueError(
                f"combined needs two or more regularizers to combine, got {self.combined}"
            )
        return self
