"""Nodes of the ``prodlda`` pipeline: pure functions of catalog entries and ``params:``.

data prep   raw 20 Newsgroups -> lemmatised, vocabulary-filtered corpora -> bag-of-words matrices
training    ProdLDA and NVLDA (AVITM, PyTorch), LDA by online VB (scikit-learn) and collapsed Gibbs
evaluation  NPMI coherence (calibrated on the paper's own topic scores), perplexity, report
"""

from __future__ import annotations

import logging
import re
import string
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from iclr17.common.checkpoint import (
    Checkpoint,
    Checkpoints,
    random_state,
    set_random_state,
)
from iclr17.common.config import check_keys
from iclr17.common.reporting import final_metrics, mean_sd, row, to_markdown
from iclr17.common.runtime import (
    describe_device,
    map_jobs,
    pick_device,
    resolve_workers,
    seed_everything,
)
from iclr17.pipelines.prodlda.coherence import topic_coherence
from iclr17.pipelines.prodlda.model import AVITM, log_perplexity_per_doc, perplexity

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# data prep
# ----------------------------------------------------------------------------------------------

_PUNCT = string.punctuation
_LEMMA_POS = ("VERB", "NOUN", "ADJ", "ADV")


def vocab_to_index(vocab: dict) -> dict[str, int]:
    """The AVITM ``vocab.pkl`` (word -> id, ids 0..V-1) checked and returned as a plain dict."""
    vocab = {str(w): int(i) for w, i in vocab.items()}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError("vocabulary ids must run 0..V-1 without gaps")
    return vocab


def ordered_words(vocab: dict[str, int]) -> list[str]:
    return [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]


class VocabLemmatizer:
    """Maps a lower-cased word to the word itself when the vocabulary has it, else to its first
    in-vocabulary lemma (verb, then noun, adjective, adverb readings), else ``None``; memoised."""

    def __init__(self, vocab_words) -> None:
        from lemminflect import getAllLemmas

        self._words = frozenset(vocab_words)
        self._lemmas = getAllLemmas
        self._memo: dict[str, str | None] = {}

    def __call__(self, word: str) -> str | None:
        try:
            return self._memo[word]
        except KeyError:
            pass
        found = word if word in self._words else None
        if found is None:
            lemmas = self._lemmas(word)
            found = next(
                (lem for pos in _LEMMA_POS for lem in lemmas.get(pos, ()) if lem in self._words), None
            )
        self._memo[word] = found
        return found


def strip_headers(message: str) -> str:
    """Drop the RFC-822 header block (everything before the first blank line)."""
    cut = message.find("\n\n")
    return message[cut + 2 :] if cut >= 0 else ""


def tokenize(text: str, lemmatize: VocabLemmatizer) -> list[str]:
    """Whitespace tokens, punctuation stripped at the ends, lower-cased, alphabetic only,
    lemmatised and kept when in the vocabulary (the AVITM cleaned-corpus recipe, as closely as
    its ``test.txt`` lets us measure)."""
    out = []
    for raw in text.split():
        word = raw.strip(_PUNCT).lower()
        if word.isalpha():
            lemma = lemmatize(word)
            if lemma is not None:
                out.append(lemma)
    return out


def preprocess_corpus(raw_docs: list[dict], vocab: dict, params: dict) -> pd.DataFrame:
    """Raw bydate messages -> one row per non-empty document: id, group, tokens (space-joined)."""
    params = check_keys(params, "prodlda.preprocessing", ["strip_headers"], ["max_docs"])
    lemmatize = VocabLemmatizer(vocab_to_index(vocab))
    docs = raw_docs if params.get("max_docs") is None else raw_docs[: int(params["max_docs"])]
    if not docs:
        raise ValueError("the raw corpus is empty")
    rows = []
    for rec in tqdm(docs, desc="tokenise", mininterval=2.0, leave=False):
        if not {"id", "group", "text"} <= set(rec):
            raise ValueError(f"raw 20 Newsgroups records need id, group, text; got {sorted(rec)}")
        body = strip_headers(rec["text"]) if params["strip_headers"] else rec["text"]
        tokens = tokenize(body, lemmatize)
        if tokens:
            rows.append({"id": rec["id"], "group": rec["group"], "tokens": " ".join(tokens)})
    log.info("kept %d of %d documents (dropped empty ones)", len(rows), len(docs))
    return pd.DataFrame(rows, columns=["id", "group", "tokens"])


