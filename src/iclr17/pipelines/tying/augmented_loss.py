"""Inan et al.'s augmented loss (section 3; "AL" in Table 1): a KL term between the model's
prediction and a target spread over words whose embeddings are close to the next word's, and the
training loss that mixes it with the cross-entropy (the ``tying`` pipeline's own contribution; the
shared LM core in ``common/lm`` trains with any loss of :class:`~iclr17.common.lm.train.CrossEntropy`'s
shape)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from iclr17.common.config import ParameterError, check_keys


def augmented_log_targets(u: torch.Tensor, embedding: torch.Tensor, tau: float) -> torch.Tensor:
    """log y~ = log_softmax(L u / tau) for each row u (a target word's embedding): the augmented
    loss's target distribution over the vocabulary."""
    if tau <= 0:
        raise ValueError(f"temperature must be positive, got {tau}")
    return F.log_softmax(u @ embedding.t() / tau, dim=-1)


def augmented_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    embedding: torch.Tensor,
    tau: float,
    log_pred: torch.Tensor | None = None,
    target_grad: bool = False,
    skip: torch.Tensor | None = None,
    tempered_prediction: bool = True,
) -> torch.Tensor:
    """Inan et al.'s J_aug: mean over tokens of KL(y~ || y^), where

    - y~ = softmax(L u / tau), u = L[target] the target word's input embedding, i.e. a target
      distribution that puts mass on words whose embeddings are close to the target's;
    - y^ = softmax(logits / tau), the model's prediction at the same temperature; with
      ``tempered_prediction=False`` the model's own prediction softmax(logits) (the target alone is
      tempered: the issue's reading, "KL between the model's output distribution and the target
      distribution ... with temperature tau"; then (1 - beta) J + beta J_aug is the cross-entropy
      against the mixed label (1 - beta) one-hot + beta y~, a smoothing towards similar words).

    The paper does not say whether the gradient flows through y~ into L.  By default
    (``target_grad=False``) y~ is a constant; with ``target_grad=True`` the embedding also learns
    from the augmented loss through its target (pulling each word's similarity scores L u towards
    the model's predictions where that word came next), as a plain autograd implementation of the
    formula would.  Returns 0 exactly when logits equal L u up to a per-token constant.

    y~ depends on the target word only, so it is computed once per distinct word of the batch
    (a 20 x 35 PTB training batch has 330-391 distinct words, 360 on average):
    KL = sum y~ log y~ (per word) - sum y~ log y^ (per token).
    ``log_pred``, if given, is ``log_softmax(logits / tau)`` already computed by the caller.
    ``skip``, word ids (not in the paper): tokens whose target is one of them add no KL; the mean
    is still over all tokens, so every other token's term is the same as without ``skip``."""
    flat = targets.reshape(-1)
    words, which = torch.unique(flat, return_inverse=True)
    with torch.set_grad_enabled(target_grad and torch.is_grad_enabled()):
        log_target = augmented_log_targets(embedding[words], embedding, tau)  # (distinct, vocab)
        target = log_target.exp()
        neg_entropy = (target * log_target).sum(-1)
        if skip is not None and skip.numel():
            keep = ~torch.isin(words, skip)
            target, neg_entropy = target * keep.unsqueeze(1), neg_entropy * keep
    if log_pred is None:
        temperature = tau if tempered_prediction else 1.0
        log_pred = F.log_softmax(logits.reshape(-1, logits.size(-1)) / temperature, dim=-1)
    # sum the prediction rows that share a target word, then one product per distinct word
    summed = log_pred.new_zeros(words.numel(), log_pred.size(-1)).index_add_(0, which, log_pred)
    return (neg_entropy[which].sum() - (target * summed).sum()) / flat.numel()


@torch.no_grad()
def augmented_target_stats(embedding: torch.Tensor, tau: float, chunk: int = 1000) -> dict:
    """How informative the augmented loss's targets y~ = softmax(L u / tau) are, over every word
    of the vocabulary as the target: mean entropy in nats (``log |V|`` means uniform, i.e. the
    augmented loss only smooths towards uniform), that entropy as a fraction of ``log |V|``, and
    the mean probability y~ puts on the target word itself."""
    emb = embedding.detach().float()
    n = emb.size(0)
    entropy, self_prob = emb.new_zeros(()), emb.new_zeros(())
    for start in range(0, n, chunk):
        log_p = augmented_log_targets(emb[start : start + chunk], emb, tau)
        entropy -= (log_p.exp() * log_p).sum()
        rows = torch.arange(log_p.size(0), device=emb.device)
        self_prob += log_p[rows, rows + start].exp().sum()
    mean_entropy = float(entropy) / n
    return {
        "entropy": mean_entropy,
        "entropy_fraction_of_uniform": mean_entropy / math.log(n) if n > 1 else 0.0,
        "self_prob": float(self_prob) / n,
    }


