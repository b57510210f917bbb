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
    assert np.array_equal(nodes.epoch_images(sta, TRAINING, 1, 0), sta["train"])
    assert np.array_equal(nodes.epoch_images(sta, {**TRAINING, "max_images": 5}, 1, 0), sta["train"][:5])
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


def test_the_evaluation_subset_is_a_seeded_random_draw_not_the_files_first_images():
    data = {"test": np.repeat(np.arange(1000)[:, None, None], 2, 1), "binarization": "static"}  # row i holds i
    a = nodes.evaluation_images(data, {"test_images": 50}, 0)
    rows = a[:, 0, 0]
    assert len(set(rows)) == 50 and list(rows) == sorted(rows) and rows.max() > 500  # spread over the file
    assert np.array_equal(a, nodes.evaluation_images(data, {"test_images": 50}, 0))
    assert not np.array_equal(a, nodes.evaluation_images(data, {"test_images": 50}, 1))
    assert np.array_equal(nodes.evaluation_images(data, {"test_images": None}, 0), data["test"])
    grey = {"test": np.full((100, 2, 2), 255, np.uint8), "binarization": "dynamic"}
    assert nodes.evaluation_images(grey, {"test_images": 10}, 0).tolist() == np.ones((10, 2, 2)).tolist()


def test_pixel_samples_are_binary_and_follow_the_seed():
    run = nodes.train_vlae(_data(), {**TINY, "latent": 0}, {**TRAINING, "epochs": 1}, 0, "cpu")
    model = nodes.trained_model(run)
    torch.manual_seed(1)
    a = nodes.sample_pixels(model, None, 2)
    torch.manual_seed(1)
    assert torch.equal(a, nodes.sample_pixels(model, None, 2)) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_prepare_data_reads_static_mnist_and_refuses_an_unknown_dataset(mirror):
    import pytest

    from iclr17.common.raw_data import READERS

    raw = {"binarized_mnist_packed.npz": READERS["npz"](mirror / "binarized_mnist" / "binarized_mnist_packed.npz")}
    data, stats = nodes.prepare_data("static_mnist", raw)
    assert data["binarization"] == "static" and data["name"] == "static_mnist" and data["test"].shape == (10000, 28, 28)
    assert stats["train"]["images"] == 50000 and 0.1 < stats["train"]["mean_pixel"] < 0.2
    with pytest.raises(ValueError, match="unknown dataset"):
        nodes.prepare_data("omniglot", raw)


def _evaluation(nll, kl):
    return {"is_nll": nll, "is_nll_sem": 0.5, "neg_elbo": nll + 2, "kl": kl, "images": 3, "samples": 16,
            "binarization": "static", "receptive_field": 11, "seconds": 1.0, "test_neg_elbo_all": nll + 2.5,
            "test_kl_all": kl, "test_images_all": 10000, "per_image_nll": [nll - 1, nll, nll + 1 + kl / 10]}


PAPER = {"static_mnist": {"af": 79.03}, "dynamic_mnist": {"af": 78.53}, "caltech101_silhouettes": {},
         "appendix_d": {"pixelcnn": {"nll": 87.55, "kl": 0.0}, "gaussian": {"nll": 79.48, "kl": 10.6},
                        "af": {"nll": 78.94, "kl": 11.73}}, "af_minus_iaf": -0.6}


def _run(variant, dataset="static_mnist"):
    return {"variant": variant, "dataset": dataset, "parameters": 10,
            "history": [{"epoch": 1, "train_neg_elbo": 100.0, "train_kl": 5.0, "val_neg_elbo": 99.0, "val_kl": 5.0,
                         "images_per_s": 50.0, "seconds": 2.0}]}


def test_a_models_table_puts_the_papers_row_beside_its_nll_and_appendix_d_only_on_dynamic_mnist():
    rows, md, metrics, _ = nodes.variant_summary("af", _evaluation(85.0, 9.0), _run("af"), PAPER)
    by = {r["metric"]: r for r in rows}
    assert by["static MNIST VLAE (PixelCNN decoder + AF prior) test NLL"]["paper"] == 79.03
    assert by["static MNIST VLAE (PixelCNN decoder + AF prior) test KL"]["run"] == 9.0
    assert not any("Appendix D" in m for m in by) and metrics["test_is_nll"]["value"] == 85.0
    rows, *_ = nodes.variant_summary("gaussian", _evaluation(86.0, 8.0), _run("gaussian", "dynamic_mnist"), PAPER)
    assert {r["metric"]: r["paper"] for r in rows}["dynamic MNIST PixelCNN decoder + Gaussian prior Appendix D NLL"] == 79.48
    import pytest

    with pytest.raises(ValueError, match="not 'af'"):
        nodes.variant_summary("af", _evaluation(85.0, 9.0), _run("iaf"), PAPER)


def test_the_report_orders_the_models_as_appendix_d_does():
    nll = {"af": 85.0, "gaussian": 86.5, "pixelcnn": 90.0, "iaf": 85.4}
    variants = list(nll)
    rows, md, summary, _ = nodes.report(PAPER, *[_evaluation(nll[v], 0.0 if v == "pixelcnn" else 9.0) for v in variants],
                                        *[_run(v) for v in variants])
    by = {r["metric"]: r for r in rows}
    order = by["static MNIST ordering: NLL of unconditional PixelCNN minus PixelCNN decoder + Gaussian prior"]
    assert order["run"] == 3.5 and abs(order["paper"] - 8.07) < 1e-9
    assert abs(by["static MNIST NLL of the AF prior minus the IAF posterior"]["run"] + 0.4) < 1e-9
    assert summary["ranking_best_first"] == ["af", "iaf", "gaussian", "pixelcnn"] and "af < iaf" in md
    assert "± 0.30 (paired sem over 3 test images)" in order["note"]  # differences 3.5, 3.5, 2.6


def test_the_receptive_field_report_sorts_the_models_by_what_their_decoder_sees():
    evals = [{**_evaluation(86.0, 4.0), "receptive_field": 159}, {**_evaluation(88.0, 12.0), "receptive_field": 11},
             {**_evaluation(85.0, 8.0), "receptive_field": 54}]
    rows, md, summary, fig = nodes.receptive_field_report(PAPER, *evals, *[_run(v) for v in ("rf_large", "rf_small", "af")])
    assert summary == {"receptive_field": [11, 54, 159], "test_kl": [12.0, 8.0, 4.0], "test_is_nll": [88.0, 85.0, 86.0]}
    assert rows[1]["metric"] == "static MNIST VLAE rf_small (11-pixel receptive field) test KL" and rows[1]["run"] == 12.0


def test_prepare_data_keeps_dynamic_mnist_grey_and_caltech_upright(mirror):
    from iclr17.common.raw_data import READERS

    raw = {m: READERS["idx_gz"](mirror / "mnist" / m) for m in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")}
    data, stats = nodes.prepare_data("dynamic_mnist", raw)
    assert data["binarization"] == "dynamic" and data["train"].shape == (50000, 28, 28) and data["train"].max() == 255
    assert 0.1 < stats["test"]["mean_pixel"] < 0.2
    mat = {"caltech101_silhouettes_28_split1.mat": READERS["mat"](mirror / "caltech101_silhouettes" / "caltech101_silhouettes_28_split1.mat")}
    data, stats = nodes.prepare_data("caltech101_silhouettes", mat)
    assert [stats[s]["images"] for s in ("train", "val", "test")] == [4100, 2264, 2307]
    assert abs(stats["train"]["mean_pixel"] - (1 - 0.5511)) < 1e-3  # SOURCE.md: 55.11 % background ones
