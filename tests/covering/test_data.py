"""Data loaders: IDX parsing (gzip and raw), MNIST when bundled, digits, safe .npy loading."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from covering.data import default_mnist_dir, load_dataset, load_idx, load_mnist, load_npy


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
