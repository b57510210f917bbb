"""Does the augmented loss help a *trained* model?  Continue a finished ``tying`` run's best
weights for a few epochs at a fixed (small) learning rate, with and without the augmented loss,
and print the validation perplexity per epoch: a cheap probe of beta / tau settings at the
embedding scale a trained model has (early in training the embeddings are small and the
augmented loss's target softmax(L u / tau) is close to uniform whatever tau).

    python scripts/tying_finetune_probe.py DATA_ROOT VARIANT LR EPOCHS [BETA TAU] ...

DATA_ROOT is the run's data folder (``data`` by default, or the ``data_root`` it was given) and
VARIANT the finished variant whose weights and record are read (baseline, al, re, real); the
model, dropout, batch size, BPTT and clipping are the run's own.  Each BETA TAU pair is one
continuation from the same weights and seed (so the same dropout masks); ``0 1`` is the plain
cross-entropy.  Example: ``... /tmp/re_d02 re 0.044 1 0 1 0.1 1 0.1 2``.
"""

import json
import sys

import torch
from _project import catalog

from iclr17.common.lm.train import train_language_model
from iclr17.common.runtime import seed_everything
from iclr17.pipelines.tying.augmented_loss import (
    AugmentedLoss,
    AugmentedObjective,
    augmented_target_stats,
)
from iclr17.pipelines.tying.nodes import build_model


def main(root: str, variant: str, lr: float, epochs: int, settings: list[tuple[float, float]]) -> None:
    project = catalog(root)
    corpus = project.load("ptb_corpus")
    weights, record = project.load(f"tying.{variant}.weights"), project.load(f"tying.{variant}.record")
    # a constant lr: the after_epoch schedule with its decay starting after the last epoch
    training = {**record["training"], "lr": lr, "epochs": epochs,
                "lr_decay": {"type": "after_epoch", "start_epoch": epochs + 1, "rate": 1.0}}
    for beta, tau in settings:
        seed_everything(record["seed"])
        model = build_model(len(corpus["vocab"]), record["model"], record["tie"])
        model.load_state_dict(weights)
        target = augmented_target_stats(model.embedding.weight, tau)
        _, history, _ = train_language_model(model, corpus, training, torch.device("cpu"),
                                             AugmentedObjective(AugmentedLoss(beta=beta, tau=tau)), desc=f"beta {beta} tau {tau}")
        print(json.dumps({
            "variant": variant, "lr": lr, "beta": beta, "tau": tau,
            "target_entropy_fraction_at_start": round(target["entropy_fraction_of_uniform"], 3),
            "target_self_prob_at_start": round(target["self_prob"], 3),
            "valid_ppl": [round(h["valid_ppl"], 2) for h in history],
            "train_ppl": [round(h["train_ppl"], 2) for h in history],
        }), flush=True)


if __name__ == "__main__":
    root, variant, lr, epochs, *rest = sys.argv[1:]
    if not rest or len(rest) % 2:
        sys.exit(__doc__)
    pairs = [(float(rest[i]), float(rest[i + 1])) for i in range(0, len(rest), 2)]
    main(root, variant, float(lr), int(epochs), pairs)
