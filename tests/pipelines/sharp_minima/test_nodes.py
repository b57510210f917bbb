import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from iclr17.common.raw_data import RawDataError, RawFileDataset, RawFileGroupDataset
from iclr17.pipelines.sharp_minima import nodes
from iclr17.pipelines.sharp_minima.model import C1, F1, build_network
from iclr17.pipelines.sharp_minima.sharpness import (
    box_bounds,
    interpolate,
    random_subspace,
    recompute_batchnorm,
    sharpness,
    subspace_coordinates,
)
from tests.conftest import ROOT, stop_after_save

CATALOG = yaml.safe_load((ROOT / "conf/base/catalog_sharp_minima.yml").read_text())
PARAMS = yaml.safe_load((ROOT / "conf/base/parameters_sharp_minima.yml").read_text())["sharp_minima"]


def _raw(entry: str, raw_dir, **overrides):
    cfg = {k: v for k, v in CATALOG[entry].items() if k not in ("type", "metadata")}
    cls = RawFileGroupDataset if "members" in cfg else RawFileDataset
    return cls(**{**cfg, "raw_dir": str(raw_dir), **overrides})


@pytest.fixture(scope="module")
def mnist(mirror, tmp_path_factory):
    raw = _raw("sharp_minima.raw_mnist", tmp_path_factory.mktemp("raw")).load()
    return nodes.assemble_mnist(raw, PARAMS["data"]["expected"])