def parse_paper_corpus(text: str) -> list[list[str]]:
    """The AVITM cleaned ``test.txt``: one document per line, whitespace tokens."""
    return [line.split() for line in text.splitlines() if line.strip()]


def _jaccard(a: Counter, b: Counter) -> float:
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def align_documents(
    ours: list[list[str]], theirs: list[list[str]], threshold: float = 0.5, lookahead: int = 4
) -> list[tuple[int, int]]:
    """Monotone alignment of two orderings of (mostly) the same documents by bag-of-words overlap."""
    bags_a = [Counter(d) for d in ours]
    bags_b = [Counter(d) for d in theirs]
    i = j = 0
    pairs = []
    while i < len(ours) and j < len(theirs):
        step = None
        for total in range(0, 2 * lookahead + 1):
            for di in range(0, total + 1):
                dj = total - di
                if di > lookahead or dj > lookahead:
                    continue
                if i + di < len(ours) and j + dj < len(theirs):
                    if _jaccard(bags_a[i + di], bags_b[j + dj]) > threshold:
                        step = (di, dj)
                        break
            if step:
                break
        if step is None:
            i, j = i + 1, j + 1
            continue
        i, j = i + step[0], j + step[1]
        pairs.append((i, j))
        i, j = i + 1, j + 1
    return pairs


def compare_with_paper_test(test_corpus: pd.DataFrame, paper_test_text: str) -> dict:
    """How closely our cleaned test split matches the paper's own ``test.txt``."""
    ours = [t.split() for t in test_corpus["tokens"]]
    theirs = parse_paper_corpus(paper_test_text)
    pairs = align_documents(ours, theirs)
    inter = union = tokens_ours = tokens_theirs = exact = 0
    for i, j in pairs:
        a, b = Counter(ours[i]), Counter(theirs[j])
        inter += sum((a & b).values())
        union += sum((a | b).values())
        tokens_ours += len(ours[i])
        tokens_theirs += len(theirs[j])
        exact += ours[i] == theirs[j]
    return {
        "docs_ours": len(ours),
        "docs_paper": len(theirs),
        "docs_aligned": len(pairs),
        "docs_identical": exact,
        "token_jaccard": inter / union if union else 0.0,
        "token_recall": inter / tokens_theirs if tokens_theirs else 0.0,
        "token_precision": inter / tokens_ours if tokens_ours else 0.0,
    }


def _bow(docs: list[list[str]], vocab: dict[str, int]) -> sp.csr_matrix:
    rows, cols = [], []
    for r, doc in enumerate(docs):
        for w in doc:
            rows.append(r)
            cols.append(vocab[w])
    data = np.ones(len(rows), dtype=np.float32)
    m = sp.csr_matrix((data, (rows, cols)), shape=(len(docs), len(vocab)))
    m.sum_duplicates()
    return m


def build_bow(
    train_corpus: pd.DataFrame, test_corpus: pd.DataFrame, paper_test_text: str, vocab: dict, test_split: str
) -> dict[str, sp.csr_matrix]:
    """Bag-of-words count matrices; ``test_split`` picks our test split (``own``) or the paper's
    cleaned file (``paper``)."""
    vocab = vocab_to_index(vocab)
    if test_split not in {"own", "paper"}:
        raise ValueError(f"prodlda.test_split must be 'own' or 'paper', got {test_split!r}")
    test_docs = (
        [t.split() for t in test_corpus["tokens"]] if test_split == "own" else parse_paper_corpus(paper_test_text)
    )
    return {"train": _bow([t.split() for t in train_corpus["tokens"]], vocab), "test": _bow(test_docs, vocab)}


def build_reference_corpus(
    train_corpus: pd.DataFrame, test_corpus: pd.DataFrame, paper_test_text: str, vocab: dict, npmi: dict
) -> list[np.ndarray]:
    """Token-id documents the NPMI counts run over; ``npmi.reference`` lists the parts."""
    npmi = check_keys(npmi, "prodlda.npmi", ["window_size", "top_n", "reference"])
    vocab = vocab_to_index(vocab)
    parts = {
        "train": lambda: [t.split() for t in train_corpus["tokens"]],
        "test": lambda: [t.split() for t in test_corpus["tokens"]],
        "paper_test": lambda: parse_paper_corpus(paper_test_text),
    }
    unknown = set(npmi["reference"]) - set(parts)
    if unknown or not npmi["reference"]:
        raise ValueError(f"prodlda.npmi.reference takes a non-empty list of {sorted(parts)}, got {npmi['reference']}")
    docs = []
    for part in npmi["reference"]:
        docs.extend(np.asarray([vocab[w] for w in d], dtype=np.int32) for d in parts[part]())
    return docs


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------

