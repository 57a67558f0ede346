"""Content fingerprints of arrays: ``"sha256:<hex>"`` over dtype, shape and C-order bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["fingerprint", "fingerprint_stream"]

_CHUNK_ROWS_BYTES = 64 << 20


def fingerprint(array: np.ndarray) -> str:
    """Return the fingerprint of an array.

    The digest covers ``dtype.str`` (byte order included), the shape and the array's bytes in C
    order, hashed in chunks so a memory-mapped array is never copied whole.

    Parameters
    ----------
    array : ndarray, any shape and dtype (not object)

    Returns
    -------
    str
        ``"sha256:<64 hex digits>"``.
    """
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ValueError("cannot fingerprint an object array")
    if arr.ndim == 0 or arr.size == 0:
        return fingerprint_stream(arr.dtype, arr.shape, [np.ascontiguousarray(arr)])
    row_bytes = max(1, arr.itemsize * (arr.size // arr.shape[0]))
    step = max(1, _CHUNK_ROWS_BYTES // row_bytes)
    return fingerprint_stream(
        arr.dtype, arr.shape, (arr[s : s + step] for s in range(0, arr.shape[0], step))
    )


def fingerprint_stream(
    dtype: np.dtype | str, shape: tuple[int, ...], chunks: Iterable[np.ndarray]
) -> str:
    """Fingerprint of an array given as consecutive row chunks (e.g. shards on disk).

    Equals :func:`fingerprint` of the concatenated array when the chunks have ``dtype`` and
    their rows, in order, make up ``shape``.
    """
    dt = np.dtype(dtype)
    h = hashlib.sha256()
    h.update(f"covering-fp-v1;dtype={dt.str};shape={tuple(int(s) for s in shape)};".encode())
    for chunk in chunks:
        c = np.ascontiguousarray(chunk)
        if c.dtype != dt:
            raise ValueError(f"chunk dtype {c.dtype} differs from {dt}")
        h.update(c.data if c.size else b"")
    return "sha256:" + h.hexdigest()
