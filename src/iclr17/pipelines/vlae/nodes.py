"""Nodes of the ``vlae`` pipeline (Chen et al., ICLR 2017): pure functions of catalog entries and
``params:``: the binary images, training (Adamax, free bits, Polyak averaging, checkpointed each
epoch), importance-sampled test NLL, the lossy grid and the paper-vs-run tables."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from iclr17.common.checkpoint import Checkpoints, random_state, set_random_state
from iclr17.common.reporting import final_metrics, row, to_markdown
from iclr17.common.runtime import describe_device, owned, pick_device, seed_everything
from iclr17.pipelines.vlae import data as datasets
from iclr17.pipelines.vlae.data import binarize
from iclr17.pipelines.vlae.model import (
    VLAE,
    data_dependent_init,
    free_bits_kl,
    importance_sampled_nll,
)

PIXELS = 28 * 28
LABELS = {"static_mnist": "static MNIST", "dynamic_mnist": "dynamic MNIST",
          "caltech101_silhouettes": "Caltech-101 Silhouettes"}
MODELS = {"af": "VLAE (PixelCNN decoder + AF prior)", "gaussian": "PixelCNN decoder + Gaussian prior",
          "pixelcnn": "unconditional PixelCNN", "iaf": "PixelCNN decoder + IAF posterior, Gaussian prior",
          "rf_small": "VLAE with a smaller decoder receptive field", "rf_large": "VLAE with a larger decoder receptive field"}


def prepare_data(dataset: str, raw: dict) -> tuple[dict, dict]:
    """The dataset's train / val / test images (uint8 (N, 28, 28), object pixels 1; grey 0-255
    for dynamic MNIST, binarised later) and how it is binarised, with its sizes and pixel means."""
    if dataset == "static_mnist":
        out, binarization = datasets.static_mnist(raw["binarized_mnist_packed.npz"]), "static"
    elif dataset == "dynamic_mnist":
        out, binarization = datasets.grey_mnist(raw), "dynamic"
    elif dataset == "caltech101_silhouettes":
        out, binarization = datasets.caltech_silhouettes(raw["caltech101_silhouettes_28_split1.mat"]), "static"
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(LABELS)}")
    scale = 255.0 if binarization == "dynamic" else 1.0
    stats = {split: {"images": len(a), "mean_pixel": float(a.mean() / scale)} for split, a in out.items()}
    return {**out, "binarization": binarization, "name": dataset}, {"dataset": dataset, "binarization": binarization, **stats}


def _batch(images: np.ndarray, idx: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(images[idx].astype(np.float32))[:, None].to(device)


def epoch_images(data: dict, training: dict, epoch: int, seed: int) -> np.ndarray:
    """The binary training images of one epoch: the static set (with the validation images when
    ``train_on_val``), or, for grey images (``binarization: dynamic``), a fresh seeded binarisation."""
    images = np.concatenate([data["train"], data["val"]]) if training["train_on_val"] else data["train"]
    images = images[: training.get("max_images")]
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
               checkpoints: Checkpoints | None = None, name: str = "vlae") -> dict:
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
    checkpoint = checkpoints.run(name,
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
            "device": describe_device(dev), "parameters": sum(p.numel() for p in model.parameters())}


def train_variant(variant: str, data: dict, model: dict, variants: dict, training: dict, seed: int, device: str,
                  checkpoints: Checkpoints | None = None) -> dict:
    """One model of the ablation: ``model`` with ``variants[variant]`` over it, trained for the
    dataset's number of epochs (``training.epochs[<dataset>]``)."""
    if variant not in variants:
        raise ValueError(f"no variant {variant!r} in vlae.variants (known: {sorted(variants)})")
    epochs = training["epochs"][data["name"]]
    run = train_vlae(data, {**model, **variants[variant]}, {**training, "epochs": epochs}, seed, device,
                     checkpoints, f"{data['name']}_{variant}")
    return {**run, "variant": variant, "dataset": data["name"]}


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def trained_model(run: dict, device="cpu") -> VLAE:
    """The Polyak-averaged model a training run returned."""
    model = VLAE(**run["config"]).to(device)
    model.load_state_dict(run["state"])
    return model.eval()


