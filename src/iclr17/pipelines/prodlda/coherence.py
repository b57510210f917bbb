"""NPMI topic coherence, counted the way Lau et al.'s topic_interpretability toolkit counts.

The toolkit (the one the AVITM paper scored its topics with) slides a boolean window of
``window_size`` tokens over each reference document.  A document of ``L`` tokens yields
``L + window_size - 1`` windows: growing prefixes, full windows, then shrinking suffixes, so every
token position lies in exactly ``window_size`` windows.  A word's count is the number of windows
holding it, a pair's count the number of windows holding both, and

    NPMI(a, b) = log(p(a, b) / (p(a) p(b))) / -log p(a, b),   p(.) = count / total windows,

set to 0 where any count is 0.  A topic's coherence is the mean NPMI over the pairs of its top
``n`` words.  ``window_size = 0`` makes each whole document one window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def window_counts(
    docs: Sequence[Sequence[int]], word_ids: Sequence[int], window_size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Count windows holding each word and each pair of ``word_ids`` in token-id documents.

    Returns ``(single, pair, total_windows)`` with ``single[i]`` the windows holding
    ``word_ids[i]`` and ``pair[i, j]`` those holding both ``word_ids[i]`` and ``word_ids[j]``.
    """
    if window_size < 0:
        raise ValueError(f"window_size must be >= 0, got {window_size}")
    word_ids = np.asarray(word_ids, dtype=np.int64)
    if word_ids.size == 0:
        return np.zeros(0), np.zeros((0, 0)), 0
    column = {int(w): i for i, w in enumerate(word_ids)}
    max_id = max((int(np.max(d)) for d in docs if len(d)), default=0)
    lookup = np.full(max(max_id, int(word_ids.max())) + 1, -1, dtype=np.int64)
    for w, i in column.items():
        lookup[w] = i

    rows, cols = [], []
    offset = 0
    span = max(window_size, 1)
    for doc in docs:
        doc = np.asarray(doc, dtype=np.int64)
        n_windows = (len(doc) + window_size - 1) if window_size else 1
        if len(doc) == 0:
            offset += max(n_windows, 0)
            continue
        pos = np.flatnonzero(lookup[doc] >= 0)
        if pos.size:
            hit_cols = lookup[doc[pos]]
            if window_size:
                # position p lies in windows p .. p + window_size - 1 (0-based window index)
                win = (pos[:, None] + np.arange(span)[None, :]).ravel()
                rows.append(offset + win)
                cols.append(np.repeat(hit_cols, span))
            else:
                rows.append(np.full(pos.size, offset))
                cols.append(hit_cols)
        offset += n_windows
    total = offset
    if not rows:
        return np.zeros(len(word_ids)), np.zeros((len(word_ids), len(word_ids))), total
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    presence = sp.csr_matrix((np.ones(r.size, dtype=np.float32), (r, c)), shape=(total, len(word_ids)))
    presence.sum_duplicates()
    presence.data[:] = 1.0
    single = np.asarray(presence.sum(axis=0)).ravel().astype(np.float64)
    pair = (presence.T @ presence).toarray().astype(np.float64)
    return single, pair, total


def npmi_matrix(single: np.ndarray, pair: np.ndarray, total: int) -> np.ndarray:
    """Pairwise NPMI from window counts; 0 where a count is 0, as the toolkit does."""
    out = np.zeros_like(pair, dtype=np.float64)
    denom = np.outer(single, single)
    ok = (pair > 0) & (denom > 0)
    p_joint = pair[ok] / total
    pmi = np.log(pair[ok] * total / denom[ok])
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = -np.log(p_joint)
        val = np.where(norm > 0, pmi / np.where(norm > 0, norm, 1.0), 1.0)
    out[ok] = val
    return out


def topic_coherence(
    topics: Sequence[Sequence[str]],
    reference_docs: Sequence[Sequence[int]],
    vocab: dict[str, int],
    window_size: int = 20,
    top_n: int = 10,
) -> np.ndarray:
    """Mean pairwise NPMI of each topic's top ``top_n`` words against the reference documents.

    Words missing from ``vocab`` have zero counts, so their pairs score 0 (as in the toolkit).
    """
    topics = [list(t)[:top_n] for t in topics]
    for t in topics:
        if len(t) < 2:
            raise ValueError(f"a topic needs at least 2 words to score, got {t}")
    known = sorted({vocab[w] for t in topics for w in t if w in vocab})
    single, pair, total = window_counts(reference_docs, known, window_size)
    npmi = npmi_matrix(single, pair, total) if total else np.zeros((len(known), len(known)))
    index = {w: i for i, w in enumerate(known)}
    scores = []
    for t in topics:
        vals = []
        for a in range(len(t)):
            for b in range(a + 1, len(t)):
                if t[a] == t[b]:
                    continue
                ia, ib = index.get(vocab.get(t[a], -1)), index.get(vocab.get(t[b], -1))
                vals.append(0.0 if ia is None or ib is None else npmi[ia, ib])
        scores.append(float(np.mean(vals)))
    return np.asarray(scores)
