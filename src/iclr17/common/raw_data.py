"""The raw-data layer shared by every pipeline.

Each raw file is declared once, in the catalog, as a :class:`RawFileDataset` with its file name,
sha256 and canonical public URL.  On load the file is looked for, in this order:

1. ``<data_root>/01_raw/<dataset>/<filename>``;
2. ``$ICLR17_DATA_MIRROR/<dataset>/<filename>`` (copied into ``01_raw`` first);
3. the canonical URL (downloaded into ``01_raw``, optionally converted to the stored format).

Its checksum is verified before anything reads it.  Any failure raises :class:`RawDataError`
with one message saying which file, where it was looked for and what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Callable

from kedro.io import AbstractDataset
from kedro.io.core import DatasetError

MIRROR_ENV = "ICLR17_DATA_MIRROR"


class RawDataError(DatasetError):
    """A raw file is missing, could not be fetched, or fails its checksum (shown as is by Kedro)."""


def sha256_of(path: Path, decompress: bool = False) -> str:
    digest = hashlib.sha256()
    opener = gzip.open if decompress else open
    with opener(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- readers: stored file -> python object -------------------------------------------------


def _read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _read_text_gz(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read()


def _read_pickle_py2(path: Path) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _read_idx_gz(path: Path) -> Any:
    """LeCun's IDX format (MNIST): big-endian magic (dtype code, ndim), dims, then the data."""
    import numpy as np

    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise RawDataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise RawDataError(f"{path}: header says {dims}, found {data.size} values")
    return data.reshape(dims)


def _read_npz(path: Path) -> dict:
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:  # arrays only: no pickled objects
        return {name: archive[name] for name in archive.files}


def _read_mat(path: Path) -> dict:
    from scipy.io import loadmat

    return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}  # MATLAB v5, arrays only


READERS: dict[str, Callable[[Path], Any]] = {
    "mat": _read_mat,
    "idx_gz": _read_idx_gz,
    "npz": _read_npz,
    "path": lambda path: path,
    "bytes": lambda path: path.read_bytes(),
    "text": lambda path: path.read_text(encoding="utf-8"),
    "text_gz": _read_text_gz,
    "jsonl_gz": _read_jsonl_gz,
    "pickle_py2": _read_pickle_py2,
}


# --- converters: downloaded file -> stored format ------------------------------------------


def _convert_copy(src: Path, dst: Path, **_: Any) -> None:
    shutil.copyfile(src, dst)


def _convert_gzip(src: Path, dst: Path, **_: Any) -> None:
    with open(src, "rb") as fin, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fout:
        shutil.copyfileobj(fin, fout)


def _convert_20news_tarball(src: Path, dst: Path, split: str, **_: Any) -> None:
    """Rennie's ``20news-bydate.tar.gz`` -> one JSON line per message, ordered as sklearn does."""
    prefix = f"20news-bydate-{split}/"
    records = []
    with tarfile.open(src, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            group, name = member.name[len(prefix) :].split("/", 1)
            text = tar.extractfile(member).read().decode("latin-1")
            records.append({"id": f"{group}/{name}", "group": group, "text": text})
    records.sort(key=lambda r: (r["group"], r["id"].split("/", 1)[1]))
    with gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fout:
        for record in records:
            fout.write((json.dumps(record, separators=(",", ":")) + "\n").encode("ascii"))


CONVERTERS: dict[str, Callable[..., None]] = {
    "copy": _convert_copy,
    "gzip": _convert_gzip,
    "20news_tarball": _convert_20news_tarball,
}


def _download(url: str, dst: Path, timeout: float = 60.0) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dst, "wb") as out:
        shutil.copyfileobj(response, out)