_AVITM_KEYS = ["decoder", "hidden", "dropout", "alpha", "lr", "beta1", "epochs", "batch_size"]


def _sparse_to_tensor(m: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(m.toarray()).to(device)


def train_avitm(
    bow: dict, n_topics: int, seeds: list[int], model_params: dict, device_name: str, workers="auto",
    checkpoints: Checkpoints | None = None,
) -> dict:
    """Train one AVITM model per seed (seeds in parallel worker processes on the CPU: ``workers``
    a count or "auto"; not annotated, as Kedro warns about a union on a ``params:`` input), each
    checkpointed every epoch in ``checkpoints`` (``seed<N>``) and resumed from its last one.

    Returns per seed the weights, the K x V topic-word matrix, per-epoch losses, the device and
    the wall time."""
    p = check_keys(model_params, "prodlda.models.<model>", _AVITM_KEYS)
    if not seeds:
        raise ValueError("prodlda.seeds must list at least one seed")
    device = pick_device(device_name)
    if bow["train"].shape[0] < int(p["batch_size"]):
        raise ValueError(f"{bow['train'].shape[0]} training documents are fewer than one batch of {p['batch_size']}")
    identity = {**p, "n_topics": n_topics, "documents": bow["train"].shape[0], "vocab_size": bow["train"].shape[1]}
    jobs = [(bow["train"], n_topics, int(seed), p, str(device),
             None if checkpoints is None else checkpoints.run(f"seed{seed}", {**identity, "seed": int(seed)}))
            for seed in seeds]
    results = map_jobs(_train_avitm_seed, jobs, resolve_workers(workers, len(jobs), device))
    return {int(seed): res for seed, res in zip(seeds, results)}


def _avitm_from_config(cfg: dict) -> AVITM:
    """The model a training config (model parameters plus ``n_topics`` and ``vocab_size``) describes."""
    return AVITM(
        cfg["vocab_size"], cfg["n_topics"], cfg["decoder"], tuple(cfg["hidden"]), float(cfg["dropout"]), float(cfg["alpha"])
    )


def _train_avitm_epoch(model, opt, x: torch.Tensor, batch: int, steps: int, gen: torch.Generator) -> list[float]:
    """One epoch of ``steps`` minibatches drawn with replacement; the mean loss, recon and KL."""
    model.train()
    sums = torch.zeros(3, device=x.device)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen).to(x.device)
        out = model(x[idx])
        loss = out["loss"].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums += torch.stack([loss.detach(), out["recon"].mean().detach(), out["kl"].mean().detach()])
    return (sums / steps).tolist()


def _train_avitm_seed(train: sp.csr_matrix, n_topics: int, seed: int, p: dict, device_name: str,
                      checkpoint: Checkpoint | None = None) -> dict:
    """One seed, as the official code trains: Adam, minibatches drawn with replacement,
    ⌊N / batch⌋ of them an epoch; with a ``checkpoint``, saved after each epoch and resumed."""
    device = torch.device(device_name)
    x = _sparse_to_tensor(train, device)
    n_docs, vocab_size = x.shape
    batch = int(p["batch_size"])
    steps = n_docs // batch
    gen = seed_everything(seed)
    config = {**p, "n_topics": n_topics, "vocab_size": vocab_size}
    model = _avitm_from_config(config).to(device)
    opt = torch.optim.Adam(  # fused: one kernel for all parameters, ~20% faster steps here
        [q for q in model.parameters() if q.requires_grad], lr=float(p["lr"]), betas=(float(p["beta1"]), 0.999), fused=True
    )
    history, seconds, resumed = {"loss": [], "recon": [], "kl": []}, 0.0, 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        set_random_state(saved["random"], gen)
        history, seconds, resumed = saved["history"], saved["seconds"], saved["epoch"]
    start = time.perf_counter() - seconds
    bar = tqdm(range(resumed, int(p["epochs"])), desc=f"{p['decoder']} K={n_topics} seed={seed}", mininterval=5.0,
               initial=resumed, total=int(p["epochs"]))
    for epoch in bar:
        epoch_means = _train_avitm_epoch(model, opt, x, batch, steps, gen)
        for key, value in zip(("loss", "recon", "kl"), epoch_means):
            history[key].append(value)
        if not np.isfinite(epoch_means[0]):
            raise FloatingPointError(f"{p['decoder']} seed {seed}: the loss became {epoch_means[0]}")
        bar.set_postfix(loss=f"{epoch_means[0]:.1f}")
        if checkpoint is not None:
            checkpoint.save(epoch + 1, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                        "random": random_state(gen), "history": history,
                                        "seconds": time.perf_counter() - start})
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "topic_word": model.topic_word_logits().detach().cpu().numpy().copy(),  # a copy: a view dangles after pickling
        "config": config,
        "history": history,
        "device": describe_device(device),
        "train_seconds": time.perf_counter() - start,
        "resumed_after_epoch": resumed,
    }