AUGMENTED_LOSS_SCALES = ("tau2", "tau2_vocab", "beta")


def check_augmented_loss_scale(scale: str, where: str = "augmented loss scale") -> str:
    if scale not in AUGMENTED_LOSS_SCALES:
        raise ParameterError(f"{where} must be one of {AUGMENTED_LOSS_SCALES}, got {scale!r}")
    return scale


def augmented_loss_weight(beta: float, tau: float, vocab_size: int, scale: str = "tau2") -> float:
    """The factor on J_aug in the total loss (1 - beta) J + factor * J_aug:

    - ``tau2``: beta tau^2, as in distillation (keeps the augmented gradient on the scale of the
      cross-entropy's as tau grows, summed over the vocabulary);
    - ``tau2_vocab``: beta tau^2 |V|, the paper's Eq. 6.1 (J_tot = beta J_aug tau^2 |V| + (1 - beta) J).
      At high tau, tau^2 |V| KL(softmax(z / tau) || softmax(o / tau)) tends to
      1/2 ||(o - mean o) - (z - mean z)||^2: a squared-error pull of every logit towards the target
      word's similarity scores z = L u, whatever tau; its gradient is |V| times ``tau2``'s;
    - ``beta``: beta alone, for an untempered prediction (``AugmentedLoss.tempered_prediction``
      false), whose gradient does not shrink as tau grows."""
    check_augmented_loss_scale(scale)
    if scale == "beta":
        return beta
    return beta * tau**2 * (vocab_size if scale == "tau2_vocab" else 1)


@dataclass(frozen=True)
class AugmentedLoss:
    """The augmented loss's settings, checked on construction.  The total loss is
    (1 - ``beta``) J + w J_aug with w from ``augmented_loss_weight`` (``scale`` tau2: beta tau^2;
    tau2_vocab: beta tau^2 |V|, the paper's Eq. 6.1); ``tau`` is J_aug's temperature and
    ``target_grad`` whether its gradient also flows through its target into the embedding
    (``augmented_loss``).  ``beta`` 0 (the default) is the plain cross-entropy.  ``start_epoch``
    is the first training epoch that uses it (beta 0 before it; not in the paper, which uses it
    throughout: the default 1).  ``skip_words`` are target words that get no augmented loss: where
    one of them is the next word the loss is the whole cross-entropy (at tau 1 the gradient's target
    is its one-hot label instead of the mix (1 - beta) one-hot + beta y~); not in the paper, which
    smooths every target (the default, none).  ``tempered_prediction`` false compares the target
    with the model's untempered prediction (``augmented_loss``; use it with ``scale`` beta)."""

    beta: float = 0.0
    tau: float = 1.0
    scale: str = "tau2"
    target_grad: bool = False
    start_epoch: int = 1
    skip_words: tuple[str, ...] = ()
    tempered_prediction: bool = True

    def __post_init__(self):
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if self.tau <= 0:
            raise ValueError(f"temperature must be positive, got {self.tau}")
        check_augmented_loss_scale(self.scale, "scale")
        if not isinstance(self.target_grad, bool):
            raise ValueError(f"target_grad must be true or false, got {self.target_grad!r}")
        if not isinstance(self.tempered_prediction, bool):
            raise ValueError(f"tempered_prediction must be true or false, got {self.tempered_prediction!r}")
        if isinstance(self.start_epoch, bool) or not isinstance(self.start_epoch, int) or self.start_epoch < 1:
            raise ValueError(f"start_epoch must be an integer >= 1, got {self.start_epoch!r}")
        if not self.tempered_prediction and self.scale != "beta" and self.tau != 1.0 and self.beta > 0:
            warnings.warn(
                f"the augmented loss compares an untempered prediction with weight {self.scale} "
                f"(beta tau^2{' |V|' if self.scale == 'tau2_vocab' else ''}); the tau^2 factor belongs to a "
                "tempered prediction: with tempered_prediction false use scale beta",
                UserWarning,
                stacklevel=3,
            )
        words = self.skip_words
        strings = isinstance(words, tuple) and all(isinstance(w, str) and w for w in words)
        if not strings or len(set(words)) < len(words):
            raise ValueError(f"skip_words must be a list of distinct words, got {words!r}")

    def at_epoch(self, epoch: int) -> AugmentedLoss:
        """The settings in force in training epoch ``epoch`` (1-based): beta 0 before ``start_epoch``."""
        return self if epoch >= self.start_epoch else replace(self, beta=0.0)

    def skip_ids(self, vocab: list[str]) -> list[int]:
        """The ids of ``skip_words`` in ``vocab`` (a word's id is its index); a word not in it is a
        :class:`ParameterError`."""
        index = {word: i for i, word in enumerate(vocab)}
        missing = [w for w in self.skip_words if w not in index]
        if missing:
            raise ParameterError(f"augmented loss skip_words {missing} are not in the vocabulary")
        return [index[w] for w in self.skip_words]

    @classmethod
    def from_params(cls, block, where: str) -> AugmentedLoss:
        """From an ``augmented_loss:`` parameter block (beta, tau; optional scale, target_grad,
        start_epoch, skip_words, tempered_prediction); a bad key or value is a
        :class:`ParameterError` naming ``where``."""
        optional = ("scale", "target_grad", "start_epoch", "skip_words", "tempered_prediction")
        settings = check_keys(block, where, ("beta", "tau"), optional)
        if isinstance(settings.get("skip_words"), list):
            settings["skip_words"] = tuple(settings["skip_words"])
        try:
            return cls(**settings)
        except ValueError as err:
            raise ParameterError(f"{where}: {err}") from err


