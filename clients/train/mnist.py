"""MNIST for the training client: where it is (found, cached or downloaded by
:mod:`covering.data`), and its train and test splits read with a clear error for a truncated or
corrupt file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from covering.errors import one_line
from covering.mnist import MnistSource

__all__ = ["mnist_source", "read_mnist"]

_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def read_mnist(directory: Path) -> tuple[np.ndarray, ...]:
    """Train and test MNIST from ``directory``; a truncated or corrupt file is a ValueError."""
    from covering import data as cdata

    try:
        return (*cdata.load_mnist(directory, "train"), *cdata.load_mnist(directory, "test"))
    except _GZIP_ERRORS as exc:
        bad: Path = directory
        for f in sorted(directory.glob("*idx*")):
            try:
                cdata.load_idx(f)
            except _GZIP_ERRORS:
                bad = f
                break
        raise ValueError(f"{bad} is truncated or corrupt ({one_line(exc)})") from None


def mnist_source(required: bool) -> tuple[MnistSource | None, str]:
    """MNIST from ``covering.data.locate_mnist`` (``$COVERING_MNIST_DIR``, the cache, else a
    verified download), or ``(None, why)`` when it cannot be downloaded and is not
    ``required`` (the caller falls back to digits). A set but wrong ``$COVERING_MNIST_DIR`` is
    always an error."""
    from covering import data as cdata

    try:
        return cdata.locate_mnist(download=True), ""
    except cdata.MnistDownloadError as exc:
        if required:
            raise
        return None, str(exc)
