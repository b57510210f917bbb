"""The shape of ``parameters_prodlda.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema


class Preprocessing(Schema):
    strip_headers: bool
    max_docs: PositiveInt | None = None


class AVITMModel(Schema):
    decoder: Literal["prodlda", "nvlda"]
    hidden: list[PositiveInt]
    dropout: float = Field(ge=0.0, lt=1.0)
    alpha: PositiveFloat
    lr: PositiveFloat
    beta1: float = Field(ge=0.0, lt=1.0)
    epochs: PositiveInt
    batch_size: PositiveInt


class LDAVB(Schema):
    seeds: list[int]
    learning_method: Literal["online", "batch"]
    max_iter: PositiveInt
    batch_size: PositiveInt
    doc_topic_prior: PositiveFloat | None = None
    topic_word_prior: PositiveFloat | None = None


class LDAGibbs(Schema):
    seeds: list[int]
    n_iter: PositiveInt
    alpha: PositiveFloat
    eta: PositiveFloat


class NPMI(Schema):
    window_size: PositiveInt
    top_n: PositiveInt
    reference: list[Literal["train", "paper_test"]]


class ProdLDA(Schema):
    preprocessing: Preprocessing
    test_split: Literal["own", "paper"]
    n_topics: PositiveInt
    seeds: list[int] = Field(min_length=1)
    device: str
    workers: PositiveInt | Literal["auto"]
    models: dict[Literal["prodlda", "nvlda"], AVITMModel]
    lda_vb: LDAVB
    lda_gibbs: LDAGibbs
    npmi: NPMI
    paper: dict[str, Any]
