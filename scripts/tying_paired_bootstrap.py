"""How much of a perplexity gap between two finished ``tying`` runs could the choice of text explain?
A paired bootstrap over the sentences of PTB's valid and test sets: every model's per-token
log-likelihood at the final evaluation's settings (one stream, state carried, the run's BPTT),
summed per sentence; the sentences are resampled with replacement and each model's perplexity
recomputed on the same resample, giving a 95 % interval for the gap to the first model; and
where the gap comes from, per kind of target word (``<unk>``, and the others by training count).

    python scripts/tying_paired_bootstrap.py DATA_ROOT:VARIANT DATA_ROOT:VARIANT [...]

Each argument names a finished run's data folder and variant (its weights and record are read,
as by ``tying_finetune_probe.py``).  The interval is over text sampling only: it says nothing of
how much a second seed would move either run.
"""

import json
import sys

import numpy as np
import torch
from _project import catalog

from iclr17.common.lm.train import token_losses
from iclr17.pipelines.tying.nodes import build_model

RESAMPLES, SEED = 2000, 0


def load_model(root: str, variant: str, corpus: dict):
    """A finished run's best weights in its model, and its BPTT (through the catalog)."""
    project = catalog(root)
    weights, record = project.load(f"tying.{variant}.weights"), project.load(f"tying.{variant}.record")
    model = build_model(len(corpus["vocab"]), record["model"], record["tie"])
    model.load_state_dict(weights)
    return model, record["training"]["bptt"]


def sentence_ids(corpus: dict, targets: np.ndarray) -> np.ndarray:
    """The sentence of each predicted token; a sentence ends with its ``<eos>``."""
    ends = targets == corpus["vocab"].index("<eos>")
    return np.concatenate([[0], np.cumsum(ends)[:-1]])


def word_kinds(corpus: dict, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Masks over the predicted tokens: ``<unk>``, and the other words by how often they occur in
    the training text."""
    in_train = np.bincount(corpus["train"], minlength=len(corpus["vocab"]))[targets]
    unk = targets == corpus["vocab"].index("<unk>")
    return {"<unk>": unk, "train count < 100": ~unk & (in_train < 100),
            "100 to 9,999": ~unk & (in_train >= 100) & (in_train < 10_000), ">= 10,000": ~unk & (in_train >= 10_000)}


def main(runs: list[tuple[str, str]]) -> None:
    corpus = catalog(runs[0][0]).load("ptb_corpus")
    models = [load_model(root, variant, corpus) for root, variant in runs]
    for split in ("valid", "test"):
        targets = np.asarray(corpus[split])[1:]  # the predicted tokens, as token_losses orders them at batch 1
        sentence = sentence_ids(corpus, targets)
        tokens = np.bincount(sentence).astype(float)
        # each model's negative log-likelihood per token at batch 1 (the final evaluation's), per sentence
        losses = [token_losses(model, corpus[split], 1, bptt, torch.device("cpu"))[0].double().numpy()
                  for model, bptt in models]
        nll = [np.bincount(sentence, weights=loss) for loss in losses]
        kind = word_kinds(corpus, targets)
        rng = np.random.default_rng(SEED)
        draw = rng.integers(0, len(tokens), (RESAMPLES, len(tokens)))
        n = tokens[draw].sum(1)
        ppl = [np.exp(m.sum() / tokens.sum()) for m in nll]
        boot = [np.exp(m[draw].sum(1) / n) for m in nll]
        for (root, variant), p, b, loss in zip(runs, ppl, boot, losses):
            gap = b - boot[0]
            print(json.dumps({
                "split": split, "run": f"{root}:{variant}", "ppl": round(float(p), 2),
                "gap_to_first": round(float(p - ppl[0]), 2),
                "gap_95": [round(float(q), 2) for q in np.percentile(gap, [2.5, 97.5])],
                "sentences": len(tokens),
                # where the gap comes from: per kind of target word, its share of the tokens and the
                # mean difference in nats per token to the first model
                "by_target": {k: {"share": round(float(m.mean()), 4),
                                  "nats_per_token": round(float((loss - losses[0])[m].mean()), 4)}
                              for k, m in kind.items()},
            }), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or not all(":" in a for a in sys.argv[1:]):
        sys.exit(__doc__)
    main([tuple(a.rsplit(":", 1)) for a in sys.argv[1:]])
