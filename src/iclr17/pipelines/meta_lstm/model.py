"""The learner, the meta-learner LSTM of Ravi & Larochelle (ICLR 2017), and the Matching Networks
baseline (Vinyals et al., 2016).

The learner is written as a function of one flat parameter vector, because that vector *is* the
meta-learner's cell state: ``Learner.forward(theta, x, bn)`` unflattens ``theta`` into views (no
copy) and runs 4 x [3x3 conv, batch norm, ReLU, 2x2 max-pool] + linear, as the official
``lstm-classifier.lua``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BatchNormState:
    """One episode's running batch-norm statistics of the learner (the official code resets them
    for every episode and updates them during the support-set passes)."""

    means: list[torch.Tensor] = field(default_factory=list)
    vars: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def fresh(cls, filters: int, blocks: int, device) -> BatchNormState:
        return cls([torch.zeros(filters, device=device) for _ in range(blocks)],
                   [torch.ones(filters, device=device) for _ in range(blocks)])


class Learner:
    """The few-shot classifier as a function of a flat parameter vector."""

    def __init__(self, in_channels: int, image_size: int, ways: int, filters: int = 32, blocks: int = 4,
                 bn_eps: float = 1e-3, bn_momentum: float = 0.9):
        self.blocks, self.filters, self.bn_eps, self.bn_momentum = blocks, filters, bn_eps, bn_momentum
        side = image_size
        for _ in range(blocks):
            side //= 2
        if side < 1:
            raise ValueError(f"{image_size}x{image_size} images are too small for {blocks} pooling blocks")
        self.features = filters * side * side
        shapes = []
        for b in range(blocks):
            shapes += [(f"conv{b}.weight", (filters, in_channels if b == 0 else filters, 3, 3)),
                       (f"conv{b}.bias", (filters,)), (f"bn{b}.weight", (filters,)), (f"bn{b}.bias", (filters,))]
        shapes += [("fc.weight", (ways, self.features)), ("fc.bias", (ways,))]
        self.shapes = dict(shapes)
        self.n_params = sum(math.prod(s) for s in self.shapes.values())

    def init_params(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A flat initial parameter vector: PyTorch's default conv / linear init, batch norm 1 / 0."""
        parts = []
        for name, shape in self.shapes.items():
            if name.startswith("bn"):
                parts.append(torch.ones(shape) if name.endswith("weight") else torch.zeros(shape))
                continue
            fan_in = math.prod(self.shapes[name.replace("bias", "weight")][1:])
            bound = 1.0 / math.sqrt(fan_in)
            if name.endswith("weight"):  # kaiming_uniform(a=sqrt(5)), as nn.Conv2d / nn.Linear
                bound = math.sqrt(6.0 / ((1 + 5) * fan_in))
            parts.append(torch.empty(shape).uniform_(-bound, bound, generator=generator))
        return torch.cat([p.reshape(-1) for p in parts])

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``theta`` in the learner's shapes (no copy: a change to theta is a change here)."""
        out, start = {}, 0
        for name, shape in self.shapes.items():
            n = math.prod(shape)
            out[name] = theta[start:start + n].view(shape)
            start += n
        return out

    def embed(self, theta: torch.Tensor, x: torch.Tensor, bn: BatchNormState | None, training: bool) -> torch.Tensor:
        """The conv blocks' flattened output.  ``training``: batch statistics, and ``bn`` (if
        given) updated with them; otherwise ``bn``'s running statistics."""
        p = self.unflatten(theta)
        for b in range(self.blocks):
            x = F.conv2d(x, p[f"conv{b}.weight"], p[f"conv{b}.bias"], padding=1)
            mean, var = (bn.means[b], bn.vars[b]) if bn is not None else (None, None)
            x = F.batch_norm(x, mean, var, p[f"bn{b}.weight"], p[f"bn{b}.bias"], training or bn is None,
                             self.bn_momentum, self.bn_eps)
            x = F.max_pool2d(F.relu(x), 2)
        return x.flatten(1)

    def forward(self, theta: torch.Tensor, x: torch.Tensor, bn: BatchNormState | None = None,
                training: bool = True) -> torch.Tensor:
        p = self.unflatten(theta)
        return F.linear(self.embed(theta, x, bn, training), p["fc.weight"], p["fc.bias"])


