"""Safe inspection of uploaded ``.npy`` files: header, dtype, shape, size and finiteness.

Nothing here ever unpickles: the header is parsed by NumPy's literal parser, object and
structured dtypes are refused before any data is touched, and the data is only memory-mapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from service.errors import InvalidContent

__all__ = ["NPY_MAGIC", "DatasetInfo", "inspect_npy", "open_npy"]

NPY_MAGIC = b"\x93NUMPY"
_CHUNK_BYTES = 32 << 20
_MAX_HEADER = 10_000


@dataclass(frozen=True)
class DatasetInfo:
    """What a stored dataset is.

    Attributes
    ----------
    sha256 : str
        Hex sha256 of the ``.npy`` file's bytes (its id).
    kind : {"embedding", "labels"}
        2-D float rows, or 1-D integer labels.
    shape : tuple of int
    dtype : str
        NumPy dtype name, e.g. ``"float32"``.
    nbytes : int
        Size of the ``.npy`` file.
    """

    sha256: str
    kind: Literal["embedding", "labels"]
    shape: tuple[int, ...]
    dtype: str
    nbytes: int

    def as_json(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "bytes": self.nbytes,
        }


def _read_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    with path.open("rb") as fh:
        if fh.read(6) != NPY_MAGIC:
            raise InvalidContent("not a .npy file (bad magic string)")
        fh.seek(0)
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                    fh, max_header_size=_MAX_HEADER
                )
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                    fh, max_header_size=_MAX_HEADER
                )
            else:
                raise InvalidContent(f".npy format version {version} is not supported")
        except InvalidContent:
            raise
        except Exception as exc:
            raise InvalidContent(f"malformed .npy header: {exc}") from None
        return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype), fh.tell()


def inspect_npy(path: str | Path, sha256: str) -> DatasetInfo:
    """Check an uploaded ``.npy`` file thoroughly and describe it.

    Accepts a 2-D float16/32/64 array (an embedding, shape ``(n, d)`` with n, d >= 1) or a 1-D
    integer array (labels, n >= 1), native byte order, whose body has exactly the size the
    header announces and whose values are all finite.

    Parameters
    ----------
    path : path-like
        The file (typically a temp file still being checked).
    sha256 : str
        Its hex sha256, recorded in the result.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    InvalidContent
        With a message naming the first problem found.
    """
    p = Path(path)
    shape, _fortran, dtype, offset = _read_header(p)
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise InvalidContent(
            f"dtype {dtype} is not allowed: only plain numeric arrays "
            "(object/pickled and structured arrays are refused)"
        )
    if dtype.byteorder not in ("=", "|", "<" if np.little_endian else ">"):
        raise InvalidContent(f"dtype {dtype.str} is not in native byte order")
    if len(shape) == 2 and dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        kind: Literal["embedding", "labels"] = "embedding"
        if shape[0] < 1 or shape[1] < 1:
            raise InvalidContent(f"embedding shape {shape} is empty")
    elif len(shape) == 1 and dtype.kind in "iu":
        kind = "labels"
        if shape[0] < 1:
            raise InvalidContent("labels array is empty")
    else:
        raise InvalidContent(
            f"expected a 2-D float16/32/64 embedding or 1-D integer labels, got a "
            f"{len(shape)}-D {dtype} array"
        )
    expected = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = os.path.getsize(p)
    if actual < expected:
        raise InvalidContent(
            f"truncated .npy: the header announces {expected} bytes, the body has {actual}"
        )
    if actual > expected:
        raise InvalidContent(f".npy has {actual - expected} bytes after the array data")
    arr = open_npy(p)
    if kind == "embedding":
        row = max(1, arr.shape[1] * dtype.itemsize)
        step = max(1, _CHUNK_BYTES // row)
        for s in range(0, arr.shape[0], step):
            if not np.isfinite(arr[s : s + step]).all():
                raise InvalidContent(
                    "the embedding has NaN or infinite values "
                    f"(in rows {s}..{min(s + step, arr.shape[0]) - 1})"
                )
    del arr
    return DatasetInfo(sha256=sha256, kind=kind, shape=shape, dtype=dtype.name, nbytes=actual)


def open_npy(path: str | Path) -> np.ndarray:
    """Memory-map a checked ``.npy`` read-only (never unpickles)."""
    try:
        arr = np.load(Path(path), mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise InvalidContent(f"unreadable .npy: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise InvalidContent("not a .npy array")
    return arr
