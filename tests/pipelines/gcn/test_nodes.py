from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml

from iclr17.common.config import ParameterError
from iclr17.common.raw_data import RawDataError, RawFileGroupDataset
from iclr17.pipelines.gcn import nodes
from iclr17.pipelines.gcn.model import GCN, TF1Adam, sparse_dropout

ROOT = Path(__file__).resolve().parents[3]


def _raw(name, tmp_path, url_base=None):
    cfg = yaml.safe_load((ROOT / "conf" / "base" / "catalog_gcn.yml").read_text())[f"gcn.raw_{name}"]
    cfg = {k: v for k, v in cfg.items() if k not in {"type", "metadata"}}
    cfg["raw_dir"] = str(tmp_path / "01_raw")
    if url_base:
        cfg["url_base"] = url_base
    return RawFileGroupDataset(**cfg)


@pytest.fixture(scope="module")
def cora(tmp_path_factory, mirror):
    return nodes.assemble_planetoid(_raw("cora", tmp_path_factory.mktemp("cora")).load())


@pytest.fixture(scope="module")
def citeseer(tmp_path_factory, mirror):
    return nodes.assemble_planetoid(_raw("citeseer", tmp_path_factory.mktemp("citeseer")).load())


def test_cora_loader_counts(cora):
    stats = nodes.graph_stats(cora)
    assert (stats["nodes"], stats["features"], stats["classes"]) == (2708, 1433, 7)
    assert (stats["train"], stats["val"], stats["test"]) == (140, 500, 1000)
    assert stats["train_per_class"] == [20] * 7
    assert stats["undirected_edges"] == 5278  # unique, no self-loops (SOURCE.md)
    assert cora["features"].nnz == 49216
    assert np.bincount(cora["labels"][cora["test"]]).tolist() == [130, 91, 144, 319, 149, 103, 64]


def test_citeseer_loader_pads_the_15_featureless_test_ids(citeseer):
    stats = nodes.graph_stats(citeseer)
    assert (stats["nodes"], stats["features"], stats["classes"]) == (3327, 3703, 6)
    assert (stats["train"], stats["val"], stats["test"]) == (120, 500, 1000)
    assert citeseer["features"].nnz == 105165
    padded = [2407, 2489, 2553, 2682, 2781, 2953, 3042, 3063, 3212, 3214, 3250, 3292, 3305, 3306, 3309]
    assert (citeseer["labels"][padded] == -1).all()
    assert citeseer["features"][padded].nnz == 0
    assert (citeseer["labels"] == -1).sum() == 15


def test_missing_pubmed_allx_is_a_clear_error(tmp_path, mirror):
    with pytest.raises(RawDataError) as err:
        _raw("pubmed", tmp_path, url_base="http://127.0.0.1:9/").load()
    msg = str(err.value)
    assert "planetoid/ind.pubmed.allx" in msg and "what to do" in msg


def test_normalisation_on_a_hand_computed_three_node_path():
    # path 0 - 1 - 2
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    renorm = nodes.supports_for(adj, "renormalization")[0].toarray()
    # A + I has degrees 2, 3, 2
    expected = np.array(
        [[1 / 2, 1 / np.sqrt(6), 0], [1 / np.sqrt(6), 1 / 3, 1 / np.sqrt(6)], [0, 1 / np.sqrt(6), 1 / 2]]
    )
    assert np.allclose(renorm, expected)
    sym = nodes.sym_normalize(adj).toarray()
    assert np.allclose(sym, [[0, 1 / np.sqrt(2), 0], [1 / np.sqrt(2), 0, 1 / np.sqrt(2)], [0, 1 / np.sqrt(2), 0]])
    feats = nodes.row_normalize(sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]]))).toarray()
    assert np.allclose(feats, [[0.25, 0.75], [0, 0], [0.5, 0.5]])


