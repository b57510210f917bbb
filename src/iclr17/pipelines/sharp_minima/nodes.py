"""Nodes of the ``sharp_minima`` pipeline (Keskar et al., ICLR 2017): pure functions of catalog
entries and ``params:``.

data prep   MNIST IDX files -> uint8 arrays, counts and label histograms checked
            (CIFAR-10 python tarball -> arrays, for C1, in ``sharp_minima_cifar``)
training    F1 with ADAM, small batch (256) and large batch (10% of the training set), N random
            starts each, until the training loss stops improving (at most ``max_epochs``);
            each start checkpointed every epoch and resumed from its last one
evaluation  Table 2 accuracies, Tables 3/4 sharpness (L-BFGS-B in the eps-box, full space and a
            random 100-dim subspace), the 1-D parametric plot between x_SB and x_LB, a batch-size
            sweep of test accuracy, paper_vs_run
"""

from __future__ import annotations

import logging
import pickle
import tarfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

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
    owned,
    pick_device,
    resolve_workers,
    seed_everything,
)
from iclr17.pipelines.sharp_minima.model import build_network
from iclr17.pipelines.sharp_minima.sharpness import (
    interpolate,
    random_subspace,
    recompute_batchnorm,
    sharpness,
    subspace_coordinates,
)

log = logging.getLogger(__name__)

MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
TRAIN_KEYS = ("lr", "small_batch", "large_batch", "seeds", "max_epochs", "patience", "min_improvement",
              "device", "workers")
TRAIN_OPTIONAL = ("restore_best",)

# ----------------------------------------------------------------------------------------------
# data prep
# ----------------------------------------------------------------------------------------------


def _check_split(x: np.ndarray, y: np.ndarray, split: str, expected: dict) -> list[str]:
    problems = []
    if len(x) != len(y):
        problems.append(f"{split}: {len(x)} images but {len(y)} labels")
    if expected.get(split) is not None and len(x) != expected[split]:
        problems.append(f"{split}: {len(x)} images, expected {expected[split]}")
    hist = np.bincount(y, minlength=10).tolist()
    want = expected.get(f"{split}_histogram")
    if want is not None and hist != list(want):
        problems.append(f"{split}: label histogram {hist}, expected {list(want)}")
    return problems


def assemble_mnist(raw: dict, expected: dict) -> tuple[dict, dict]:
    """The four IDX arrays -> ``{"x_train": (60000, 784) uint8, "y_train", "x_test", "y_test"}``
    and their statistics, checked against ``expected`` (counts and label histograms)."""
    missing = [f for f in MNIST_FILES.values() if f not in raw]
    if missing:
        raise ValueError(f"MNIST files missing: {missing}")
    data = {k: np.array(raw[f]) for k, f in MNIST_FILES.items()}  # writable copies
    for split in ("train", "test"):
        x = data[f"x_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise ValueError(f"{split} images must be (n, 28, 28) uint8, got {x.shape} {x.dtype}")
        data[f"x_{split}"] = x.reshape(len(x), -1)
        data[f"y_{split}"] = data[f"y_{split}"].astype(np.int64)
    problems = [p for s in ("train", "test") for p in _check_split(data[f"x_{s}"], data[f"y_{s}"], s, expected)]
    if problems:
        raise ValueError("MNIST does not match its published statistics: " + "; ".join(problems))
    stats = {
        **{f"{s}_images": int(len(data[f"x_{s}"])) for s in ("train", "test")},
        **{f"{s}_histogram": np.bincount(data[f"y_{s}"], minlength=10).tolist() for s in ("train", "test")},
        "train_pixel_mean": float(data["x_train"].mean() / 255.0),
    }
    return data, stats


def assemble_cifar10(tarball: Path, expected: dict) -> tuple[dict, dict]:
    """CIFAR-10's python tarball -> ``{"x_train": (50000, 3, 32, 32) uint8, ...}`` and stats."""
    batches: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = Path(member.name).name
            split = "train" if name.startswith("data_batch_") else "test" if name == "test_batch" else None
            if split:
                batches[split].append(pickle.load(tar.extractfile(member), encoding="latin1"))
    data = {}
    for split, parts in batches.items():
        if not parts:
            raise ValueError(f"{tarball}: no {split} batches found; is this cifar-10-python.tar.gz?")
        data[f"x_{split}"] = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 32, 32).astype(np.uint8)
        data[f"y_{split}"] = np.concatenate([p["labels"] for p in parts]).astype(np.int64)
    problems = [p for s in ("train", "test") for p in _check_split(data[f"x_{s}"], data[f"y_{s}"], s, expected)]
    if problems:
        raise ValueError("CIFAR-10 does not match its published statistics: " + "; ".join(problems))
    return data, {f"{s}_images": int(len(data[f"x_{s}"])) for s in ("train", "test")}


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------


