"""How sharp is the augmented loss's target against the model's own prediction, at each temperature?
A diagnostic of a ``tying`` variant's last checkpoint (``tying.<variant>.checkpoints``): for each TAU, on the validation words (the model in eval mode, batch 10, BPTT 35, state carried),
the mean over tokens of

- the target's mass on the next word itself, y~(w | w) with y~ = softmax(L u / tau), u = L[w];
- the model's tempered prediction of it, softmax(logits / tau)[w];
- J_aug, KL(y~ || softmax(logits / tau)) in nats (what the augmented loss minimizes);

and the vocabulary-wide target statistics of ``augmented_target_stats`` (every word once).  A
diagnostic, not a test.

    python scripts/tying_al_sharpness.py DATA_ROOT VARIANT TAU [TAU ...]

The checkpoint, the prepared PTB and the model's settings come through the catalog of the run's
data folder.  Example: ``python scripts/tying_al_sharpness.py data re 1 1.5 2 3``
"""

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from _project import catalog

from iclr17.common.lm.data import batchify, bptt_windows
from iclr17.pipelines.tying.augmented_loss import (
    augmented_log_targets,
    augmented_loss,
    augmented_target_stats,
)
from iclr17.pipelines.tying.nodes import build_model


@torch.no_grad()
def sharpness(model, ids, taus: list[float], batch_size: int = 10, bptt: int = 35) -> dict[float, dict]:
    model.eval()
    emb = model.embedding.weight
    sums = {tau: {"target_self": 0.0, "model_self": 0.0, "kl": 0.0} for tau in taus}
    state, n = model.init_state(batch_size), 0
    for x, y in bptt_windows(batchify(ids, batch_size), bptt):
        logits, state = model(x, state)
        logits, words = logits.reshape(-1, logits.size(-1)), y.reshape(-1)
        rows = torch.arange(words.numel())
        for tau in taus:
            log_target = augmented_log_targets(emb[words], emb, tau)
            log_pred = F.log_softmax(logits / tau, dim=-1)
            s = sums[tau]
            s["target_self"] += log_target[rows, words].exp().sum().item()
            s["model_self"] += log_pred[rows, words].exp().sum().item()
            s["kl"] += augmented_loss(logits, words, emb, tau, log_pred).item() * words.numel()
        n += words.numel()
    return {tau: {k: v / n for k, v in s.items()} for tau, s in sums.items()}


def main(root: str, variant: str, taus: list[float]) -> None:
    project = catalog(root)
    corpus = project.load("ptb_corpus")
    checkpoint = Path(project.load(f"tying.{variant}.checkpoints").folder) / "train.pt"
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if project.exists(f"tying.{variant}.record"):  # the finished run's own settings
        record = project.load(f"tying.{variant}.record")
        model_cfg, tie = record["model"], record["tie"]
    else:  # a run still under way: the configuration's
        model_cfg = project.load("params:tying.sizes")[project.load("params:tying.size")]["model"]
        tie = project.load("params:tying.variants")[variant]["tie"]
    torch.manual_seed(0)
    model = build_model(len(corpus["vocab"]), model_cfg, tie)
    model.load_state_dict(ckpt["state"]["weights"])
    on_valid = sharpness(model, corpus["valid"], taus)
    for tau in taus:
        stats = augmented_target_stats(model.embedding.weight, tau)
        print(json.dumps({
            "checkpoint": str(checkpoint), "epoch": ckpt["epoch"], "tau": tau,
            **{f"valid_mean_{k}": round(v, 4) for k, v in on_valid[tau].items()},
            "vocab_target_self_prob": round(stats["self_prob"], 4),
            "vocab_target_entropy_fraction_of_uniform": round(stats["entropy_fraction_of_uniform"], 4),
        }), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], [float(t) for t in sys.argv[3:]])