def test_chebyshev_supports_follow_the_recurrence():
    adj = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=float))
    t = [m.toarray() for m in nodes.supports_for(adj, "chebyshev_3")]
    assert len(t) == 4
    assert np.allclose(t[0], np.eye(3))
    assert np.allclose(t[2], 2 * t[1] @ t[1] - t[0])
    assert np.allclose(t[3], 2 * t[1] @ t[2] - t[1])
    assert np.abs(np.linalg.eigvalsh(t[1])).max() == pytest.approx(1.0)  # spectrum rescaled to [-1, 1]


@pytest.mark.parametrize("model", nodes.PROPAGATION_MODELS)
def test_each_propagation_model_forward_shape(model):
    rng = np.random.default_rng(0)
    adj = sp.random(12, 12, density=0.3, random_state=0)
    adj = ((adj + adj.T) > 0).astype(float)
    supports = [nodes.to_torch_sparse(s, torch.device("cpu")) for s in nodes.supports_for(adj, model)]
    x = nodes.to_torch_sparse(sp.csr_matrix(rng.random((12, 5)) > 0.5), torch.device("cpu"))
    net = GCN(5, 4, 3, len(supports), 0.5)
    logits, hidden = net(x, supports, return_hidden=True)
    assert logits.shape == (12, 3) and hidden.shape == (12, 4)
    expected = {"chebyshev_3": 4, "chebyshev_2": 3, "first_order": 2}.get(model, 1)
    assert len(supports) == expected


def test_unknown_model_and_params_are_rejected(cora):
    with pytest.raises(ValueError, match="unknown propagation model"):
        nodes.supports_for(cora["adjacency"], "chebyshev_9")
    good = dict(hidden=4, dropout=0.5, weight_decay=5e-4, lr=0.01, epochs=2, early_stopping=10, seeds=1, device="cpu", workers=1)
    with pytest.raises(ParameterError):
        nodes.train_gcn(cora, {**good, "momentum": 0.9}, ["renormalization"])
    with pytest.raises(ValueError, match="unknown propagation"):
        nodes.train_gcn(cora, good, ["gat"])


def test_sparse_dropout_keeps_expectation():
    torch.manual_seed(0)
    x = nodes.to_torch_sparse(sp.csr_matrix(np.ones((200, 50))), torch.device("cpu"))
    dropped = sparse_dropout(x, 0.5, training=True).to_dense()
    assert ((dropped == 0).float().mean() - 0.5).abs() < 0.02
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.03)
    assert sparse_dropout(x, 0.5, training=False) is x


def test_training_learns_cora_and_stops_early(cora):
    p = dict(hidden=16, dropout=0.5, weight_decay=5e-4, lr=0.01, epochs=200, early_stopping=10, seeds=[0], device="cpu", workers=1)
    res = nodes.train_gcn(cora, p, ["renormalization"])
    [run] = res["models"]["renormalization"]
    assert run["test_acc"] > 0.75  # the paper's mean is 81.5%
    assert 10 < run["epochs"] <= 200
    assert len(run["history"]) == run["epochs"]


def test_label_propagation_beats_chance(cora):
    lp = nodes.label_propagation(cora, {"max_iter": 1000, "tol": 1e-3})
    assert lp["test_acc"] > 0.6  # the paper's LP row is 68.0; the majority class is 31.9%


@pytest.mark.parametrize("model", ["chebyshev_2", "chebyshev_3", "renormalization"])
def test_recurrence_propagation_equals_the_materialised_supports(model):
    adj = sp.random(30, 30, density=0.15, random_state=1)
    adj = ((adj + adj.T) > 0).astype(float)
    cpu = torch.device("cpu")
    materialised = [nodes.to_torch_sparse(s, cpu) for s in nodes.supports_for(adj, model)]
    propagation = nodes.propagation_to_torch(nodes.propagation_for(adj, model), cpu)
    assert len(propagation) == len(materialised)
    torch.manual_seed(0)
    net = GCN(6, 5, 3, len(materialised), 0.0)
    net.eval()
    x = torch.rand(30, 6)
    assert torch.allclose(net(x, materialised), net(x, propagation), atol=1e-5)


