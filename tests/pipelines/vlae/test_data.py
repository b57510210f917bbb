import numpy as np
import pytest
import scipy.io

from iclr17.pipelines.vlae import data


def test_static_mnist_unpacks_larochelles_splits(mirror):
    with np.load(mirror / "binarized_mnist" / "binarized_mnist_packed.npz") as f:
        s = data.static_mnist(dict(f))
    assert {k: v.shape for k, v in s.items()} == {"train": (50000, 28, 28), "val": (10000, 28, 28), "test": (10000, 28, 28)}
    assert int(s["train"].sum()) == 5_118_041 and int(s["test"].sum()) == 1_038_896  # its SOURCE.md's counts


def test_static_mnist_rejects_a_wrong_shape_or_a_missing_split():
    with pytest.raises(ValueError, match="bit-packed rows of 98 bytes"):
        data.static_mnist({"train": np.zeros((3, 97), np.uint8), "valid": np.zeros((1, 98), np.uint8),
                           "test": np.zeros((1, 98), np.uint8)})
    with pytest.raises(ValueError, match="no 'valid' array"):
        data.static_mnist({"train": np.zeros((3, 98), np.uint8)})


def test_caltech_silhouettes_are_upright_with_the_object_as_one(mirror):
    mat = scipy.io.loadmat(mirror / "caltech101_silhouettes" / "caltech101_silhouettes_28_split1.mat")
    c = data.caltech_silhouettes(mat)
    assert [len(v) for v in c.values()] == [4100, 2264, 2307]
    assert c["train"].mean() == pytest.approx(1 - 0.5511, abs=1e-4)  # SOURCE.md: 55.11 % of stored pixels are 1 (background)
    assert np.array_equal(c["train"][0], 1 - mat["train_data"][0].reshape(28, 28).T)  # column-major rows


def test_dynamic_binarisation_is_seeded_and_unbiased():
    grey = np.full((200, 28, 28), 64, np.uint8)
    a, b = data.binarize(grey, np.random.default_rng(1)), data.binarize(grey, np.random.default_rng(1))
    assert np.array_equal(a, b) and set(np.unique(a)) == {0, 1}
    assert a.mean() == pytest.approx(64 / 255, abs=0.01)
    assert not np.array_equal(a, data.binarize(grey, np.random.default_rng(2)))


def test_non_binary_images_are_refused():
    with pytest.raises(ValueError, match="binary pixels"):
        data.caltech_silhouettes({"train_data": np.full((1, 784), 3), "val_data": np.zeros((1, 784)), "test_data": np.zeros((1, 784))})
