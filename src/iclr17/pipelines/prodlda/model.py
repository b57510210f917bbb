"""AVITM topic models (Srivastava & Sutton, ICLR 2017): ProdLDA and NVLDA as plain nn.Modules.

Both share the inference network and the Laplace-approximated Dirichlet prior; they differ in
the decoder:

* ProdLDA: ``p(w | θ) = softmax(BN(θ W))`` (a product of experts);
* NVLDA:   ``p(w | θ) = θ softmax(BN(W))`` (a mixture, LDA's decoder).

Batch norm follows the official TensorFlow code: ``tf.contrib.layers.batch_norm`` with its
defaults, i.e. a learnt shift but no scale (``ScaleFreeBatchNorm``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def laplace_dirichlet_prior(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the softmax-basis Laplace approximation of ``Dirichlet(alpha)``.

    μ_k = log α_k − mean_j log α_j,
    σ²_k = (1/α_k)(1 − 2/K) + (1/K²) Σ_j 1/α_j.
    """
    alpha = torch.as_tensor(alpha, dtype=torch.float32)
    if alpha.ndim != 1 or alpha.numel() < 2 or bool((alpha <= 0).any()):
        raise ValueError("alpha must be a 1-D tensor of at least 2 positive concentrations")
    k = alpha.numel()
    log_alpha = alpha.log()
    mean = log_alpha - log_alpha.mean()
    var = (1.0 / alpha) * (1.0 - 2.0 / k) + (1.0 / alpha).sum() / k**2
    return mean, var


class ScaleFreeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d with a learnt shift and a fixed unit scale (TF ``batch_norm`` defaults).

    The official code normalised with batch statistics even at test time; here evaluation uses
    running statistics averaged over about the last 100 minibatches (momentum 0.01).
    """

    def __init__(self, num_features: int, eps: float = 1e-3, momentum: float = 0.01) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        self.weight.requires_grad_(False)


class AVITM(nn.Module):
    """Autoencoded variational inference for topic models.

    Args:
        vocab_size: V.
        n_topics: K.
        decoder: ``"prodlda"`` or ``"nvlda"``.
        hidden: sizes of the two softplus layers of the encoder.
        dropout: dropout rate on the encoder output and on θ (the official code's 1 − keep_prob).
        alpha: symmetric Dirichlet concentration of the prior.
    """

    DECODERS = ("prodlda", "nvlda")

    def __init__(
        self,
        vocab_size: int,
        n_topics: int,
        decoder: str = "prodlda",
        hidden: tuple[int, int] = (100, 100),
        dropout: float = 0.6,
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        if decoder not in self.DECODERS:
            raise ValueError(f"decoder must be one of {self.DECODERS}, got {decoder!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if n_topics < 2 or vocab_size < 2:
            raise ValueError("need at least 2 topics and 2 words")
        self.decoder_kind = decoder
        self.n_topics = n_topics
        self.encoder = nn.Sequential(
            nn.Linear(vocab_size, hidden[0]),
            nn.Softplus(),
            nn.Linear(hidden[0], hidden[1]),
            nn.Softplus(),
            nn.Dropout(dropout),
        )
        self.mean_head = nn.Linear(hidden[1], n_topics)
        self.logvar_head = nn.Linear(hidden[1], n_topics)
        # the official initialisation: Xavier-uniform weights and zero biases, and a zero
        # log-variance head (every document starts at unit posterior variance)
        for layer in (self.encoder[0], self.encoder[2], self.mean_head):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.logvar_head.weight)
        nn.init.zeros_(self.logvar_head.bias)
        self.mean_bn = ScaleFreeBatchNorm(n_topics)
        self.logvar_bn = ScaleFreeBatchNorm(n_topics)
        self.theta_dropout = nn.Dropout(dropout)
        # topic-word weights, K x V, Xavier-uniform, no bias (as in the official code)
        self.beta = nn.Parameter(torch.empty(n_topics, vocab_size))
        nn.init.xavier_uniform_(self.beta)
        if decoder == "prodlda":
            self.decoder_bn = ScaleFreeBatchNorm(vocab_size)
        else:
            # NVLDA normalises W itself over its K rows, with a learnt per-word shift
            self.beta_shift = nn.Parameter(torch.zeros(vocab_size))
        prior_mean, prior_var = laplace_dirichlet_prior(torch.full((n_topics,), float(alpha)))
        self.register_buffer("prior_mean", prior_mean)
        self.register_buffer("prior_var", prior_var)

    def encode(self, bow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(bow)
        return self.mean_bn(self.mean_head(h)), self.logvar_bn(self.logvar_head(h))

    def topic_word_logits(self) -> torch.Tensor:
        """The K x V matrix whose rows rank each topic's words (the official code's W)."""
        return self.beta.detach()

    def decode(self, theta: torch.Tensor) -> torch.Tensor:
        """Log word probabilities, batch x V."""
        if self.decoder_kind == "prodlda":
            return F.log_softmax(self.decoder_bn(theta @ self.beta), dim=1)
        beta = self.beta
        normed = (beta - beta.mean(0, keepdim=True)) / torch.sqrt(beta.var(0, unbiased=False, keepdim=True) + 1e-3)
        word_probs = F.softmax(normed + self.beta_shift, dim=1)
        return torch.log(theta @ word_probs + 1e-10)

    def forward(self, bow: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
        mean, logvar = self.encode(bow)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
        theta = self.theta_dropout(F.softmax(z, dim=1))
        log_probs = self.decode(theta)
        recon = -(bow * log_probs).sum(1)
        kl = self.kl_divergence(mean, logvar)
        return {"recon": recon, "kl": kl, "loss": recon + kl, "theta": theta}

    def kl_divergence(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || prior) per document, diagonal Gaussians in closed form."""
        var = logvar.exp()
        p_mean, p_var = self.prior_mean, self.prior_var
        return 0.5 * (
            (var / p_var).sum(1)
            + ((mean - p_mean) ** 2 / p_var).sum(1)
            - self.n_topics
            + p_var.log().sum()
            - logvar.sum(1)
        )


def log_perplexity_per_doc(model: AVITM, bow: torch.Tensor) -> torch.Tensor:
    """−ELBO / N_d for each document (one reparameterised sample, eval mode), as ``calcPerp``."""
    lengths = bow.sum(1)
    if bool((lengths <= 0).any()):
        raise ValueError("perplexity needs documents with at least one word")
    out = model(bow, sample=True)
    return out["loss"] / lengths


def perplexity(log_ppl_per_doc: torch.Tensor) -> float:
    return float(math.exp(float(log_ppl_per_doc.mean())))
