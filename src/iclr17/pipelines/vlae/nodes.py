"""Nodes of the ``vlae`` pipeline (Chen et al., ICLR 2017): pure functions of catalog entries and
``params:``.  So far: training (Adamax, free bits, Polyak averaging, checkpointed each epoch)."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from iclr17.common.checkpoint import Checkpoints, random_state, set_random_state
from iclr17.common.runtime import describe_device, owned, pick_device, seed_everything
from iclr17.pipelines.vlae.data import binarize
from iclr17.pipelines.vlae.model import (
    VLAE,
    data_dependent_init,
    free_bits_kl,
    importance_sampled_nll,
)

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


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def trained_model(run: dict, device="cpu") -> VLAE:
    """The Polyak-averaged model a training run returned."""
    model = VLAE(**run["config"]).to(device)
    model.load_state_dict(run["state"])
    return model.eval()


def evaluation_images(data: dict, evaluation: dict, seed: int) -> np.ndarray:
    """The first ``evaluation.test_images`` test images (all with null), binarised once with a
    fixed seed where the data are grey (dynamic MNIST's protocol)."""
    images = data["test"][: evaluation["test_images"]]
    return images if data["binarization"] == "static" else binarize(images, np.random.default_rng([seed, 10**6]))


def evaluate_vlae(run: dict, data: dict, evaluation: dict, seed: int, device: str) -> dict:
    """Test NLL by importance sampling (``samples`` draws of q(z|x) per image) with the negative
    ELBO and the KL beside it, nats per image, and the seconds it took."""
    dev = pick_device(device)
    torch.manual_seed(seed)
    model, images = trained_model(run, dev), evaluation_images(data, evaluation, seed)
    start, nll = time.perf_counter(), []
    for s in tqdm(range(0, len(images), evaluation["batch_size"]), desc="IS-NLL", mininterval=5.0):
        x = _batch(images, np.arange(s, min(s + evaluation["batch_size"], len(images))), dev)
        nll.append(importance_sampled_nll(model, x, evaluation["samples"], evaluation["chunk"]).cpu())
    nll = torch.cat(nll).numpy()
    bound = elbo(model, images, evaluation["batch_size"], dev)
    return {"is_nll": float(nll.mean()), "is_nll_sem": float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else 0.0,
            "neg_elbo": bound["neg_elbo"], "kl": bound["kl"], "images": len(images), "samples": evaluation["samples"],
            "binarization": data["binarization"], "receptive_field": model.decoder.receptive_field(),
            "seconds": time.perf_counter() - start}


@torch.no_grad()
def sample_pixels(model: VLAE, z: torch.Tensor | None, n: int) -> torch.Tensor:
    """Draw ``n`` images from p(x|z) pixel by pixel in raster order (z: (n, latent) or None)."""
    x = torch.zeros(n, 1, 28, 28)
    h = model.latent_map(z) if z is not None else None
    for i in range(28 * 28):
        r, c = divmod(i, 28)
        x[:, 0, r, c] = torch.bernoulli(torch.sigmoid(model.decoder(x, h)[:, 0, r, c]))
    return x


def lossy_figure(run: dict, data: dict, evaluation: dict, seed: int) -> plt.Figure:
    """The lossy property, shown: test images, their reconstructions (z the posterior mean, every
    pixel resampled from p(x|z): global shape kept, local strokes redrawn) and samples from the
    prior; ``evaluation.grid`` images per row."""
    torch.manual_seed(seed)
    model, n = trained_model(run), evaluation["grid"]
    x = _batch(evaluation_images(data, evaluation, seed), np.arange(n), "cpu")
    rows = {"test images": x}
    if model.latent > 0:
        with torch.no_grad():
            mean, _ = model.encoder(x)
            prior_z = model.prior().sample((n,)) if model.prior is not None else torch.randn(n, model.latent)
        rows["reconstructions"] = sample_pixels(model, mean, n)
        rows["samples from the prior"] = sample_pixels(model, prior_z, n)
    else:
        rows["samples"] = sample_pixels(model, None, n)
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * 0.6, len(rows) * 0.9))
    for ax, (title, images) in zip(np.atleast_1d(axes), rows.items()):
        ax.imshow(torch.cat(list(images[:, 0]), 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
