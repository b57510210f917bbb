"""Nodes of the ``gcn`` pipeline (Kipf & Welling, ICLR 2017): pure functions of catalog entries
and ``params:``.

data prep   Planetoid split files -> graph (features, labels, adjacency, masks) -> supports
training    GCN with each of the paper's Table 3 propagation models, N seeds; label propagation
evaluation  accuracy mean ± std vs Tables 2 and 3, timings, t-SNE of the hidden layer
"""

from __future__ import annotations

import logging
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from iclr17.common.config import check_keys
from iclr17.common.reporting import final_metrics, mean_sd, row, to_markdown
from iclr17.common.runtime import (
    describe_device,
    map_jobs,
    pick_device,
    resolve_workers,
    seed_everything,
)
from iclr17.pipelines.gcn.model import GCN, ChebyshevBasis, TF1Adam

log = logging.getLogger(__name__)

PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")

# ----------------------------------------------------------------------------------------------
# data prep
# ----------------------------------------------------------------------------------------------


def assemble_planetoid(raw: dict) -> dict:
    """Kipf's ``utils.load_data``: features = vstack(allx, tx) with the test rows put back in
    graph order, labels likewise, train = range(len(y)), val = the next 500, test = test.index.
    Citeseer's isolated test ids without a ``tx`` row get zero features and no label."""
    names = {key.split(".")[1] for key in raw}
    if len(names) != 1:
        raise ValueError(f"expected the files of one Planetoid dataset, got {sorted(raw)}")
    name = names.pop()
    missing = [p for p in PARTS if f"ind.{name}.{p}" not in raw]
    if missing:
        raise ValueError(f"{name}: missing Planetoid parts {missing}")
    parts = {p: raw[f"ind.{name}.{p}"] for p in PARTS}
    test_idx = np.asarray([int(v) for v in str(parts["test.index"]).split()], dtype=np.int64)
    test_sorted = np.sort(test_idx)
    tx, ty = sp.csr_matrix(parts["tx"]), np.asarray(parts["ty"])
    if name == "citeseer":
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_ext = sp.lil_matrix((len(full), tx.shape[1]), dtype=np.float32)
        tx_ext[test_sorted - test_sorted.min(), :] = tx
        ty_ext = np.zeros((len(full), ty.shape[1]))
        ty_ext[test_sorted - test_sorted.min(), :] = ty
        tx, ty = tx_ext.tocsr(), ty_ext
    features = sp.vstack([sp.csr_matrix(parts["allx"]), tx]).tolil()
    features[test_idx, :] = features[test_sorted, :]
    onehot = np.vstack([np.asarray(parts["ally"]), ty])
    onehot[test_idx, :] = onehot[test_sorted, :]
    graph = parts["graph"]
    n = features.shape[0]
    if len(graph) != n:
        raise ValueError(f"{name}: graph has {len(graph)} nodes but features have {n} rows")
    rows = [i for i, nbrs in graph.items() for _ in nbrs]
    cols = [j for nbrs in graph.values() for j in nbrs]
    adj = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    adj = ((adj + adj.T) > 0).astype(np.float32)  # symmetric, unweighted (nx.adjacency_matrix)
    n_train = np.asarray(parts["y"]).shape[0]
    labels = onehot.argmax(1).astype(np.int64)
    labels[onehot.sum(1) == 0] = -1  # the padded Citeseer nodes
    return {
        "name": name,
        "features": features.tocsr().astype(np.float32),
        "labels": labels,
        "adjacency": adj.tocsr(),
        "train": np.arange(n_train),
        "val": np.arange(n_train, n_train + 500),
        "test": test_idx,
    }


def graph_stats(graph: dict) -> dict:
    adj = graph["adjacency"]
    labels = graph["labels"]
    return {
        "nodes": int(adj.shape[0]),
        "features": int(graph["features"].shape[1]),
        "classes": int(labels.max() + 1),
        "undirected_edges": int(sp.triu(adj, k=1).nnz),
        "train": len(graph["train"]),
        "val": len(graph["val"]),
        "test": len(graph["test"]),
        "train_per_class": np.bincount(labels[graph["train"]], minlength=int(labels.max() + 1)).tolist(),
    }


def row_normalize(features: sp.spmatrix) -> sp.csr_matrix:
    """Each row divided by its sum; all-zero rows stay zero (``preprocess_features``)."""
    features = sp.csr_matrix(features, dtype=np.float32)
    sums = np.asarray(features.sum(1)).ravel()
    inv = np.zeros_like(sums)
    inv[sums != 0] = 1.0 / sums[sums != 0]
    return sp.diags(inv) @ features