def preprocess(x: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """Andrychowicz et al.'s preprocessing of gradients and losses, as the paper (p = 10): each
    value becomes two, (log|x| / p, sign x) where |x| >= e^-p, else (-1, e^p x)."""
    big = x.abs() >= math.exp(-p)
    first = torch.where(big, x.abs().clamp_min(1e-38).log() / p, torch.full_like(x, -1.0))
    second = torch.where(big, x.sign(), x * math.exp(p))
    return torch.stack([first, second], dim=-1)


class MetaLSTMCell(nn.Module):
    """The meta-learner's second layer: its cell state is the learner's parameters, updated as
    c_t = f_t * c_{t-1} - i_t * grad_t, with f_t = sigma(W_F [h_t, c_{t-1}, f_{t-1}] + b_F) and
    i_t = sigma(W_I [h_t, c_{t-1}, i_{t-1}] + b_I), shared by every coordinate (the paper's Eq. 2)."""

    def __init__(self, hidden: int, n_params: int, forget_bias=(4.0, 5.0), input_bias=(-5.0, -4.0)):
        super().__init__()
        self.W_F = nn.Parameter(torch.empty(hidden + 2, 1).uniform_(-0.01, 0.01))
        self.W_I = nn.Parameter(torch.empty(hidden + 2, 1).uniform_(-0.01, 0.01))
        # a high forget and a low input gate: it starts as gradient descent with a small step
        self.b_F = nn.Parameter(torch.empty(1).uniform_(*forget_bias))
        self.b_I = nn.Parameter(torch.empty(1).uniform_(*input_bias))
        self.c_0 = nn.Parameter(torch.zeros(n_params))  # the learner's initial parameters

    def forward(self, h, grad, c, f, i):
        hidden = h.shape[1]  # W [h, c, f] as three products: no concatenated copy of h per step
        wf, wi = self.W_F[:, 0], self.W_I[:, 0]
        f = torch.sigmoid(h @ wf[:hidden] + c * wf[hidden] + f * wf[hidden + 1] + self.b_F)
        i = torch.sigmoid(h @ wi[:hidden] + c * wi[hidden] + i * wi[hidden + 1] + self.b_I)
        return f * c - i * grad, f, i


class MetaLearner(nn.Module):
    """Coordinate-wise two-layer meta-learner: an LSTM (``hidden`` units) over the preprocessed
    loss and gradient of each coordinate, then :class:`MetaLSTMCell`."""

    def __init__(self, n_params: int, hidden: int = 20, p: float = 10.0, forget_bias=(4.0, 5.0),
                 input_bias=(-5.0, -4.0)):
        super().__init__()
        self.p = p
        self.lstm = nn.LSTMCell(4, hidden)
        for w in self.lstm.parameters():
            nn.init.uniform_(w, -0.01, 0.01)
        self.cell = MetaLSTMCell(hidden, n_params, forget_bias, input_bias)

    def start(self) -> dict:
        """The state before an episode's first step: c = the learned initial parameters."""
        n = self.cell.c_0.numel()
        zeros = self.cell.c_0.new_zeros(n)
        return {"lstm": None, "c": self.cell.c_0, "f": zeros, "i": zeros}

    def step(self, state: dict, loss: torch.Tensor, grad: torch.Tensor) -> dict:
        """One update of the learner's parameters from its (detached) loss and gradient."""
        x = torch.cat([preprocess(loss, self.p).expand(grad.numel(), 2), preprocess(grad, self.p)], 1)
        h, cx = self.lstm(x, state["lstm"])
        c, f, i = self.cell(h, grad, state["c"], state["f"], state["i"])
        return {"lstm": (h, cx), "c": c, "f": f, "i": i}


class ConvEmbedding(nn.Module):
    """4 x [3x3 conv, batch norm, ReLU, 2x2 max-pool], flattened: the baselines' feature network."""

    def __init__(self, in_channels: int, filters: int = 64, blocks: int = 4):
        super().__init__()
        layers = []
        for b in range(blocks):
            layers += [nn.Conv2d(in_channels if b == 0 else filters, filters, 3, padding=1), nn.BatchNorm2d(filters),
                       nn.ReLU(), nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers, nn.Flatten())

    def forward(self, x):
        return self.net(x)


class FullContextEmbedding(nn.Module):
    """Matching Networks' full-context embeddings: g, a bidirectional LSTM over the support set's
    embeddings (added to them), and f, an attention LSTM that reads the support set ``steps`` times
    for each query (Vinyals et al., Appendix)."""

    def __init__(self, dim: int, steps: int = 5):
        super().__init__()
        self.g = nn.LSTM(dim, dim, bidirectional=True, batch_first=True)
        self.f = nn.LSTMCell(2 * dim, dim)
        self.steps = steps

    def support(self, s: torch.Tensor) -> torch.Tensor:
        out, _ = self.g(s[None])
        d = s.shape[1]
        return s + out[0, :, :d] + out[0, :, d:]

    def query(self, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        h, c = torch.zeros_like(q), torch.zeros_like(q)
        for _ in range(self.steps):
            hq = h + q
            attention = torch.softmax(hq @ g.T, dim=1)
            h, c = self.f(torch.cat([q, attention @ g], 1), (hq, c))
        return h + q


class MatchingNetwork(nn.Module):
    """Matching Networks: the query's label is the softmax-of-cosine-attention-weighted sum of the
    support labels; ``fce`` adds full-context embeddings."""

    def __init__(self, in_channels: int, filters: int = 64, fce: bool = False, image_size: int = 28, fce_steps: int = 5):
        super().__init__()
        self.embedding = ConvEmbedding(in_channels, filters)
        side = image_size // 16
        self.fce = FullContextEmbedding(filters * side * side, fce_steps) if fce else None

    def forward(self, xs, ys, xq, ways: int) -> torch.Tensor:
        """Log-probabilities of the queries' labels."""
        s, q = self.embedding(xs), self.embedding(xq)
        if self.fce is not None:
            s = self.fce.support(s)
            q = self.fce.query(q, s)
        attention = torch.softmax(F.normalize(q, dim=1) @ F.normalize(s, dim=1).T, dim=1)  # cosine, as the paper
        return torch.log(attention @ F.one_hot(ys, ways).float() + 1e-12)