def fit_lda_vb(bow: dict, n_topics: int, params: dict) -> dict:
    """LDA by variational Bayes (scikit-learn), the paper's DMFVI row; one model per seed."""
    from sklearn.decomposition import LatentDirichletAllocation

    p = check_keys(
        params,
        "prodlda.lda_vb",
        ["seeds", "learning_method", "max_iter", "batch_size"],
        ["doc_topic_prior", "topic_word_prior"],
    )
    results = {}
    for seed in tqdm(p["seeds"], desc="LDA (VB)"):
        start = time.perf_counter()
        lda = LatentDirichletAllocation(
            n_components=n_topics,
            learning_method=p["learning_method"],
            max_iter=int(p["max_iter"]),
            batch_size=int(p["batch_size"]),
            doc_topic_prior=p.get("doc_topic_prior"),
            topic_word_prior=p.get("topic_word_prior"),
            random_state=int(seed),
        )
        lda.fit(bow["train"])
        results[int(seed)] = {
            "topic_word": lda.components_,
            "train_seconds": time.perf_counter() - start,
        }
    return results


def fit_lda_gibbs(bow: dict, n_topics: int, params: dict) -> dict:
    """LDA by collapsed Gibbs sampling (the maintained ``lda`` package), the paper's Gibbs row;
    one model per seed (an empty list skips it)."""
    import lda as lda_pkg

    p = check_keys(params, "prodlda.lda_gibbs", ["seeds", "n_iter", "alpha", "eta"])
    counts = bow["train"].astype(np.int64)
    results = {}
    for seed in tqdm(p["seeds"], desc="LDA (Gibbs)"):
        start = time.perf_counter()
        model = lda_pkg.LDA(
            n_topics=n_topics, n_iter=int(p["n_iter"]), alpha=float(p["alpha"]), eta=float(p["eta"]), random_state=int(seed)
        )
        model.fit(counts)
        results[int(seed)] = {"topic_word": model.topic_word_, "train_seconds": time.perf_counter() - start}
    return results


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def top_words(topic_word: np.ndarray, words: list[str], n: int) -> list[list[str]]:
    """Each topic's ``n`` highest-weighted words (rows of the K x V matrix)."""
    topic_word = np.asarray(topic_word)
    if topic_word.ndim != 2 or topic_word.shape[1] != len(words):
        raise ValueError(f"topic-word matrix {topic_word.shape} does not match a vocabulary of {len(words)}")
    order = np.argsort(-topic_word, axis=1)[:, :n]
    return [[words[i] for i in row_] for row_ in order]


def score_topics(
    prodlda_models: dict,
    nvlda_models: dict,
    lda_vb_models: dict,
    lda_gibbs_models: dict,
    reference_docs: list,
    vocab: dict,
    npmi: dict,
) -> pd.DataFrame:
    """NPMI of every topic of every model and seed: one row per topic."""
    npmi = check_keys(npmi, "prodlda.npmi", ["window_size", "top_n", "reference"])
    vocab = vocab_to_index(vocab)
    words = ordered_words(vocab)
    labelled = []  # (model, seed, topic index, words) for every topic of every model
    for name, models in (
        ("ProdLDA", prodlda_models),
        ("NVLDA", nvlda_models),
        ("LDA (online VB)", lda_vb_models),
        ("LDA (collapsed Gibbs)", lda_gibbs_models),
    ):
        for seed, res in models.items():
            topics = top_words(res["topic_word"], words, int(npmi["top_n"]))
            labelled += [(name, int(seed), k, t) for k, t in enumerate(topics)]
    # one pass over the reference corpus counts the windows for every topic at once
    scores = topic_coherence([t for *_, t in labelled], reference_docs, vocab, int(npmi["window_size"]), int(npmi["top_n"]))
    rows = [
        {"model": name, "seed": seed, "topic": k, "npmi": float(score), "words": " ".join(t)}
        for (name, seed, k, t), score in zip(labelled, scores)
    ]
    return pd.DataFrame(rows, columns=["model", "seed", "topic", "npmi", "words"])


