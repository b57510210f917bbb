"""Xie et al.'s data-noising schemes for language-model training batches.

Every position t of a training batch is noised independently with probability gamma, or, with
``absolute_discounting``, gamma * N1+(x_t, .) / c(x_t) (distinct continuations of the input token
over its bigram count, the absolute-discounting smoothing analogue).  A noised position gets:

- ``blank``: the placeholder token ``<_>`` as input (target kept);
- ``unigram``: an input drawn from the unigram distribution (target kept);
- ``bigram_kn``: input *and* target replaced by independent draws from the Kneser-Ney
  continuation distribution q(w) proportional to N1+(., w), the number of distinct histories of w.

Statistics come from the training split only; validation and test are never noised.
"""

from __future__ import annotations

import numpy as np
import torch

SCHEMES = ("none", "blank", "unigram", "bigram_kn")


def bigram_statistics(train: np.ndarray, vocab_size: int) -> dict:
    """Unigram frequencies, c(x) (bigrams starting with x), N1+(x, .) and N1+(., w) of a stream."""
    train = np.asarray(train, dtype=np.int64)
    if train.min() < 0 or train.max() >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    first, second = train[:-1], train[1:]
    pairs = np.unique(first * vocab_size + second)
    distinct_next = np.bincount(pairs // vocab_size, minlength=vocab_size)
    distinct_prev = np.bincount(pairs % vocab_size, minlength=vocab_size)
    distinct_prev[train[0]] = max(distinct_prev[train[0]], 1)  # the first token has a history too
    return {
        "unigram": np.bincount(train, minlength=vocab_size) / len(train),
        "bigram_count": np.bincount(first, minlength=vocab_size),
        "distinct_continuations": distinct_next,
        "continuation": distinct_prev / distinct_prev.sum(),
    }


def noising_probability(stats: dict, gamma: float, absolute_discounting: bool) -> np.ndarray:
    """Per input token id: gamma, or gamma * N1+(x, .) / c(x) (1 where x never starts a bigram)."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    n = len(stats["unigram"])
    if not absolute_discounting:
        return np.full(n, gamma)
    count = stats["bigram_count"]
    ratio = np.where(count > 0, stats["distinct_continuations"] / np.maximum(count, 1), 1.0)
    return np.clip(gamma * ratio, 0.0, 1.0)


class Noiser:
    """``noiser(x, y) -> (x', y')`` for a ``(batch, time)`` batch; a callable batch transform."""

    def __init__(self, stats: dict, scheme: str, gamma: float, absolute_discounting: bool = False,
                 blank_id: int | None = None, seed: int = 0, device: torch.device | str = "cpu"):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if scheme == "blank" and blank_id is None:
            raise ValueError("the blank scheme needs the id of the <_> token")
        self.scheme, self.blank_id = scheme, blank_id
        self.p = torch.as_tensor(noising_probability(stats, gamma, absolute_discounting), dtype=torch.float32, device=device)
        proposal = {"unigram": stats["unigram"], "bigram_kn": stats["continuation"]}.get(scheme)
        self.proposal = None if proposal is None else torch.as_tensor(proposal, dtype=torch.float32, device=device)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def _draw(self, n: int) -> torch.Tensor:
        return torch.multinomial(self.proposal, n, replacement=True, generator=self.generator)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scheme == "none":
            return x, y
        p = self.p[x]
        mask = torch.rand(p.shape, generator=self.generator, device=p.device) < p
        n = int(mask.sum())
        if n == 0:
            return x, y
        x = x.clone()
        if self.scheme == "blank":
            x[mask] = self.blank_id
        else:
            x[mask] = self._draw(n).to(x.dtype)
            if self.scheme == "bigram_kn":
                y = y.clone()
                y[mask] = self._draw(n).to(y.dtype)
        return x, y
