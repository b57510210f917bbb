"""What every language-model pipeline reports: best-epoch valid/test perplexity, per-epoch metrics
in kedro-mlflow's history form, and learning curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from iclr17.common.lm.model import LSTMLanguageModel
from iclr17.common.lm.train import evaluate

EPOCH_METRICS = ("train_ppl", "valid_ppl", "lr", "tokens_per_s", "epoch_seconds")


def best_epoch_results(model: LSTMLanguageModel, corpus: dict, history: list[dict], bptt: int, batch_size: int,
                       device: torch.device) -> dict:
    """Valid and test perplexity of ``model`` (the best epoch's weights) read as ``batch_size``
    streams with the state carried across windows, plus the run's epoch bookkeeping."""
    model.to(device)
    best = min(history, key=lambda h: h["valid_ppl"])
    return {
        "valid_ppl": evaluate(model, corpus["valid"], batch_size, bptt, device),
        "test_ppl": evaluate(model, corpus["test"], batch_size, bptt, device),
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "stopped": history[-1].get("stopped"),  # why training stopped early (a divergence), if it did
        "n_parameters": model.n_parameters(),
        "tokens_per_s": float(np.mean([h["tokens_per_s"] for h in history])),
    }


def history_metrics(history: list[dict]) -> dict:
    """Per-epoch curves, the same metric names for every run so the MLflow UI lines them up."""
    return {k: [{"value": float(h[k]), "step": h["epoch"]} for h in history] for k in EPOCH_METRICS}


def learning_curves(histories: dict[str, list[dict]], title: str = "PTB") -> plt.Figure:
    """Train and valid perplexity per epoch, one line per labelled history."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        axes[0].plot(epochs, [h["train_ppl"] for h in history], marker=".", label=label)
        axes[1].plot(epochs, [h["valid_ppl"] for h in history], marker=".", label=label)
    for ax, name in zip(axes, ("train", "valid")):
        ax.set(xlabel="epoch", ylabel=f"{name} perplexity", yscale="log", title=f"{title} {name} perplexity")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