def evaluation_images(data: dict, evaluation: dict, seed: int) -> np.ndarray:
    """A seeded random subset of ``evaluation.test_images`` test images, in file order (all with
    null), binarised once with a fixed seed where the data are grey (dynamic MNIST's protocol)."""
    images, n = data["test"], evaluation["test_images"]
    if data["binarization"] != "static":
        images = binarize(images, np.random.default_rng([seed, 10**6]))
    if n is None or n >= len(images):
        return images
    # not the first n: the file is not shuffled (static MNIST's test set runs digit by digit)
    return images[np.sort(np.random.default_rng([seed, 2 * 10**6]).choice(len(images), n, replace=False))]


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
    bound = elbo(model, images, evaluation["batch_size"] * evaluation["chunk"], dev)
    whole = elbo(model, evaluation_images(data, {**evaluation, "test_images": None}, seed), 1000, dev)
    return {"is_nll": float(nll.mean()), "is_nll_sem": float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else 0.0,
            "neg_elbo": bound["neg_elbo"], "kl": bound["kl"], "images": len(images), "samples": evaluation["samples"],
            "test_neg_elbo_all": whole["neg_elbo"], "test_kl_all": whole["kl"], "test_images_all": len(data["test"]),
            "per_image_nll": [float(v) for v in nll], "binarization": data["binarization"],
            "receptive_field": model.decoder.receptive_field(), "seconds": time.perf_counter() - start}


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
    images = evaluation_images(data, evaluation, seed)
    x = _batch(images, np.linspace(0, len(images) - 1, n).astype(int), "cpu")  # spread over the digits
    rows = {"test images": x}
    if model.latent > 0:
        with torch.no_grad():
            mean = model.posterior_mean(x)
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


# ----------------------------------------------------------------------------------------------
# paper vs this run
# ----------------------------------------------------------------------------------------------


def _paper_nll(paper: dict, dataset: str, variant: str) -> tuple[float | None, str]:
    """The paper's number for this row and where it comes from."""
    tables = {"static_mnist": "Table 1", "dynamic_mnist": "Table 2", "caltech101_silhouettes": "Table 4"}
    ref = paper.get(dataset, {}).get(variant)
    return ref, (f"the paper's {tables[dataset]}" if ref is not None else "no number in the paper for this dataset")


def _rows(evaluation: dict, run: dict, paper: dict) -> list[dict]:
    dataset, variant = run["dataset"], run["variant"]
    label = f"{LABELS[dataset]} {MODELS[variant]}"
    ref, source = _paper_nll(paper, dataset, variant)
    setting = (f"{evaluation['binarization']} binarisation; {evaluation['images']} test images, {evaluation['samples']} "
               f"importance samples; {len(run['history'])} epochs; decoder receptive field {evaluation['receptive_field']} px")
    rows = [row(f"{label} test NLL", ref, evaluation["is_nll"], "nats", f"± {evaluation['is_nll_sem']:.2f} (sem); {source}; {setting}"),
            row(f"{label} test negative ELBO", None, evaluation["neg_elbo"], "nats", setting),
            row(f"{label} test KL", None, evaluation["kl"], "nats", "the information the latent carries (0: no latent)"),
            row(f"{label} negative ELBO, all test images", None, evaluation["test_neg_elbo_all"], "nats",
                f"{evaluation['test_images_all']} images, one sample each (an upper bound on the NLL)")]
    ablation = paper["appendix_d"].get(variant)
    if ablation is not None and dataset == "dynamic_mnist":  # Appendix D is on dynamic MNIST only
        rows += [row(f"{label} Appendix D NLL", ablation["nll"], evaluation["is_nll"], "nats", "Appendix D's ablation"),
                 row(f"{label} Appendix D KL", ablation["kl"], evaluation["kl"], "nats", "Appendix D's ablation")]
    return rows


def history_metrics(history: list[dict]) -> dict:
    """Per-epoch curves under the same names for every model, so the MLflow UI lines them up."""
    keys = ("train_neg_elbo", "train_kl", "val_neg_elbo", "val_kl", "images_per_s")
    return {k: [{"value": float(h[k]), "step": h["epoch"]} for h in history] for k in keys}


def learning_curves(runs: dict[str, dict]) -> plt.Figure:
    """Validation negative ELBO and KL per epoch, one line per model."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, run in runs.items():
        epochs = [h["epoch"] for h in run["history"]]
        axes[0].plot(epochs, [h["val_neg_elbo"] for h in run["history"]], marker=".", label=label)
        axes[1].plot(epochs, [h["val_kl"] for h in run["history"]], marker=".", label=label)
    axes[0].set(xlabel="epoch", ylabel="nats", title="validation negative ELBO (Polyak-averaged weights)")
    axes[1].set(xlabel="epoch", ylabel="nats", title="validation KL(q(z|x) || p(z))")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def variant_summary(variant: str, evaluation: dict, run: dict, paper: dict) -> tuple[list[dict], str, dict, plt.Figure]:
    """One model's paper_vs_run rows, metrics (final and per epoch) and learning curves."""
    if run["variant"] != variant:
        raise ValueError(f"the run is of variant {run['variant']!r}, not {variant!r}")
    rows = _rows(evaluation, run, paper)
    last = run["history"][-1]
    metrics = {**history_metrics(run["history"]), **final_metrics({
        "test_is_nll": evaluation["is_nll"], "test_neg_elbo": evaluation["neg_elbo"], "test_kl": evaluation["kl"],
        "receptive_field": evaluation["receptive_field"], "eval_seconds": evaluation["seconds"],
        "train_seconds": sum(h["seconds"] for h in run["history"]), "train_images_per_s": last["images_per_s"],
        "parameters": run["parameters"]})}
    md = to_markdown(rows, f"vlae ({LABELS[run['dataset']]}, {MODELS[variant]}): paper vs this run")
    return rows, md, metrics, learning_curves({MODELS[variant]: run})


