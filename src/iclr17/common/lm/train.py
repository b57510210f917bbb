"""Truncated-BPTT training of :class:`~iclr17.common.lm.model.LSTMLanguageModel` with plain SGD,
global-norm gradient clipping and either of the two learning-rate schedules the papers use:

- ``after_epoch`` (Zaremba et al.; Inan et al.): constant ``lr`` until ``start_epoch``, then
  multiplied by ``rate`` every epoch;
- ``plateau`` (Xie et al.'s code): multiplied by ``rate`` whenever the validation perplexity does
  not improve, restarting from the best epoch's weights; training stops after ``max_decays``.

The gradient is that of the loss summed over the window's time steps and averaged over the batch,
as in Zaremba et al.'s code, so learning rates and clipping thresholds carry over from the papers.

Returns the weights of the best validation epoch, a per-epoch history (train / valid
perplexity, learning rate, tokens per second) and, when asked for, a *branch point*: everything
the loop needs to go on from the end of a given epoch (weights, best weights, schedule, the torch
random state).  A run resumed from it (``resume``) trains exactly as the original would have from
that epoch on, so runs that share their first epochs (``tying``'s +AL with a late augmented loss
and the baseline) train them only once.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from iclr17.common.config import check_keys
from iclr17.common.lm.data import batchify, bptt_windows, n_windows
from iclr17.common.lm.model import AugmentedLoss, LSTMLanguageModel, detach_state, language_model_loss, perplexity
from iclr17.common.runtime import float32_matmul_precision

log = logging.getLogger(__name__)

# an epoch whose validation perplexity exceeds this multiple of the best so far has diverged
DIVERGENCE_FACTOR = 4.0
TRAIN_KEYS = ("batch_size", "bptt", "lr", "epochs", "clip_norm", "lr_decay", "eval_batch_size")
# matmul_precision: torch's float32 matmul precision while training (runtime.float32_matmul_precision);
# unset = "highest", torch's default
TRAIN_OPTIONAL = ("matmul_precision",)
BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def token_losses(model: LSTMLanguageModel, ids, batch_size: int, bptt: int, device: torch.device) -> torch.Tensor:
    """Negative log-likelihood of every predicted token of ``ids`` read as ``batch_size``
    contiguous streams, state carried across windows: ``(batch, steps - 1)``, entry ``[b, t]``
    that of the stream's token ``t + 1`` (at batch 1, of ``ids[t + 1]``)."""
    model.eval()
    data = batchify(ids, batch_size).to(device)
    # filled in place: a list of small per-window tensors, allocated between the windows' large
    # logits, kept the allocator from reusing their memory (2.8 GB peak at batch 1 on PTB valid)
    losses = torch.empty(batch_size, data.size(1) - 1)
    state, done = model.init_state(batch_size), 0
    for x, y in bptt_windows(data, bptt):
        logits, state = model(x, state)
        step = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        losses[:, done : done + y.size(1)] = step.cpu()
        done += y.size(1)
    return losses


def evaluate(model: LSTMLanguageModel, ids, batch_size: int, bptt: int, device: torch.device) -> float:
    """Perplexity of ``ids`` read as ``batch_size`` contiguous streams, state carried across windows."""
    return perplexity(token_losses(model, ids, batch_size, bptt, device).double().mean().item())


def learning_rate(schedule: dict, base_lr: float, epoch: int) -> float:
    """The ``after_epoch`` schedule's rate for 1-based ``epoch``."""
    if epoch < schedule["start_epoch"]:
        return base_lr
    return base_lr * schedule["rate"] ** (epoch - schedule["start_epoch"] + 1)


def _check_schedule(schedule: dict) -> dict:
    """Each type's keys are required; the other type's key is tolerated and ignored, so that one
    ``--params`` override of ``type`` (plus the missing key) switches a configured schedule."""
    kind = schedule.get("type")
    if kind == "after_epoch":
        return check_keys(schedule, "lr_decay", ("type", "start_epoch", "rate"), ("max_decays",))
    if kind == "plateau":
        return check_keys(schedule, "lr_decay", ("type", "rate", "max_decays"), ("start_epoch",))
    raise ValueError(f"lr_decay.type must be 'after_epoch' or 'plateau', got {kind!r}")


def _random_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_random_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def branch_point(model, epoch, best_ppl, best_state, history, lr, decays, seconds, device) -> dict:
    """The training loop's whole state at the end of ``epoch`` (0: before the first), on the CPU."""
    return {
        "epoch": epoch,
        "weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "best_ppl": best_ppl,
        "best_weights": None if best_state is None else {k: v.cpu().clone() for k, v in best_state.items()},
        "history": copy.deepcopy(history),
        "lr": lr,
        "decays": decays,
        "seconds": seconds,
        "random_state": _random_state(device),
    }


