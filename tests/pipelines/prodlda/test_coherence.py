import math

import numpy as np
import pytest

from iclr17.pipelines.prodlda.coherence import topic_coherence, window_counts


def test_npmi_by_hand_whole_document_windows():
    # windows = documents: {a, b}, {a}, {b, c}
    vocab = {"a": 0, "b": 1, "c": 2}
    docs = [[0, 1], [0], [1, 2]]
    score = topic_coherence([["a", "b"]], docs, vocab, window_size=0)[0]
    expected = math.log((1 / 3) / ((2 / 3) * (2 / 3))) / -math.log(1 / 3)
    assert score == pytest.approx(expected)
    # a and c never co-occur: the toolkit scores the pair 0
    assert topic_coherence([["a", "c"]], docs, vocab, window_size=0)[0] == 0.0
    # three words: mean over the three pairs
    three = topic_coherence([["a", "b", "c"]], docs, vocab, window_size=0)[0]
    bc = math.log((1 / 3) / ((2 / 3) * (1 / 3))) / -math.log(1 / 3)
    assert three == pytest.approx((expected + 0.0 + bc) / 3)


def test_sliding_windows_by_hand():
    # doc "a x b" with window 2: windows [a], [a x], [x b], [b]  -> a:2, b:2, ab:0, total 4
    single, pair, total = window_counts([[0, 9, 1]], [0, 1], window_size=2)
    assert total == 4
    assert single.tolist() == [2, 2]
    assert pair[0, 1] == 0


def _brute_force(docs, words, ws):
    single = np.zeros(len(words))
    pair = np.zeros((len(words), len(words)))
    total = 0
    for d in docs:
        n = len(d) + ws - 1 if ws else 1
        total += n
        for tail in range(1, n + 1):
            window = set(d[max(0, tail - ws) : tail] if ws else d)
            present = np.array([w in window for w in words], dtype=float)
            single += present
            pair += np.outer(present, present)
    return single, pair, total


@pytest.mark.parametrize("ws", [0, 1, 3, 20])
def test_window_counts_match_the_toolkit_loop(ws):
    rng = np.random.default_rng(ws)
    docs = [list(rng.integers(0, 12, size=rng.integers(0, 40))) for _ in range(25)]
    words = [1, 3, 5, 7, 11]
    single, pair, total = window_counts(docs, words, ws)
    s2, p2, t2 = _brute_force(docs, words, ws)
    assert total == t2
    assert np.allclose(single, s2) and np.allclose(pair, p2)


def test_unknown_words_score_zero_and_bad_topics_fail():
    vocab = {"a": 0, "b": 1}
    assert topic_coherence([["a", "zzz"]], [[0, 1]], vocab, 0)[0] == 0.0
    with pytest.raises(ValueError, match="at least 2 words"):
        topic_coherence([["a"]], [[0, 1]], vocab, 0)
    with pytest.raises(ValueError, match="window_size"):
        window_counts([[0]], [0], -1)
