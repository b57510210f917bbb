"""Time one training epoch (forward, backward, Adam step, and the validation forward the
official code also runs each epoch) of this project's GCN and of PyTorch Geometric's ``GCNConv``
model on the same Cora tensors, in one process, on the same machine.

    pip install -e ".[bench]"
    ICLR17_DATA_MIRROR=../shared/data python scripts/benchmark_gcn_vs_pyg.py [--threads 1] [--epochs 300]

Prints the median ms/epoch of each and the ratio ours / PyG.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from _project import catalog

from iclr17.pipelines.gcn import nodes
from iclr17.pipelines.gcn.model import GCN


def load_cora():
    """Cora as the pipeline assembles it, its raw files through the project's catalog."""
    return nodes.assemble_planetoid(catalog().load("gcn.raw_cora"))


def time_epochs(step, epochs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--epochs", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from torch_geometric.nn import GCNConv

    graph = load_cora()
    feats = nodes.row_normalize(graph["features"])
    labels = torch.from_numpy(graph["labels"])
    train, val = torch.from_numpy(graph["train"]), torch.from_numpy(graph["val"])
    cpu = torch.device("cpu")

    # ours: sparse CSR features and renormalised adjacency
    x_ours = nodes.to_torch_sparse(feats, cpu)
    supports = [nodes.to_torch_sparse(s, cpu) for s in nodes.supports_for(graph["adjacency"], "renormalization")]
    ours = GCN(x_ours.shape[1], 16, 7, 1, 0.5)
    opt_ours = torch.optim.Adam(ours.parameters(), lr=0.01)

    def step_ours():
        ours.train()
        loss = F.cross_entropy(ours(x_ours, supports)[train], labels[train]) + 5e-4 * ours.first_layer_l2()
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()
        ours.eval()
        with torch.no_grad():
            F.cross_entropy(ours(x_ours, supports)[val], labels[val])

    # PyG: the examples/gcn.py model (dense features, edge_index, cached normalisation)
    adj = graph["adjacency"].tocoo()
    edge_index = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    x_pyg = torch.from_numpy(feats.toarray())

    class PygGCN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(x_pyg.shape[1], 16, cached=True)
            self.conv2 = GCNConv(16, 7, cached=True)

        def forward(self, x, ei):
            x = F.dropout(x, 0.5, self.training)
            x = F.relu(self.conv1(x, ei))
            x = F.dropout(x, 0.5, self.training)
            return self.conv2(x, ei)

    pyg = PygGCN()
    opt_pyg = torch.optim.Adam(
        [{"params": pyg.conv1.parameters(), "weight_decay": 5e-4}, {"params": pyg.conv2.parameters(), "weight_decay": 0}],
        lr=0.01,
    )

    def step_pyg():
        pyg.train()
        loss = F.cross_entropy(pyg(x_pyg, edge_index)[train], labels[train])
        opt_pyg.zero_grad()
        loss.backward()
        opt_pyg.step()
        pyg.eval()
        with torch.no_grad():
            F.cross_entropy(pyg(x_pyg, edge_index)[val], labels[val])

    # interleave the two measurements so machine noise hits both alike
    ours_ms, pyg_ms = [], []
    for _ in range(3):
        ours_ms.append(time_epochs(step_ours, args.epochs // 3))
        pyg_ms.append(time_epochs(step_pyg, args.epochs // 3))
    a, b = statistics.median(ours_ms), statistics.median(pyg_ms)
    import torch_geometric

    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"torch_geometric {torch_geometric.__version__}, threads {args.threads}")
    print(f"ours  (CSR sparse, {x_ours.values().numel()} nnz features): {a:.2f} ms/epoch")
    print(f"PyG   (GCNConv, dense features):                 {b:.2f} ms/epoch")
    print(f"ratio ours / PyG: {a / b:.2f}x")


if __name__ == "__main__":
    main()
