import math

import numpy as np
import pytest
import torch
from PIL import Image

from iclr17.common.raw_data import RawDataError
from iclr17.pipelines.meta_lstm import nodes
from iclr17.pipelines.meta_lstm.data import (
    episode_tensors,
    miniimagenet_split,
    sample_episodes,
)
from iclr17.pipelines.meta_lstm.model import (
    BatchNormState,
    Learner,
    MetaLearner,
    preprocess,
)

# a learner and meta-learner small enough for a test
TINY_MODEL = {"filters": 4, "bn_eps": 1e-3, "hidden": 4, "preprocess_p": 10.0, "forget_bias": [4, 5],
              "input_bias": [-5, -4]}


def test_episodes_have_distinct_classes_and_images_and_are_fixed_by_their_seed():
    classes, items = sample_episodes(30, 20, 50, 5, 5, 15, seed=3)
    assert classes.shape == (50, 5) and items.shape == (50, 5, 20)
    assert all(len(set(c)) == 5 for c in classes) and all(len(set(i)) == 20 for ep in items for i in ep)
    again = sample_episodes(30, 20, 50, 5, 5, 15, seed=3)
    assert np.array_equal(classes, again[0]) and np.array_equal(items, again[1])
    assert not np.array_equal(classes, sample_episodes(30, 20, 50, 5, 5, 15, seed=4)[0])
    with pytest.raises(ValueError, match="needs 5 classes of 21 images"):
        sample_episodes(30, 20, 1, 5, 6, 15, seed=0)


def test_an_episode_is_support_then_query_with_labels_in_class_order():
    images = np.arange(4 * 3 * 2 * 2, dtype=np.uint8).reshape(4, 3, 2, 2)  # 4 classes of 3 images
    xs, ys, xq, yq = episode_tensors(images, np.array([2, 0]), np.array([[1, 0, 2], [2, 1, 0]]), shots=1)
    assert xs.shape == (2, 1, 2, 2) and xq.shape == (4, 1, 2, 2)
    assert ys.tolist() == [0, 1] and yq.tolist() == [0, 0, 1, 1]
    assert np.allclose(xs[0, 0] * 255, images[2, 1]) and np.allclose(xq[3, 0] * 255, images[0, 0])


def test_the_vinyals_splits_share_no_character(mirror):
    split = {s: {line.rsplit("/", 1)[0] for line in (mirror / "omniglot" / "splits_vinyals" / f"{s}.txt").read_text().split()}
             for s in ("train", "val", "test")}
    assert [len(v) for v in split.values()] == [1028, 172, 423]
    assert not (split["train"] & split["val"] or split["train"] & split["test"] or split["val"] & split["test"])


def test_preprocessing_on_known_values():
    x = torch.tensor([1.0, -math.exp(-11), 0.0, math.exp(-5), -2.0])
    out = preprocess(x, p=10.0)
    assert out.shape == (5, 2)
    assert torch.allclose(out[0], torch.tensor([0.0, 1.0]))
    assert torch.allclose(out[1], torch.tensor([-1.0, -math.exp(-1)]))  # small: (-1, e^p x)
    assert torch.allclose(out[2], torch.tensor([-1.0, 0.0]))
    assert torch.allclose(out[3], torch.tensor([-0.5, 1.0]))
    assert torch.allclose(out[4], torch.tensor([math.log(2.0) / 10, -1.0]))