def _as_float(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(x, dtype=np.float32)).div_(255.0)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 10_000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) in eval mode: batch norm with its running statistics,
    or with each evaluation batch's own (``network.bn_stats: batch``)."""
    model.eval()
    device = next(model.parameters()).device
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = _as_float(x[i : i + batch_size]).to(device), torch.from_numpy(y[i : i + batch_size]).to(device)
        out = model(xb)
        loss += F.cross_entropy(out, yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
    return loss / len(x), 100.0 * correct / len(x)


def resolve_batch(batch: int | float, n_train: int) -> int:
    """An int is a batch size; a float in (0, 1] is a fraction of the training set (10% = LB)."""
    if isinstance(batch, float):
        if not 0 < batch <= 1:
            raise ValueError(f"a fractional batch must be in (0, 1], got {batch}")
        return max(1, int(round(batch * n_train)))
    if batch < 1:
        raise ValueError(f"batch size must be >= 1, got {batch}")
    return int(batch)


def initial_network(network: dict, seed: int) -> tuple[torch.nn.Module, torch.Generator]:
    """The random start x0 of ``seed`` (and the generator that then shuffles the batches): SB and
    LB runs of one seed start from the same point, and x0 can be rebuilt from the seed alone."""
    gen = seed_everything(seed)
    return build_network(**network), gen


def _train_epoch(model, opt, data: dict, batch_size: int, gen: torch.Generator, dev) -> float:
    """One epoch of ADAM over shuffled batches; the mean training loss."""
    model.train()
    x_train, y_train = data["x_train"], data["y_train"]
    order = torch.randperm(len(x_train), generator=gen).numpy()
    total, count = 0.0, 0
    for i in range(0, len(x_train), batch_size):
        idx = np.sort(order[i : i + batch_size])
        if len(idx) < 2:  # batch norm needs two samples
            continue
        xb, yb = _as_float(x_train[idx]).to(dev), torch.from_numpy(y_train[idx]).to(dev)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        count += len(idx)
    return total / count


def _fresh_progress() -> dict:
    """The stopping rule's state before the first epoch."""
    return {"history": [], "best": float("inf"), "stale": 0, "lowest": float("inf"), "best_epoch": 0,
            "best_state": None, "stopped": False, "seconds": 0.0}


def _update_progress(progress: dict, train_loss: float, model, cfg: dict) -> None:
    """Record the epoch's loss: the lowest so far (and its weights, with ``restore_best``) and
    the patience count of epochs without a relative improvement of ``min_improvement``."""
    if train_loss < progress["lowest"]:
        progress["lowest"], progress["best_epoch"] = train_loss, len(progress["history"])
        if cfg.get("restore_best", False):
            progress["best_state"] = owned(model.state_dict())
    if train_loss < progress["best"] * (1.0 - cfg["min_improvement"]):
        progress["best"], progress["stale"] = train_loss, 0
    else:
        progress["stale"] += 1
        progress["stopped"] = progress["stale"] >= cfg["patience"]


def training_identity(network: dict, cfg: dict, batch_size: int, seed: int) -> dict:
    """What a checkpoint of :func:`train_network` must match: all but where it runs."""
    return {"network": dict(network), "training": {k: v for k, v in cfg.items() if k not in ("device", "workers")},
            "batch_size": batch_size, "seed": seed}


def train_network(data: dict, network: dict, cfg: dict, batch_size: int, seed: int, device: str,
                  checkpoint: Checkpoint | None = None) -> dict:
    """ADAM from a random start until the epoch's mean training loss has not improved by
    ``min_improvement`` (relative) for ``patience`` epochs, or ``max_epochs``.  With
    ``restore_best`` the weights (and batch-norm statistics) of the epoch with the lowest mean
    training loss are kept, so a run that stops inside an ADAM loss spike is not judged by it.
    With a ``checkpoint`` the whole state is saved after each epoch and a rerun goes on from it.
    Returns those weights, the per-epoch history, ``best_epoch`` and the eval-mode train/test loss
    and accuracy of the returned weights."""
    dev = pick_device(device)
    model, gen = initial_network(network, seed)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    progress, resumed = _fresh_progress(), 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        set_random_state(saved["random"], gen)
        progress, resumed = saved["progress"], saved["epoch"]
    start = time.perf_counter() - progress["seconds"]
    for epoch in range(len(progress["history"]) + 1, cfg["max_epochs"] + 1):
        if progress["stopped"]:
            break
        train_loss = _train_epoch(model, opt, data, batch_size, gen, dev)
        _, test_acc = evaluate(model, data["x_test"], data["y_test"])
        progress["history"].append({"epoch": epoch, "train_loss": train_loss, "test_acc": test_acc,
                                    "seconds": time.perf_counter() - start})
        _update_progress(progress, train_loss, model, cfg)
        progress["seconds"] = time.perf_counter() - start
        if checkpoint is not None:
            checkpoint.save(epoch, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "random": random_state(gen), "progress": progress})
    history, best_epoch = progress["history"], progress["best_epoch"]
    restored = bool(cfg.get("restore_best", False)) and best_epoch != len(history)
    if restored:
        model.load_state_dict(progress["best_state"])
    train_loss, train_acc = evaluate(model, data["x_train"], data["y_train"])
    test_loss, test_acc = evaluate(model, data["x_test"], data["y_test"])
    return {
        "seed": seed,
        "batch_size": batch_size,
        "epochs": len(history),
        "best_epoch": best_epoch,
        "restored_best": restored,
        "history": history,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "seconds": time.perf_counter() - start,
        "resumed_after_epoch": resumed,
        "device": describe_device(dev),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def _checkpoint(checkpoints: Checkpoints | None, name: str, network: dict, cfg: dict, batch_size: int,
                seed: int) -> Checkpoint | None:
    return None if checkpoints is None else checkpoints.run(name, training_identity(network, cfg, batch_size, seed))


def train_regimes(data: dict, network: dict, training: dict, checkpoints: Checkpoints | None = None) -> dict:
    """SB and LB, ``seeds`` random starts each, seeds spread over worker processes; each start
    checkpointed (``<regime>_seed<N>``) in ``checkpoints``."""
    cfg = check_keys(training, "sharp_minima.training", TRAIN_KEYS, TRAIN_OPTIONAL)
    n = len(data["x_train"])
    batches = {"sb": resolve_batch(cfg["small_batch"], n), "lb": resolve_batch(cfg["large_batch"], n)}
    seeds = list(range(cfg["seeds"])) if isinstance(cfg["seeds"], int) else list(cfg["seeds"])
    jobs = [(data, dict(network), cfg, batches[r], s, cfg["device"],
             _checkpoint(checkpoints, f"{r}_seed{s}", network, cfg, batches[r], s))
            for r in ("sb", "lb") for s in seeds]
    workers = resolve_workers(cfg["workers"], len(jobs), pick_device(cfg["device"]))
    out = map_jobs(train_network, jobs, workers, desc="SB/LB random starts")
    return {"sb": out[: len(seeds)], "lb": out[len(seeds) :], "batch_sizes": batches}


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def distance_from_start(run: dict, network: dict) -> float:
    """||x* - x0||: the Euclidean distance the weights (not the batch-norm statistics) travelled
    from the run's random start, rebuilt from its seed."""
    start, _ = initial_network(network, run["seed"])
    return float(sum(((run["state"][name].double() - p.detach().double()) ** 2).sum()
                     for name, p in start.named_parameters()) ** 0.5)


def accuracy_table(runs: dict, network: dict) -> pd.DataFrame:
    """One row per trained model, with its distance from the random start (Keskar et al.
    report ||x_SB - x0|| / ||x_LB - x0|| between 3 and 10)."""
    return pd.DataFrame(
        [
            {"regime": regime, "seed": r["seed"], "batch_size": r["batch_size"], "epochs": r["epochs"],
             "best_epoch": r.get("best_epoch", r["epochs"]), "train_loss": r["train_loss"], "train_acc": r["train_acc"], "test_acc": r["test_acc"],
             "distance_from_start": distance_from_start(r, network), "seconds": r["seconds"], "device": r["device"]}
            for regime in ("sb", "lb")
            for r in runs[regime]
        ]
    )


class TrainingLoss:
    """f(x) = mean cross-entropy of the network with flat weights x over (x_data, y_data), and its
    gradient, as float64 numpy (batch norm in eval mode, so f is a deterministic function of x)."""

    def __init__(self, network: dict, state: dict, x_data: np.ndarray, y_data: np.ndarray, batch_size: int):
        self.model = build_network(**network)
        self.model.load_state_dict(state)
        self.model.eval()
        self.params = [p for p in self.model.parameters()]
        self.x, self.y, self.batch_size = x_data, y_data, batch_size

    def vector(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.params).detach().double().numpy()

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        torch.nn.utils.vector_to_parameters(torch.from_numpy(flat).float(), self.params)
        for p in self.params:
            p.grad = None
        total = 0.0
        for i in range(0, len(self.x), self.batch_size):
            xb, yb = _as_float(self.x[i : i + self.batch_size]), torch.from_numpy(self.y[i : i + self.batch_size])
            loss = F.cross_entropy(self.model(xb), yb, reduction="sum") / len(self.x)
            loss.backward()
            total += loss.item()
        grad = torch.cat([p.grad.reshape(-1) for p in self.params]).double().numpy()
        return total, grad


def _sharpness_of_model(regime: str, run: dict, network: dict, x: np.ndarray, y: np.ndarray, cfg: dict) -> list[dict]:
    f = TrainingLoss(network, run["state"], x, y, cfg["batch_size"])
    x0 = f.vector()
    rows = []
    for space in ("full", "subspace"):
        A = None if space == "full" else random_subspace(len(x0), cfg["subspace_dim"], seed=1000 + run["seed"])
        coords = subspace_coordinates(x0, A)
        for eps in cfg["epsilons"]:
            start = time.perf_counter()
            res = sharpness(f, x0, eps, A, maxiter=cfg["maxiter"], coords=coords)
            rows.append({"regime": regime, "seed": run["seed"], "space": space, "eps": eps,
                         "sharpness": res["sharpness"], "f0": res["f0"], "f_max": res["f_max"],
                         "n_evals": res["n_evals"], "seconds": time.perf_counter() - start})
    return rows


def sharpness_table(runs: dict, data: dict, network: dict, cfg: dict) -> pd.DataFrame:
    """Metric 2.1 for every model, eps in ``epsilons``, full space and a random subspace."""
    cfg = check_keys(cfg, "sharp_minima.sharpness", ("epsilons", "subspace_dim", "maxiter", "n_samples", "batch_size", "workers"))
    x, y = data["x_train"], data["y_train"]
    if cfg["n_samples"]:
        keep = np.sort(np.random.default_rng(0).permutation(len(x))[: cfg["n_samples"]])
        x, y = x[keep], y[keep]
    jobs = [(regime, run, dict(network), x, y, cfg) for regime in ("sb", "lb") for run in runs[regime]]
    n_workers = resolve_workers(cfg["workers"], len(jobs), torch.device("cpu"))
    rows = map_jobs(_sharpness_of_model, jobs, n_workers, desc="sharpness")
    return pd.DataFrame([r for model_rows in rows for r in model_rows])


def recompute_training_batchnorm(model: torch.nn.Module, x_train: np.ndarray, batch_size: int = 10_000) -> torch.nn.Module:
    """Re-estimate ``model``'s batch-norm statistics on the whole training set, in chunks."""
    return recompute_batchnorm(model, (_as_float(x_train[i : i + batch_size]) for i in range(0, len(x_train), batch_size)))


def _parametric_points(alphas: list[float], sb_state: dict, lb_state: dict, network: dict, data: dict,
                       batchnorm: str) -> list[dict]:
    """Train/test loss and accuracy at each alpha of one chunk (a worker's share of the plot)."""
    model = build_network(**network)
    x_train = data["x_train"]
    rows = []
    for alpha in alphas:
        model.load_state_dict(interpolate(lb_state, sb_state, float(alpha)))
        if batchnorm == "recompute":
            recompute_training_batchnorm(model, x_train)
        train_loss, train_acc = evaluate(model, data["x_train"], data["y_train"])
        test_loss, test_acc = evaluate(model, data["x_test"], data["y_test"])
        rows.append({"alpha": float(alpha), "train_loss": train_loss, "test_loss": test_loss,
                     "train_acc": train_acc, "test_acc": test_acc})
    return rows


def parametric_plot(runs: dict, data: dict, network: dict, cfg: dict) -> tuple[pd.DataFrame, plt.Figure]:
    """Loss and accuracy along alpha * x_LB + (1 - alpha) * x_SB (Figure 3), for one seed's pair.
    ``batchnorm: recompute`` re-estimates the batch-norm statistics on the training set at every
    alpha (interpolated statistics go negative outside [0, 1]); ``interpolate`` keeps them linear.
    The alphas are split into one contiguous chunk per worker process."""
    cfg = check_keys(cfg, "sharp_minima.parametric", ("alphas", "seed", "batchnorm"), ("workers",))
    if cfg["batchnorm"] not in ("recompute", "interpolate"):
        raise ValueError(f"parametric.batchnorm must be 'recompute' or 'interpolate', got {cfg['batchnorm']!r}")
    sb = next(r for r in runs["sb"] if r["seed"] == cfg["seed"])
    lb = next(r for r in runs["lb"] if r["seed"] == cfg["seed"])
    alphas = np.linspace(**cfg["alphas"]).tolist()
    workers = resolve_workers(cfg.get("workers", 1), len(alphas), torch.device("cpu"))
    chunks = [c.tolist() for c in np.array_split(alphas, workers)]
    jobs = [(chunk, sb["state"], lb["state"], dict(network), data, cfg["batchnorm"]) for chunk in chunks]
    rows = [r for chunk_rows in map_jobs(_parametric_points, jobs, workers, desc="parametric plot") for r in chunk_rows]
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.semilogy(table.alpha, table.train_loss, "b-", label="train loss")
    ax.semilogy(table.alpha, table.test_loss, "b--", label="test loss")
    ax.set(xlabel="alpha  (0 = small-batch solution, 1 = large-batch solution)", ylabel="cross-entropy")
    ax2 = ax.twinx()
    ax2.plot(table.alpha, table.train_acc, "r-", label="train accuracy")
    ax2.plot(table.alpha, table.test_acc, "r--", label="test accuracy")
    ax2.set_ylabel("accuracy (%)")
    ax.set_title(f"F1 on MNIST: 1-D interpolation, seed {cfg['seed']} (Keskar et al. Fig. 3)\n"
                 f"batch-norm statistics: {cfg['batchnorm']}", fontsize=10)
    fig.legend(loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return table, fig


def batch_size_sweep(data: dict, network: dict, training: dict, cfg: dict, runs: dict,
                     checkpoints: Checkpoints | None = None) -> tuple[pd.DataFrame, plt.Figure]:
    """Test accuracy against batch size, same stopping rule, one random start per size.  A size
    the SB/LB training already ran at the sweep's seed and epoch bound is taken from ``runs``
    (training is deterministic given the seed, so retraining it would repeat the same numbers);
    the table's ``source`` column says which rows these are."""
    cfg = check_keys(cfg, "sharp_minima.batch_sweep", ("batch_sizes", "seed", "max_epochs"))
    train = {**check_keys(training, "sharp_minima.training", TRAIN_KEYS, TRAIN_OPTIONAL),
             "max_epochs": cfg["max_epochs"]}
    n = len(data["x_train"])
    sizes = [resolve_batch(b, n) for b in cfg["batch_sizes"]]
    done = {}
    if cfg["max_epochs"] == training["max_epochs"]:
        for regime in ("sb", "lb"):
            for r in runs[regime]:
                if r["seed"] == cfg["seed"]:
                    done[r["batch_size"]] = (regime, r)
    todo = [b for b in sizes if b not in done]
    jobs = [(data, dict(network), train, b, cfg["seed"], train["device"],
             _checkpoint(checkpoints, f"sweep_batch{b}", network, train, b, cfg["seed"])) for b in todo]
    workers = resolve_workers(train["workers"], len(jobs), pick_device(train["device"]))
    trained = dict(zip(todo, map_jobs(train_network, jobs, workers, desc="batch-size sweep")))
    table = pd.DataFrame([
        {"batch_size": b, "epochs": r["epochs"], "train_acc": r["train_acc"], "test_acc": r["test_acc"],
         "source": f"{done[b][0]} run" if b in done else "sweep"}
        for b in sizes
        for r in [done[b][1] if b in done else trained[b]]
    ])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(table.batch_size, table.test_acc, "o-", label="test")
    ax.semilogx(table.batch_size, table.train_acc, "s--", label="train")
    ax.set(xlabel="batch size", ylabel="accuracy (%)", title="F1 on MNIST: accuracy against batch size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return table, fig


def summarise(accuracy: pd.DataFrame, sharp: pd.DataFrame, runs: dict, paper: dict) -> tuple[list[dict], str, dict]:
    """paper_vs_run rows for F1's rows of Tables 2, 3 and 4, and the run's metrics."""
    rows, metrics = [], {}
    n = {r: int((accuracy.regime == r).sum()) for r in ("sb", "lb")}
    for col, label in (("train_acc", "train"), ("test_acc", "test")):
        for regime in ("sb", "lb"):
            mean, sd = mean_sd(accuracy.loc[accuracy.regime == regime, col], single_sd=0.0)
            key = f"{label}_{regime}"
            rows.append(row(f"F1 {label} accuracy {regime.upper()} (Table 2)", paper["table2"][key][0], mean, "%",
                            f"mean ± sd over {n[regime]} starts: {mean:.2f} ± {sd:.2f} (paper ± {paper['table2'][key][1]})", sd=sd))
            metrics[f"{key}_acc_mean"] = mean
    for space, table in (("full", "table3"), ("subspace", "table4")):
        for eps in sorted(sharp.eps.unique(), reverse=True):
            for regime in ("sb", "lb"):
                sel = sharp[(sharp.space == space) & (sharp.eps == eps) & (sharp.regime == regime)]
                mean, sd = mean_sd(sel.sharpness, single_sd=0.0)
                ref = paper[table].get(f"{regime}_eps{eps:.0e}", [None, None])
                what = "full space" if space == "full" else "random 100-dim subspace"
                rows.append(row(f"F1 sharpness {regime.upper()} eps={eps:g}, {what} ({table.title()})", ref[0], mean, "",
                                f"mean ± sd: {mean:.2f} ± {sd:.2f}" + (f" (paper ± {ref[1]})" if ref[1] is not None else ""), sd=sd))
                metrics[f"sharpness_{space}_{regime}_eps{eps:.0e}"] = mean
    by_seed = accuracy.pivot(index="seed", columns="regime", values="distance_from_start").dropna()
    mean, sd = mean_sd(by_seed.sb / by_seed.lb, single_sd=0.0)
    rows.append(row("F1 distance from the start, ||x_SB - x0|| / ||x_LB - x0||", None, mean, "x",
                    f"mean ± sd over {len(by_seed)} seeds: {mean:.2f} ± {sd:.2f}; the paper reports 3 to 10 "
                    "for its networks", sd=sd))
    metrics["distance_ratio_sb_lb"] = mean
    ratio = metrics.get("sharpness_full_lb_eps1e-03", np.nan) / metrics.get("sharpness_full_sb_eps1e-03", np.nan)
    paper_ratio = paper["table3"]["lb_eps1e-03"][0] / paper["table3"]["sb_eps1e-03"][0]
    rows.append(row("F1 sharpness ratio LB/SB, eps=1e-3, full space", paper_ratio, float(ratio), "x", "target >= 20"))
    metrics["sharpness_ratio_full_eps1e-03"] = float(ratio)
    md = to_markdown(rows, "sharp_minima (F1 / MNIST): paper vs this run")
    history = {}
    for regime in ("sb", "lb"):
        for r in runs[regime]:
            for key in ("train_loss", "test_acc"):
                history[f"{regime}.seed{r['seed']}.{key}"] = [{"value": float(h[key]), "step": h["epoch"]} for h in r["history"]]
    return rows, md, {**history, **final_metrics(metrics)}
