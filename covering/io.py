"""Atomic artifact I/O: cover arrays as ``.npz``, manifests as JSON (temp file + fsync + rename)."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from covering.manifest import INLINE_MAX_CENTRES, Manifest
from covering.result import Cover

__all__ = [
    "cover_arrays",
    "fsync_dir",
    "open_atomic",
    "output_problem",
    "read_npz",
    "write_bytes_atomic",
    "write_cover",
    "write_npz_atomic",
]

_NPZ_KEYS = ("indices", "weights", "assignment", "labels")
#: longest file name (bytes) on common file systems
_NAME_MAX = 255


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


def output_problem(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> str | None:
    """Why a file cannot be written at ``path``, or None.

    Problems: ``path`` is a directory, is one of ``inputs`` (files the same command reads: it
    would destroy them; also through a symbolic link, a ``..`` path or a hard link), its name is
    too long for the file system, or its directory is missing or not writable. A symbolic link
    ``path`` is judged by its target, which is what :func:`write_bytes_atomic` writes. Entry
    points call it before any work, so a long job never ends on an unwritable output.
    """
    p = Path(path)
    if _name_too_long(p):  # before any stat: it would fail with ENAMETOOLONG
        return f"the file name is longer than {_NAME_MAX} bytes"
    try:
        if p.is_dir():
            return "is a directory: give a file name"
        try:
            target = _target(p)
        except RuntimeError:  # a symbolic link loop (Python < 3.13)
            return "is a symbolic link that leads nowhere (a loop)"
        for other in inputs:
            if other is not None and _same_file(target, Path(other)):
                return f"is also an input ({other}): writing it would destroy that input"
        if _name_too_long(target):
            return f"the file name is longer than {_NAME_MAX} bytes"
        if not target.parent.is_dir():
            return f"directory {target.parent} does not exist"
        if not os.access(target.parent, os.W_OK | os.X_OK):
            return f"directory {target.parent} is not writable"
    except OSError as exc:  # e.g. a symbolic link loop (3.13), a path too long
        return f"cannot be written ({exc.strerror or exc})"
    return None


def _name_too_long(p: Path) -> bool:
    return len(p.name.encode(errors="surrogateescape")) > _NAME_MAX


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` (both may be missing) name one existing file."""
    try:
        return b.exists() and (a.resolve() == b.resolve() or (a.exists() and a.samefile(b)))
    except (OSError, RuntimeError):
        return False


def _target(p: Path) -> Path:
    """``p``, or the file a symbolic link ``p`` points to (writes go to the target)."""
    return p.resolve(strict=False) if p.is_symlink() else p


def _tmp_name(p: Path) -> Path:
    """A temporary file beside ``p`` whose name fits any file system (<= 255 bytes)."""
    head = p.name.encode()[:64].decode(errors="ignore")  # 64 bytes, whole characters
    return p.with_name(f".{head}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def open_atomic(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``path`` atomically when the block ends.

    Written to a temporary file beside ``path`` (beside the target when ``path`` is a symbolic
    link, which stays a link), fsynced, then renamed over it; readers see the old file or the
    new one, never half. When the block raises, ``path`` is untouched and no temporary file
    is left behind.
    """
    p = _target(Path(path))
    tmp = _tmp_name(p)
    try:
        with tmp.open("wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. ``path`` is a directory: leave nothing behind
        raise
    fsync_dir(p.parent)


def fsync_dir(directory: str | Path) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk; a no-op where
    directories cannot be opened."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with open_atomic(path) as fh:
        fh.write(data)


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> str:
    """Write arrays as an uncompressed ``.npz`` atomically; return the file's sha256 hex."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def write_cover(
    path: str | Path,
    cover: Cover,
    *,
    always_arrays: bool = False,
    arrays_path: str | Path | None = None,
    payload_url: str | None = None,
    inline_max: int = INLINE_MAX_CENTRES,
    cover_id: str | None = None,
    parent: str | None = None,
    indent: int | None = None,
) -> Manifest:
    """Write a cover's manifest (JSON) and, when needed, its arrays (``.npz``), atomically.

    The one writer of cover files (``covering cover`` and the service's jobs). The centres go
    into the manifest when there are at most ``inline_max``; the arrays are written when
    ``always_arrays`` is set or the centres are not inline, before the manifest (which names
    their sha256), so a manifest never points to arrays that are not there yet.

    Parameters
    ----------
    path : path-like
        The manifest's file.
    cover : Cover
    always_arrays : bool
        Write the arrays even when the centres are inline (the service always keeps them).
    arrays_path : path-like, optional
        The arrays' file (default: ``path`` with the suffix ``.npz``).
    payload_url : str, optional
        Where the manifest says the arrays are (default: the arrays' file name, beside it).
    inline_max : int
        Most centres kept inline (default :data:`covering.manifest.INLINE_MAX_CENTRES`).
    cover_id, parent : str, optional
        As in :meth:`covering.Manifest.from_cover`.
    indent : int, optional
        JSON indentation (None: compact).

    Returns
    -------
    Manifest
        The manifest written (``payload.sha256`` is the arrays' sha256 when they were written).
    """
    inline = cover.size <= inline_max
    url = sha = None
    if always_arrays or not inline:
        npz = Path(arrays_path) if arrays_path is not None else Path(path).with_suffix(".npz")
        sha = write_npz_atomic(npz, cover_arrays(cover))
        url = payload_url if payload_url is not None else npz.name
    manifest = Manifest.from_cover(
        cover, cover_id=cover_id, parent=parent, inline=inline, payload_url=url, payload_sha256=sha
    )
    write_bytes_atomic(path, manifest.model_dump_json(indent=indent).encode())
    return manifest


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