class RawFileDataset(AbstractDataset):
    """A read-only raw file found locally, in the mirror, or at its canonical URL.

    Args:
        dataset: folder name of the dataset (``20news_bydate``), the same in ``01_raw`` and mirror.
        member: the stored file's name inside that folder.
        sha256: checksum of the stored file.
        url: canonical public URL the file (or the archive it is built from) is downloaded from.
        content_sha256: for ``.gz`` files, checksum of the decompressed bytes; a file whose own
            checksum differs (another gzip build) is accepted when its content matches.
        reader: how the file is loaded (one of :data:`READERS`).
        convert: how a download becomes the stored file (one of :data:`CONVERTERS`).
        convert_args: keyword arguments for the converter.
        raw_dir: the ``01_raw`` folder.
    """

    def __init__(
        self,
        *,
        dataset: str,
        member: str,
        sha256: str,
        url: str,
        content_sha256: str | None = None,
        reader: str = "path",
        convert: str = "copy",
        convert_args: dict | None = None,
        raw_dir: str = "data/01_raw",
        metadata: dict | None = None,
    ) -> None:
        if reader not in READERS:
            raise ValueError(f"unknown reader {reader!r}; choose one of {sorted(READERS)}")
        if convert not in CONVERTERS:
            raise ValueError(f"unknown converter {convert!r}; choose one of {sorted(CONVERTERS)}")
        self._dataset = dataset
        self._filename = member
        self._sha256 = sha256.lower()
        self._content_sha256 = content_sha256.lower() if content_sha256 else None
        self._url = url
        self._reader = reader
        self._convert = convert
        self._convert_args = convert_args or {}
        self._raw_dir = Path(raw_dir)
        self.metadata = metadata

    @property
    def local_path(self) -> Path:
        return self._raw_dir / self._dataset / self._filename

    def _describe(self) -> dict[str, Any]:
        return {
            "dataset": self._dataset,
            "member": self._filename,
            "sha256": self._sha256,
            "url": self._url,
            "raw_dir": str(self._raw_dir),
        }

    def _exists(self) -> bool:
        return self.local_path.is_file()

    def _save(self, data: Any) -> None:
        raise RawDataError(f"{self._dataset}/{self._filename} is raw input and read-only")

    def _checksum_ok(self, path: Path) -> bool:
        if sha256_of(path) == self._sha256:
            return True
        if self._content_sha256 and path.suffix == ".gz":
            try:
                return sha256_of(path, decompress=True) == self._content_sha256
            except (OSError, EOFError):
                return False
        return False

    def _fail(self, problem: str, looked: list[str]) -> RawDataError:
        where = "\n".join(f"  - {place}" for place in looked)
        return RawDataError(
            f"raw file {self._dataset}/{self._filename}: {problem}\n"
            f"looked in:\n{where}\n"
            f"what to do: put the file (sha256 {self._sha256}) at {self.local_path}, "
            f"or set {MIRROR_ENV} to a folder holding {self._dataset}/{self._filename}, "
            f"or make {self._url} reachable so it can be downloaded."
        )

    def resolve(self) -> Path:
        """Find, fetch if needed, verify and return the stored file's path."""
        looked: list[str] = []
        local = self.local_path
        looked.append(f"{local} (local data)")
        if local.is_file():
            if not self._checksum_ok(local):
                raise self._fail(
                    f"checksum mismatch at {local} (expected sha256 {self._sha256}); "
                    "the file is corrupt or another version: delete it to fetch it again",
                    looked,
                )
            return local

        mirror = os.environ.get(MIRROR_ENV)
        if mirror:
            candidate = Path(mirror) / self._dataset / self._filename
            looked.append(f"{candidate} (${MIRROR_ENV})")
            if candidate.is_file():
                if not self._checksum_ok(candidate):
                    raise self._fail(f"checksum mismatch in the mirror at {candidate}", looked)
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(candidate, local)
                return local
        else:
            looked.append(f"${MIRROR_ENV} (not set)")

        looked.append(f"{self._url} (download)")
        local.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=local.parent) as tmp:
            fetched = Path(tmp) / "download"
            built = Path(tmp) / self._filename
            try:
                _download(self._url, fetched)
            except Exception as exc:  # noqa: BLE001 - any network error means the same to a user
                raise self._fail(f"not found locally and the download failed ({exc})", looked) from exc
            CONVERTERS[self._convert](fetched, built, **self._convert_args)
            if not self._checksum_ok(built):
                raise self._fail("downloaded, but the checksum does not match", looked)
            shutil.move(built, local)
        return local

    def load(self) -> Any:
        return READERS[self._reader](self.resolve())


class RawFileGroupDataset(AbstractDataset):
    """Several raw files of one dataset, each with its own checksum, loaded as ``{member: data}``.

    Every member is a :class:`RawFileDataset` (same search order, checks and errors) whose URL is
    ``url_base + member``; ``readers`` overrides ``reader`` for single members.
    """

    def __init__(
        self,
        *,
        dataset: str,
        members: dict[str, str],
        url_base: str,
        reader: str = "path",
        readers: dict[str, str] | None = None,
        raw_dir: str = "data/01_raw",
        metadata: dict | None = None,
    ) -> None:
        readers = readers or {}
        unknown = set(readers) - set(members)
        if unknown:
            raise ValueError(f"readers names files that are not members: {sorted(unknown)}")
        self._files = {
            member: RawFileDataset(
                dataset=dataset,
                member=member,
                sha256=sha,
                url=url_base + member,
                reader=readers.get(member, reader),
                raw_dir=raw_dir,
            )
            for member, sha in members.items()
        }
        self._dataset = dataset
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset, "members": sorted(self._files)}

    def _exists(self) -> bool:
        return all(f.local_path.is_file() for f in self._files.values())

    def _save(self, data: Any) -> None:
        raise RawDataError(f"{self._dataset} is raw input and read-only")

    def load(self) -> dict[str, Any]:
        return {member: ds.load() for member, ds in self._files.items()}