def test_early_stopping_watches_the_regularised_validation_loss(citeseer):
    """The official rule compares ``model.loss`` on the validation nodes, L2 term included; the
    recorded val_loss is that quantity, and ``stop_on: cross_entropy`` drops the term."""
    base = dict(hidden=16, dropout=0.5, weight_decay=5e-4, lr=0.01, epochs=30, early_stopping=10, seeds=[0], device="cpu", workers=1)
    reg = nodes.train_gcn(citeseer, {**base, "stop_on": "regularized"}, ["mlp"])["models"]["mlp"][0]
    ce = nodes.train_gcn(citeseer, {**base, "stop_on": "cross_entropy"}, ["mlp"])["models"]["mlp"][0]
    default = nodes.train_gcn(citeseer, base, ["mlp"])["models"]["mlp"][0]
    assert [h["val_loss"] for h in default["history"]] == [h["val_loss"] for h in reg["history"]]
    n = min(reg["epochs"], ce["epochs"])
    gaps = [r["val_loss"] - c["val_loss"] for r, c in zip(reg["history"][:n], ce["history"][:n])]
    # the same trajectory (same seed), shifted by 5e-4 * ||W0||^2 / 2 > 0
    assert all(g > 0 for g in gaps)
    assert [r["val_acc"] for r in reg["history"][:n]] == [c["val_acc"] for c in ce["history"][:n]]
    with pytest.raises(ValueError, match="stop_on"):
        nodes.train_gcn(citeseer, {**base, "stop_on": "accuracy"}, ["mlp"])


