"""Truncated-BPTT training of :class:`~iclr17.common.lm.model.LSTMLanguageModel` with plain SGD,
global-norm gradient clipping and either of the two learning-rate schedules the papers use:

- ``after_epoch`` (Zaremba et al.; Inan et al.): constant ``lr`` until ``start_epoch``, then
  multiplied by ``rate`` every epoch;
- ``plateau`` (Xie et al.'s code): multiplied by ``rate`` whenever the validation perplexity does
  not improve, restarting from the best epoch's weights; training stops after ``max_decays``.

The gradient is that of the loss summed over the window's time steps and averaged over the batch,
as in Zaremba et al.'s code, so learning rates and clipping thresholds carry over from the papers.

The loop's whole state is saved at the end of every epoch through a
:class:`~iclr17.common.checkpoint.Checkpoint` and resumed from it, so a stopped run goes on where it
stopped and ends with the weights and history of an uninterrupted one.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from iclr17.common.checkpoint import Checkpoint, random_state, set_random_state
from iclr17.common.config import check_keys
from iclr17.common.lm.data import batchify, bptt_windows, n_windows
from iclr17.common.lm.model import LSTMLanguageModel, detach_state, perplexity
from iclr17.common.runtime import float32_matmul_precision

log = logging.getLogger(__name__)

# an epoch whose validation perplexity exceeds this multiple of the best so far has diverged
DIVERGENCE_FACTOR = 4.0
TRAIN_KEYS = ("batch_size", "bptt", "lr", "epochs", "clip_norm", "lr_decay", "eval_batch_size")
# matmul_precision: torch's float32 matmul precision while training (runtime.float32_matmul_precision);
# unset = "highest", torch's default
TRAIN_OPTIONAL = ("matmul_precision",)
BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class CrossEntropy:
    """The plain next-word cross-entropy, the default training loss.  A training loss is anything
    with ``at_epoch(epoch)`` (the loss in force in that epoch), ``info`` (what the epoch's history
    row records of it) and ``(logits, targets, model) -> (loss, cross_entropy)``."""

    info: dict = {}

    def at_epoch(self, epoch: int) -> CrossEntropy:
        return self

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, model) -> tuple[torch.Tensor, torch.Tensor]:
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return ce, ce


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
        step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
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


def train_epoch(model, optimizer, train: torch.Tensor, cfg: dict, loss, batch_transform, desc: str) -> tuple[float, int]:
    """One pass over the training streams; return the summed cross-entropy and the token count."""
    model.train()
    state = model.init_state(cfg["batch_size"])
    total, count = 0.0, 0
    windows = tqdm(bptt_windows(train, cfg["bptt"]), total=n_windows(train, cfg["bptt"]), desc=desc,
                   mininterval=5.0, leave=False)
    for x, y in windows:
        if batch_transform is not None:
            x, y = batch_transform(x, y)
        state = detach_state(state)
        logits, state = model(x, state)
        total_loss, ce = loss(logits, y, model)
        optimizer.zero_grad(set_to_none=True)
        # the papers' convention (Zaremba et al.'s code): summed over a window's time steps, averaged
        # over the batch, so "lr 1, clip 5" mean what they meant there
        (total_loss * y.size(1)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_norm"])
        optimizer.step()
        total += ce.item() * y.numel()
        count += y.numel()
    return total, count


def divergence(epoch: int, lr: float, train_nll: float, valid_ppl: float, best_ppl: float, vocab_size: int) -> str | None:
    """Why the epoch diverged (a non-finite loss, or valid perplexity far above the best so far;
    before any best, above a uniform guess), or None."""
    yardstick = min(best_ppl, float(vocab_size))
    if math.isfinite(train_nll) and math.isfinite(valid_ppl) and valid_ppl <= DIVERGENCE_FACTOR * yardstick:
        return None
    return (f"diverged in epoch {epoch} (lr {lr:.4g}): train ppl {perplexity(train_nll):.4g}, valid ppl "
            f"{valid_ppl:.4g} against the best {yardstick:.4g}; lower training.lr or start the lr decay earlier")


def _initial_state(lr: float) -> dict:
    return {"epoch": 0, "best_ppl": math.inf, "best_weights": None, "history": [], "lr": lr, "decays": 0,
            "seconds": 0.0, "done": False, "meta": {}}


def training_identity(cfg: dict) -> dict:
    """A ``training:`` block as part of a checkpoint's identity: without ``matmul_precision``,
    which (like the device) changes only rounding."""
    return {k: v for k, v in cfg.items() if k != "matmul_precision"}


def _generators(transform) -> list[torch.Generator]:
    """The random generator of a batch transform (data noising), which a checkpoint carries too."""
    return [transform.generator] if hasattr(transform, "generator") else []


def _snapshot(model, optimizer, loop: dict, transform) -> dict:
    """The loop's state at the end of an epoch, with the weights and every random state."""
    return {**loop, "history": copy.deepcopy(loop["history"]), "weights": model.state_dict(),
            "optimizer": optimizer.state_dict(), "random": random_state(*_generators(transform))}


def _restore(model, optimizer, saved: dict, transform, device) -> dict:
    model.load_state_dict(saved["weights"])
    if "optimizer" in saved:
        optimizer.load_state_dict(saved["optimizer"])
    set_random_state(saved["random"], *_generators(transform))
    initial = _initial_state(0.0)
    loop = {**initial, **{k: saved[k] for k in initial if k in saved}}
    loop["history"] = copy.deepcopy(loop["history"])
    if loop["best_weights"] is not None:
        loop["best_weights"] = {k: v.to(device) for k, v in loop["best_weights"].items()}
    return loop