def _toy(seed=0):
    torch.manual_seed(seed)
    learner = Learner(1, 16, 3, filters=4)
    meta = MetaLearner(learner.n_params)
    with torch.no_grad():
        meta.cell.c_0.copy_(learner.init_params(torch.Generator().manual_seed(seed)))
    x, y = torch.rand(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    return learner, meta, x, y


def test_the_cell_state_is_the_learners_weights():
    learner, meta, x, y = _toy()
    theta = meta.cell.c_0.detach().clone()
    views = learner.unflatten(theta)
    assert all(v.data_ptr() >= theta.data_ptr() for v in views.values())  # views into theta, not copies
    theta[0] += 1.0
    assert views["conv0.weight"].reshape(-1)[0] == theta[0]
    # the learner at theta is the network whose weights are theta's entries
    layers = []
    for b in range(4):
        layers += [torch.nn.Conv2d(1 if b == 0 else 4, 4, 3, padding=1), torch.nn.BatchNorm2d(4, eps=1e-3),
                   torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    net = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(4, 3))
    names = {f"{4 * b}.{w}": f"conv{b}.{w}" for b in range(4) for w in ("weight", "bias")}
    names |= {f"{4 * b + 1}.{w}": f"bn{b}.{w}" for b in range(4) for w in ("weight", "bias")}
    names |= {"17.weight": "fc.weight", "17.bias": "fc.bias"}
    missing = net.load_state_dict({k: views[v] for k, v in names.items()}, strict=False).missing_keys
    assert all("running" in k or "num_batches" in k for k in missing)
    assert torch.allclose(net.train()(x), learner.forward(theta, x), atol=1e-6)
    # an episode starts from the meta-learner's c_0 and ends with its cell state: no other copy
    state = meta.start()
    assert state["c"] is meta.cell.c_0
    out, _ = nodes.learn_episode(meta, learner, x, y, {"epochs": 1, "batch_size": 6})
    assert out.shape == (learner.n_params,) and out.grad_fn is not None  # in the meta-learner's graph


def test_one_meta_learner_update_lowers_a_toy_learners_loss():
    learner, meta, x, y = _toy()
    bn = BatchNormState.fresh(learner.filters, learner.blocks, "cpu")
    state = meta.start()
    theta = state["c"].detach().requires_grad_()
    before = torch.nn.functional.cross_entropy(learner.forward(theta, x, bn), y)
    (grad,) = torch.autograd.grad(before, theta)
    with torch.no_grad():
        after_state = meta.step(state, before.detach(), grad)
        after = torch.nn.functional.cross_entropy(learner.forward(after_state["c"], x, bn), y)
    assert after < before
    # a high forget gate and a low input gate at the start: a small step of gradient descent
    assert torch.sigmoid(meta.cell.b_F) > 0.98 and torch.sigmoid(meta.cell.b_I) < 0.02


def test_missing_miniimagenet_images_say_what_to_put_where(tmp_path):
    csv = "filename,label\nn0153282900000005.jpg,n01532829\n"
    with pytest.raises(RawDataError, match=r"missing from .*images.*n0153282900000005\.jpg.*dataset: omniglot"):
        miniimagenet_split(csv, tmp_path / "images", 84)


def test_the_miniimagenet_path_end_to_end_on_generated_jpegs(tmp_path):
    """A handful of JPEGs named as in the Ravi CSVs, through data prep, episodes, a few
    meta-training episodes and the test evaluation."""
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    csvs = {}
    for split, labels in (("train", ["n01532829", "n01558993", "n01704323"]), ("val", ["n01855672", "n02091244", "n02114548"]),
                          ("test", ["n01930112", "n01981276", "n02099601"])):
        rows = []
        for label in labels:
            for j in range(8):
                name = f"{label}{j + 1:08d}.jpg"
                Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(images / name)
                rows.append(f"{name},{label}")
        csvs[f"{split}.csv"] = "filename,label\n" + "\n".join(rows) + "\n"
    data, stats = nodes.prepare_miniimagenet(csvs, str(images), {"image_size": 84})
    assert data["train"].shape == (3, 8, 84, 84, 3) and stats["test"]["classes"] == 3
    assert data["name"].startswith("mini-ImageNet 84x84")
    episodes = {"ways": 3, "queries": 3, "val_episodes": 2, "test_episodes": 3, "seed": 0}
    fixed = nodes.fixed_episodes((1,), data, episodes)
    model = TINY_MODEL
    training = {"lr": 1e-3, "clip_norm": 0.25, "validate_every": 2,
                "1shot": {"episodes": 2, "inner_epochs": 1, "inner_batch": 3, "bn_momentum": 0.9}}
    run = nodes.train_meta_learner(1, data, fixed, episodes, model, training, 0, "cpu")
    assert run["episodes"] == 2 and 0.0 <= run["learner_share"] <= 1.0 and len(run["history"]) == 1
    learner = nodes._learner(data, 3, model, 0.9)
    meta = nodes._meta_learner(learner, model, 0)
    meta.load_state_dict(run["state"])
    accs = nodes.evaluate_meta_learner(meta, learner, data["test"], fixed["test_1shot"], {"epochs": 1, "batch_size": 3}, "cpu")
    assert set(accs) == {"official", "query_batch"}
    assert all(a.shape == (3,) and ((a >= 0) & (a <= 100)).all() for a in accs.values())


def test_interval_is_196_standard_errors():
    r = nodes.interval(np.array([90.0, 100.0, 95.0, 85.0]))
    assert r["mean"] == 92.5 and math.isclose(r["ci95"], 1.96 * np.std([90, 100, 95, 85], ddof=1) / 2)


def test_meta_training_stopped_after_a_block_resumes_to_the_uninterrupted_result(tmp_path):
    from iclr17.common.checkpoint import Checkpoints
    from tests.conftest import stop_after_save

    rng = np.random.default_rng(0)
    data = {s: rng.integers(0, 255, (6, 8, 16, 16), dtype=np.uint8) for s in ("train", "val", "test")}
    episodes = {"ways": 3, "queries": 2, "val_episodes": 2, "test_episodes": 2, "seed": 0}
    fixed = nodes.fixed_episodes((1,), data, episodes)
    model = TINY_MODEL
    training = {"lr": 1e-2, "clip_norm": 0.25, "validate_every": 2,
                "1shot": {"episodes": 6, "inner_epochs": 2, "inner_batch": 3, "bn_momentum": 0.9}}
    straight = nodes.train_meta_learner(1, data, fixed, episodes, model, training, 0, "cpu")
    with stop_after_save(1):
        nodes.train_meta_learner(1, data, fixed, episodes, model, training, 0, "cpu", Checkpoints(str(tmp_path)))
    resumed = nodes.train_meta_learner(1, data, fixed, episodes, model, training, 0, "cpu", Checkpoints(str(tmp_path)))
    timeless = [[{k: h[k] for k in ("episode", "train_loss", "val_acc")} for h in r["history"]] for r in (resumed, straight)]
    assert timeless[0] == timeless[1] and len(timeless[0]) == 3
    assert all(torch.equal(resumed["state"][k], v) for k, v in straight["state"].items())

    # a longer budget goes on from the finished run's last block, as one longer run would
    longer = {**training, "1shot": {**training["1shot"], "episodes": 8}}
    extended = nodes.train_meta_learner(1, data, fixed, episodes, model, longer, 0, "cpu", Checkpoints(str(tmp_path)))
    reference = nodes.train_meta_learner(1, data, fixed, episodes, model, longer, 0, "cpu")
    assert [h["val_acc"] for h in extended["history"]] == [h["val_acc"] for h in reference["history"]]
    assert [h["train_loss"] for h in extended["history"]] == [h["train_loss"] for h in reference["history"]]