_LOG_LINE = re.compile(r"^\[(-?\d+(?:\.\d+)?)\]\s+(.+)$")


def parse_coherence_log(text: str) -> tuple[list[list[str]], np.ndarray]:
    """Topics and their scores from a topic_interpretability output (``[0.24] w1 ... w10``)."""
    topics, scores = [], []
    for line in text.splitlines():
        m = _LOG_LINE.match(line.strip())
        if m:
            scores.append(float(m.group(1)))
            topics.append(m.group(2).split())
    if not topics:
        raise ValueError("no '[score] word ...' lines found in the coherence log")
    return topics, np.asarray(scores)


def calibrate_npmi(paper_log: str, reference_docs: list, vocab: dict, npmi: dict) -> dict:
    """Score the paper's own topics with our NPMI and compare with the toolkit's scores."""
    npmi = check_keys(npmi, "prodlda.npmi", ["window_size", "top_n", "reference"])
    topics, theirs = parse_coherence_log(paper_log)
    ours = topic_coherence(topics, reference_docs, vocab_to_index(vocab), int(npmi["window_size"]), int(npmi["top_n"]))
    return {
        "n_topics": len(topics),
        "pearson_r": float(np.corrcoef(ours, theirs)[0, 1]),
        "mean_abs_diff": float(np.mean(np.abs(ours - theirs))),
        "mean_ours": float(ours.mean()),
        "mean_paper_log": float(theirs.mean()),
        "window_size": int(npmi["window_size"]),
        "reference": list(npmi["reference"]),
    }


def compute_perplexity(prodlda_models: dict, nvlda_models: dict, bow: dict) -> dict:
    """Test perplexity as the official ``calcPerp``: exp of the mean over documents of −ELBO/N_d."""
    out = {}
    test = bow["test"]
    keep = np.asarray(test.sum(1)).ravel() > 0
    x = torch.from_numpy(test[keep].toarray())
    for name, models in (("ProdLDA", prodlda_models), ("NVLDA", nvlda_models)):
        values = []
        for seed, res in models.items():
            model = _avitm_from_config(res["config"])
            model.load_state_dict(res["state_dict"])
            model.eval()
            seed_everything(int(seed))
            with torch.no_grad():
                values.append(perplexity(log_perplexity_per_doc(model, x)))
        out[name] = values
    return out


