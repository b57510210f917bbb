"""The shape of ``parameters_meta_lstm.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema


class ImageSize(Schema):
    image_size: int = Field(ge=16)  # four 2x2 poolings
    max_classes: dict[Literal["train", "val", "test"], PositiveInt] | None = None  # the first n of each split


class Episodes(Schema):
    ways: int = Field(ge=2)
    queries: PositiveInt
    val_episodes: int = Field(ge=2)
    test_episodes: int = Field(ge=2)
    seed: int


class Model(Schema):
    filters: PositiveInt
    bn_eps: PositiveFloat
    hidden: PositiveInt
    preprocess_p: PositiveFloat
    forget_bias: list[float] = Field(min_length=2, max_length=2)
    input_bias: list[float] = Field(min_length=2, max_length=2)


class Shot(Schema):
    episodes: PositiveInt
    inner_epochs: PositiveInt
    inner_batch: PositiveInt
    bn_momentum: float = Field(gt=0.0, le=1.0)


class Training(Schema):
    model_config = {**Schema.model_config, "populate_by_name": True}
    lr: PositiveFloat
    clip_norm: PositiveFloat
    validate_every: PositiveInt
    one_shot: Shot = Field(alias="1shot")
    five_shot: Shot = Field(alias="5shot")


class Pretrain(Schema):
    filters: PositiveInt
    epochs: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat


class Finetune(Schema):
    steps: PositiveInt
    lr: PositiveFloat


class Matching(Schema):
    filters: PositiveInt
    fce_steps: PositiveInt
    lr: PositiveFloat
    episodes: PositiveInt
    validate_every: PositiveInt


class MetaLSTM(Schema):
    seed: int
    device: str
    omniglot: ImageSize
    miniimagenet: ImageSize
    episodes: Episodes
    model: Model
    training: Training
    pretrain: Pretrain
    finetune: Finetune
    matching: Matching
    paper: dict[str, dict[str, dict[str, float]]]
