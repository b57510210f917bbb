import numpy as np
import torch

from iclr17.common.checkpoint import Checkpoints
from iclr17.pipelines.vlae import nodes

TINY = {"channels": 4, "enc_blocks": 1, "dec_layers": 1, "flow_hidden": 16}
TRAINING = {"train_on_val": False, "init_batch": 8, "polyak": 0.9, "lr": 2e-3, "free_bits": 0.01, "epochs": 3,
            "batch_size": 8, "val_images": 8}


def _data(binarization="static"):
    rng = np.random.default_rng(0)
    if binarization == "static":
        return {**{s: rng.integers(0, 2, (16, 28, 28), dtype=np.uint8) for s in ("train", "val", "test")},
                "binarization": "static"}
    return {**{s: rng.integers(0, 256, (16, 28, 28), dtype=np.uint8) for s in ("train", "val", "test")},
            "binarization": "dynamic"}


def test_dynamic_epochs_are_fresh_binarisations_and_static_ones_are_fixed():
    dyn, sta = _data("dynamic"), _data("static")
    a, b = nodes.epoch_images(dyn, TRAINING, 1, 0), nodes.epoch_images(dyn, TRAINING, 2, 0)
    assert set(np.unique(a)) <= {0, 1} and not np.array_equal(a, b)
    assert np.array_equal(a, nodes.epoch_images(dyn, TRAINING, 1, 0))
    assert nodes.epoch_images(sta, TRAINING, 1, 0) is sta["train"]
    assert len(nodes.epoch_images(sta, {**TRAINING, "train_on_val": True}, 1, 0)) == 32


def test_training_lowers_the_bound_and_a_stopped_run_resumes_to_the_uninterrupted_result(tmp_path):
    from tests.conftest import stop_after_save

    data = _data()
    straight = nodes.train_vlae(data, TINY, TRAINING, 0, "cpu")
    h = straight["history"]
    assert len(h) == 3 and h[-1]["train_neg_elbo"] < h[0]["train_neg_elbo"] and h[0]["images_per_s"] > 0
    with stop_after_save(1):
        nodes.train_vlae(data, TINY, TRAINING, 0, "cpu", Checkpoints(str(tmp_path)))
    resumed = nodes.train_vlae(data, TINY, TRAINING, 0, "cpu", Checkpoints(str(tmp_path)))
    timeless = [[{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in r["history"]]
                for r in (resumed, straight)]
    assert timeless[0] == timeless[1]
    assert all(torch.equal(resumed["state"][k], v) for k, v in straight["state"].items())


def test_evaluation_reports_an_is_nll_below_the_negative_elbo_and_draws_the_lossy_grid():
    data = _data()
    run = nodes.train_vlae(data, TINY, {**TRAINING, "epochs": 1}, 0, "cpu")
    evaluation = {"test_images": 4, "samples": 64, "chunk": 32, "batch_size": 4, "grid": 3}
    r = nodes.evaluate_vlae(run, data, evaluation, 0, "cpu")
    assert r["images"] == 4 and r["is_nll"] <= r["neg_elbo"] + 1.0 and r["kl"] > 0 and r["binarization"] == "static"
    assert r == {**nodes.evaluate_vlae(run, data, evaluation, 0, "cpu"), "seconds": r["seconds"]}  # seeded
    fig = nodes.lossy_figure(run, data, evaluation, 0)
    assert [a.get_title() for a in fig.axes] == ["test images", "reconstructions", "samples from the prior"]


def test_pixel_samples_are_binary_and_follow_the_seed():
    run = nodes.train_vlae(_data(), {**TINY, "latent": 0}, {**TRAINING, "epochs": 1}, 0, "cpu")
    model = nodes.trained_model(run)
    torch.manual_seed(1)
    a = nodes.sample_pixels(model, None, 2)
    torch.manual_seed(1)
    assert torch.equal(a, nodes.sample_pixels(model, None, 2)) and set(a.unique().tolist()) <= {0.0, 1.0}
