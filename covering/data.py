"""Datasets: MNIST from IDX files (found, cached or downloaded: :mod:`covering.mnist`),
scikit-learn's digits, and safe ``.npy`` I/O."""

from __future__ import annotations

import gzip
import hashlib
import logging
import struct
from pathlib import Path

import numpy as np

from covering.io import open_atomic
from covering.mnist import (
    DEFAULT_MNIST_MIRRORS,
    MNIST_FILES,
    MNIST_SHA256,
    MnistDownloadError,
    MnistSource,
    default_mnist_dir,
    fetch_mnist,
    find_idx,
    locate_mnist,
    mnist_cache_dir,
    mnist_mirrors,
)

__all__ = [
    "DATASETS",
    "DEFAULT_MNIST_MIRRORS",
    "MNIST_SHA256",
    "MnistDownloadError",
    "MnistSource",
    "default_mnist_dir",
    "fetch_mnist",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_mnist",
    "load_npy",
    "locate_mnist",
    "mnist_cache_dir",
    "mnist_mirrors",
    "save_npy_atomic",
]

log = logging.getLogger(__name__)

DATASETS = ("mnist", "digits")
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of its stored dtype.

    Raises
    ------
    ValueError
        Bad magic number, unknown type code, or a body shorter/longer than the header says.
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(p, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{p}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{p}: unknown IDX type code 0x{code:02x}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    body = raw[4 + 4 * ndim :]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(f"{p}: body has {len(body)} bytes, header says {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _check_sums(directory: Path) -> None:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        digest, name = parts[0], parts[1].lstrip("*")
        f = directory / name
        if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise ValueError(f"{f}: SHA-256 does not match {sums.name}")


def load_mnist(
    directory: str | Path | None = None,
    split: str = "train",
    *,
    flatten: bool = True,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from IDX files, pixels scaled to [0, 1].

    Parameters
    ----------
    directory : path, optional
        Folder with ``train-images-idx3-ubyte[.gz]`` etc. (checked against its ``SHA256SUMS``
        when it has one). Default: :func:`covering.mnist.locate_mnist`, i.e.
        ``$COVERING_MNIST_DIR``, the cache, else a verified download into the cache.
    split : {"train", "test"}
    flatten : bool
        (n, 784) rows when True, else (n, 28, 28).
    download : bool
        With no ``directory``: download MNIST when it is neither in ``$COVERING_MNIST_DIR`` nor
        in the cache (False: a ``ValueError`` instead).

    Returns
    -------
    X : ndarray of float32, shape (n, 784) or (n, 28, 28)
    y : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        Unknown split, missing or malformed files, a ``SHA256SUMS`` mismatch, or (a
        :class:`~covering.mnist.MnistDownloadError`) no mirror delivered a verified file.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if directory is not None:
        d = Path(directory)
    else:
        src = locate_mnist(download=download)
        if src is None:
            raise ValueError(
                f"MNIST IDX files not found in COVERING_MNIST_DIR or {mnist_cache_dir()} "
                "(downloading is off): set COVERING_MNIST_DIR or allow the download"
            )
        d = src.path
    img_stem, lab_stem = MNIST_FILES[split]
    img, lab = find_idx(d, img_stem), find_idx(d, lab_stem)
    if img is None or lab is None:
        raise ValueError(f"{d}: no {img_stem}[.gz] / {lab_stem}[.gz] files")
    _check_sums(d)
    images = load_idx(img)
    labels = load_idx(lab)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{d}: images {images.shape} and labels {labels.shape} do not match")
    X = images.astype(np.float32) / np.float32(255.0)
    if flatten:
        X = X.reshape(X.shape[0], -1)
    return np.ascontiguousarray(X), labels.astype(np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1,797 rows), pixels scaled to [0, 1]: X float32 (n, 64)."""
    from sklearn.datasets import load_digits as _ld

    bunch = _ld()
    X = (bunch.data / 16.0).astype(np.float32)
    return np.ascontiguousarray(X), bunch.target.astype(np.int64)


def load_dataset(name: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``"mnist"`` (:func:`load_mnist`: found, cached or downloaded) or ``"digits"``; ``"auto"``:
    MNIST when it is at hand without a download (``$COVERING_MNIST_DIR`` or the cache), else
    digits.

    Digits has no official split: ``train`` is the first 1,500 rows, ``test`` the rest.
    """
    if name == "auto":
        name = "mnist" if default_mnist_dir() is not None else "digits"
    if name == "mnist":
        return load_mnist(split=split)
    if name == "digits":
        X, y = load_digits()
        return (X[:1500], y[:1500]) if split == "train" else (X[1500:], y[1500:])
    raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)} or auto")


def load_npy(path: str | Path, *, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` file safely: never unpickles, memory-maps by default.

    Raises
    ------
    ValueError
        Not a readable ``.npy`` file, object dtype, or truncated body.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    try:
        arr = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{p}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{p}: unreadable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{p}: expected a .npy array, got {type(arr).__name__}")
    return arr


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` via a temp file + fsync + rename (never a torn file).

    Streams through :func:`covering.io.open_atomic` (no in-memory copy of a large array);
    a symbolic link ``path`` stays a link, and a failed write leaves no temporary file.
    """
    with open_atomic(path) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