def report(paper: dict, *evaluations_and_runs) -> tuple[list[dict], str, dict, plt.Figure]:
    """Every model of one dataset side by side and Appendix D's ordering checked: the
    unconditional PixelCNN worse than the Gaussian prior, worse than the AF prior, and the KL of
    the latent models above zero (no posterior collapse)."""
    half = len(evaluations_and_runs) // 2
    evaluations, runs = evaluations_and_runs[:half], evaluations_and_runs[half:]
    rows = [r for e, run in zip(evaluations, runs) for r in _rows(e, run, paper)]
    nll = {run["variant"]: e["is_nll"] for e, run in zip(evaluations, runs)}
    kl = {run["variant"]: e["kl"] for e, run in zip(evaluations, runs)}
    label = LABELS[runs[0]["dataset"]]
    per_image = {run["variant"]: np.asarray(e["per_image_nll"]) for e, run in zip(evaluations, runs)}

    def paired(a: str, b: str) -> str:  # the same test images for every model: the difference's own spread
        d = per_image[a] - per_image[b]
        return f"± {d.std(ddof=1) / np.sqrt(len(d)):.2f} (paired sem over {len(d)} test images)" if len(d) > 1 else ""

    for worse, better in (("pixelcnn", "gaussian"), ("gaussian", "af")):
        if worse in nll and better in nll:
            rows.append(row(f"{label} ordering: NLL of {MODELS[worse]} minus {MODELS[better]}",
                            paper["appendix_d"][worse]["nll"] - paper["appendix_d"][better]["nll"], nll[worse] - nll[better],
                            "nats", f"{paired(worse, better)}; Appendix D's order holds when > 0 (paper: dynamic MNIST)"))
    if "iaf" in nll and "af" in nll:
        rows.append(row(f"{label} NLL of the AF prior minus the IAF posterior", paper["af_minus_iaf"], nll["af"] - nll["iaf"],
                        "nats", f"{paired('af', 'iaf')}; section 5.1: the AF prior is better by 0.6 nats on static MNIST"))
    ranking = sorted(nll, key=nll.get)
    md = to_markdown(rows, f"vlae ({label}): the models side by side") + "\nRanking (best first): " + " < ".join(ranking) + "\n"
    summary = {"dataset": runs[0]["dataset"], "test_is_nll": nll, "test_kl": kl, "ranking_best_first": ranking}
    return rows, md, summary, learning_curves({MODELS[run["variant"]]: run for run in runs})


def receptive_field_report(paper: dict, *evaluations_and_runs) -> tuple[list[dict], str, dict, plt.Figure]:
    """The AF-prior model's test NLL and KL against its decoder's receptive field: the wider
    the decoder sees, the less the latent needs to carry (the lossy code of section 3)."""
    half = len(evaluations_and_runs) // 2
    pairs = sorted(zip(evaluations_and_runs[:half], evaluations_and_runs[half:]), key=lambda p: p[0]["receptive_field"])
    label, rows = LABELS[pairs[0][1]["dataset"]], []
    for e, run in pairs:
        note = f"{e['images']} test images, {e['samples']} importance samples; {len(run['history'])} epochs; the paper has no binary-image sweep"
        name = f"{label} VLAE {run['variant']} ({e['receptive_field']}-pixel receptive field)"
        rows += [row(f"{name} test NLL", None, e["is_nll"], "nats", note), row(f"{name} test KL", None, e["kl"], "nats", note)]
    summary = {"receptive_field": [e["receptive_field"] for e, _ in pairs], "test_kl": [e["kl"] for e, _ in pairs],
               "test_is_nll": [e["is_nll"] for e, _ in pairs]}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(summary["receptive_field"], summary["test_kl"], "o-")
    ax.set(xlabel="decoder receptive field (pixels)", ylabel="test KL (nats)", xscale="log",
           title=f"{label}: what the latent carries")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return rows, to_markdown(rows, f"vlae ({label}): the latent's information against the receptive field"), summary, fig
