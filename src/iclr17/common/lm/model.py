"""The 2-layer LSTM language model with variational dropout (Gal & Ghahramani, 2016) and optional
tied input/output embeddings (Inan et al. 2017 "RE", Press & Wolf 2017).

Variational dropout: one Bernoulli mask per sequence, the same at every time step.  Where the
masks go is ``mask_sharing``:

- ``separate`` (the default): a mask on the input of each LSTM layer, another on the recurrent
  state h_{t-1} of each layer, and one on the last layer's output (2 x layers + 1 masks);
- ``per_layer``: Inan et al.'s wording, "the same mask across time and between the state and the
  next layer's input": one mask on the embedded input, and one per layer on its hidden state,
  used both for its recurrence and as the next layer's (or the softmax's) input (layers + 1 masks).
  Every connection is still dropped with the same probability; what changes is that a dropped
  unit leaves its own recurrence and the layer above together, for the whole sequence.

``embedding_dropout`` additionally drops whole word types (Gal's embedding dropout); it is 0 unless
a parameter says otherwise.

``input_dropout`` is the probability of the mask on the embedded input (the first layer's input);
``None`` (the default) means ``dropout``. Inan et al. write that they use no dropout on the input
embedding; 0 is that reading taken literally (word vectors enter the first layer undropped), where
the default reads it as "no embedding dropout" (whole word types kept) and still masks the vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from iclr17.common.config import check_keys

MASK_SHARING = ("separate", "per_layer")
DEFAULT_MASK_SHARING = "separate"
# the keys of a ``model:`` parameter block, for the pipelines that build this model
MODEL_KEYS = ("hidden", "layers", "dropout", "embedding_dropout", "init_scale")
MODEL_OPTIONAL_KEYS = ("mask_sharing", "input_dropout")


def model_config(block, where: str) -> dict:
    """A ``model:`` parameter block, checked: the :class:`LSTMLanguageModel` keyword arguments."""
    return check_keys(block, where, MODEL_KEYS, MODEL_OPTIONAL_KEYS)


def variational_mask(like: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A ``(batch, 1, features)`` inverted-dropout mask for ``like`` of shape ``(batch, time, features)``:
    broadcast over time, so every step of a sequence sees the same units dropped."""
    keep = 1.0 - p
    shape = (like.size(0), 1, like.size(-1))
    noise = torch.empty(shape, device=like.device, dtype=like.dtype)
    return noise.bernoulli_(keep, generator=generator) / keep


class VariationalLSTMLayer(nn.Module):
    """One LSTM layer whose recurrent state is multiplied by a per-sequence mask at every step."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], h_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, c = state
        # all time steps' input projections at once; unbind (not gates_x[:, t]) so that the
        # backward pass stacks the per-step gradients instead of adding each into a zero-filled
        # copy of the whole (batch, time, 4 hidden) tensor
        gates_x = F.linear(x, self.weight_ih, self.bias).unbind(1)
        w_hh = self.weight_hh.t()
        outputs = []
        for gx in gates_x:
            h_in = h if h_mask is None else h * h_mask
            i, f, g, o = torch.addmm(gx, h_in, w_hh).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


class LSTMLanguageModel(nn.Module):
    """Embedding -> ``layers`` variational LSTM layers of ``hidden`` units -> softmax over the vocabulary.

    ``tie=True`` makes the decoder's weight *the same Parameter* as the embedding (RE); this needs
    the embedding size to equal the last layer's size, as in the paper (equal sizes throughout)."""

    def __init__(
        self,
        vocab_size: int,
        hidden: int,
        layers: int = 2,
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        tie: bool = False,
        init_scale: float = 0.1,
        mask_sharing: str = DEFAULT_MASK_SHARING,
        input_dropout: float | None = None,
    ):
        super().__init__()
        if mask_sharing not in MASK_SHARING:
            raise ValueError(f"mask_sharing must be one of {MASK_SHARING}, got {mask_sharing!r}")
        input_dropout = dropout if input_dropout is None else input_dropout
        for name, p in (("dropout", dropout), ("embedding_dropout", embedding_dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        if layers < 1 or hidden < 1:
            raise ValueError(f"need layers >= 1 and hidden >= 1, got {layers}, {hidden}")
        self.vocab_size, self.hidden, self.n_layers = vocab_size, hidden, layers
        self.dropout, self.embedding_dropout, self.tie = dropout, embedding_dropout, tie
        self.mask_sharing, self.input_dropout = mask_sharing, input_dropout
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.layers = nn.ModuleList(VariationalLSTMLayer(hidden, hidden) for _ in range(layers))
        self.decoder = nn.Linear(hidden, vocab_size)
        for p in self.parameters():  # Zaremba et al.'s uniform init, the paper's starting point
            nn.init.uniform_(p, -init_scale, init_scale)
        if tie:
            self.decoder.weight = self.embedding.weight

    def init_state(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        weight = self.embedding.weight
        zeros = lambda: weight.new_zeros(batch_size, self.hidden)  # noqa: E731
        return [(zeros(), zeros()) for _ in self.layers]

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight
        if self.training and self.embedding_dropout > 0:
            keep = 1.0 - self.embedding_dropout
            rows = weight.new_empty(weight.size(0), 1).bernoulli_(keep) / keep
            weight = weight * rows
        return F.embedding(tokens, weight)

    def forward(self, tokens: torch.Tensor, state=None):
        """``tokens`` ``(batch, time)`` -> ``(logits (batch, time, vocab), state)``."""
        if state is None:
            state = self.init_state(tokens.size(0))
        x = self.embed(tokens)
        if self.training and self.input_dropout > 0:  # the embedded input's mask
            x = x * variational_mask(x, self.input_dropout)
        drop = self.training and self.dropout > 0
        shared = self.mask_sharing == "per_layer"
        new_state = []
        for i, (layer, layer_state) in enumerate(zip(self.layers, state)):
            if drop and i > 0 and not shared:  # shared: layer i > 0 gets its input masked below
                x = x * variational_mask(x, self.dropout)
            h_mask = variational_mask(x, self.dropout).squeeze(1) if drop else None
            x, layer_state = layer(x, layer_state, h_mask)
            if drop and shared:
                x = x * h_mask.unsqueeze(1)  # the recurrence's mask, on the way up
            new_state.append(layer_state)
        if drop and not shared:
            x = x * variational_mask(x, self.dropout)
        return self.decoder(x), new_state

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # a tied matrix counts once


def detach_state(state):
    return [(h.detach(), c.detach()) for h, c in state]


def perplexity(mean_nll: float) -> float:
    return math.exp(min(mean_nll, 700.0))
