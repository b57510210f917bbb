"""The shape of ``parameters_sharp_minima.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema


class Expected(Schema):
    train: PositiveInt
    test: PositiveInt
    train_histogram: list[int]
    test_histogram: list[int]


class Network(Schema):
    name: Literal["f1", "c1"]
    hidden: list[PositiveInt] | None = None
    batchnorm: bool | None = None
    init: Literal["torch", "glorot_uniform"] = "torch"
    bn_momentum: float | None = None
    bn_eps: PositiveFloat | None = None
    bn_stats: Literal["running", "batch"] = "running"


class Training(Schema):
    lr: PositiveFloat
    small_batch: PositiveInt | float   # a count, or a fraction of the training set
    large_batch: PositiveInt | float
    seeds: PositiveInt | list[int]
    max_epochs: PositiveInt
    patience: PositiveInt
    min_improvement: NonNegativeFloat
    restore_best: bool | None = None
    device: str
    workers: PositiveInt | Literal["auto"]


class Sharpness(Schema):
    epsilons: list[PositiveFloat]
    subspace_dim: PositiveInt
    maxiter: PositiveInt
    n_samples: PositiveInt | None = None  # None: every training point
    batch_size: PositiveInt
    workers: PositiveInt | Literal["auto"]


class Alphas(Schema):
    start: float
    stop: float
    num: int = Field(ge=2)


class Parametric(Schema):
    alphas: Alphas
    seed: int
    batchnorm: Literal["recompute", "interpolate"]
    workers: PositiveInt | Literal["auto"] | None = None


class BatchSweep(Schema):
    batch_sizes: list[PositiveInt | float]
    seed: int
    max_epochs: PositiveInt


class Cifar(Schema):
    expected: Expected
    network: Network
    training: Training


class SharpMinima(Schema):
    data: dict[Literal["expected"], Expected]
    network: Network
    training: Training
    sharpness: Sharpness
    parametric: Parametric
    batch_sweep: BatchSweep
    paper: dict[str, Any]
    cifar: Cifar
