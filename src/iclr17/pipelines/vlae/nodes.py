"""Nodes of the ``vlae`` pipeline (Chen et al., ICLR 2017): pure functions of catalog entries and
``params:``.  So far: training (Adamax, free bits, Polyak averaging, checkpointed each epoch)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from iclr17.common.checkpoint import Checkpoints, random_state, set_random_state
from iclr17.common.runtime import describe_device, owned, pick_device, seed_everything
from iclr17.pipelines.vlae.data import binarize
from iclr17.pipelines.vlae.model import VLAE, data_dependent_init, free_bits_kl

PIXELS = 28 * 28


def _batch(images: np.ndarray, idx: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(images[idx].astype(np.float32))[:, None].to(device)


def epoch_images(data: dict, training: dict, epoch: int, seed: int) -> np.ndarray:
    """The binary training images of one epoch: the static set (with the validation images when
    ``train_on_val``), or, for grey images (``binarization: dynamic``), a fresh seeded binarisation."""
    images = np.concatenate([data["train"], data["val"]]) if training["train_on_val"] else data["train"]
    if data["binarization"] == "dynamic":
        return binarize(images, np.random.default_rng([seed, epoch]))
    return images


def _objective(model: VLAE, x: torch.Tensor, floor: float) -> tuple[torch.Tensor, float, float]:
    rec, kl = model.terms(x)
    return -(rec.mean() - free_bits_kl(kl, floor)), (kl - rec).mean().item(), kl.mean().item()


def elbo(model: torch.nn.Module, images: np.ndarray, batch_size: int, device) -> dict:
    """The mean negative ELBO and KL (nats per image) of ``images`` (binary)."""
    model.eval()
    total = kl_total = 0.0
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            rec, kl = model.terms(_batch(images, np.arange(s, min(s + batch_size, len(images))), device))
            total += (kl - rec).sum().item()
            kl_total += kl.sum().item()
    return {"neg_elbo": total / len(images), "kl": kl_total / len(images)}


def train_vlae(data: dict, model_cfg: dict, training: dict, seed: int, device: str,
               checkpoints: Checkpoints | None = None) -> dict:
    """Train one model (Appendix A): Adamax, free bits of ``free_bits`` nats per pixel on the
    batch KL, Polyak averaging (``polyak``) of the weights that are evaluated, data-dependent
    initialisation on the first batch; each epoch's state checkpointed and resumed."""
    dev = pick_device(device)
    gen = seed_everything(seed)
    model = VLAE(**model_cfg).to(dev)
    first = epoch_images(data, training, 1, seed)
    data_dependent_init(model, lambda: model.terms(_batch(first, np.arange(training["init_batch"]), dev)))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(training["polyak"]), use_buffers=True)
    opt = torch.optim.Adamax(model.parameters(), lr=training["lr"])
    floor = training["free_bits"] * PIXELS
    checkpoint = checkpoints.run(f"vlae_{model_cfg.get('prior', 'af')}_{model_cfg.get('latent', 64)}",
                                 {"model": dict(model_cfg), "training": {k: v for k, v in training.items() if k != "epochs"},
                                  "seed": seed, "binarization": data["binarization"]}) if checkpoints is not None else None
    saved = checkpoint.load() if checkpoint is not None else None
    history: list[dict] = []
    if saved is not None:
        model.load_state_dict(saved["model"])
        ema.load_state_dict(saved["ema"])
        opt.load_state_dict(saved["optimizer"])
        set_random_state(saved["random"], gen)
        history = saved["history"]
    val = data["val"] if data["binarization"] == "static" else binarize(data["val"], np.random.default_rng([seed, 0]))
    val = val[: training["val_images"]]
    for epoch in range(len(history) + 1, training["epochs"] + 1):
        images = epoch_images(data, training, epoch, seed)
        order = torch.randperm(len(images), generator=gen).numpy()
        model.train()
        start, losses, kls = time.perf_counter(), [], []
        bar = tqdm(range(0, len(images), training["batch_size"]), desc=f"vlae epoch {epoch}", mininterval=5.0)
        for s in bar:
            loss, neg_elbo, kl = _objective(model, _batch(images, np.sort(order[s:s + training["batch_size"]]), dev), floor)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update_parameters(model)
            losses.append(neg_elbo)
            kls.append(kl)
        seconds = time.perf_counter() - start
        history.append({"epoch": epoch, "train_neg_elbo": float(np.mean(losses)), "train_kl": float(np.mean(kls)),
                        **{f"val_{k}": v for k, v in elbo(ema.module, val, training["batch_size"], dev).items()},
                        "images_per_s": len(images) / seconds, "seconds": seconds})
        if checkpoint is not None:
            checkpoint.save(epoch, {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                                    "random": random_state(gen), "history": history})
    return {"state": owned(ema.module.state_dict(), "cpu"), "config": dict(model_cfg), "history": history,
            "device": describe_device(dev)}