def sym_normalize(adj: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2``; isolated nodes get zero rows."""
    adj = sp.csr_matrix(adj, dtype=np.float64)
    deg = np.asarray(adj.sum(1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    d = sp.diags(inv_sqrt)
    return (d @ adj @ d).tocsr()


def scaled_laplacian(adj: sp.spmatrix) -> sp.csr_matrix:
    """``2 L / λ_max − I`` with ``L = I − D^-1/2 A D^-1/2`` (official ``chebyshev_polynomials``)."""
    from scipy.sparse.linalg import eigsh

    n = adj.shape[0]
    laplacian = sp.eye(n) - sym_normalize(adj)
    lam_max = float(eigsh(laplacian, 1, which="LM", return_eigenvectors=False)[0])
    return ((2.0 / lam_max) * laplacian - sp.eye(n)).tocsr()


def chebyshev_supports(adj: sp.spmatrix, k: int) -> list[sp.csr_matrix]:
    """T_0..T_k of the rescaled Laplacian, materialised (training uses :func:`propagation_for`)."""
    scaled = scaled_laplacian(adj)
    t = [sp.eye(adj.shape[0], format="csr"), scaled]
    for _ in range(2, k + 1):
        t.append((2 * scaled @ t[-1] - t[-2]).tocsr())
    return t[: k + 1]


PROPAGATION_MODELS = (
    "chebyshev_3",
    "chebyshev_2",
    "first_order",
    "single_parameter",
    "renormalization",
    "first_order_term_only",
    "mlp",
)


def supports_for(adj: sp.spmatrix, model: str) -> list[sp.csr_matrix]:
    """The sparse supports of each Table 3 propagation model."""
    n = adj.shape[0]
    eye = sp.eye(n, format="csr")
    if model == "chebyshev_3":
        return chebyshev_supports(adj, 3)
    if model == "chebyshev_2":
        return chebyshev_supports(adj, 2)
    if model == "first_order":  # Eq. 6: X Θ0 + D^-1/2 A D^-1/2 X Θ1
        return [eye, sym_normalize(adj)]
    if model == "single_parameter":  # Eq. 7: (I + D^-1/2 A D^-1/2) X Θ
        return [(eye + sym_normalize(adj)).tocsr()]
    if model == "renormalization":  # Eq. 8: D̃^-1/2 (A + I) D̃^-1/2 X Θ
        return [sym_normalize(adj + eye)]
    if model == "first_order_term_only":
        return [sym_normalize(adj)]
    if model == "mlp":
        return [eye]
    raise ValueError(f"unknown propagation model {model!r}; choose from {PROPAGATION_MODELS}")


_CHEBYSHEV_K = {"chebyshev_3": 3, "chebyshev_2": 2}


def propagation_for(adj: sp.spmatrix, model: str):
    """What training needs of a propagation model: its supports, or for the Chebyshev models
    ``("chebyshev", L~, K)`` so that T_k(L~) is applied by recurrence, never materialised."""
    if model in _CHEBYSHEV_K:
        return ("chebyshev", scaled_laplacian(adj), _CHEBYSHEV_K[model])
    return supports_for(adj, model)


def propagation_to_torch(propagation, device: torch.device):
    if isinstance(propagation, tuple) and propagation[0] == "chebyshev":
        return ChebyshevBasis(to_torch_sparse(propagation[1], device), propagation[2])
    return [to_torch_sparse(s, device) for s in propagation]


def to_torch_sparse(m: sp.spmatrix, device: torch.device) -> torch.Tensor:
    """A scipy matrix as a torch sparse CSR tensor (the fastest sparse @ dense on the CPU here)."""
    csr = sp.csr_matrix(m, dtype=np.float32)
    csr.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(csr.indptr.astype(np.int64)),
        torch.from_numpy(csr.indices.astype(np.int64)),
        torch.from_numpy(csr.data),
        size=csr.shape,
        device=device,
        check_invariants=True,  # checked once here (cheap), not left implicitly off
    )


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------

_TRAIN_KEYS = ["hidden", "dropout", "weight_decay", "lr", "epochs", "early_stopping", "seeds", "device", "workers"]
# The optional choices, each defaulting to its first value:
# stop_on - what the early-stopping rule watches: the official code's ``model.loss`` on the
#   validation nodes, i.e. cross-entropy *plus* the first layer's L2 term ("regularized"), or
#   cross-entropy alone;
# adam - TensorFlow 1's epsilon placement as the official code ("tf1", :class:`TF1Adam`) or PyTorch's.
_CHOICES = {"stop_on": ("regularized", "cross_entropy"), "adam": ("tf1", "torch")}
_TRAIN_OPTIONAL = list(_CHOICES)


def _masked_loss_acc(logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor) -> tuple[float, float]:
    loss = F.cross_entropy(logits[idx], labels[idx])
    acc = (logits[idx].argmax(1) == labels[idx]).float().mean()
    return float(loss), float(acc)


def train_one(
    features: torch.Tensor,
    supports: list[torch.Tensor] | ChebyshevBasis,
    labels: torch.Tensor,
    split: dict[str, torch.Tensor],
    params: dict,
    seed: int,
    return_hidden: bool = False,
) -> dict:
    """One GCN run as the official ``train.py``: Adam (TF 1's by default, :class:`TF1Adam`), L2 on
    the first layer only, and stop once more than ``window + 1`` epochs have run and the validation
    loss exceeds the mean of the previous ``window`` ones.
    The validation loss is the official ``model.loss`` on the validation nodes, weight-decay term
    included, or the cross-entropy alone if ``params["stop_on"] == "cross_entropy"``."""
    stop_on = params["stop_on"]  # defaulted and checked by train_gcn
    seed_everything(seed)
    n_classes = int(labels.max()) + 1
    model = GCN(features.shape[1], int(params["hidden"]), n_classes, len(supports), float(params["dropout"]))
    model.to(features.device)
    adam = TF1Adam if params["adam"] == "tf1" else torch.optim.Adam  # defaulted and checked by train_gcn
    opt = adam(model.parameters(), lr=float(params["lr"]))
    window = int(params["early_stopping"])
    val_losses: list[float] = []
    epoch_times = []
    history = []
    start = time.perf_counter()
    epoch = 0
    for epoch in range(1, int(params["epochs"]) + 1):
        t0 = time.perf_counter()
        model.train()
        logits = model(features, supports)
        loss = F.cross_entropy(logits[split["train"]], labels[split["train"]])
        loss = loss + float(params["weight_decay"]) * model.first_layer_l2()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(features, supports)
            val_loss, val_acc = _masked_loss_acc(logits, labels, split["val"])
            if stop_on == "regularized":
                val_loss += float(params["weight_decay"]) * float(model.first_layer_l2())
        epoch_times.append(time.perf_counter() - t0)
        history.append({"epoch": epoch, "train_loss": loss.item(), "val_loss": val_loss, "val_acc": val_acc})
        val_losses.append(val_loss)
        # the official loop counts epochs from 0 and tests ``epoch > window``: the 12th epoch at
        # the earliest for window 10
        if epoch - 1 > window and val_losses[-1] > np.mean(val_losses[-(window + 1) : -1]):
            break
    model.eval()
    with torch.no_grad():
        logits, hidden = model(features, supports, return_hidden=True)
    test_loss, test_acc = _masked_loss_acc(logits, labels, split["test"])
    out = {
        "seed": seed,
        "test_acc": test_acc,
        "test_loss": test_loss,
        "epochs": epoch,
        "seconds": time.perf_counter() - start,
        "seconds_per_epoch": float(np.median(epoch_times)),
        "history": history,
    }
    if return_hidden:
        out["hidden"] = hidden.cpu().numpy()
    return out


def train_gcn(graph: dict, params: dict, models: list[str]) -> dict:
    """Every requested propagation model on one dataset, for every seed (seeds spread over
    single-threaded worker processes on the CPU)."""
    p = check_keys(params, "gcn.training", _TRAIN_KEYS, _TRAIN_OPTIONAL)
    for key, choices in _CHOICES.items():  # before any worker starts
        p.setdefault(key, choices[0])
        if p[key] not in choices:
            raise ValueError(f"gcn.training.{key} must be one of {choices}, got {p[key]!r}")
    unknown = set(models) - set(PROPAGATION_MODELS)
    if unknown:
        raise ValueError(f"unknown propagation model(s) {sorted(unknown)}; choose from {PROPAGATION_MODELS}")
    seeds = list(range(p["seeds"])) if isinstance(p["seeds"], int) else list(p["seeds"])
    if not seeds:
        raise ValueError("gcn.training.seeds must be a positive count or a non-empty list")
    device = pick_device(p["device"])
    workers = resolve_workers(p["workers"], len(seeds), device)
    features = row_normalize(graph["features"])
    labels = np.where(graph["labels"] < 0, 0, graph["labels"])
    split = {k: np.asarray(graph[k]) for k in ("train", "val", "test")}
    results = {
        "dataset": graph["name"],
        "device": describe_device(device),
        "workers": workers,
        "max_epochs": int(p["epochs"]),
        "models": {},
    }
    for model in models:
        propagation = propagation_for(graph["adjacency"], model)
        jobs = [(features, propagation, labels, split, p, int(s), i == 0, str(device)) for i, s in enumerate(seeds)]
        start = time.perf_counter()
        log.info("%s %s: %d seeds on %d worker(s)", graph["name"], model, len(seeds), workers)
        results["models"][model] = map_jobs(_train_gcn_seed, jobs, workers, desc=f"{graph['name']} {model}")
        log.info("%s %s: %.1f s", graph["name"], model, time.perf_counter() - start)
    return results


def _train_gcn_seed(features, propagation, labels, split, p, seed, return_hidden, device_name):
    device = torch.device(device_name)
    return train_one(
        to_torch_sparse(features, device),
        propagation_to_torch(propagation, device),
        torch.from_numpy(labels).to(device),
        {k: torch.from_numpy(v).to(device) for k, v in split.items()},
        p,
        seed,
        return_hidden,
    )


def label_propagation(graph: dict, params: dict) -> dict:
    """Label propagation (Zhu et al. 2003) on the citation graph, the Table 2 baseline that needs
    no extra data: scikit-learn's ``LabelPropagation`` with the sparse adjacency as its kernel."""
    from sklearn.semi_supervised import LabelPropagation

    p = check_keys(params, "gcn.label_propagation", ["max_iter", "tol"])
    adj = sp.csr_matrix(graph["adjacency"], dtype=np.float64)
    # isolated nodes (48 in Citeseer) get a self-loop so that no row of the kernel is empty
    isolated = np.asarray(adj.sum(1)).ravel() == 0
    adj = (adj + sp.diags(isolated.astype(np.float64))).tocsr()
    y = np.full(adj.shape[0], -1)
    y[graph["train"]] = graph["labels"][graph["train"]]
    index = np.arange(adj.shape[0]).reshape(-1, 1)

    def kernel(a, b):
        return adj[a.ravel().astype(int)][:, b.ravel().astype(int)]

    start = time.perf_counter()
    model = LabelPropagation(kernel=kernel, max_iter=int(p["max_iter"]), tol=float(p["tol"]))
    model.fit(index, y)
    pred = model.transduction_
    test = graph["test"]
    return {
        "dataset": graph["name"],
        "test_acc": float((pred[test] == graph["labels"][test]).mean()),
        "seconds": time.perf_counter() - start,
    }


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------

MODEL_LABELS = {
    "chebyshev_3": "Chebyshev K=3",
    "chebyshev_2": "Chebyshev K=2",
    "first_order": "1st-order (Eq. 6)",
    "single_parameter": "Single parameter (Eq. 7)",
    "renormalization": "Renormalization trick (Eq. 8)",
    "first_order_term_only": "1st-order term only",
    "mlp": "MLP",
}


def early_stopped(epochs, max_epochs: int) -> np.ndarray:
    """Which runs the early-stopping rule ended within the first quarter of the allowed epochs,
    before they had learned (on Citeseer 1.4 % of this project's starts and 1.2 % of the official
    code's, in 1,000 each: docs/results.md)."""
    return np.asarray(epochs) <= max_epochs / 4


def accuracy_table(*results: dict) -> pd.DataFrame:
    """One row per dataset and propagation model: mean, std, standard error and count of test
    accuracy (%), epochs, seconds per epoch and seconds to convergence, and the early stops
    (:func:`early_stopped`) with the mean of the other runs."""
    rows = []
    for res in results:
        for model, runs in res["models"].items():
            acc = np.array([r["test_acc"] for r in runs]) * 100
            sd = mean_sd(acc, single_sd=0.0)[1]
            early = early_stopped([r["epochs"] for r in runs], res["max_epochs"])
            rows.append(
                {
                    "dataset": res["dataset"],
                    "model": model,
                    "acc_mean": float(acc.mean()),
                    "acc_std": sd,
                    "acc_se": sd / np.sqrt(len(acc)),
                    "runs": len(runs),
                    "early_stops": int(early.sum()),
                    "acc_mean_without_early_stops": float(acc[~early].mean()) if (~early).any() else float("nan"),
                    "epochs_mean": float(np.mean([r["epochs"] for r in runs])),
                    "seconds_per_epoch": float(np.median([r["seconds_per_epoch"] for r in runs])),
                    "seconds_to_convergence": float(np.mean([r["seconds"] for r in runs])),
                    "device": res["device"],
                }
            )
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, paper: dict, *lp_results: dict) -> tuple[list[dict], str, dict]:
    """paper_vs_run rows for Table 2 (GCN, LP) and Table 3, their markdown, final metrics."""
    rows, metrics = [], {}
    for r in table.itertuples():
        label = MODEL_LABELS[r.model]
        ref = paper.get("table3", {}).get(r.model, {}).get(r.dataset)
        note = f"mean ± {r.acc_std:.2f} (s.e. {r.acc_se:.2f}) over {r.runs} seeds"
        if r.early_stops:
            note += f", {r.early_stops} stopped early in the first quarter of the epochs (the others: {r.acc_mean_without_early_stops:.2f})"
        note += f"; {r.epochs_mean:.0f} epochs; {r.seconds_per_epoch * 1000:.1f} ms/epoch"
        rows.append(row(f"{r.dataset} {label} test accuracy", ref, r.acc_mean, "%", note, sd=r.acc_std))
        metrics[f"{r.dataset}.{r.model}.acc_mean"] = r.acc_mean
        metrics[f"{r.dataset}.{r.model}.acc_std"] = r.acc_std
        metrics[f"{r.dataset}.{r.model}.early_stops"] = r.early_stops
        metrics[f"{r.dataset}.{r.model}.seconds_per_epoch"] = r.seconds_per_epoch
    for lp in lp_results:
        ref = paper.get("table2", {}).get("LP", {}).get(lp["dataset"])
        rows.append(row(f"{lp['dataset']} label propagation test accuracy", ref, lp["test_acc"] * 100, "%", "scikit-learn LabelPropagation on the graph"))
        metrics[f"{lp['dataset']}.label_propagation.acc"] = lp["test_acc"] * 100
    md = to_markdown(rows, "GCN (Kipf & Welling, ICLR 2017): Planetoid splits, Tables 2 and 3")
    return rows, md, final_metrics(metrics)


def training_curves(*results: dict) -> dict:
    """The first seed's per-epoch losses and validation accuracy, per dataset and model."""
    metrics = {}
    for res in results:
        for model, runs in res["models"].items():
            for key in ("train_loss", "val_loss", "val_acc"):
                metrics[f"{res['dataset']}.{model}.{key}"] = [
                    {"step": h["epoch"], "value": float(h[key])} for h in runs[0]["history"]
                ]
    return metrics


def tsne_plot(params: dict, *results_and_graphs: dict):
    """t-SNE of the first seed's hidden layer, coloured by class, one panel per dataset;
    ``results_and_graphs`` alternates each dataset's training results and graph.  If
    ``gcn.tsne.model`` was not among the trained propagation models, the first trained one is
    plotted instead (with a warning) rather than failing after the training."""
    from sklearn.manifold import TSNE

    p = check_keys(params, "gcn.tsne", ["model", "perplexity"], ["max_nodes"])
    perplexity = float(p["perplexity"])
    graph_results, graphs = results_and_graphs[0::2], results_and_graphs[1::2]
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, len(graphs), figsize=(6 * len(graphs), 5.5), squeeze=False)
    for ax, res, graph in zip(axes[0], graph_results, graphs):
        model = p["model"]
        if model not in res["models"]:
            model = next(iter(res["models"]))
            log.warning("gcn.tsne.model %r was not trained on %s; plotting %r instead", p["model"], graph["name"], model)
        hidden, labels = res["models"][model][0]["hidden"], graph["labels"]
        if p.get("max_nodes") and len(hidden) > p["max_nodes"]:
            keep = rng.choice(len(hidden), int(p["max_nodes"]), replace=False)
            hidden, labels = hidden[keep], labels[keep]
        emb = TSNE(n_components=2, perplexity=min(perplexity, len(hidden) - 1), init="pca", random_state=0).fit_transform(hidden)
        ax.scatter(emb[:, 0], emb[:, 1], c=np.where(labels < 0, -1, labels), cmap="tab10", s=4)
        ax.set_title(f"{graph['name']}: t-SNE of the GCN hidden layer ({MODEL_LABELS[model]})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
