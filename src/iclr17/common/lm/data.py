"""Corpus preparation for word-level language modelling (Mikolov's PTB and the like).

Tokens are ``line.split() + ["<eos>"]`` per line; the vocabulary is every training type, most
frequent first (ties alphabetical), so ids are deterministic.  Streams are ``int64`` numpy arrays;
:func:`batchify` and :func:`bptt_windows` turn one into truncated-BPTT minibatches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

import numpy as np
import torch

EOS = "<eos>"
SPLITS = ("train", "valid", "test")


def tokenize(text: str) -> list[str]:
    """One ``<eos>`` after every line, the usual PTB language-model tokenisation."""
    tokens: list[str] = []
    for line in text.splitlines():
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def build_vocab(tokens: list[str]) -> list[str]:
    """Every type in ``tokens``, most frequent first, ties in alphabetical order."""
    counts = Counter(tokens)
    return sorted(counts, key=lambda w: (-counts[w], w))


def encode(tokens: list[str], vocab: list[str], split: str = "") -> np.ndarray:
    index = {w: i for i, w in enumerate(vocab)}
    missing = sorted({w for w in tokens if w not in index})
    if missing:
        raise ValueError(f"{split or 'corpus'}: {len(missing)} word(s) not in the vocabulary, e.g. {missing[:5]}")
    return np.fromiter((index[w] for w in tokens), dtype=np.int64, count=len(tokens))


def prepare_corpus(texts: Mapping[str, str], expected: Mapping | None = None) -> dict:
    """``{"train","valid","test"} -> text`` into ``{"vocab", "train", "valid", "test"}`` id streams.

    ``expected`` (``vocab_size`` and ``tokens: {split: n}``) is checked, so a wrong or truncated
    file stops here with a message, not later as an odd perplexity."""
    missing = [s for s in SPLITS if s not in texts]
    if missing:
        raise ValueError(f"corpus splits missing: {missing}")
    tokens = {s: tokenize(texts[s]) for s in SPLITS}
    vocab = build_vocab(tokens["train"])
    corpus = {"vocab": vocab, **{s: encode(tokens[s], vocab, s) for s in SPLITS}}
    if expected:
        problems = []
        if expected.get("vocab_size") is not None and len(vocab) != expected["vocab_size"]:
            problems.append(f"vocabulary has {len(vocab)} types, expected {expected['vocab_size']}")
        for split, n in (expected.get("tokens") or {}).items():
            if len(corpus[split]) != n:
                problems.append(f"{split} has {len(corpus[split])} tokens, expected {n}")
        if problems:
            raise ValueError("corpus does not match the published statistics: " + "; ".join(problems))
    return corpus


def slice_corpus(corpus: dict, max_tokens: Mapping[str, int] | None) -> dict:
    """The first ``max_tokens[split]`` tokens of each split (vocabulary unchanged); for tests."""
    if not max_tokens:
        return corpus
    return {**corpus, **{s: corpus[s][: int(n)] for s, n in max_tokens.items()}}


def corpus_stats(corpus: dict) -> dict:
    eos = corpus["vocab"].index(EOS)
    return {
        "vocab_size": len(corpus["vocab"]),
        **{f"{s}_tokens": int(len(corpus[s])) for s in SPLITS},
        **{f"{s}_sentences": int((corpus[s] == eos).sum()) for s in SPLITS},
    }


def batchify(ids: np.ndarray | torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a stream into ``batch_size`` contiguous rows, dropping the remainder: ``(batch, steps)``.
    Row ``b`` continues where it left off from one BPTT window to the next."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if batch_size < 1 or len(ids) < 2 * batch_size:
        raise ValueError(f"a stream of {len(ids)} tokens cannot be cut into {batch_size} rows of >= 2")
    steps = len(ids) // batch_size
    return ids[: steps * batch_size].view(batch_size, steps)


def bptt_windows(data: torch.Tensor, bptt: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, targets)`` windows of at most ``bptt`` steps; targets are inputs shifted by one."""
    if bptt < 1:
        raise ValueError(f"bptt must be >= 1, got {bptt}")
    for start in range(0, data.size(1) - 1, bptt):
        length = min(bptt, data.size(1) - 1 - start)
        yield data[:, start : start + length], data[:, start + 1 : start + 1 + length]


def n_windows(data: torch.Tensor, bptt: int) -> int:
    return -(-(data.size(1) - 1) // bptt)


def ptb_corpus(train: str, valid: str, test: str, params: Mapping) -> tuple[dict, dict]:
    """Node: the three PTB texts -> ``(corpus, stats)``, checked against ``params["expected"]``
    and cut to ``params["max_tokens"]`` if given (the test environment's slice)."""
    corpus = prepare_corpus({"train": train, "valid": valid, "test": test}, params.get("expected"))
    corpus = slice_corpus(corpus, params.get("max_tokens"))
    return corpus, corpus_stats(corpus)
