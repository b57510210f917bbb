"""Keskar et al.'s networks.

F1 (MNIST): 784 -> 5 x [Linear 512 -> (BatchNorm) -> ReLU] -> 10.  The paper's Appendix B could not
be read here; the sizes are those of Hoffer, Hubara & Soudry's (2017) re-run of Keskar's F1
(github.com/eladhoffer/bigBatch, models/mnist_f1.py at 0c69f28), which has batch norm; the widths
and the batch norm are parameters (the project's default has none: see docs/results.md).

C1 (CIFAR-10, "shallownet" of the official keskarnitish/large-batch-training network_zoo.py):
2 x [conv 64 5x5 -> BN -> ReLU -> maxpool 3/2], then FC 384 and FC 192, each with BN, ReLU and
dropout 0.5, then 10.
"""

from __future__ import annotations

import torch
from torch import nn


class F1(nn.Module):
    """``batchnorm=False`` drops the batch-norm layers (whether the paper's F1 had them is in its
    Appendix B, which could not be read here)."""

    def __init__(self, in_features: int = 784, hidden: tuple[int, ...] = (512,) * 5, n_classes: int = 10,
                 batchnorm: bool = True):
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden}")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), *([nn.BatchNorm1d(h)] if batchnorm else []), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class C1(nn.Module):
    def __init__(self, n_classes: int = 10, channels: int = 64, dropout: float = 0.5):
        super().__init__()

        def conv(cin: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, channels, 5, padding=2), nn.BatchNorm2d(channels), nn.ReLU(),
                    nn.MaxPool2d(3, stride=2, padding=1)]

        def dense(din: int, dout: int) -> list[nn.Module]:
            return [nn.Linear(din, dout), nn.BatchNorm1d(dout), nn.ReLU(), nn.Dropout(dropout)]

        self.features = nn.Sequential(*conv(3), *conv(channels))
        self.classifier = nn.Sequential(
            nn.Flatten(), *dense(channels * 8 * 8, 384), *dense(384, 192), nn.Linear(192, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (3, 32, 32):
            raise ValueError(f"C1 takes (batch, 3, 32, 32) images, got {tuple(x.shape)}")
        return self.classifier(self.features(x))


INITS = ("torch", "glorot_uniform")
BN_STATS = ("running", "batch")


def use_batch_statistics(model: nn.Module) -> nn.Module:
    """Make every batch-norm layer normalise with the statistics of the batch it is given, in
    training and in eval mode alike, and keep no running statistics: Keras 1.x's
    ``BatchNormalization(mode=2)``, which every network of the paper's code uses
    (keskarnitish/large-batch-training, ``network_zoo.py``).  Evaluation then depends on the
    evaluation batch size (the paper's code evaluates in batches of 5,000)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return model


def set_framework_defaults(model: nn.Module, init: str = "torch", bn_momentum: float | None = None,
                           bn_eps: float | None = None) -> nn.Module:
    """Re-initialise ``model`` the way another framework would.  The paper's code is Keras 1.x,
    whose Dense/Convolution layers start from Glorot-uniform weights and zero biases, and whose
    BatchNormalization keeps running statistics with momentum 0.99 (PyTorch's ``momentum`` is
    the weight of the new batch, so 0.01) and epsilon 1e-3; PyTorch's defaults are Kaiming-uniform
    (a=sqrt(5)) weights, 0.1 and 1e-5.  ``None`` leaves the PyTorch value."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if bn_momentum is not None and not 0 < bn_momentum <= 1:
        raise ValueError(f"bn_momentum is the new batch's weight, in (0, 1]; got {bn_momentum}")
    if bn_eps is not None and bn_eps <= 0:
        raise ValueError(f"bn_eps must be positive, got {bn_eps}")
    for m in model.modules():
        if init == "glorot_uniform" and isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if bn_momentum is not None:
                m.momentum = bn_momentum
            if bn_eps is not None:
                m.eps = bn_eps
    return model


def build_network(name: str, init: str = "torch", bn_momentum: float | None = None,
                  bn_eps: float | None = None, bn_stats: str = "running", **kwargs) -> nn.Module:
    """The network ``name`` with its keyword arguments; ``init``, ``bn_momentum`` and ``bn_eps``
    as in :func:`set_framework_defaults`; ``bn_stats="batch"`` as in :func:`use_batch_statistics`
    (``"running"``: PyTorch's running statistics in eval mode)."""
    networks = {"f1": F1, "c1": C1}
    if name not in networks:
        raise ValueError(f"network must be one of {sorted(networks)}, got {name!r}")
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats must be one of {BN_STATS}, got {bn_stats!r}")
    model = set_framework_defaults(networks[name](**kwargs), init, bn_momentum, bn_eps)
    return use_batch_statistics(model) if bn_stats == "batch" else model
