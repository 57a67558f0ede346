"""Atomic artifact I/O: cover arrays as ``.npz``, manifests as JSON (temp file + fsync + rename)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from covering.result import Cover

__all__ = [
    "cover_arrays",
    "output_problem",
    "read_npz",
    "write_bytes_atomic",
    "write_npz_atomic",
]

_NPZ_KEYS = ("indices", "weights", "assignment", "labels")


def cover_arrays(cover: Cover) -> dict[str, np.ndarray]:
    """``indices``, ``weights``, ``assignment`` (int64) and ``labels`` (int64, empty if none)."""
    return {
        "indices": np.asarray(cover.indices, dtype=np.int64),
        "weights": np.asarray(cover.weights, dtype=np.int64),
        "assignment": np.asarray(cover.assignment, dtype=np.int64),
        "labels": np.zeros(0, np.int64)
        if cover.labels is None
        else np.asarray(cover.labels, dtype=np.int64),
    }


def output_problem(path: str | Path) -> str | None:
    """Why a file cannot be written at ``path`` (a directory, or no parent directory), or None.

    Entry points call it before any work, so a long job never ends on an unwritable output.
    """
    p = Path(path)
    if p.is_dir():
        return "is a directory: give a file name"
    if not p.parent.is_dir():
        return f"directory {p.parent} does not exist"
    return None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. ``path`` is a directory: leave nothing behind
        raise
    try:
        dfd = os.open(p.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> str:
    """Write arrays as an uncompressed ``.npz`` atomically; return the file's sha256 hex."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read a cover ``.npz`` (never unpickles); raise ``ValueError`` when malformed."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            out = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable cover .npz ({exc})") from None
    for key in ("indices", "weights"):
        if key not in out:
            raise ValueError(f"{path}: missing array {key!r}")
        if out[key].dtype.kind not in "iu" or out[key].ndim != 1:
            raise ValueError(f"{path}: {key!r} must be a 1-D integer array")
    return out
