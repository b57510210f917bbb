"""Parameter schemas of the language-model core that ``tying`` and ``noising`` share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import PositiveFloat, PositiveInt

from iclr17.common.schema import Schema


class PTB(Schema):
    class Expected(Schema):
        vocab_size: PositiveInt
        tokens: dict[Literal["train", "valid", "test"], PositiveInt]

    expected: Expected
    max_tokens: dict[Literal["train", "valid", "test"], PositiveInt] | None = None  # a prefix of each split


class LMModel(Schema):
    hidden: PositiveInt
    layers: PositiveInt
    dropout: float
    embedding_dropout: float
    init_scale: PositiveFloat
    mask_sharing: Literal["separate", "per_layer"] | None = None
    input_dropout: float | None = None


class LRDecay(Schema):
    type: Literal["after_epoch", "plateau"]
    rate: PositiveFloat
    start_epoch: PositiveInt | None = None
    max_decays: PositiveInt | None = None


class LMTraining(Schema):
    batch_size: PositiveInt
    bptt: PositiveInt
    lr: PositiveFloat
    epochs: PositiveInt
    lr_decay: LRDecay
    clip_norm: PositiveFloat
    eval_batch_size: PositiveInt
    matmul_precision: Literal["highest", "high", "medium"] | None = None



class LMPaper(Schema):
    """The keys every language-model paper's block has (``tying``, ``noising``)."""

    size: Literal["small", "medium", "large"]
    seed: int
    device: str
    final_eval_batch_size: PositiveInt
    paper: dict[str, Any]  # the paper's table