def _tf1_adam_reference(x0, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """TensorFlow 1's AdamOptimizer update, written out (its documented algorithm)."""
    x, m, v = np.array(x0, dtype=np.float64), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return x


@pytest.mark.parametrize("scale", [1.0, 1e-7])
def test_tf1_adam_matches_tensorflow_1_update(scale):
    """Known values: TF1Adam follows TF 1's update to float64 precision, for ordinary gradients and
    for tiny ones (1e-7, the size of Citeseer's rare-feature gradients), where PyTorch's Adam does
    not: there its steps are several times larger."""
    grads = [np.array([1.0, -2.0, 0.5]) * scale * (1 + 0.1 * k) for k in range(5)]
    x0 = np.array([0.3, -0.1, 0.2])
    expected = _tf1_adam_reference(x0, grads, lr=0.01)
    runs = {}
    for name, cls in (("tf1", TF1Adam), ("torch", torch.optim.Adam)):
        w = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        opt = cls([w], lr=0.01)
        for g in grads:
            w.grad = torch.tensor(g)
            opt.step()
        runs[name] = w.detach().numpy()
    np.testing.assert_allclose(runs["tf1"], expected, rtol=0, atol=1e-12)
    moved_tf1, moved_torch = np.abs(runs["tf1"] - x0), np.abs(runs["torch"] - x0)
    if scale == 1.0:
        np.testing.assert_allclose(runs["torch"], expected, rtol=0, atol=1e-7)  # eps is negligible here
    else:
        assert (moved_torch > 1.5 * moved_tf1).all()


def test_adam_choice_is_checked_and_defaults_to_tf1(citeseer):
    base = dict(hidden=16, dropout=0.5, weight_decay=5e-4, lr=0.01, epochs=15, early_stopping=10, seeds=[0], device="cpu", workers=1)
    default = nodes.train_gcn(citeseer, base, ["mlp"])["models"]["mlp"][0]
    tf1 = nodes.train_gcn(citeseer, {**base, "adam": "tf1"}, ["mlp"])["models"]["mlp"][0]
    pt = nodes.train_gcn(citeseer, {**base, "adam": "torch"}, ["mlp"])["models"]["mlp"][0]
    assert [h["val_loss"] for h in default["history"]] == [h["val_loss"] for h in tf1["history"]]
    assert [h["val_loss"] for h in pt["history"]] != [h["val_loss"] for h in tf1["history"]]
    with pytest.raises(ValueError, match="adam"):
        nodes.train_gcn(citeseer, {**base, "adam": "sgd"}, ["mlp"])


def test_earliest_stop_is_the_official_one():
    """Validation nodes duplicate the training nodes with the other label, so every step raises the
    validation loss; the official loop (0-based ``epoch > window``) first stops at epoch window + 2."""
    n = 10
    features = sp.csr_matrix(np.vstack([np.eye(n), np.eye(n)]).astype(np.float32))
    labels = np.r_[np.arange(n) % 2, 1 - np.arange(n) % 2]
    graph = {"name": "toy", "features": features, "labels": labels, "adjacency": sp.csr_matrix((2 * n, 2 * n), dtype=np.float32),
             "train": np.arange(n), "val": np.arange(n, 2 * n), "test": np.arange(n, 2 * n)}
    p = dict(hidden=4, dropout=0.0, weight_decay=0.0, lr=0.05, epochs=50, early_stopping=3, seeds=[0], device="cpu", workers=1)
    [run] = nodes.train_gcn(graph, p, ["mlp"])["models"]["mlp"]
    val = [h["val_loss"] for h in run["history"]]
    assert all(b > a for a, b in zip(val, val[1:]))  # the set-up does what it says
    assert run["epochs"] == 3 + 2


def test_tsne_falls_back_to_a_trained_model(cora, caplog):
    """Training only the MLP (``gcn.propagation_models=[mlp]``) must not fail at the t-SNE node,
    whose default model is the renormalization trick: it plots the MLP's hidden layer and warns."""
    base = dict(hidden=16, dropout=0.5, weight_decay=5e-4, lr=0.01, epochs=3, early_stopping=10, seeds=[0], device="cpu", workers=1)
    results = nodes.train_gcn(cora, base, ["mlp"])
    with caplog.at_level("WARNING"):
        fig = nodes.tsne_plot({"model": "renormalization", "perplexity": 30, "max_nodes": 300}, results, cora)
    assert "MLP" in fig.axes[0].get_title()
    assert "plotting 'mlp' instead" in caplog.text


def test_accuracy_table_counts_early_stops_and_reports_them():
    """Runs the rule ended within the first quarter of the allowed epochs are counted, and the
    paper_vs_run note gives the standard error and the mean of the other runs."""
    def run(acc, epochs):
        return {"test_acc": acc, "epochs": epochs, "seconds_per_epoch": 0.01, "seconds": 0.01 * epochs}

    res = {"dataset": "citeseer", "device": "cpu", "max_epochs": 200,
           "models": {"renormalization": [run(0.70, 200), run(0.72, 187), run(0.20, 50), run(0.74, 51)]}}
    [r] = nodes.accuracy_table(res).to_dict("records")
    acc = np.array([70.0, 72.0, 20.0, 74.0])
    assert r["acc_mean"] == pytest.approx(acc.mean(), abs=1e-4)
    assert r["acc_se"] == pytest.approx(acc.std(ddof=1) / 2, abs=1e-4)
    assert r["early_stops"] == 1  # epoch 50 is within the first quarter of 200, epoch 51 is not
    assert r["acc_mean_without_early_stops"] == pytest.approx(72.0, abs=1e-4)

    paper = {"table3": {"renormalization": {"citeseer": 70.3}}}
    rows, _, metrics = nodes.summarise(nodes.accuracy_table(res), paper)
    assert "1 stopped early in the first quarter of the epochs (the others: 72.00)" in rows[0]["note"]
    assert metrics["citeseer.renormalization.early_stops"]["value"] == 1.0
    res["models"]["renormalization"] = [run(0.70, 200), run(0.72, 60)]
    rows, _, _ = nodes.summarise(nodes.accuracy_table(res), paper)
    assert "stopped early" not in rows[0]["note"]
