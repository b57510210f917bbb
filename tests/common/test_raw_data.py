import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading
from functools import partial

import pytest

from iclr17.common.raw_data import MIRROR_ENV, RawDataError, RawFileDataset


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ds(tmp_path, payload: bytes, **kw):
    args = dict(
        dataset="toy",
        member="toy.txt",
        sha256=_sha(payload),
        url="http://127.0.0.1:9/toy.txt",  # nothing listens on port 9: a download fails at once
        reader="text",
        raw_dir=str(tmp_path / "01_raw"),
    )
    args.update(kw)
    return RawFileDataset(**args)


def test_local_file_is_verified_and_loaded(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    ds = _ds(tmp_path, b"hello\n")
    ds.local_path.parent.mkdir(parents=True)
    ds.local_path.write_bytes(b"hello\n")
    assert ds.load() == "hello\n"


def test_mirror_is_copied_into_raw(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt").write_bytes(b"from mirror")
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    ds = _ds(tmp_path, b"from mirror")
    assert ds.load() == "from mirror"
    assert ds.local_path.read_bytes() == b"from mirror"


def test_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    ds = _ds(tmp_path, b"expected")
    ds.local_path.parent.mkdir(parents=True)
    ds.local_path.write_bytes(b"corrupted")
    with pytest.raises(RawDataError) as err:
        ds.load()
    msg = str(err.value)
    assert "toy/toy.txt" in msg and "checksum mismatch" in msg and "what to do" in msg
    assert str(ds.local_path) in msg


def test_corrupt_mirror_file_is_refused(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt").write_bytes(b"tampered")
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    with pytest.raises(RawDataError, match="checksum mismatch in the mirror"):
        _ds(tmp_path, b"original").load()


def test_missing_everywhere_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "empty-mirror"))
    with pytest.raises(RawDataError) as err:
        _ds(tmp_path, b"x").load()
    msg = str(err.value)
    assert "download failed" in msg
    assert "empty-mirror" in msg and "127.0.0.1:9" in msg and MIRROR_ENV in msg


@pytest.fixture
def http_root(tmp_path):
    """A file server on loopback, standing in for the canonical URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_then_gzip_is_verified_by_content(tmp_path, monkeypatch, http_root):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    root, base = http_root
    text = b"doc one\ndoc two\n"
    (root / "test.txt").write_bytes(text)
    ds = RawFileDataset(
        dataset="avitm",
        member="test.txt.gz",
        sha256="0" * 64,  # a different gzip build; the content checksum decides
        content_sha256=_sha(text),
        url=f"{base}/test.txt",
        convert="gzip",
        reader="text_gz",
        raw_dir=str(tmp_path / "01_raw"),
    )
    assert ds.load() == text.decode()
    assert gzip.decompress(ds.local_path.read_bytes()) == text


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch, http_root):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    root, base = http_root
    (root / "toy.txt").write_bytes(b"served")
    ds = _ds(tmp_path, b"something else", url=f"{base}/toy.txt")
    with pytest.raises(RawDataError, match="downloaded, but the checksum does not match"):
        ds.load()
    assert not ds.local_path.exists()


def test_20news_tarball_converter_matches_the_mirror_format(tmp_path, monkeypatch, http_root, mirror):
    """Rebuild a slice of the mirrored jsonl from a tarball laid out like Rennie's original."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with gzip.open(mirror / "20news_bydate" / "test.jsonl.gz", "rt") as fh:
        lines = [next(fh) for _ in range(5)]
    records = [json.loads(line) for line in lines]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rec in reversed(records):  # order inside the archive must not matter
            data = rec["text"].encode("latin-1")
            info = tarfile.TarInfo(f"20news-bydate-test/{rec['id']}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    root, base = http_root
    (root / "20news.tar.gz").write_bytes(buf.getvalue())
    expected = "".join(lines).encode()
    ds = RawFileDataset(
        dataset="20news_bydate",
        member="test.jsonl.gz",
        sha256="0" * 64,
        content_sha256=_sha(expected),
        url=f"{base}/20news.tar.gz",
        convert="20news_tarball",
        convert_args={"split": "test"},
        reader="jsonl_gz",
        raw_dir=str(tmp_path / "01_raw"),
    )
    assert ds.load() == records


def test_unknown_reader_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown reader"):
        _ds(tmp_path, b"x", reader="yaml")


def test_raw_files_are_read_only(tmp_path):
    with pytest.raises(Exception, match="read-only"):
        _ds(tmp_path, b"x").save("new")
