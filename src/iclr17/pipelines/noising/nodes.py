"""Nodes of the ``noising`` pipelines (Xie et al., ICLR 2017): pure functions of catalog entries
and ``params:``.

data prep   PTB corpus (shared) -> bigram statistics of the training split (unigram, KN
            continuation distribution, N1+(x, .) / c(x))
training    one noising scheme (none / blank / unigram / bigram KN) at a given model size, the
            batches of the training split noised on the fly
evaluation  valid/test perplexity of the best epoch, curves, paper_vs_run; ``noising.report``
            compares the schemes
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt

from iclr17.common.checkpoint import Checkpoints
from iclr17.common.config import check_keys
from iclr17.common.lm.evaluation import (
    best_epoch_results,
    history_metrics,
    learning_curves,
)
from iclr17.common.lm.model import LSTMLanguageModel, model_config
from iclr17.common.lm.train import train_language_model, training_identity
from iclr17.common.reporting import final_metrics, row, to_markdown
from iclr17.common.runtime import describe_device, pick_device, seed_everything
from iclr17.pipelines.noising.schemes import Noiser, bigram_statistics

log = logging.getLogger(__name__)


def noising_statistics(corpus: dict) -> tuple[dict, dict]:
    """Bigram statistics of the training split, and a readable summary of them."""
    vocab = corpus["vocab"]
    stats = bigram_statistics(corpus["train"], len(vocab))
    top = lambda a: [vocab[i] for i in a.argsort()[::-1][:10]]  # noqa: E731
    summary = {
        "most_frequent": top(stats["unigram"]),
        "most_distinct_histories": top(stats["continuation"]),
        "most_distinct_continuations": top(stats["distinct_continuations"]),
        "distinct_bigrams": int(stats["distinct_continuations"].sum()),
    }
    return stats, summary


def _model(vocab_size: int, model_cfg: dict) -> LSTMLanguageModel:
    # one extra type, <_>, for every scheme, so all runs have the same size
    return LSTMLanguageModel(vocab_size=vocab_size + 1, **model_config(model_cfg, "model"))


def train_scheme(run: str, corpus: dict, stats: dict, size: str, sizes: dict, runs: dict, seed: int,
                 device: str, checkpoints: Checkpoints | None = None) -> tuple[dict, dict]:
    """Train one run of ``noising.runs`` (a scheme, gamma and discounting) at ``size``; with
    ``checkpoints``, saved every epoch and resumed from the last one saved."""
    if run not in runs:
        raise ValueError(f"unknown run {run!r}; noising.runs has {sorted(runs)}")
    spec = check_keys(runs[run], f"noising.runs.{run}", ("scheme", "gamma", "absolute_discounting"))
    if size not in sizes:
        raise ValueError(f"noising.size must be one of {sorted(sizes)}, got {size!r}")
    cfg = check_keys(sizes[size], f"noising.sizes.{size}", ("model", "training"))
    dev = pick_device(device)
    seed_everything(seed)
    vocab_size = len(corpus["vocab"])
    model = _model(vocab_size, cfg["model"])
    noiser = Noiser(stats, spec["scheme"], spec["gamma"], spec["absolute_discounting"], blank_id=vocab_size,
                    seed=seed, device=dev)
    log.info("noising %s/%s (%s): %d parameters on %s", size, run, spec, model.n_parameters(), describe_device(dev))
    identity = {"run": run, "size": size, **spec, "model": cfg["model"], "seed": seed,
                "training": training_identity(cfg["training"])}
    checkpoint = checkpoints.run("train", identity) if checkpoints is not None else None
    weights, history, trained = train_language_model(model, corpus, cfg["training"], dev, batch_transform=noiser,
                                                     desc=f"{size}/{run}", checkpoint=checkpoint)
    record = {"run": run, "size": size, **spec, "model": cfg["model"], "training": cfg["training"], "seed": seed,
              "device": describe_device(dev, cfg["training"].get("matmul_precision")),
              "wall_seconds": trained["train_seconds"], "resumed_after_epoch": trained["resumed_after_epoch"],
              "history": history}
    return weights, record


def evaluate_scheme(corpus: dict, weights: dict, record: dict, batch_size: int, device: str) -> dict:
    model = _model(len(corpus["vocab"]), record["model"])
    model.load_state_dict(weights)
    results = best_epoch_results(model, corpus, record["history"], record["training"]["bptt"], batch_size,
                                 pick_device(device))
    keys = ("run", "size", "scheme", "gamma", "absolute_discounting", "device")
    return {**{k: record[k] for k in keys}, **results, "train_seconds": record["wall_seconds"]}


def _label(res: dict) -> str:
    disc = ", abs. discounting" if res["absolute_discounting"] else ""
    return f"{res['size']} {res['scheme']} (gamma {res['gamma']:g}{disc})"


def _rows(res: dict, paper: dict) -> list[dict]:
    ref = (paper.get(res["size"]) or {}).get(res["run"]) or [None, None]
    note = (f"{res['epochs_run']} epochs (best {res['best_epoch']}), {res['tokens_per_s']:.0f} tokens/s on "
            f"{res['device']}" + ("" if ref[0] is not None else "; no verified paper number"))
    return [row(f"{_label(res)} valid perplexity", ref[0], res["valid_ppl"], "ppl", note),
            row(f"{_label(res)} test perplexity", ref[1], res["test_ppl"], "ppl", note)]


def scheme_summary(results: dict, record: dict, paper: dict) -> tuple[list[dict], str, dict, plt.Figure]:
    rows = _rows(results, paper)
    metrics = {**history_metrics(record["history"]),
               **final_metrics({"final_valid_ppl": results["valid_ppl"], "final_test_ppl": results["test_ppl"],
                                "train_seconds": results["train_seconds"]})}
    md = to_markdown(rows, f"noising ({_label(results)}): paper vs this run")
    return rows, md, metrics, learning_curves({_label(results): record["history"]})


def report(paper: dict, *results_and_records) -> tuple[list[dict], str, dict, plt.Figure]:
    """Every scheme side by side, the schemes ranked by test perplexity, and the target check
    (bigram KN at least 2 points below no noising)."""
    half = len(results_and_records) // 2
    results, records = results_and_records[:half], results_and_records[half:]
    rows = [r for res in results for r in _rows(res, paper)]
    test = {res["run"]: res["test_ppl"] for res in results}
    ranking = sorted(test, key=test.get)
    summary = {"test_ppl": test, "ranking_best_first": ranking}
    if "none" in test and "bigram_kn" in test:
        gain = test["none"] - test["bigram_kn"]
        summary["bigram_kn_gain_over_none"] = gain
        rows.append(row("test perplexity gain of bigram KN over no noising", None, gain, "ppl", "target >= 2"))
    md = to_markdown(rows, "noising: schemes side by side") + "\nRanking (best first): " + " < ".join(ranking) + "\n"
    fig = learning_curves({_label(res): rec["history"] for res, rec in zip(results, records)})
    return rows, md, summary, fig

