"""Few-shot data: Omniglot in the split of Vinyals et al. (each character's four rotations are
classes), mini-ImageNet in the split of Ravi & Larochelle, and N-way k-shot episodes over them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from kedro.io import AbstractDataset
from PIL import Image

from iclr17.common.raw_data import RawDataError

ROTATIONS = {"rot000": 0, "rot090": 1, "rot180": 2, "rot270": 3}


def _npz_rows(alphabets_csv: str) -> dict[tuple[str, str], tuple[str, int]]:
    """``(alphabet, "characterNN") -> (set, row)``: where a character sits in the two npz files."""
    rows = {}
    for r in csv.DictReader(io.StringIO(alphabets_csv)):
        for n in range(int(r["n_characters"])):
            rows[(r["alphabet"], f"character{n + 1:02d}")] = (r["set"], int(r["first_npz_row"]) + n)
    return rows


def resize_ink(image: np.ndarray, size: int) -> np.ndarray:
    """A 105x105 Omniglot image (True = background) as ``size`` x ``size`` uint8 ink (255 = stroke),
    resized with Lanczos as in the usual few-shot recipe."""
    ink = Image.fromarray((~image).astype(np.uint8) * 255)
    return np.asarray(ink.resize((size, size), Image.LANCZOS), dtype=np.uint8)


def omniglot_split(images: dict[str, np.ndarray], alphabets_csv: str, split_lines: list[str], size: int) -> np.ndarray:
    """The classes of one split file (``Alphabet/characterNN/rotXXX`` lines) as a uint8 array
    ``(classes, 20 drawers, size, size)``: each character resized once, then rotated."""
    rows = _npz_rows(alphabets_csv)
    cache: dict[tuple[str, int], np.ndarray] = {}
    out = np.empty((len(split_lines), 20, size, size), dtype=np.uint8)
    for i, line in enumerate(split_lines):
        alphabet, character, rotation = line.split("/")
        if (alphabet, character) not in rows or rotation not in ROTATIONS:
            raise ValueError(f"split line {line!r}: no such character or rotation")
        key = rows[(alphabet, character)]
        if key not in cache:
            cache[key] = np.stack([resize_ink(img, size) for img in images[key[0]][key[1]]])
        out[i] = np.rot90(cache[key], ROTATIONS[rotation], axes=(1, 2))
    return out


def miniimagenet_split(split_csv: str, image_dir: Path, size: int) -> np.ndarray:
    """The classes of one Ravi split file (``filename,label``) as a uint8 RGB array
    ``(classes, images, size, size, 3)``, the JPEGs read from ``image_dir`` and resized."""
    by_label: dict[str, list[str]] = {}
    for r in csv.DictReader(io.StringIO(split_csv)):
        by_label.setdefault(r["label"], []).append(r["filename"])
    missing = [f for files in by_label.values() for f in files if not (image_dir / f).is_file()]
    if missing:
        raise RawDataError(
            f"mini-ImageNet: {len(missing)} of the split's images are missing from {image_dir} (first: "
            f"{missing[0]}). These machines cannot download ImageNet: put the split's JPEGs, named as in "
            f"its CSV (e.g. n0153282900000005.jpg), into {image_dir}, or run with dataset: omniglot.")
    per_class = {len(files) for files in by_label.values()}
    if len(per_class) != 1:
        raise ValueError(f"mini-ImageNet classes hold different numbers of images: {sorted(per_class)}")
    out = np.empty((len(by_label), per_class.pop(), size, size, 3), dtype=np.uint8)
    for c, files in enumerate(by_label.values()):
        for j, name in enumerate(files):
            with Image.open(image_dir / name) as img:
                out[c, j] = np.asarray(img.convert("RGB").resize((size, size), Image.LANCZOS))
    return out


def sample_episodes(n_classes: int, per_class: int, n: int, ways: int, shots: int, queries: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` episodes: ``classes`` (n, ways) distinct classes each, and ``items`` (n, ways,
    shots + queries) distinct images of each class (the first ``shots`` are the support set),
    drawn from a generator seeded with ``seed``: the same seed gives the same episodes."""
    if ways > n_classes or shots + queries > per_class:
        raise ValueError(f"{ways}-way {shots}-shot with {queries} queries needs {ways} classes of "
                         f"{shots + queries} images; the split has {n_classes} of {per_class}")
    rng = np.random.default_rng(seed)
    classes = np.stack([rng.choice(n_classes, ways, replace=False) for _ in range(n)])
    items = np.stack([[rng.choice(per_class, shots + queries, replace=False) for _ in range(ways)]
                      for _ in range(n)])
    return classes, items


def episode_tensors(images: np.ndarray, classes: np.ndarray, items: np.ndarray, shots: int):
    """One episode's ``(x_support, y_support, x_query, y_query)`` as float arrays in [0, 1],
    channels first, labels 0..ways-1 in the episode's class order."""
    ways = len(classes)
    chosen = images[classes[:, None], items]                    # (ways, shots + queries, H, W[, 3])
    x = chosen.astype(np.float32) / 255.0
    x = x[:, :, None] if x.ndim == 4 else np.moveaxis(x, -1, 2)  # (ways, k, C, H, W)
    labels = np.repeat(np.arange(ways), items.shape[1]).reshape(ways, -1)
    support, query = x[:, :shots], x[:, shots:]
    return (support.reshape(-1, *x.shape[2:]), labels[:, :shots].reshape(-1),
            query.reshape(-1, *x.shape[2:]), labels[:, shots:].reshape(-1))


class ImageFolderDataset(AbstractDataset):
    """A folder of images a user supplies (mini-ImageNet's JPEGs): loads as its path; the split
    loader says which files are missing."""

    def __init__(self, path: str, metadata: dict | None = None):
        self._path, self.metadata = Path(path), metadata

    def load(self) -> Path:
        return self._path

    def save(self, data) -> None:
        raise RawDataError(f"{self._path} is raw input and read-only")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict:
        return {"path": str(self._path)}
