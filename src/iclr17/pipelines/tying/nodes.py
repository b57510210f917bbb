"""Nodes of the ``tying`` pipelines (Inan, Khosravi & Socher, ICLR 2017): pure functions of
catalog entries and ``params:``.

training    one Table 1 variant (baseline VD-LSTM, +AL, +RE, +REAL) of the chosen size on PTB,
            checkpointed every epoch and resumed from the last one; +AL and +REAL start from
            their parent's state at the epoch before the augmented loss starts when it is saved
            (the epochs they share are trained once)
evaluation  valid/test perplexity of its best epoch, per-epoch curves and throughput, and the
            paper-vs-run rows; ``tying.report`` puts the four variants side by side
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, replace

import matplotlib.pyplot as plt

from iclr17.common.checkpoint import CheckpointMismatch, Checkpoints
from iclr17.common.config import ParameterError, check_keys
from iclr17.common.lm.evaluation import (
    best_epoch_results,
    history_metrics,
    learning_curves,
)
from iclr17.common.lm.model import DEFAULT_MASK_SHARING, LSTMLanguageModel, model_config
from iclr17.common.lm.train import train_language_model, training_identity
from iclr17.common.reporting import final_metrics, row, to_markdown
from iclr17.common.runtime import describe_device, pick_device, seed_everything
from iclr17.pipelines.tying.augmented_loss import (
    AugmentedLoss,
    AugmentedObjective,
    augmented_target_stats,
)

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


def _run_identity(variant: str, size: str, sizes: dict, variants: dict, seed: int) -> dict:
    """What a checkpoint's run must share with the run that goes on from it: everything that shapes
    the training (not the device, nor the float32 matmul precision: both change only rounding)."""
    flags = _variant_flags(variant, variants)
    cfg = _size_config(size, sizes)
    al = asdict(_variant_augmented_loss(variant, cfg, flags)) if flags["augmented_loss"] else None
    return {"variant": variant, "size": size, "tie": flags["tie"], "model": cfg["model"],
            "training": training_identity(cfg["training"]),
            "augmented_loss": al, "seed": seed}


def branch_epoch(variant: str, size: str, sizes: dict, variants: dict) -> int | None:
    """The epoch after which ``variant`` and its augmented-loss child part (the end of the epoch
    before the augmented loss starts; until then the two train alike), or None (nothing shared)."""
    after = _size_config(size, sizes)["augmented_loss"].start_epoch - 1
    parent = PARENTS.get(variant, variant)
    children = [v for v, p in PARENTS.items() if p == parent]
    if not children:
        return None
    child = children[0]
    flags = {v: _variant_flags(v, variants) for v in (parent, child) if v in variants}
    if after < 1 or len(flags) < 2 or flags[parent]["tie"] != flags[child]["tie"]:
        return None
    if flags[parent]["augmented_loss"] or not flags[child]["augmented_loss"]:
        return None
    return after


def _branch_start(variant, size, sizes, variants, seed, parent_checkpoints) -> dict | None:
    """The parent's state kept at the branch epoch, for an augmented-loss variant that has no
    checkpoint of its own yet (None: no such state; it then trains from scratch)."""
    after = branch_epoch(variant, size, sizes, variants) if variant in PARENTS else None
    if after is None or parent_checkpoints is None:
        return None
    parent = PARENTS[variant]
    try:
        kept = parent_checkpoints.run("train", _run_identity(parent, size, sizes, variants, seed)).load_kept(after)
    except CheckpointMismatch as err:
        log.warning("tying %s/%s trains from scratch: %s", size, variant, err)
        return None
    if kept is None:
        log.info("tying %s/%s: no %s state after epoch %d to go on from; training from scratch", size, variant,
                 parent, after)
        return None
    log.info("tying %s/%s goes on from %s's state after epoch %d (the epochs they share)", size, variant, parent, after)
    return {**kept, "meta": {"branch": {"parent": parent, "after_epoch": after, "shared_seconds": kept["seconds"]}}}


def train_variant(
    variant: str, corpus: dict, size: str, sizes: dict, variants: dict, seed: int, device: str,
    checkpoints: Checkpoints | None = None, parent_checkpoints: Checkpoints | None = None,
) -> tuple[dict, dict]:
    """Train one Table 1 variant; return ``(best weights, training record)``.  With
    ``checkpoints`` the loop saves every epoch and resumes from the last one saved; a variant
    without the augmented loss also keeps its state at the epoch before the augmented loss starts,
    and an augmented-loss variant with no checkpoint of its own starts from that state in
    ``parent_checkpoints`` when it exists (the same weights and history as from scratch: beta is 0
    before then, and the random state travels with the checkpoint)."""
    flags = _variant_flags(variant, variants)
    cfg = _size_config(size, sizes)
    dev = pick_device(device)
    seed_everything(seed)
    model = build_model(len(corpus["vocab"]), cfg["model"], flags["tie"])
    al = _variant_augmented_loss(variant, cfg, flags)
    log.info("tying %s/%s: %d parameters on %s", size, variant, model.n_parameters(), describe_device(dev))
    checkpoint, keep, start = None, [], None
    if checkpoints is not None:
        checkpoint = checkpoints.run("train", _run_identity(variant, size, sizes, variants, seed))
        after = branch_epoch(variant, size, sizes, variants)
        keep = [after] if after is not None and variant not in PARENTS else []
        if not checkpoint.exists():
            start = _branch_start(variant, size, sizes, variants, seed, parent_checkpoints)
    weights, history, run = train_language_model(
        model, corpus, cfg["training"], dev, loss=AugmentedObjective.for_vocab(al, corpus["vocab"], dev),
        desc=f"{size}/{variant}", checkpoint=checkpoint, keep_epochs=keep, start=start)
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
        "wall_seconds": run["train_seconds"],
        "resumed_after_epoch": run["resumed_after_epoch"],
        "history": history,
    }
    branch = run["meta"].get("branch")
    if branch is not None:  # the shared epochs' seconds count in wall_seconds; branch splits them
        record["branch"] = {**branch, "own_seconds": run["train_seconds"] - branch["shared_seconds"]}
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
        "resumed_after_epoch": record.get("resumed_after_epoch"),
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
    if results.get("resumed_after_epoch"):
        note += f"; resumed from its checkpoint after epoch {results['resumed_after_epoch']}"
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
