"""The shape of ``parameters_noising.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from iclr17.common.lm.schema import LMModel, LMPaper, LMTraining
from iclr17.common.schema import Schema


class SchemeRun(Schema):
    scheme: Literal["none", "blank", "unigram", "bigram_kn"]
    gamma: float = Field(ge=0.0, le=1.0)
    absolute_discounting: bool


class Size(Schema):
    model: LMModel
    training: LMTraining


class Noising(LMPaper):
    runs: dict[Literal["none", "blank", "unigram", "bigram_kn"], SchemeRun]
    sizes: dict[str, Size]
