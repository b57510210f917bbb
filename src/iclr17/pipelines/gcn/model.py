"""Graph convolutional networks (Kipf & Welling, ICLR 2017) as plain nn.Modules on sparse tensors.

A propagation model is a list of sparse N x N "support" matrices S_k; one layer computes
``sum_k S_k X W_k``.  The paper's Table 3 models differ only in their supports (see
:func:`iclr17.pipelines.gcn.nodes.supports_for`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def glorot_(weight: torch.Tensor) -> torch.Tensor:
    """Glorot/Xavier uniform, as the official code's ``glorot`` initialiser."""
    fan_in, fan_out = weight.shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def sparse_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout on the stored values of a sparse CSR tensor (inverted scaling; dropped entries
    are stored as zeros, which keeps the index arrays and avoids re-sorting)."""
    if not training or p == 0.0:
        return x
    values = x.values()
    keep = (torch.rand(values.shape, device=x.device) >= p).to(values.dtype)
    # the same structure as x, already checked: no invariant checks in the training loop
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values * keep / (1.0 - p), x.shape,
                                   check_invariants=False)


class ChebyshevBasis:
    """The supports T_0..T_K of a rescaled Laplacian L~, never materialised: ``sum_k T_k(L~) Y_k``
    is evaluated by the Clenshaw recurrence with K sparse products by L~ (T_2, T_3 of a citation
    graph are far denser than the graph itself)."""

    def __init__(self, laplacian: torch.Tensor, k: int) -> None:
        if k < 1:
            raise ValueError("a Chebyshev basis needs K >= 1")
        self.laplacian = laplacian
        self.k = k

    def __len__(self) -> int:
        return self.k + 1

    def combine(self, ys: list[torch.Tensor]) -> torch.Tensor:
        """``sum_k T_k(L~) ys[k]`` (Clenshaw: b_k = y_k + 2 L~ b_{k+1} − b_{k+2})."""
        b1 = b2 = None
        for y in reversed(ys[1:]):
            b = y
            if b1 is not None:
                b = b + 2 * (self.laplacian @ b1)
            if b2 is not None:
                b = b - b2
            b1, b2 = b, b1
        out = ys[0] + self.laplacian @ b1
        return out if b2 is None else out - b2


class GraphConvolution(nn.Module):
    """``sum_k S_k X W_k`` for ``n_supports`` sparse CSR supports; X dense or CSR; no bias (as the paper)."""

    def __init__(self, in_features: int, out_features: int, n_supports: int = 1, bias: bool = False) -> None:
        super().__init__()
        if n_supports < 1:
            raise ValueError("a graph convolution needs at least one support")
        self.weights = nn.ParameterList(
            [nn.Parameter(glorot_(torch.empty(in_features, out_features))) for _ in range(n_supports)]
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor, supports: list[torch.Tensor] | ChebyshevBasis) -> torch.Tensor:
        if len(supports) != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} supports, got {len(supports)}")
        ys = [x @ weight for weight in self.weights]
        if isinstance(supports, ChebyshevBasis):
            out = supports.combine(ys)
        else:
            out = sum(support @ y for support, y in zip(supports, ys))
        return out if self.bias is None else out + self.bias


class TF1Adam(torch.optim.Adam):
    """Adam as TensorFlow 1's ``tf.train.AdamOptimizer`` (the official GCN code's optimizer).

    TF 1 adds epsilon to sqrt(v) *before* the bias correction (``lr_t = lr sqrt(1 - b2^t) /
    (1 - b1^t)``, ``step = lr_t m / (sqrt(v) + eps)``); PyTorch adds it after.  The two agree
    exactly when PyTorch's epsilon at step t is ``eps / sqrt(1 - b2^t)``, which is what this class
    sets before every step: 3.2e-7 at the first step, 2.4e-8 at the 200th for eps 1e-8.  Measured
    against the official code under TF 2's ``compat.v1`` (same initial weights, no dropout, Citeseer):
    the validation loss agrees to ~1e-7 with this class and drifts by ~1e-5 with PyTorch's Adam, the
    gradients of rare features' first-layer weights being tiny.  Over 100 seeds the GCN's mean test
    accuracies came out within 0.01 point of each other either way, the MLP's within 0.33
    (docs/results.md)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        self._tf_eps = eps
        self._t = 0

    @torch.no_grad()
    def step(self, closure=None):
        self._t += 1  # every parameter steps together here (full-batch training)
        for group in self.param_groups:
            group["eps"] = self._tf_eps / math.sqrt(1.0 - group["betas"][1] ** self._t)
        return super().step(closure)


class GCN(nn.Module):
    """Two-layer GCN: ``S · ReLU(S · drop(X) W0) → drop → W1`` (logits; softmax in the loss)."""

    def __init__(
        self, in_features: int, hidden: int, n_classes: int, n_supports: int = 1, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = dropout
        self.layer1 = GraphConvolution(in_features, hidden, n_supports)
        self.layer2 = GraphConvolution(hidden, n_classes, n_supports)

    def forward(self, x: torch.Tensor, supports: list[torch.Tensor] | ChebyshevBasis, return_hidden: bool = False):
        if x.layout == torch.sparse_csr:
            x = sparse_dropout(x, self.dropout, self.training)
        else:
            x = F.dropout(x, self.dropout, self.training)
        hidden = F.relu(self.layer1(x, supports))
        logits = self.layer2(F.dropout(hidden, self.dropout, self.training), supports)
        return (logits, hidden) if return_hidden else logits

    def first_layer_l2(self) -> torch.Tensor:
        """``tf.nn.l2_loss`` of the first layer's weights: sum of squares / 2."""
        return sum((w**2).sum() for w in self.layer1.weights) / 2.0