def train_language_model(
    model: LSTMLanguageModel,
    corpus: dict,
    cfg: dict,
    device: torch.device,
    augmented: AugmentedLoss = AugmentedLoss(),
    batch_transform: BatchTransform | None = None,
    desc: str = "train",
    branch_after: int | None = None,
    resume: dict | None = None,
    stop_after: int | None = None,
) -> tuple[dict, list[dict], dict | None]:
    """Train in place; return ``(best_state_dict, history, branch)``.  ``augmented`` switches on
    and shapes the augmented loss (``language_model_loss``; the default is the plain
    cross-entropy); ``batch_transform(x, y)`` (e.g. data noising) is applied to training batches
    only.  ``branch_after``: ``branch`` is the loop's state at the end of that epoch (0: before
    the first; :func:`branch_point`), else None (also when the run stopped before it).
    ``resume``: such a state, to go on from (the model's weights and the random state are
    replaced by its own); ``history`` then holds its epochs too.  ``stop_after``: the last epoch to
    train this time (None: ``epochs``), e.g. with ``branch_after`` the same, one part of a run split
    into parts."""
    cfg = check_keys(cfg, "training", TRAIN_KEYS, TRAIN_OPTIONAL)
    schedule = _check_schedule(dict(cfg["lr_decay"]))
    if branch_after is not None and not 0 <= branch_after <= cfg["epochs"]:
        raise ValueError(f"branch_after must be an epoch in [0, {cfg['epochs']}], got {branch_after}")
    last = cfg["epochs"] if stop_after is None else stop_after
    if not 0 <= last <= cfg["epochs"]:
        raise ValueError(f"stop_after must be an epoch in [0, {cfg['epochs']}], got {stop_after}")
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    train = batchify(corpus["train"], cfg["batch_size"]).to(device)
    steps = n_windows(train, cfg["bptt"])
    skip = None  # the ids of the words the augmented loss leaves out, checked before any epoch
    if augmented.skip_words:
        skip = torch.tensor(augmented.skip_ids(corpus["vocab"]), dtype=torch.long, device=device)
    best_ppl, best_state, history, decays, lr = math.inf, None, [], 0, float(cfg["lr"])
    first, seconds_before, branch = 1, 0.0, None
    if resume is not None:
        model.load_state_dict(resume["weights"])
        best_ppl, history, decays, lr = resume["best_ppl"], copy.deepcopy(resume["history"]), resume["decays"], resume["lr"]
        if resume["best_weights"] is not None:
            best_state = {k: v.to(device) for k, v in resume["best_weights"].items()}
        first, seconds_before = resume["epoch"] + 1, resume["seconds"]
        _set_random_state(resume["random_state"], device)
    with float32_matmul_precision(cfg.get("matmul_precision", "highest")):
        started = time.perf_counter()
        if branch_after is not None and branch_after == first - 1:
            branch = branch_point(model, branch_after, best_ppl, best_state, history, lr, decays, seconds_before, device)
        uniform_ppl = float(model.vocab_size)
        for epoch in range(first, last + 1):
            if schedule["type"] == "after_epoch":
                lr = learning_rate(schedule, cfg["lr"], epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            al = augmented.at_epoch(epoch)
            model.train()
            state = model.init_state(cfg["batch_size"])
            total, count, start = 0.0, 0, time.perf_counter()
            bar = tqdm(bptt_windows(train, cfg["bptt"]), total=steps, desc=f"{desc} epoch {epoch}", mininterval=5.0, leave=False)
            for x, y in bar:
                if batch_transform is not None:
                    x, y = batch_transform(x, y)
                state = detach_state(state)
                logits, state = model(x, state)
                loss, ce = language_model_loss(logits, y, model.embedding.weight, al, skip)
                optimizer.zero_grad(set_to_none=True)
                # the papers' convention (Zaremba et al.'s code and its descendants): the loss is summed
                # over the time steps of a window and averaged over the batch, so "lr 1, clip 5" mean
                # what they meant there (a per-token mean would make both 35x smaller in effect)
                (loss * y.size(1)).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_norm"])
                optimizer.step()
                total += ce.item() * y.numel()
                count += y.numel()
            seconds = time.perf_counter() - start
            valid_ppl = evaluate(model, corpus["valid"], cfg["eval_batch_size"], cfg["bptt"], device)
            healthy = math.isfinite(total) and math.isfinite(valid_ppl)
            # before any epoch has a best, the yardstick is a uniform guess (perplexity |V|)
            yardstick = min(best_ppl, uniform_ppl)
            if not healthy or valid_ppl > DIVERGENCE_FACTOR * yardstick:
                # an SGD blow-up (too high an lr for too long).  The plateau schedule rolls back to the
                # best weights and decays by itself; a fixed schedule would spend its remaining epochs
                # in a state it does not recover from, so it stops with the best epoch's weights
                reason = (f"diverged in epoch {epoch} (lr {lr:.4g}): train ppl {perplexity(total / count):.4g}, "
                          f"valid ppl {valid_ppl:.4g} against the best {yardstick:.4g}; lower training.lr or "
                          f"start the lr decay earlier")
                if best_state is None:
                    raise FloatingPointError(f"{desc}: {reason}")
                if schedule["type"] == "after_epoch":
                    best_epoch = min(history, key=lambda h: h["valid_ppl"])["epoch"]
                    log.warning("%s: %s; stopping with epoch %d's weights", desc, reason, best_epoch)
                    history[-1]["stopped"] = reason
                    break
            history.append(
                {
                    "epoch": epoch,
                    "lr": lr,
                    "beta": al.beta,
                    "train_ppl": perplexity(total / count),
                    "valid_ppl": valid_ppl,
                    "tokens_per_s": count / seconds,
                    "epoch_seconds": seconds,
                }
            )
            log.info("%s epoch %d: lr %.4g train ppl %.2f valid ppl %.2f (%.0f tokens/s)",
                     desc, epoch, lr, history[-1]["train_ppl"], valid_ppl, count / seconds)
            if valid_ppl < best_ppl:
                best_ppl, best_state = valid_ppl, copy.deepcopy(model.state_dict())
            elif schedule["type"] == "plateau":
                decays += 1
                if decays > schedule["max_decays"]:
                    break
                lr *= schedule["rate"]
                model.load_state_dict(best_state)
            if epoch == branch_after:
                branch = branch_point(model, epoch, best_ppl, best_state, history, lr, decays,
                                      seconds_before + time.perf_counter() - started, device)
    if best_state is None:
        raise ValueError(f"{desc}: no epoch to train (resumed after epoch {first - 1} of {cfg['epochs']})")
    return {k: v.cpu() for k, v in best_state.items()}, history, branch
