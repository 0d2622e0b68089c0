"""Params of the diagnosis (underfit / overfit / good fit) given to every trained model.

The rule (genlab.diagnosis): underfit when the training error is more than `underfit_margin`
above the baseline error; otherwise overfit when the generalization gap exceeds `overfit_gap`;
otherwise good fit. The baseline is the error no model can beat when the data records it (the
Bayes error of `gaussians`, the noise variance σ² of `poly`), else `baseline_error` below.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from genlab.config.base import NonNegFloat, PosFloat, Strict


class ClassificationThresholds(Strict):
    """Errors are 1 − accuracy."""

    baseline_error: Annotated[float, Field(ge=0, lt=1)] = 0.0
    underfit_margin: Annotated[float, Field(gt=0, le=1)] = 0.10
    gap_measure: Literal["error", "loss"] = "error"  # test − train error, or gap/loss
    overfit_gap: PosFloat = 0.10


class RegressionThresholds(Strict):
    """Errors are the mean squared error (the `mse` loss)."""

    baseline_error: NonNegFloat = 0.0
    underfit_margin: PosFloat = 0.05
    overfit_gap: PosFloat = 0.05


class DiagnosisConfig(Strict):
    classification: ClassificationThresholds = ClassificationThresholds()
    regression: RegressionThresholds = RegressionThresholds()
