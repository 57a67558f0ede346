"""Content fingerprints of arrays: ``"sha256:<hex>"`` over dtype, shape and C-order bytes."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["fingerprint"]

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
    h = hashlib.sha256()
    h.update(f"covering-fp-v1;dtype={arr.dtype.str};shape={tuple(arr.shape)};".encode())
    if arr.ndim == 0 or arr.size == 0:
        h.update(np.ascontiguousarray(arr).tobytes())
        return "sha256:" + h.hexdigest()
    row_bytes = max(1, arr.itemsize * (arr.size // arr.shape[0]))
    step = max(1, _CHUNK_ROWS_BYTES // row_bytes)
    for start in range(0, arr.shape[0], step):
        h.update(np.ascontiguousarray(arr[start : start + step]).data)
    return "sha256:" + h.hexdigest()
