"""The shape of ``parameters_gcn.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema

PropagationModel = Literal["renormalization", "chebyshev_3", "chebyshev_2", "first_order", "single_parameter",
                           "first_order_term_only", "mlp"]


class Training(Schema):
    hidden: PositiveInt
    dropout: float = Field(ge=0.0, lt=1.0)
    weight_decay: NonNegativeFloat
    lr: PositiveFloat
    epochs: PositiveInt
    early_stopping: PositiveInt
    stop_on: Literal["regularized", "cross_entropy"] | None = None
    adam: Literal["tf1", "torch"] | None = None
    seeds: PositiveInt | list[int]
    device: str
    workers: PositiveInt | Literal["auto"]


class LabelPropagation(Schema):
    max_iter: PositiveInt
    tol: PositiveFloat


class TSNE(Schema):
    model: PropagationModel
    perplexity: PositiveFloat
    max_nodes: PositiveInt | None = None


class GCN(Schema):
    propagation_models: list[PropagationModel] = Field(min_length=1)
    training: Training
    label_propagation: LabelPropagation
    tsne: TSNE
    paper: dict[str, Any]
