"""The shape of ``parameters_tying.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from iclr17.common.lm.schema import LMModel, LMPaper, LMTraining
from iclr17.common.schema import Schema


class AugmentedLoss(Schema):
    beta: NonNegativeFloat
    tau: PositiveFloat
    scale: Literal["tau2", "tau2_vocab", "beta"] | None = None
    target_grad: bool | None = None
    start_epoch: PositiveInt | None = None
    skip_words: list[str] | None = None
    tempered_prediction: bool | None = None


class AugmentedLossChanges(Schema):
    """A variant's own changes to its size's augmented-loss settings."""

    beta: NonNegativeFloat | None = None
    tau: PositiveFloat | None = None
    scale: Literal["tau2", "tau2_vocab", "beta"] | None = None
    target_grad: bool | None = None
    skip_words: list[str] | None = None
    tempered_prediction: bool | None = None


class Variant(Schema):
    tie: bool
    augmented_loss: bool | AugmentedLossChanges


class Size(Schema):
    model: LMModel
    augmented_loss: AugmentedLoss
    training: LMTraining


class Tying(LMPaper):
    variants: dict[Literal["baseline", "al", "re", "real"], Variant]
    sizes: dict[str, Size]