def test_mnist_counts_and_label_histograms(mnist):
    data, stats = mnist
    assert data["x_train"].shape == (60_000, 784) and data["x_test"].shape == (10_000, 784)
    assert data["x_train"].dtype == np.uint8 and data["y_train"].dtype == np.int64
    assert stats["train_histogram"] == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert stats["test_histogram"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert stats["train_pixel_mean"] == pytest.approx(0.1306604762738429)


def test_a_wrong_histogram_is_rejected(mnist):
    data, _ = mnist
    raw = {f: None for f in nodes.MNIST_FILES.values()}
    raw.update({nodes.MNIST_FILES["x_train"]: data["x_train"][:100].reshape(-1, 28, 28),
                nodes.MNIST_FILES["y_train"]: data["y_train"][:100],
                nodes.MNIST_FILES["x_test"]: data["x_test"][:10].reshape(-1, 28, 28),
                nodes.MNIST_FILES["y_test"]: data["y_test"][:10]})
    with pytest.raises(ValueError, match="train: 100 images, expected 60000"):
        nodes.assemble_mnist(raw, PARAMS["data"]["expected"])


def test_missing_cifar10_is_a_clear_error(tmp_path, mirror):
    with pytest.raises(RawDataError) as err:
        _raw("sharp_minima.raw_cifar10", tmp_path, url="http://127.0.0.1:9/cifar-10-python.tar.gz").load()
    assert "cifar10/cifar-10-python.tar.gz" in str(err.value) and "what to do" in str(err.value)


def test_networks_shapes():
    f1 = F1()
    assert f1(torch.rand(4, 1, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in f1.parameters()) == 784 * 512 + 512 + 4 * (512 * 512 + 512) + 5120 + 10 + 5 * 2 * 512
    c1 = build_network("c1")
    c1.train()
    assert c1(torch.rand(3, 3, 32, 32)).shape == (3, 10)  # a tiny synthetic CIFAR batch
    with pytest.raises(ValueError):
        c1(torch.rand(3, 1, 28, 28))
    with pytest.raises(ValueError):
        build_network("c9")
    with pytest.raises(ValueError):
        F1(hidden=())


def test_c1_trains_one_step_on_a_synthetic_batch():
    rng = np.random.default_rng(0)
    data = {"x_train": rng.integers(0, 256, (64, 3, 32, 32), dtype=np.uint8), "y_train": rng.integers(0, 10, 64),
            "x_test": rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8), "y_test": rng.integers(0, 10, 16)}
    cfg = {"lr": 1e-3, "max_epochs": 1, "patience": 1, "min_improvement": 0.0}
    out = nodes.train_network(data, {"name": "c1"}, cfg, 32, 0, "cpu")
    assert out["epochs"] == 1 and 0 <= out["test_acc"] <= 100 and isinstance(C1(), torch.nn.Module)


def _quadratic(h: np.ndarray):
    return lambda x: (0.5 * float(np.sum(h * x * x)), h * x)


def test_sharpness_of_a_quadratic_matches_its_closed_form():
    h = np.array([1.0, 3.0, 0.5, 2.0])
    x = np.array([0.3, -0.2, 1.5, -2.0])
    eps = 1e-3
    res = sharpness(_quadratic(h), x, eps, maxiter=10)
    # f is convex and separable: the maximum over the box pushes every |x_i| out by eps(|x_i| + 1)
    f0 = 0.5 * np.sum(h * x * x)
    f_max = 0.5 * np.sum(h * (np.abs(x) + eps * (np.abs(x) + 1)) ** 2)
    assert res["f0"] == pytest.approx(f0)
    assert res["f_max"] == pytest.approx(f_max, rel=1e-9)
    assert res["sharpness"] == pytest.approx(100 * (f_max - f0) / (1 + f0), rel=1e-6)


def test_the_box_constraint_is_respected():
    h = np.array([5.0, 1.0, 2.0])
    x = np.array([1.0, -1.0, 0.5])
    for eps in (1e-3, 5e-4):
        res = sharpness(_quadratic(h), x, eps, maxiter=10)
        assert np.all(np.abs(res["y"]) <= box_bounds(x, eps) * (1 + 1e-12))
    # subspace: y lives in R^p with its own box eps(|A^+ x| + 1)
    A = random_subspace(3, 2, seed=0).astype(np.float64)
    res = sharpness(_quadratic(h), x, 1e-3, A=A, maxiter=10)
    assert res["y"].shape == (2,)
    assert np.all(np.abs(res["y"]) <= box_bounds(x, 1e-3, A) * (1 + 1e-12))
    assert res["sharpness"] > 0
    with pytest.raises(ValueError):
        box_bounds(x, 0.0)


def test_subspace_coordinates_equal_the_pseudo_inverse():
    x = np.random.default_rng(1).standard_normal(5000)
    A = random_subspace(5000, 20, seed=0)  # float32, well conditioned: the normal equations
    expected = np.linalg.pinv(A.astype(np.float64)) @ x
    assert subspace_coordinates(x, A) == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert subspace_coordinates(x, None) is x
    # rank-deficient A (a repeated column): the SVD fallback gives the minimum-norm solution
    B = np.hstack([A[:, :3], A[:, :1]]).astype(np.float64)
    assert subspace_coordinates(x, B) == pytest.approx(np.linalg.pinv(B) @ x, rel=1e-6, abs=1e-9)


def test_interpolation_endpoints_reproduce_the_two_models(mnist):
    data, _ = mnist
    small = {k: v[:2000] for k, v in data.items()}
    cfg = {"lr": 1e-3, "max_epochs": 1, "patience": 1, "min_improvement": 0.0}
    net = {"name": "f1", "hidden": [32, 32]}
    a = nodes.train_network(small, net, cfg, 100, 0, "cpu")
    b = nodes.train_network(small, net, cfg, 1000, 1, "cpu")
    model = build_network(**net)
    for alpha, run in ((1.0, a), (0.0, b)):
        model.load_state_dict(interpolate(a["state"], b["state"], alpha))
        loss, acc = nodes.evaluate(model, small["x_train"], small["y_train"])
        ref = build_network(**net)
        ref.load_state_dict(run["state"])
        assert (loss, acc) == pytest.approx(nodes.evaluate(ref, small["x_train"], small["y_train"]), rel=1e-6)


def test_resolve_batch():
    assert nodes.resolve_batch(0.1, 60_000) == 6000
    assert nodes.resolve_batch(256, 60_000) == 256
    with pytest.raises(ValueError):
        nodes.resolve_batch(1.5, 60_000)
    with pytest.raises(ValueError):
        nodes.resolve_batch(0, 60_000)


def test_training_loss_gradient_matches_finite_differences(mnist):
    data, _ = mnist
    net = {"name": "f1", "hidden": [8]}
    model = build_network(**net)
    f = nodes.TrainingLoss(net, model.state_dict(), data["x_train"][:300], data["y_train"][:300], 128)
    x0 = f.vector()
    value, grad = f(x0)
    direction = grad + 0.5 * np.linalg.norm(grad) * np.random.default_rng(0).standard_normal(len(x0)) / np.sqrt(len(x0))
    direction /= np.linalg.norm(direction)  # mostly uphill, so the difference stands out of float32 noise
    step = 1e-3
    numeric = (f(x0 + step * direction)[0] - f(x0 - step * direction)[0]) / (2 * step)
    assert numeric == pytest.approx(grad @ direction, rel=1e-2)
    assert value == pytest.approx(nodes.evaluate(model, data["x_train"][:300], data["y_train"][:300])[0], rel=1e-5)


def test_parametric_plot_recomputes_batchnorm_and_stays_finite(mnist):
    data, _ = mnist
    small = {k: v[:3000] for k, v in data.items()}
    cfg = {"lr": 1e-3, "max_epochs": 2, "patience": 2, "min_improvement": 0.0}
    net = {"name": "f1", "hidden": [32, 32]}
    runs = {"sb": [nodes.train_network(small, net, cfg, 100, 0, "cpu")],
            "lb": [nodes.train_network(small, net, cfg, 1500, 0, "cpu")]}
    alphas = {"start": -1.0, "stop": 2.0, "num": 4}
    table, _ = nodes.parametric_plot(runs, small, net, {"alphas": alphas, "seed": 0, "batchnorm": "recompute"})
    assert np.isfinite(table[["train_loss", "test_loss"]].to_numpy()).all()
    # at the endpoints the recomputed statistics are exact averages instead of the training's
    # running averages: the losses stay close to the trained models'
    assert table.train_loss[1] == pytest.approx(runs["sb"][0]["train_loss"], rel=0.3)
    assert table.train_loss[2] == pytest.approx(runs["lb"][0]["train_loss"], rel=0.3)
    linear, _ = nodes.parametric_plot(runs, small, net, {"alphas": alphas, "seed": 0, "batchnorm": "interpolate"})
    assert linear.train_loss[1] == pytest.approx(runs["sb"][0]["train_loss"], rel=1e-6)
    with pytest.raises(ValueError):
        nodes.parametric_plot(runs, small, net, {"alphas": alphas, "seed": 0, "batchnorm": "none"})


def test_parametric_plot_is_the_same_on_two_workers(mnist):
    data, _ = mnist
    small = {k: v[:1500] for k, v in data.items()}
    cfg = {"lr": 1e-3, "max_epochs": 1, "patience": 1, "min_improvement": 0.0}
    net = {"name": "f1", "hidden": [16]}
    runs = {"sb": [nodes.train_network(small, net, cfg, 100, 0, "cpu")],
            "lb": [nodes.train_network(small, net, cfg, 750, 0, "cpu")]}
    plot = {"alphas": {"start": -1.0, "stop": 2.0, "num": 5}, "seed": 0, "batchnorm": "recompute"}
    one, _ = nodes.parametric_plot(runs, small, net, {**plot, "workers": 1})
    two, _ = nodes.parametric_plot(runs, small, net, {**plot, "workers": 2})
    assert one.alpha.tolist() == pytest.approx([-1.0, -0.25, 0.5, 1.25, 2.0])
    pd.testing.assert_frame_equal(one, two, rtol=1e-6)


def test_batch_sweep_reuses_the_sb_lb_runs_of_its_seed(mnist):
    data, _ = mnist
    small = {k: v[:1200] for k, v in data.items()}
    training = {"lr": 1e-3, "small_batch": 100, "large_batch": 600, "seeds": 1, "max_epochs": 1, "patience": 1,
                "min_improvement": 0.0, "device": "cpu", "workers": 1}
    net = {"name": "f1", "hidden": [16]}
    runs = nodes.train_regimes(small, net, training)
    runs["lb"][0] = {**runs["lb"][0], "test_acc": -1.0}  # a marker: a retrained run would not carry it
    sweep = {"batch_sizes": [100, 300, 600], "seed": 0, "max_epochs": 1}
    table, _ = nodes.batch_size_sweep(small, net, training, sweep, runs)
    assert table.batch_size.tolist() == [100, 300, 600]
    assert table.source.tolist() == ["sb run", "sweep", "lb run"]
    assert table.test_acc[0] == runs["sb"][0]["test_acc"] and table.test_acc[2] == -1.0
    # the reused SB run is what the sweep would have trained: training is deterministic per seed
    again = nodes.train_network(small, net, training, 100, 0, "cpu")
    assert again["test_acc"] == runs["sb"][0]["test_acc"] and again["train_loss"] == runs["sb"][0]["train_loss"]
    # another seed or epoch bound: nothing is reused
    other, _ = nodes.batch_size_sweep(small, net, training, {**sweep, "seed": 1}, runs)
    assert set(other.source) == {"sweep"}


def test_distance_from_start_rebuilds_x0_from_the_seed(mnist):
    data, _ = mnist
    small = {k: v[:1000] for k, v in data.items()}
    net = {"name": "f1", "hidden": [16, 16]}
    start, _ = nodes.initial_network(net, 3)
    untrained = {"seed": 3, "state": start.state_dict()}
    assert nodes.distance_from_start(untrained, net) == 0.0
    cfg = {"lr": 1e-3, "max_epochs": 1, "patience": 1, "min_improvement": 0.0}
    run = nodes.train_network(small, net, cfg, 100, 3, "cpu")
    step = torch.cat([(run["state"][k] - v).flatten() for k, v in start.named_parameters()])
    assert nodes.distance_from_start(run, net) == pytest.approx(step.norm().item(), rel=1e-6)
    table = nodes.accuracy_table({"sb": [run], "lb": [{**run, "state": start.state_dict()}]}, net)
    assert table.distance_from_start.tolist()[1] == 0.0 and table.distance_from_start[0] > 0


def test_f1_without_batchnorm():
    plain = F1(hidden=(8, 8), batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in F1(hidden=(8, 8)).modules()) == 2
    assert plain(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_keras_defaults_glorot_weights_zero_biases_and_batchnorm_momentum():
    torch.manual_seed(0)
    net = build_network("f1", hidden=[300, 100], init="glorot_uniform", bn_momentum=0.01, bn_eps=1e-3)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    for m in linears:
        fan_out, fan_in = m.weight.shape
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert m.weight.abs().max() <= bound
        # a uniform on [-b, b] has standard deviation b / sqrt(3); PyTorch's default would be ~1/sqrt(3 fan_in)
        assert m.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.02)
        assert torch.count_nonzero(m.bias) == 0
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(m.momentum, m.eps) for m in norms] == [(0.01, 1e-3)] * 2
    # momentum 0.01: one training batch moves the running mean 1% of the way to the batch mean
    x = torch.randn(64, 784) + 3.0
    net.train()
    net(x)
    batch_mean = linears[0](x).mean(0)
    assert torch.allclose(norms[0].running_mean, 0.01 * batch_mean, atol=1e-5)