def summarise(
    topic_scores: pd.DataFrame,
    perplexities: dict,
    calibration: dict,
    split_agreement: dict,
    prodlda_models: dict,
    nvlda_models: dict,
    n_topics: int,
    paper: dict,
) -> tuple[list[dict], str, dict]:
    """The paper-vs-this-run rows, their markdown, and the final metrics for MLflow."""
    per_seed = topic_scores.groupby(["model", "seed"])["npmi"].mean()
    rows, metrics = [], {}
    paper_npmi = paper.get("npmi", {}).get(f"K{n_topics}", {})
    paper_ppl = paper.get("perplexity", {}).get(f"K{n_topics}", {})
    verified = set(paper.get("verified", []))
    for model in ["ProdLDA", "NVLDA", "LDA (online VB)", "LDA (collapsed Gibbs)"]:
        seeds = per_seed[model] if model in per_seed.index.get_level_values(0) else []
        mean, std = mean_sd(list(seeds), single_sd=0.0)
        key = f"{model} NPMI K={n_topics}"
        status = "paper number VERIFIED" if key in verified else "paper number UNVERIFIED (from memory)"
        note = f"{status}; mean ± {std:.3f} over {len(seeds)} seeds" if mean is not None else f"{status}; not run"
        rows.append(row(key, paper_npmi.get(model), mean, "NPMI", note, sd=std if len(seeds) > 1 else None))
        if mean is not None:
            metrics[f"npmi_{_slug(model)}"] = mean
    for model, values in perplexities.items():
        mean, std = mean_sd(values, single_sd=0.0)
        rows.append(
            row(
                f"{model} perplexity K={n_topics}",
                paper_ppl.get(model),
                mean,
                "perplexity",
                f"paper number UNVERIFIED; eval-mode batch norm (the official code used batch statistics); ± {std:.1f} over {len(values)} seeds",
                sd=std if len(values) > 1 else None,
            )
        )
        metrics[f"perplexity_{_slug(model)}"] = mean
    rows.append(
        row(
            "NPMI calibration: Pearson r vs the paper's 150 logged topic scores",
            0.9,
            calibration["pearson_r"],
            "r",
            f"target ≥ 0.9; mean abs diff {calibration['mean_abs_diff']:.3f} (target ≤ 0.03); window {calibration['window_size']}, reference {'+'.join(calibration['reference'])}",
        )
    )
    rows.append(
        row(
            "test split: documents (paper's test.txt vs ours)",
            split_agreement["docs_paper"],
            split_agreement["docs_ours"],
            "docs",
            f"{split_agreement['docs_aligned']} aligned, {split_agreement['docs_identical']} token-identical",
        )
    )
    rows.append(
        row("test split: token Jaccard agreement on aligned docs", 1.0, split_agreement["token_jaccard"], "fraction", "multiset Jaccard")
    )
    metrics.update(
        {
            "npmi_calibration_r": calibration["pearson_r"],
            "npmi_calibration_mad": calibration["mean_abs_diff"],
            "test_split_token_jaccard": split_agreement["token_jaccard"],
        }
    )
    for name, models in (("prodlda", prodlda_models), ("nvlda", nvlda_models)):
        secs = [r["train_seconds"] for r in models.values()]
        if secs:
            metrics[f"train_seconds_{name}"] = float(np.sum(secs))
    metrics = final_metrics(metrics)
    md = to_markdown(rows, f"AVITM / ProdLDA (Srivastava & Sutton, ICLR 2017), 20 Newsgroups, K={n_topics}")
    first = next(iter(prodlda_models.values()), None)
    if first is not None:
        md += f"\nTrained on `{first['device']}`.\n"
    return rows, md, metrics


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def training_curves(prodlda_models: dict, nvlda_models: dict) -> dict:
    """Per-epoch losses in kedro-mlflow's metrics-history form."""
    metrics = {}
    for name, models in (("prodlda", prodlda_models), ("nvlda", nvlda_models)):
        for seed, res in models.items():
            for key, values in res["history"].items():
                metrics[f"{name}.seed{seed}.train_{key}"] = [
                    {"step": epoch, "value": float(v)} for epoch, v in enumerate(values, start=1)
                ]
    return metrics


def plot_results(topic_scores: pd.DataFrame, prodlda_models: dict, nvlda_models: dict):
    """Left: per-topic NPMI by model (box) with the per-seed means; right: training loss curves."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    models = list(dict.fromkeys(topic_scores["model"]))
    data = [topic_scores.loc[topic_scores["model"] == m, "npmi"].to_numpy() for m in models]
    ax1.boxplot(data, tick_labels=models, showmeans=True)
    for i, m in enumerate(models, start=1):
        seed_means = topic_scores[topic_scores["model"] == m].groupby("seed")["npmi"].mean()
        ax1.scatter(np.full(len(seed_means), i), seed_means, color="crimson", zorder=3, s=18)
    ax1.set_ylabel("NPMI (top-10 words)")
    ax1.set_title("Topic coherence: per-topic boxes, per-seed means in red")
    ax1.tick_params(axis="x", labelrotation=15)
    for name, res_by_seed in (("ProdLDA", prodlda_models), ("NVLDA", nvlda_models)):
        for seed, res in res_by_seed.items():
            ax2.plot(range(1, len(res["history"]["loss"]) + 1), res["history"]["loss"], label=f"{name} seed {seed}")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss (−ELBO per doc)")
    ax2.set_title("Training curves")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def topics_table(topic_scores: pd.DataFrame) -> str:
    """Markdown of every model's topics, best first, for the MLflow run and the notebook."""
    lines = []
    for model, frame in topic_scores.groupby("model", sort=False):
        seed = frame["seed"].min()
        frame = frame[frame["seed"] == seed].sort_values("npmi", ascending=False)
        lines += [f"## {model} (seed {seed})", "", "| NPMI | top words |", "|---|---|"]
        lines += [f"| {r.npmi:.3f} | {r.words} |" for r in frame.itertuples()]
        lines.append("")
    return "\n".join(lines)
