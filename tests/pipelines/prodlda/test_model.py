import math

import numpy as np
import pytest
import torch

from iclr17.pipelines.prodlda.model import (
    AVITM,
    laplace_dirichlet_prior,
    log_perplexity_per_doc,
)


@pytest.mark.parametrize("k", [2, 50, 200])
def test_prior_of_symmetric_alpha_one(k):
    mean, var = laplace_dirichlet_prior(torch.ones(k))
    assert torch.allclose(mean, torch.zeros(k))
    assert torch.allclose(var, torch.full((k,), 1 - 1 / k))


def test_prior_of_asymmetric_alpha_by_hand():
    alpha = torch.tensor([1.0, 2.0, 4.0])
    mean, var = laplace_dirichlet_prior(alpha)
    logs = np.log([1.0, 2.0, 4.0])
    assert np.allclose(mean.numpy(), logs - logs.mean())
    inv = np.array([1.0, 0.5, 0.25])
    assert np.allclose(var.numpy(), inv * (1 - 2 / 3) + inv.sum() / 9)


def test_prior_rejects_bad_alpha():
    with pytest.raises(ValueError):
        laplace_dirichlet_prior(torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize("decoder", ["prodlda", "nvlda"])
def test_forward_shapes_and_kl(decoder):
    torch.manual_seed(0)
    model = AVITM(30, 4, decoder, (8, 8), 0.2)
    bow = torch.poisson(torch.full((6, 30), 0.5))
    out = model(bow)
    assert out["loss"].shape == (6,) and out["theta"].shape == (6, 4)
    assert torch.isfinite(out["loss"]).all()
    assert (out["kl"] >= -1e-5).all()
    # KL is zero when the posterior equals the prior
    kl = model.kl_divergence(model.prior_mean.expand(2, 4), model.prior_var.log().expand(2, 4))
    assert torch.allclose(kl, torch.zeros(2), atol=1e-5)
    assert model.topic_word_logits().shape == (4, 30)


def test_batch_norm_has_no_trainable_scale():
    model = AVITM(30, 4, "prodlda")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "mean_bn.bias" in trainable and "mean_bn.weight" not in trainable
    assert "decoder_bn.weight" not in trainable


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="decoder"):
        AVITM(30, 4, "lda")
    with pytest.raises(ValueError, match="dropout"):
        AVITM(30, 4, dropout=1.0)


def _toy_corpus(n_docs=300, vocab=40, k=4, seed=0):
    """Documents drawn from k disjoint 10-word topics."""
    rng = np.random.default_rng(seed)
    docs = np.zeros((n_docs, vocab), dtype=np.float32)
    for d in range(n_docs):
        topic = rng.integers(k)
        words = rng.integers(topic * 10, topic * 10 + 10, size=30)
        np.add.at(docs[d], words, 1)
    return torch.from_numpy(docs)


@pytest.mark.parametrize("decoder", ["prodlda", "nvlda"])
def test_loss_decreases_and_topics_recover_the_toy_structure(decoder):
    torch.manual_seed(0)
    x = _toy_corpus()
    model = AVITM(40, 4, decoder, (20, 20), 0.2)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01, betas=(0.9, 0.999))
    model.eval()
    with torch.no_grad():
        first = model(x)["loss"].mean().item()
    model.train()
    for _ in range(400):
        idx = torch.randint(0, len(x), (50,))
        loss = model(x[idx])["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = model(x)["loss"].mean().item()
    assert final < 0.9 * first
    with torch.no_grad():
        ppl = math.exp(log_perplexity_per_doc(model, x).mean().item())
    assert ppl < 35  # uniform over the vocabulary would be 40; the true model is 10


def test_perplexity_needs_nonempty_docs():
    model = AVITM(5, 2)
    model.eval()
    with pytest.raises(ValueError, match="at least one word"):
        log_perplexity_per_doc(model, torch.zeros(2, 5))