def test_default_network_keeps_the_pytorch_initialisation():
    torch.manual_seed(1)
    a = build_network("f1", hidden=[16])
    torch.manual_seed(1)
    b = F1(hidden=(16,))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert [(m.momentum, m.eps) for m in a.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [(0.1, 1e-5)]
    c1 = build_network("c1", init="glorot_uniform", bn_momentum=0.01)
    assert all(m.momentum == 0.01 for m in c1.modules() if isinstance(m, torch.nn.BatchNorm2d))
    for bad in ({"init": "he"}, {"bn_momentum": 0.0}, {"bn_momentum": 1.5}, {"bn_eps": 0.0}):
        with pytest.raises(ValueError):
            build_network("f1", hidden=[16], **bad)


def test_batch_statistics_normalise_every_batch_by_its_own_statistics_in_eval_mode():
    torch.manual_seed(0)
    net = build_network("f1", hidden=[32, 32], bn_stats="batch").eval()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 2 and all(m.running_mean is None and not m.track_running_stats for m in norms)
    assert not any("running" in k for k in net.state_dict())
    x = torch.rand(50, 784)
    # eval mode uses the batch's statistics: the first BN layer's output has zero mean over the batch
    z = norms[0](net.net[0](x))
    assert torch.allclose(z.mean(0), torch.zeros(32), atol=1e-5)
    # so a sample's output depends on the batch it comes with, unlike with running statistics
    assert not torch.allclose(net(x)[:10], net(x[:10]), atol=1e-4)
    running = build_network("f1", hidden=[32, 32]).eval()
    assert torch.allclose(running(x)[:10], running(x[:10]), atol=1e-5)
    # re-estimating batch-norm statistics (the parametric plot's step) leaves such a network alone
    assert recompute_batchnorm(net, [x]) is net and not net.training
    with pytest.raises(ValueError, match="bn_stats"):
        build_network("f1", hidden=[16], bn_stats="moving")


def test_train_network_with_batch_statistics(mnist):
    data, _ = mnist
    small = {k: v[:400] for k, v in data.items()}
    cfg = {"lr": 1e-3, "max_epochs": 2, "patience": 2, "min_improvement": 0.0}
    run = nodes.train_network(small, {"name": "f1", "hidden": [32, 32], "bn_stats": "batch"}, cfg, 100, 0, "cpu")
    assert run["epochs"] == 2 and 0 <= run["test_acc"] <= 100 and np.isfinite(run["train_loss"])
    assert not any("running" in k for k in run["state"])


def test_restore_best_keeps_the_epoch_with_the_lowest_training_loss(mnist):
    data, _ = mnist
    small = {k: v[:600] for k, v in data.items()}
    # ADAM at a far too high learning rate makes the loss jump about, so some of these runs end on
    # an epoch that is not their best (chaotic dynamics: which one can depend on the platform)
    candidates = [({"name": "f1", "hidden": [64, 64]}, 3.0, 6), ({"name": "f1", "hidden": [64, 64]}, 1.0, 5),
                  ({"name": "f1", "hidden": [64, 64], "batchnorm": False}, 3.0, 4)]
    for net, lr, epochs in candidates:
        cfg = {"lr": lr, "max_epochs": epochs, "patience": epochs, "min_improvement": 0.0}
        last = nodes.train_network(small, net, cfg, 100, 0, "cpu")
        losses = [h["train_loss"] for h in last["history"]]
        assert last["best_epoch"] == 1 + int(np.argmin(losses)) and not last["restored_best"]
        if last["best_epoch"] != last["epochs"]:
            break
    else:
        pytest.fail("no candidate run ended on an epoch worse than its best")
    best = nodes.train_network(small, net, {**cfg, "max_epochs": last["best_epoch"]}, 100, 0, "cpu")
    restored = nodes.train_network(small, net, {**cfg, "restore_best": True}, 100, 0, "cpu")
    assert restored["restored_best"] and restored["epochs"] == last["epochs"]
    for k, v in best["state"].items():  # the same weights as a run stopped at the best epoch
        assert torch.equal(restored["state"][k], v), k
    assert restored["test_acc"] == best["test_acc"] and restored["train_loss"] == best["train_loss"]
    assert restored["test_acc"] != last["test_acc"] or restored["train_loss"] != last["train_loss"]


def test_a_start_stopped_after_an_epoch_resumes_to_the_uninterrupted_result(mnist, tmp_path):
    from iclr17.common.checkpoint import CheckpointMismatch, Checkpoints

    data, _ = mnist
    small = {k: v[:600] for k, v in data.items()}
    net, cfg = {"name": "f1", "hidden": [32, 32]}, {"lr": 1e-3, "max_epochs": 4, "patience": 4, "min_improvement": 0.0,
                                                     "restore_best": True}
    straight = nodes.train_network(small, net, cfg, 100, 0, "cpu")
    checkpoint = Checkpoints(str(tmp_path)).run("sb_seed0", nodes.training_identity(net, cfg, 100, 0))
    with stop_after_save(2):
        nodes.train_network(small, net, cfg, 100, 0, "cpu", checkpoint)
    resumed = nodes.train_network(small, net, cfg, 100, 0, "cpu", checkpoint)
    assert resumed["resumed_after_epoch"] == 2 and resumed["epochs"] == straight["epochs"] == 4
    timeless = [[{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]] for r in (resumed, straight)]
    assert timeless[0] == timeless[1]
    assert all(torch.equal(resumed["state"][k], v) for k, v in straight["state"].items())
    # a finished start is not trained again; other parameters are refused, naming the key
    assert nodes.train_network(small, net, cfg, 100, 0, "cpu", checkpoint)["history"] == resumed["history"]
    with pytest.raises(CheckpointMismatch, match="training.lr"):
        nodes.train_network(small, net, {**cfg, "lr": 1e-2}, 100, 0, "cpu",
                            checkpoint.with_identity(nodes.training_identity(net, {**cfg, "lr": 1e-2}, 100, 0)))
