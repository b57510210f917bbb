"""The binary image datasets of the VLAE paper's Tables 1, 2 and 4, as uint8 arrays in {0, 1} of
shape (N, 28, 28), object pixels 1."""

from __future__ import annotations

import numpy as np

SIDE = 28


def _checked(images: np.ndarray, name: str) -> np.ndarray:
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{name}: expected images of shape (N, {SIDE}, {SIDE}), got {images.shape}")
    if not np.isin(images, (0, 1)).all():
        raise ValueError(f"{name}: expected binary pixels in {{0, 1}}, got values {np.unique(images)[:5]}")
    return images.astype(np.uint8)


def static_mnist(packed: dict) -> dict[str, np.ndarray]:
    """Larochelle's statically binarised MNIST (50k / 10k / 10k) from its bit-packed arrays."""
    out = {}
    for split, key in (("train", "train"), ("val", "valid"), ("test", "test")):
        if key not in packed:
            raise ValueError(f"binarized MNIST: the npz has no '{key}' array (found {sorted(packed)})")
        a = packed[key]
        if a.ndim != 2 or a.shape[1] != SIDE * SIDE // 8:
            raise ValueError(f"binarized MNIST {key}: expected bit-packed rows of {SIDE * SIDE // 8} bytes, got {a.shape}")
        out[split] = _checked(np.unpackbits(a, axis=1).reshape(-1, SIDE, SIDE), f"binarized MNIST {key}")
    return out


def grey_mnist(raw: dict, val_size: int = 10_000) -> dict[str, np.ndarray]:
    """MNIST's grey images (uint8 0-255): the last ``val_size`` training images are the
    validation split (the usual 50k / 10k / 10k)."""
    train, test = raw["train-images-idx3-ubyte.gz"], raw["t10k-images-idx3-ubyte.gz"]
    return {"train": train[:-val_size], "val": train[-val_size:], "test": test}


def binarize(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One dynamic binarisation: each pixel 1 with probability intensity / 255."""
    return (rng.random(grey.shape, dtype=np.float32) < grey.astype(np.float32) / 255.0).astype(np.uint8)


def caltech_silhouettes(mat: dict) -> dict[str, np.ndarray]:
    """Marlin's Caltech-101 Silhouettes (4,100 / 2,264 / 2,307): rows stored column-major with
    1 = background, turned upright with the silhouette as 1."""
    out = {}
    for split, key in (("train", "train_data"), ("val", "val_data"), ("test", "test_data")):
        if key not in mat:
            raise ValueError(f"Caltech-101 Silhouettes: the .mat has no '{key}' (found {sorted(k for k in mat if not k.startswith('__'))})")
        rows = np.asarray(mat[key])
        out[split] = _checked(1 - rows.reshape(-1, SIDE, SIDE, order="F").astype(np.int16), f"Caltech {key}")
    return out
