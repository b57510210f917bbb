"""The shape of ``parameters_vlae.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema

Dataset = Literal["static_mnist", "dynamic_mnist", "caltech101_silhouettes"]


class Model(Schema):
    latent: NonNegativeInt  # 0: the unconditional PixelCNN
    channels: PositiveInt
    enc_blocks: NonNegativeInt
    dec_layers: NonNegativeInt
    first_kernel: int = Field(ge=3, multiple_of=1)
    tied: bool
    flow_steps: PositiveInt
    flow_hidden: PositiveInt
    iaf_steps: PositiveInt


class Variant(Schema):
    latent: NonNegativeInt | None = None
    prior: Literal["af", "gaussian"] | None = None
    posterior: Literal["gaussian", "iaf"] | None = None
    channels: PositiveInt | None = None
    dec_layers: NonNegativeInt | None = None
    first_kernel: int | None = Field(default=None, ge=3)
    tied: bool | None = None


class Training(Schema):
    lr: PositiveFloat
    free_bits: float = Field(ge=0.0)
    polyak: float = Field(gt=0.0, lt=1.0)
    batch_size: PositiveInt
    init_batch: PositiveInt
    train_on_val: bool
    val_images: PositiveInt
    epochs: dict[Dataset, PositiveInt]
    max_images: PositiveInt | None = None


class Evaluation(Schema):
    samples: PositiveInt
    chunk: PositiveInt
    batch_size: PositiveInt
    test_images: PositiveInt | None
    grid: PositiveInt


class Ablation(Schema):
    nll: float
    kl: float


class Paper(Schema):
    static_mnist: dict[str, float]
    dynamic_mnist: dict[str, float]
    caltech101_silhouettes: dict[str, float]
    appendix_d: dict[Literal["pixelcnn", "gaussian", "af"], Ablation]
    af_minus_iaf: float


class VLAE(Schema):
    seed: int
    device: str
    model: Model
    variants: dict[Literal["af", "gaussian", "pixelcnn", "iaf", "rf_small", "rf_large"], Variant]
    training: Training
    evaluation: Evaluation
    paper: Paper
