"""Nodes of the ``tying`` pipelines (Inan, Khosravi & Socher, ICLR 2017): pure functions of
catalog entries and ``params:``.

training    one Table 1 variant (baseline VD-LSTM, +AL, +RE, +REAL) of the chosen size on PTB; the
            variants without the augmented loss also save their state at the end of the epoch
            before it starts (its ``start_epoch``), from which ``train_branch`` trains the variant
            with it exactly as from scratch (they share those epochs: beta is 0 before it).
            ``train_part`` / ``train_finish``: one variant's run split into parts (each part goes on
            from the previous one's checkpoint), with the weights and history of the run in one go;
            ``train_part_branch``: an augmented-loss variant's first part, on from its parent's
            checkpoint at the epoch before the augmented loss starts
evaluation  valid/test perplexity of its best epoch, per-epoch curves and throughput, and the
            paper-vs-run rows; ``tying_report`` puts the four variants side by side
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, replace

import matplotlib.pyplot as plt

from iclr17.common.config import ParameterError, check_keys
from iclr17.common.lm.evaluation import (
    best_epoch_results,
    history_metrics,
    learning_curves,
)
from iclr17.common.lm.model import (
    DEFAULT_MASK_SHARING,
    AugmentedLoss,
    LSTMLanguageModel,
    augmented_target_stats,
    model_config,
)
from iclr17.common.lm.train import train_language_model
from iclr17.common.reporting import final_metrics, row, to_markdown
from iclr17.common.runtime import describe_device, pick_device, seed_everything

log = logging.getLogger(__name__)

VARIANT_LABELS = {"baseline": "VD-LSTM", "al": "+AL", "re": "+RE", "real": "+REAL"}


def _size_config(size: str, sizes: dict) -> dict:
    if size not in sizes:
        raise ValueError(f"tying.size must be one of {sorted(sizes)}, got {size!r}")
    cfg = check_keys(sizes[size], f"tying.sizes.{size}", ("model", "augmented_loss", "training"))
    model_config(cfg["model"], f"tying.sizes.{size}.model")
    cfg["augmented_loss"] = AugmentedLoss.from_params(cfg["augmented_loss"], f"tying.sizes.{size}.augmented_loss")
    return cfg


def build_model(vocab_size: int, model_cfg: dict, tie: bool) -> LSTMLanguageModel:
    return LSTMLanguageModel(vocab_size=vocab_size, tie=tie, **model_config(model_cfg, "model"))


# the variant whose first epochs an augmented-loss variant shares (the same tying, no augmented loss)
PARENTS = {"al": "baseline", "real": "re"}
# what a branch point's run must share with the run that goes on from it
_BRANCH_KEYS = ("size", "tie", "model", "training", "seed", "al_start_epoch")


def _variant_flags(variant: str, variants: dict) -> dict:
    """``tying.variants.<variant>``: ``tie`` (true / false) and ``augmented_loss``: false, true (the
    size's ``augmented_loss`` settings) or a mapping of the size's settings this variant changes,
    e.g. ``{tau: 2.0}`` (the untied +AL's target comes from an input embedding its classifier does
    not share, and wants another temperature than the tied +REAL's).  Not ``start_epoch``: the parent
    run saves its branch point at the epoch before the size's.  Returns ``tie``, ``augmented_loss``
    (on or off) and ``al_changes`` (the mapping; empty for true)."""
    if variant not in variants:
        raise ValueError(f"unknown variant {variant!r}; tying.variants has {sorted(variants)}")
    where = f"tying.variants.{variant}"
    flags = check_keys(variants[variant], where, ("tie", "augmented_loss"))
    on, changes = flags["augmented_loss"], {}
    if isinstance(on, Mapping):
        on, changes = True, dict(on)
        if "start_epoch" in changes:
            raise ParameterError(f"{where}.augmented_loss: start_epoch is the size's (tying.sizes.<size>.augmented_loss), "
                                 f"where the parent run saves its branch point; set it there")
    if not isinstance(on, bool) or not isinstance(flags["tie"], bool):
        raise ParameterError(f"{where}: tie must be true or false, augmented_loss true, false or a mapping of the "
                             f"size's augmented-loss settings it changes; got {variants[variant]!r}")
    return {"tie": flags["tie"], "augmented_loss": on, "al_changes": changes}


def _variant_augmented_loss(variant: str, cfg: dict, flags: dict) -> AugmentedLoss:
    """The augmented-loss settings a variant trains with: the size's, with the variant's changes;
    beta 0 (the plain cross-entropy) when it has none."""
    al = cfg["augmented_loss"]
    if not flags["augmented_loss"]:
        return replace(al, beta=0.0)
    if not flags["al_changes"]:
        return al
    return AugmentedLoss.from_params({**asdict(al), **flags["al_changes"]}, f"tying.variants.{variant}.augmented_loss")


def _train(variant: str, corpus: dict, size: str, sizes: dict, variants: dict, seed: int, device: str,
           branch_after: int | None = None, resume: dict | None = None,
           stop_after: int | None = None) -> tuple[dict, dict, dict | None]:
    flags = _variant_flags(variant, variants)
    cfg = _size_config(size, sizes)
    dev = pick_device(device)
    seed_everything(seed)
    model = build_model(len(corpus["vocab"]), cfg["model"], flags["tie"])
    al = _variant_augmented_loss(variant, cfg, flags)
    log.info("tying %s/%s: %d parameters on %s", size, variant, model.n_parameters(), describe_device(dev))
    start = time.perf_counter()
    weights, history, branch = train_language_model(model, corpus, cfg["training"], dev, augmented=al,
                                                    desc=f"{size}/{variant}", branch_after=branch_after, resume=resume,
                                                    stop_after=stop_after)
    record = {
        "variant": variant,
        "size": size,
        "tie": flags["tie"],
        "augmented_loss": flags["augmented_loss"],
        "beta": al.beta,
        "tau": al.tau,
        "al_scale": al.scale,
        "al_target_grad": al.target_grad,
        "al_start_epoch": al.start_epoch,
        "al_skip_words": list(al.skip_words),
        "al_tempered_prediction": al.tempered_prediction,
        "model": cfg["model"],
        "training": cfg["training"],
        "seed": seed,
        "device": describe_device(dev, cfg["training"].get("matmul_precision")),
        "n_parameters": model.n_parameters(),
        "wall_seconds": time.perf_counter() - start,
        "history": history,
    }
    return weights, record, branch


def train_variant(
    variant: str, corpus: dict, size: str, sizes: dict, variants: dict, seed: int, device: str
) -> tuple[dict, dict]:
    """Train one variant from scratch; return ``(best weights, training record)``."""
    weights, record, _ = _train(variant, corpus, size, sizes, variants, seed, device)
    return weights, record


def train_parent(
    variant: str, corpus: dict, size: str, sizes: dict, variants: dict, seed: int, device: str
) -> tuple[dict, dict, dict]:
    """:func:`train_variant` of a variant without the augmented loss, plus its *branch point*: the
    training state at the end of epoch ``augmented_loss.start_epoch - 1`` (0: before the first),
    from which :func:`train_branch` trains the augmented-loss variant with the same tying."""
    if _variant_flags(variant, variants)["augmented_loss"]:
        raise ValueError(f"tying.variants.{variant} uses the augmented loss: it is no branch point's parent")
    after = _size_config(size, sizes)["augmented_loss"].start_epoch - 1
    weights, record, branch = _train(variant, corpus, size, sizes, variants, seed, device, branch_after=after)
    if branch is None:  # the run stopped (diverged) before that epoch
        raise RuntimeError(f"tying {size}/{variant} stopped before the end of epoch {after}: no branch point for "
                           f"an augmented loss from epoch {after + 1}")
    return weights, record, {**branch, "run": {"variant": variant, **{k: record[k] for k in _BRANCH_KEYS}}}


def train_branch(
    variant: str, corpus: dict, branch: dict, size: str, sizes: dict, variants: dict, seed: int, device: str
) -> tuple[dict, dict]:
    """Train augmented-loss variant ``variant`` on from its parent's branch point (see
    :func:`train_parent`): the same weights and history as :func:`train_variant` from scratch, in
    the time of the epochs from the augmented loss's ``start_epoch`` on.  The record's
    ``wall_seconds`` counts the shared epochs too (``branch`` splits it)."""
    flags, cfg, parent = _variant_flags(variant, variants), _size_config(size, sizes), branch["run"]
    start_epoch = cfg["augmented_loss"].start_epoch
    wanted = {"size": size, "tie": flags["tie"], "model": cfg["model"], "training": cfg["training"], "seed": seed,
              "al_start_epoch": start_epoch}
    differ = sorted(k for k in _BRANCH_KEYS if parent[k] != wanted[k])
    if not flags["augmented_loss"] or branch["epoch"] != start_epoch - 1 or differ:
        raise ParameterError(
            f"tying {size}/{variant} cannot go on from the branch point of {parent['variant']} (after epoch "
            f"{branch['epoch']}; differs in {differ or ['the augmented loss']}): run kedro run "
            f"--pipeline=tying_{parent['variant']} with these parameters first, or --pipeline=tying_{variant} from scratch")
    weights, record, _ = _train(variant, corpus, size, sizes, variants, seed, device, resume=branch)
    own = record["wall_seconds"]
    record["wall_seconds"] = branch["seconds"] + own
    record["branch"] = {"parent": parent["variant"], "after_epoch": branch["epoch"], "shared_seconds": branch["seconds"],
                        "own_seconds": own}
    return weights, record


def _run_identity(variant: str, size: str, sizes: dict, variants: dict, seed: int) -> dict:
    """What a checkpoint's run must share with the run that goes on from it: everything that shapes
    the training (not the device, nor the float32 matmul precision: both change only rounding)."""
    flags = _variant_flags(variant, variants)
    cfg = _size_config(size, sizes)
    al = asdict(_variant_augmented_loss(variant, cfg, flags)) if flags["augmented_loss"] else None
    training = {k: v for k, v in cfg["training"].items() if k != "matmul_precision"}
    return {"variant": variant, "size": size, "tie": flags["tie"], "model": cfg["model"], "training": training,
            "augmented_loss": al, "seed": seed}


def _check_checkpoint(checkpoint: dict, wanted: dict, stage: str) -> None:
    run = checkpoint["run"]
    differ = sorted(k for k in set(run) | set(wanted) if run.get(k) != wanted.get(k))
    if differ:
        v = wanted["variant"]
        raise ParameterError(
            f"tying {wanted['size']}/{v}: the checkpoint (after epoch {checkpoint['epoch']}) is of a run that "
            f"differs in {differ}: run this {stage} with that run's parameters, or delete the checkpoint "
            f"(tying.{v}.checkpoint in the catalog) and start again with kedro run --pipeline=tying_{v}_part")


def train_part(
    variant: str, corpus: dict, checkpoint: dict | None, until_epoch: int, size: str, sizes: dict, variants: dict,
    seed: int, device: str,
) -> tuple[dict, dict]:
    """One part of a run split into parts: train ``variant`` from ``checkpoint`` (the previous part's;
    None: from scratch) to the end of epoch ``until_epoch``; return the new checkpoint (the training
    loop's whole state, :func:`~iclr17.common.lm.train.branch_point`, and the run it belongs to) and
    the per-epoch metrics so far.  The parts and :func:`train_finish` give the weights and history of
    :func:`train_variant` in one go (the random state travels in the checkpoint)."""
    wanted = _run_identity(variant, size, sizes, variants, seed)
    epochs = wanted["training"]["epochs"]
    if isinstance(until_epoch, bool) or not isinstance(until_epoch, int) or not 1 <= until_epoch <= epochs:
        raise ParameterError(f"tying.until_epoch must be an epoch in [1, {epochs}] (the last of this part), "
                             f"got {until_epoch!r}")
    done, parts = 0, []
    if checkpoint is not None:
        _check_checkpoint(checkpoint, wanted, "part")
        done, parts = checkpoint["epoch"], checkpoint["parts"]
        if until_epoch <= done:
            raise ParameterError(f"tying {size}/{variant}: the checkpoint is already at epoch {done}; set "
                                 f"tying.until_epoch above it, or run tying_{variant}_finish")
        log.info("tying %s/%s: going on from the checkpoint after epoch %d", size, variant, done)
    _, record, state = _train(variant, corpus, size, sizes, variants, seed, device, branch_after=until_epoch,
                              resume=checkpoint, stop_after=until_epoch)
    if state is None:  # the run ended before until_epoch: it diverged, or a plateau schedule ran out
        last = record["history"][-1]
        reason = last.get("stopped") or "its learning-rate decays were used up"
        raise RuntimeError(f"tying {size}/{variant} ended in this part, after epoch {last['epoch']} ({reason}): "
                           f"no checkpoint at epoch {until_epoch}; train it in one go with kedro run "
                           f"--pipeline=tying_{variant}")
    seconds = state["seconds"] - (checkpoint["seconds"] if checkpoint is not None else 0.0)
    part = {"epochs": [done + 1, until_epoch], "seconds": seconds, "device": record["device"]}
    shared = {"branch": checkpoint["branch"]} if checkpoint is not None and "branch" in checkpoint else {}
    return {**state, "run": wanted, "parts": [*parts, part], **shared}, history_metrics(state["history"])


def train_part_branch(
    variant: str, corpus: dict, parent_checkpoint: dict | None, until_epoch: int, size: str, sizes: dict,
    variants: dict, seed: int, device: str,
) -> tuple[dict, dict]:
    """The first part of augmented-loss variant ``variant`` (+AL, +REAL), on from its parent's part
    checkpoint (``tying_baseline_part`` / ``tying_re_part`` to the end of the epoch before the
    augmented loss starts): :func:`train_branch` for runs in parts, so the epochs the two share are
    trained once.  Returns what :func:`train_part` returns; the checkpoint's ``branch`` (the parent,
    the epoch, the shared seconds) travels to the later parts and into the finish's record."""
    if variant not in PARENTS:
        raise ValueError(f"variant must be one of {tuple(PARENTS)} (an augmented-loss variant), got {variant!r}")
    parent, flags = PARENTS[variant], _variant_flags(variant, variants)
    start_epoch = _size_config(size, sizes)["augmented_loss"].start_epoch
    after = start_epoch - 1
    if not flags["augmented_loss"] or after < 1:
        raise ParameterError(f"tying {size}/{variant}: no epochs to share with {parent} (the augmented loss "
                             f"{'is off' if not flags['augmented_loss'] else 'starts at epoch 1'}): run kedro run "
                             f"--pipeline=tying_{variant}_part")
    if parent_checkpoint is None:
        raise ParameterError(f"tying {size}/{variant}: no {parent} checkpoint to go on from: run kedro run "
                             f"--pipeline=tying_{parent}_part --params tying.until_epoch={after} first")
    parent_run = _run_identity(parent, size, sizes, variants, seed)
    if parent_run["tie"] != flags["tie"]:
        raise ParameterError(f"tying.variants.{variant} and tying.variants.{parent} differ in tie: "
                             f"{variant} cannot go on from {parent}")
    _check_checkpoint(parent_checkpoint, parent_run, "part")
    if parent_checkpoint["epoch"] != after:
        raise ParameterError(
            f"tying {size}/{variant}: the {parent} checkpoint is after epoch {parent_checkpoint['epoch']}, but the "
            f"augmented loss starts at epoch {start_epoch}: go on from {parent}'s checkpoint after epoch {after} "
            f"(kedro run --pipeline=tying_{parent}_part --params tying.until_epoch={after})")
    epochs = parent_run["training"]["epochs"]
    if isinstance(until_epoch, bool) or not isinstance(until_epoch, int) or not after < until_epoch <= epochs:
        raise ParameterError(f"tying.until_epoch must be an epoch in [{after + 1}, {epochs}] (the last of this "
                             f"part, after the {parent} checkpoint's epoch {after}), got {until_epoch!r}")
    log.info("tying %s/%s: its first part goes on from the %s checkpoint", size, variant, parent)
    branch = {"parent": parent, "after_epoch": after, "shared_seconds": parent_checkpoint["seconds"]}
    # the parent's checkpoint as this variant's: train_part goes on from it, and carries the branch on
    own = {**parent_checkpoint, "run": _run_identity(variant, size, sizes, variants, seed), "branch": branch}
    return train_part(variant, corpus, own, until_epoch, size, sizes, variants, seed, device)


def train_finish(
    variant: str, corpus: dict, checkpoint: dict | None, size: str, sizes: dict, variants: dict, seed: int, device: str
) -> tuple[dict, dict]:
    """The last part of a run split into parts: from the checkpoint of :func:`train_part` to the last
    epoch; return ``(best weights, training record)`` as :func:`train_variant` does, the record's
    ``wall_seconds`` the training time of all parts, ``parts`` each part's epochs and time."""
    if checkpoint is None:
        raise ParameterError(f"tying {size}/{variant}: no checkpoint to finish from: run kedro run "
                             f"--pipeline=tying_{variant}_part --params tying.until_epoch=N first")
    _check_checkpoint(checkpoint, _run_identity(variant, size, sizes, variants, seed), "finish")
    weights, record, _ = _train(variant, corpus, size, sizes, variants, seed, device, resume=checkpoint)
    own = record["wall_seconds"]
    record["wall_seconds"] = checkpoint["seconds"] + own
    last = record["history"][-1]["epoch"]
    record["parts"] = [*checkpoint["parts"]]
    if last > checkpoint["epoch"]:
        record["parts"].append({"epochs": [checkpoint["epoch"] + 1, last], "seconds": own, "device": record["device"]})
    if "branch" in checkpoint:  # the first part went on from the parent's checkpoint (train_part_branch)
        shared = checkpoint["branch"]["shared_seconds"]
        record["branch"] = {**checkpoint["branch"], "own_seconds": record["wall_seconds"] - shared}
    return weights, record


def assumed_settings(record: dict) -> str:
    """The settings of a run that the paper leaves to its (unavailable) footnotes, for the
    paper-vs-run note: dropout, schedule, clipping and, for the AL variants, beta and tau."""
    model, training = record["model"], record["training"]
    decay = training["lr_decay"]
    schedule = ", ".join(f"{k} {v}" for k, v in decay.items())
    text = (
        f"assumed (paper footnotes unavailable): dropout {model['dropout']} "
        f"({model.get('mask_sharing', DEFAULT_MASK_SHARING)} masks), {training['epochs']} epochs, "
        f"lr decay {schedule}, clip {training['clip_norm']}"
    )
    if model.get("input_dropout") is not None:
        text += f", embedded-input dropout {model['input_dropout']}"
    if record["augmented_loss"]:
        text += f", beta {record['beta']}, tau {record['tau']}"
        if record.get("al_scale", "tau2") != "tau2":
            text += f", AL weight {record['al_scale']}"
        if record.get("al_target_grad", False):
            text += ", gradient through the AL target"
        if not record.get("al_tempered_prediction", True):
            text += ", AL against the untempered prediction"
        if record.get("al_start_epoch", 1) != 1:
            text += f", AL from epoch {record['al_start_epoch']} (beta 0 before)"
        if record.get("al_skip_words"):
            text += f", no AL where the next word is {' or '.join(record['al_skip_words'])}"
    return text


def evaluate_variant(corpus: dict, weights: dict, record: dict, batch_size: int, device: str) -> dict:
    """Valid and test perplexity of the best epoch's weights, read as ``batch_size`` streams; for
    the augmented-loss variants also how informative its targets are at the trained embedding
    (``al_target``: a mean entropy near ``log |V|`` means the augmented loss only smooths towards
    uniform at this temperature)."""
    model = build_model(len(corpus["vocab"]), record["model"], record["tie"])
    model.load_state_dict(weights)
    results = best_epoch_results(model, corpus, record["history"], record["training"]["bptt"], batch_size,
                                 pick_device(device))
    return {
        "variant": record["variant"],
        "size": record["size"],
        **results,
        "epochs_planned": record["training"]["epochs"],
        "tied_storage": model.decoder.weight.data_ptr() == model.embedding.weight.data_ptr(),
        "al_target": augmented_target_stats(model.embedding.weight, record["tau"]) if record["augmented_loss"] else None,
        "train_seconds": record["wall_seconds"],
        "branch": record.get("branch"),
        "parts": record.get("parts"),
        "device": record["device"],
        "assumed": assumed_settings(record),
    }


def _label(record: dict) -> str:
    return f"{record['size']} {VARIANT_LABELS.get(record['variant'], record['variant'])}"


def _rows(results: dict, paper: dict) -> list[dict]:
    size, variant = results["size"], results["variant"]
    paper_valid, paper_test = paper.get(size, {}).get(variant, [None, None])
    note = (
        f"{results['epochs_run']} epochs (best {results['best_epoch']}), {results['n_parameters'] / 1e6:.1f}M params, "
        f"{results['tokens_per_s']:.0f} tokens/s on {results['device']}"
    )
    if results.get("al_target"):
        note += f", AL target entropy {results['al_target']['entropy_fraction_of_uniform']:.1%} of uniform"
    branch = results.get("branch")
    if branch and branch["after_epoch"] > 0:  # (after epoch 0 it shares the initialisation only)
        note += (f"; epochs 1-{branch['after_epoch']} trained once, in the "
                 f"{VARIANT_LABELS.get(branch['parent'], branch['parent'])} run (the same until the augmented loss starts)")
    if results.get("parts") and len(results["parts"]) > 1:
        spans = ", ".join(f"{a}-{b}" for a, b in (p["epochs"] for p in results["parts"]))
        note += f"; trained in {len(results['parts'])} parts (epochs {spans})"
    if results.get("stopped"):
        note += f"; stopped early: {results['stopped']}"
    if results.get("assumed"):
        note += f"; {results['assumed']}"
    label = _label(results)
    return [
        row(f"{label} valid perplexity", paper_valid, results["valid_ppl"], "ppl", note),
        row(f"{label} test perplexity", paper_test, results["test_ppl"], "ppl", note),
    ]


def variant_summary(results: dict, record: dict, paper: dict) -> tuple[list[dict], str, dict, plt.Figure]:
    """paper_vs_run rows of one variant, and its metrics: per-epoch curves and the final numbers
    (the same names for every variant, so the MLflow UI compares them)."""
    rows = _rows(results, paper)
    metrics = history_metrics(record["history"])
    metrics.update(
        final_metrics(
            {
                "final_valid_ppl": results["valid_ppl"],
                "final_test_ppl": results["test_ppl"],
                "n_parameters": results["n_parameters"],
                "train_seconds": results["train_seconds"],
            }
        )
    )
    if results.get("al_target"):
        metrics.update(
            final_metrics(
                {
                    "al_target_entropy_fraction": results["al_target"]["entropy_fraction_of_uniform"],
                    "al_target_self_prob": results["al_target"]["self_prob"],
                }
            )
        )
    title = f"tying ({results['size']}, {VARIANT_LABELS.get(results['variant'], results['variant'])}): paper vs this run"
    return rows, to_markdown(rows, title), metrics, learning_curves({_label(record): record["history"]})


def ordering_check(results: list[dict]) -> dict:
    """The paper's claims on one size: baseline worst, +REAL best, +AL and +RE in between (test)."""
    test = {r["variant"]: r["test_ppl"] for r in results}
    missing = [v for v in VARIANT_LABELS if v not in test]
    if missing:
        return {"complete": False, "missing": missing}
    return {
        "complete": True,
        "baseline_worst": test["baseline"] > max(test["al"], test["re"], test["real"]),
        "real_best": test["real"] < min(test["baseline"], test["al"], test["re"]),
        "al_beats_baseline": test["al"] < test["baseline"],
        "re_beats_baseline": test["re"] < test["baseline"],
        "test_ppl": test,
    }


def report(paper: dict, *results_and_records) -> tuple[list[dict], str, dict, plt.Figure]:
    """All variants side by side: paper_vs_run rows, the ordering check, learning curves."""
    half = len(results_and_records) // 2
    results, records = results_and_records[:half], results_and_records[half:]
    rows = [r for res in results for r in _rows(res, paper)]
    order = ordering_check(list(results))
    if order["complete"]:
        rows.append(row("ordering baseline > +AL, +RE > +REAL (test)", 1.0,
                        float(order["baseline_worst"] and order["real_best"]), "bool",
                        "1 = the paper's ordering holds in this run"))
    sizes = sorted({r["size"] for r in results})
    md = to_markdown(rows, f"tying ({', '.join(sizes)}): Table 1, paper vs this run")
    return rows, md, order, learning_curves({_label(r): r["history"] for r in records})
