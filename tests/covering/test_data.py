"""Data loaders: IDX parsing (gzip and raw), MNIST when bundled, digits, safe .npy loading."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import logging
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from covering import mnist
from covering.data import (
    DEFAULT_MNIST_MIRRORS,
    MnistDownloadError,
    default_mnist_dir,
    fetch_mnist,
    load_dataset,
    load_idx,
    load_mnist,
    load_npy,
    locate_mnist,
    mnist_cache_dir,
    mnist_mirrors,
)


def _idx(arr: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_mnist(d, n=7, gz=True):
    imgs = np.arange(n * 28 * 28, dtype=np.uint64).reshape(n, 28, 28) % 256
    labs = np.arange(n) % 10
    for stem, arr in (("train-images-idx3-ubyte", imgs), ("train-labels-idx1-ubyte", labs)):
        data = _idx(arr)
        if gz:
            (d / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / stem).write_bytes(data)
    return imgs, labs


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_idx(tmp_path, gz):
    imgs, labs = _write_mnist(tmp_path, gz=gz)
    X, y = load_mnist(tmp_path)
    assert X.shape == (7, 784) and X.dtype == np.float32
    assert np.allclose(X * 255, imgs.reshape(7, -1))
    assert np.array_equal(y, labs)


def test_idx_errors(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic"):
        load_idx(p)
    p.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        load_idx(p)
    with pytest.raises(ValueError, match=r"not found|no "):
        load_mnist(tmp_path)


def test_checksum_mismatch(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  train-images-idx3-ubyte.gz\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_mnist(tmp_path)


@pytest.mark.slow  # real MNIST when the files are present
def test_bundled_mnist_or_digits():
    X, y = load_dataset("auto")
    assert X.ndim == 2 and X.shape[0] == y.shape[0] and X.min() >= 0 and X.max() <= 1
    if default_mnist_dir() is not None:
        assert X.shape == (60000, 784)
        Xt, yt = load_mnist(split="test")
        assert Xt.shape == (10000, 784) and set(np.unique(yt)) == set(range(10))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")


def test_load_npy_refuses_pickles(tmp_path):
    p = tmp_path / "p.npy"
    np.save(p, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="numeric"):
        load_npy(p)
    (tmp_path / "t.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with pytest.raises(ValueError):
        load_npy(tmp_path / "t.npy")


# --------------------------------------------------------------------------- finding MNIST


def test_no_path_beside_the_source_tree_or_cwd(tmp_path, monkeypatch):
    """Without COVERING_MNIST_DIR, an empty cache and no mirror, MNIST is not found (the old
    loader fell back to ../shared/data/mnist beside the repository)."""
    monkeypatch.delenv("COVERING_MNIST_DIR", raising=False)
    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", "")
    assert default_mnist_dir() is None
    assert locate_mnist(download=False) is None
    with pytest.raises(MnistDownloadError, match="COVERING_MNIST_MIRRORS is empty"):
        load_mnist()
    with pytest.raises(ValueError, match="downloading is off"):
        load_mnist(download=False)
    assert load_dataset("auto")[0].shape[1] == 64  # digits


def test_env_dir_then_cache(tmp_path, monkeypatch):
    env_dir, home = tmp_path / "env", tmp_path / "home"
    env_dir.mkdir()
    (home / "mnist").mkdir(parents=True)
    _write_full(env_dir, 3)
    _write_full(home / "mnist", 5)
    monkeypatch.setenv("COVERING_DATA_HOME", str(home))
    monkeypatch.setenv("COVERING_MNIST_DIR", str(env_dir))
    src = locate_mnist(download=False)
    assert src is not None and src.path == env_dir.resolve() and "COVERING_MNIST_DIR" in src.origin
    assert load_mnist()[0].shape == (3, 784)
    monkeypatch.delenv("COVERING_MNIST_DIR")
    src = locate_mnist(download=False)
    assert src is not None and src.path == mnist_cache_dir() == (home / "mnist").resolve()
    assert "cache" in src.origin
    assert load_mnist(split="test")[0].shape == (5, 784)
    assert load_dataset("auto")[0].shape == (5, 784)


def test_a_wrong_env_dir_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path / "home"))
    for bad in (tmp_path / "missing", tmp_path):
        monkeypatch.setenv("COVERING_MNIST_DIR", str(bad))
        with pytest.raises(ValueError, match="COVERING_MNIST_DIR"):
            load_mnist()
        with pytest.raises(ValueError, match="COVERING_MNIST_DIR"):
            load_dataset("auto")


def test_mirrors_setting(monkeypatch):
    monkeypatch.delenv("COVERING_MNIST_MIRRORS")
    assert mnist_mirrors() == list(DEFAULT_MNIST_MIRRORS)
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", " http://a.example/m , https://b.example/x/ ,")
    assert mnist_mirrors() == ["http://a.example/m/", "https://b.example/x/"]
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", "file:///etc/")
    with pytest.raises(ValueError, match="http"):
        mnist_mirrors()


def _write_full(d, n):
    """Train and test IDX files (gzip) of ``n`` rows each; returns {stem: raw bytes}."""
    imgs = (np.arange(n * 784).reshape(n, 28, 28) * 7 % 256).astype(np.uint8)
    labs = (np.arange(n) % 10).astype(np.uint8)
    raw = {}
    for split in ("train", "t10k"):
        for stem, arr in (
            (f"{split}-images-idx3-ubyte", imgs),
            (f"{split}-labels-idx1-ubyte", labs),
        ):
            raw[stem] = _idx(arr)
            (d / f"{stem}.gz").write_bytes(gzip.compress(raw[stem]))
    return raw


# --------------------------------------------------------------------------- downloads


class _Mirrors:
    """Loopback HTTP mirrors: ``/good/<name>``, ``/corrupt/<name>``, ``/truncated/<name>``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hits: list[str] = []
        mirrors = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirrors.hits.append(self.path)
                kind, _, name = self.path.strip("/").partition("/")
                body = mirrors.files.get(name)
                if body is None or kind not in ("good", "corrupt", "truncated"):
                    self.send_error(404)
                    return
                if kind == "corrupt":  # same length, one byte of the content changed
                    raw = bytearray(gzip.decompress(body))
                    raw[-1] ^= 0xFF
                    body = gzip.compress(bytes(raw), compresslevel=1)
                elif kind == "truncated":
                    body = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        with socket.socket() as s:  # a port nobody listens on: a mirror that is down
            s.bind(("127.0.0.1", 0))
            self.down = f"http://127.0.0.1:{s.getsockname()[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Small IDX files served by loopback mirrors, with MNIST_SHA256 set to their sums."""
    src = tmp_path / "src"
    src.mkdir()
    raw = _write_full(src, 4)
    sums = {stem: (hashlib.sha256(b).hexdigest(), len(b)) for stem, b in raw.items()}
    monkeypatch.setattr(mnist, "MNIST_SHA256", sums)
    monkeypatch.delenv("COVERING_MNIST_DIR", raising=False)
    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path / "home"))
    m = _Mirrors({p.name: p.read_bytes() for p in src.iterdir()})
    yield m
    m.close()