def train_language_model(
    model: LSTMLanguageModel,
    corpus: dict,
    cfg: dict,
    device: torch.device,
    loss=None,
    batch_transform: BatchTransform | None = None,
    desc: str = "train",
    checkpoint: Checkpoint | None = None,
    keep_epochs: Iterable[int] = (),
    start: dict | None = None,
) -> tuple[dict, list[dict], dict]:
    """Train in place; return ``(best_state_dict, history, run)``.  ``loss``: the training loss
    (:class:`CrossEntropy` by default); ``batch_transform(x, y)`` (e.g. data noising) is applied to
    training batches only (its ``generator``, if any, is checkpointed).  ``checkpoint``: saved at the
    end of every epoch and resumed from when it exists; ``keep_epochs`` also keep their own copy
    (a branch point another run starts from).  ``start``: a saved state to begin from when
    ``checkpoint`` has none (e.g. another run's kept epoch; its ``meta`` travels on into this run's
    checkpoints).  ``run`` says what was resumed from, the training seconds of all parts and ``meta``."""
    cfg = check_keys(cfg, "training", TRAIN_KEYS, TRAIN_OPTIONAL)
    schedule = _check_schedule(dict(cfg["lr_decay"]))
    loss = loss or CrossEntropy()
    keep = set(keep_epochs)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    train = batchify(corpus["train"], cfg["batch_size"]).to(device)
    saved = checkpoint.load() if checkpoint is not None else None
    saved = saved if saved is not None else start
    loop = _initial_state(float(cfg["lr"])) if saved is None else _restore(model, optimizer, saved, batch_transform, device)
    resumed_after = None if saved is None else loop["epoch"]
    with float32_matmul_precision(cfg.get("matmul_precision", "highest")):
        while not loop["done"] and loop["epoch"] < cfg["epochs"]:
            began = time.perf_counter()
            epoch = loop["epoch"] + 1
            loop["done"] = _run_epoch(model, optimizer, train, corpus, cfg, schedule, loss.at_epoch(epoch),
                                      batch_transform, loop, epoch, desc, device)
            loop["epoch"], loop["seconds"] = epoch, loop["seconds"] + time.perf_counter() - began
            if checkpoint is not None:
                checkpoint.save(epoch, _snapshot(model, optimizer, loop, batch_transform), keep=epoch in keep)
    if loop["best_weights"] is None:
        raise ValueError(f"{desc}: no epoch to train (resumed after epoch {loop['epoch']} of {cfg['epochs']})")
    run = {"resumed_after_epoch": resumed_after, "train_seconds": loop["seconds"], "meta": loop["meta"]}
    return {k: v.detach().cpu().clone() for k, v in loop["best_weights"].items()}, loop["history"], run


def _run_epoch(model, optimizer, train, corpus, cfg, schedule, loss, transform, loop, epoch, desc, device) -> bool:
    """Train and validate epoch ``epoch``, updating ``loop`` (history, best, schedule); return
    whether training ends here (the plateau schedule's decays used up, or a fixed schedule diverged)."""
    if schedule["type"] == "after_epoch":
        loop["lr"] = learning_rate(schedule, cfg["lr"], epoch)
    for group in optimizer.param_groups:
        group["lr"] = loop["lr"]
    start = time.perf_counter()
    total, count = train_epoch(model, optimizer, train, cfg, loss, transform, f"{desc} epoch {epoch}")
    seconds = time.perf_counter() - start
    valid_ppl = evaluate(model, corpus["valid"], cfg["eval_batch_size"], cfg["bptt"], device)
    reason = divergence(epoch, loop["lr"], total / count, valid_ppl, loop["best_ppl"], model.vocab_size)
    history = loop["history"]
    if reason is not None:
        # the plateau schedule rolls back and decays by itself; a fixed one would spend its remaining
        # epochs in a state it does not recover from, so it stops with the best epoch's weights
        if loop["best_weights"] is None:
            raise FloatingPointError(f"{desc}: {reason}")
        if schedule["type"] == "after_epoch":
            log.warning("%s: %s; stopping with epoch %d's weights", desc, reason,
                        min(history, key=lambda h: h["valid_ppl"])["epoch"])
            history[-1]["stopped"] = reason
            return True
    history.append({"epoch": epoch, "lr": loop["lr"], **loss.info, "train_ppl": perplexity(total / count),
                    "valid_ppl": valid_ppl, "tokens_per_s": count / seconds, "epoch_seconds": seconds})
    log.info("%s epoch %d: lr %.4g train ppl %.2f valid ppl %.2f (%.0f tokens/s)",
             desc, epoch, loop["lr"], history[-1]["train_ppl"], valid_ppl, count / seconds)
    if valid_ppl < loop["best_ppl"]:
        loop["best_ppl"], loop["best_weights"] = valid_ppl, copy.deepcopy(model.state_dict())
    elif schedule["type"] == "plateau":
        loop["decays"] += 1
        if loop["decays"] > schedule["max_decays"]:
            return True
        loop["lr"] *= schedule["rate"]
        model.load_state_dict(loop["best_weights"])
    return False
