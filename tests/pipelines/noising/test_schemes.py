"""Statistical checks of the noising schemes on a toy corpus with fixed seeds: replacement rates
within 5 binomial standard deviations, replacement distributions close to their proposals."""

import numpy as np
import pytest
import torch

from iclr17.pipelines.noising.schemes import (
    Noiser,
    bigram_statistics,
    noising_probability,
)

# a toy stream over 6 types with known bigram statistics
TOY = np.array([0, 1, 2, 0, 1, 3, 0, 2, 4, 5, 0, 1, 2, 3, 4, 0, 0, 1])
V = 6
N = 200_000  # noised positions per test (a 400 x 500 batch)


def _batch(token: int | None = None, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((400, 500), token) if token is not None else torch.randint(0, V, (400, 500), generator=gen)
    y = torch.randint(0, V, (400, 500), generator=gen)
    return x, y


def _within(rate: float, p: float, n: int) -> bool:
    return abs(rate - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12


def test_bigram_statistics_by_hand():
    s = bigram_statistics(TOY, V)
    assert s["unigram"].tolist() == pytest.approx([6 / 18, 4 / 18, 3 / 18, 2 / 18, 2 / 18, 1 / 18])
    # bigrams starting with 0: 0-1 x4, 0-2, 0-0  -> c(0) = 6, N1+(0, .) = 3
    assert s["bigram_count"][0] == 6 and s["distinct_continuations"][0] == 3
    # histories: 0 <- {2, 3, 5, 4, 0}; 1 <- {0}; 2 <- {1, 0}; 3 <- {1, 2}; 4 <- {2, 3}; 5 <- {4}
    assert s["continuation"].tolist() == pytest.approx(np.array([5, 1, 2, 2, 2, 1]) / 13)
    assert s["bigram_count"][1] == 3 and s["distinct_continuations"][1] == 2  # the final 1 starts no bigram
    with pytest.raises(ValueError):
        bigram_statistics(np.array([0, 7]), V)


def test_absolute_discounting_probability():
    s = bigram_statistics(TOY, V)
    p = noising_probability(s, 0.6, absolute_discounting=True)
    assert p[0] == pytest.approx(0.6 * 3 / 6)
    assert p[1] == pytest.approx(0.6 * 2 / 3)
    assert noising_probability(s, 0.3, False).tolist() == [0.3] * V
    with pytest.raises(ValueError):
        noising_probability(s, 1.5, False)


def test_none_is_the_identity():
    x, y = _batch()
    nx, ny = Noiser(bigram_statistics(TOY, V), "none", 0.5)(x, y)
    assert torch.equal(nx, x) and torch.equal(ny, y)


def test_blank_rate_and_placeholder():
    x, y = _batch()
    nx, ny = Noiser(bigram_statistics(TOY, V), "blank", 0.25, blank_id=V, seed=3)(x, y)
    changed = nx != x
    assert _within(changed.float().mean().item(), 0.25, N)
    assert (nx[changed] == V).all() and (nx[~changed] == x[~changed]).all()
    assert torch.equal(ny, y)  # targets are never blanked
    with pytest.raises(ValueError):
        Noiser(bigram_statistics(TOY, V), "blank", 0.25)


def test_unigram_draws_follow_the_unigram_distribution():
    s = bigram_statistics(TOY, V)
    x, y = _batch(token=V)  # an id the proposal never returns, so every replacement is visible
    stats = {**s, "unigram": s["unigram"]}
    noiser = Noiser({k: np.append(v, 0) for k, v in stats.items()}, "unigram", 0.3, seed=4)
    nx, ny = noiser(x, y)
    replaced = nx != V
    assert _within(replaced.float().mean().item(), 0.3, N)
    freq = np.bincount(nx[replaced].numpy(), minlength=V + 1)[:V] / replaced.sum().item()
    assert np.abs(freq - s["unigram"]).max() < 0.01
    assert torch.equal(ny, y)  # unigram noising leaves the targets


def test_bigram_kn_noises_input_and_target_from_the_continuation_distribution():
    s = {k: np.append(v, 0) for k, v in bigram_statistics(TOY, V).items()}
    x = torch.full((400, 500), V)
    y = torch.full((400, 500), V)
    nx, ny = Noiser(s, "bigram_kn", 0.2, seed=5)(x, y)
    replaced = nx != V
    assert _within(replaced.float().mean().item(), 0.2, N)
    assert torch.equal(replaced, ny != V)  # the same positions, input and target
    q = s["continuation"][:V]
    for out in (nx, ny):
        freq = np.bincount(out[replaced].numpy(), minlength=V + 1)[:V] / replaced.sum().item()
        assert np.abs(freq - q).max() < 0.01
    assert (nx[replaced] != ny[replaced]).float().mean() > 0.5  # independent draws


def test_absolute_discounting_rate_depends_on_the_input_token():
    s = bigram_statistics(TOY, V)
    for token, expected in ((0, 0.8 * 3 / 6), (5, 0.8 * 1 / 1)):
        x, y = _batch(token=token)
        nx, _ = Noiser(s, "blank", 0.8, absolute_discounting=True, blank_id=V, seed=6)(x, y)
        assert _within((nx == V).float().mean().item(), expected, N)


def test_unknown_scheme():
    with pytest.raises(ValueError):
        Noiser(bigram_statistics(TOY, V), "trigram", 0.1)