def _cache_files(tmp_path):
    d = tmp_path / "home" / "mnist"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_download_from_a_good_mirror_after_a_down_and_a_corrupt_one(
    fake_mnist, tmp_path, monkeypatch, caplog
):
    m = fake_mnist
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", f"{m.down},{m.url}/corrupt/,{m.url}/good/")
    with caplog.at_level(logging.WARNING, logger="covering.mnist"):
        X, y = load_mnist(split="test")
    assert X.shape == (4, 784) and np.array_equal(y, np.arange(4))
    # every file: the down mirror, then the corrupt one (refused, named), then the good one
    text = caplog.text
    assert "train-images-idx3-ubyte.gz" in text and f"{m.url}/corrupt/" in text
    assert "SHA-256 check failed" in text and m.down in text
    assert _cache_files(tmp_path) == sorted(f"{s}.gz" for s in mnist.MNIST_SHA256)
    for stem, (digest, _) in mnist.MNIST_SHA256.items():
        data = gzip.decompress((tmp_path / "home" / "mnist" / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == digest
    src = locate_mnist(download=False)
    assert src is not None and "cache" in src.origin
    n = len(m.hits)
    load_mnist()  # from the cache now: no request
    assert len(m.hits) == n


@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_a_bad_file_is_an_error_naming_file_and_mirror_and_nothing_is_kept(
    fake_mnist, tmp_path, monkeypatch, kind
):
    m = fake_mnist
    bad = f"{m.url}/{kind}/"
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", bad)
    with pytest.raises(MnistDownloadError) as err:
        load_mnist()
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and bad in msg
    assert ("SHA-256 check failed" if kind == "corrupt" else "truncated") in msg
    assert _cache_files(tmp_path) == []  # no corrupt file, no temporary file


def test_a_mirror_that_is_down_or_lacks_the_files(fake_mnist, tmp_path, monkeypatch):
    m = fake_mnist
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", f"{m.down},{m.url}/nothing-here/")
    with pytest.raises(MnistDownloadError) as err:
        locate_mnist()
    msg = str(err.value)
    assert m.down in msg and "refused" in msg.lower() and "404" in msg
    assert _cache_files(tmp_path) == []


def test_a_partial_cache_is_completed(fake_mnist, tmp_path, monkeypatch):
    m = fake_mnist
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", f"{m.url}/good/")
    cache = tmp_path / "home" / "mnist"
    cache.mkdir(parents=True)
    name = "train-labels-idx1-ubyte.gz"
    (cache / name).write_bytes(m.files[name])
    assert fetch_mnist(progress=False) == [f"{m.url}/good/"]
    assert not any(name in h for h in m.hits)  # what was there is not fetched again
    assert len(_cache_files(tmp_path)) == 4


def test_real_checksums_with_a_loopback_mirror_of_the_real_files(tmp_path):
    """The SHA-256 constants accept the real MNIST files (served from $COVERING_MNIST_DIR)."""
    real = os.environ.get("COVERING_MNIST_DIR")
    if not real or not Path(real, "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("COVERING_MNIST_DIR does not hold the real MNIST .gz files")
    m = _Mirrors({p.name: p.read_bytes() for p in Path(real).glob("*.gz")})
    try:
        assert fetch_mnist(tmp_path, mirrors=[f"{m.url}/good/"], progress=False)
    finally:
        m.close()
    X, y = load_mnist(tmp_path, "test")
    assert X.shape == (10000, 784) and np.bincount(y).min() > 800