def language_model_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    embedding: torch.Tensor,
    al: AugmentedLoss = AugmentedLoss(),
    skip: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(total, cross_entropy)``: the cross-entropy, mixed with the augmented loss as ``al`` says
    (:class:`AugmentedLoss`; its default, beta 0, is the plain cross-entropy).  ``skip`` holds the
    ids of ``al.skip_words``: tokens whose target is one of them keep the whole cross-entropy."""
    weight = augmented_loss_weight(al.beta, al.tau, logits.size(-1), al.scale)
    flat_logits = logits.reshape(-1, logits.size(-1))
    if al.beta == 0.0:
        ce = F.cross_entropy(flat_logits, targets.reshape(-1))
        return ce, ce
    log_probs = F.log_softmax(flat_logits, dim=-1)
    flat_targets = targets.reshape(-1)
    if skip is None or not skip.numel():
        ce = F.nll_loss(log_probs, flat_targets)
        mixed_ce = (1.0 - al.beta) * ce
    else:
        nll = F.nll_loss(log_probs, flat_targets, reduction="none")
        ce = nll.mean()
        mixed_ce = (nll * (1.0 - al.beta * ~torch.isin(flat_targets, skip))).mean()
    # at tau 1 (or untempered) the prediction is the cross-entropy's own
    log_pred = log_probs if al.tau == 1.0 or not al.tempered_prediction else None
    aug = augmented_loss(logits, targets, embedding, al.tau, log_pred, al.target_grad, skip, al.tempered_prediction)
    return mixed_ce + weight * aug, ce


class AugmentedObjective:
    """:class:`AugmentedLoss` settings as a training loss of the LM core (``at_epoch``, ``info``,
    ``(logits, targets, model) -> (loss, cross_entropy)``), its skipped words' ids resolved once."""

    def __init__(self, al: AugmentedLoss, skip: torch.Tensor | None = None):
        self.al, self.skip = al, skip

    @classmethod
    def for_vocab(cls, al: AugmentedLoss, vocab: list[str], device: torch.device) -> AugmentedObjective:
        skip = torch.tensor(al.skip_ids(vocab), dtype=torch.long, device=device) if al.skip_words else None
        return cls(al, skip)

    def at_epoch(self, epoch: int) -> AugmentedObjective:
        return AugmentedObjective(self.al.at_epoch(epoch), self.skip)

    @property
    def info(self) -> dict:
        return {"beta": self.al.beta}

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, model) -> tuple[torch.Tensor, torch.Tensor]:
        return language_model_loss(logits, targets, model.embedding.weight, self.al, self.skip)
