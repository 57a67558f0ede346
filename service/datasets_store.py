"""Content-addressed datasets of a service: ``datasets/<sha256>.npy``, named by the sha256 of
their bytes, written through ``tmp/`` (uploads in flight) and renamed into place."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import anyio
import numpy as np

from covering.io import fsync_dir
from service.errors import HashMismatch, InvalidContent, NotFound, PayloadTooLarge
from service.ids import check_sha
from service.npy import DatasetInfo, inspect_npy, open_npy

__all__ = ["DatasetStore"]

log = logging.getLogger(__name__)

_WRITE_BATCH = 8 << 20


class DatasetStore:
    """Uploaded and computed arrays, stored once per content (thread-safe).

    Parameters
    ----------
    datasets_dir, tmp_dir : Path
        Created if missing; ``tmp_dir`` is emptied (uploads a crash cut off), so it must be
        this store's alone.
    """

    def __init__(self, datasets_dir: Path, tmp_dir: Path) -> None:
        self.datasets_dir = datasets_dir
        self.tmp_dir = tmp_dir
        for d in (datasets_dir, tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        for stale in tmp_dir.iterdir():  # uploads cut off by a crash
            stale.unlink(missing_ok=True)
        self._info_cache: dict[str, DatasetInfo] = {}

    def dataset_path(self, sha: str) -> Path:
        return self.datasets_dir / f"{check_sha(sha)}.npy"

    def dataset_info(self, sha: str) -> DatasetInfo:
        """Describe a stored dataset; ``NotFound`` if there is none with this sha256."""
        cached = self._info_cache.get(sha)
        if cached is not None:
            return cached
        p = self.dataset_path(sha)
        if not p.is_file():
            raise NotFound(f"unknown dataset {sha}")
        arr = open_npy(p)
        kind: Literal["embedding", "labels"] = "embedding" if arr.ndim == 2 else "labels"
        info = DatasetInfo(
            sha256=sha,
            kind=kind,
            shape=tuple(int(s) for s in arr.shape),
            dtype=arr.dtype.name,
            nbytes=p.stat().st_size,
        )
        del arr
        self._info_cache[sha] = info
        return info

    def load(self, sha: str) -> np.ndarray:
        """Memory-map a stored dataset read-only."""
        p = self.dataset_path(sha)
        if not p.is_file():
            raise NotFound(f"unknown dataset {sha}")
        return open_npy(p)

    async def ingest(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        expected_sha: str | None = None,
        declared_length: int | None = None,
    ) -> tuple[DatasetInfo, bool]:
        """Stream an upload to a temp file while hashing it, check it, then store it.

        Parameters
        ----------
        chunks : async iterator of bytes
            The request body.
        max_bytes : int
            Larger bodies raise ``PayloadTooLarge`` as soon as the limit is crossed (or before
            reading when ``declared_length`` already exceeds it); nothing is kept.
        expected_sha : str, optional
            ``HashMismatch`` unless the body's sha256 equals it.

        Returns
        -------
        (DatasetInfo, bool)
            The stored dataset and whether it was new.
        """
        if declared_length is not None and declared_length > max_bytes:
            raise PayloadTooLarge(
                f"body of {declared_length} bytes exceeds the limit of {max_bytes} bytes"
            )
        tmp = self.tmp_dir / f"upload-{uuid.uuid4().hex}.part"
        h = hashlib.sha256()
        size = 0
        fh = await anyio.to_thread.run_sync(tmp.open, "wb")
        try:
            pending: list[bytes] = []
            buffered = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"body exceeds the limit of {max_bytes} bytes")
                pending.append(chunk)
                buffered += len(chunk)
                if buffered >= _WRITE_BATCH:
                    data, pending, buffered = b"".join(pending), [], 0
                    await anyio.to_thread.run_sync(_write_hash, fh, h, data)
            if pending:
                await anyio.to_thread.run_sync(_write_hash, fh, h, b"".join(pending))
            await anyio.to_thread.run_sync(_flush_close, fh)
            if size == 0:
                raise InvalidContent("empty body: expected a .npy file")
            sha = h.hexdigest()
            if expected_sha is not None and sha != expected_sha:
                raise HashMismatch(f"body sha256 is {sha}, the URL names {expected_sha}")
            return await anyio.to_thread.run_sync(self._finalise, tmp, sha)
        finally:
            if not fh.closed:
                fh.close()
            tmp.unlink(missing_ok=True)

    def _finalise(self, tmp: Path, sha: str) -> tuple[DatasetInfo, bool]:
        final = self.dataset_path(sha)
        if final.is_file():
            return self.dataset_info(sha), False
        info = inspect_npy(tmp, sha)
        os.replace(tmp, final)
        fsync_dir(self.datasets_dir)
        self._info_cache[sha] = info
        log.info("stored dataset %s (%s %s %s)", sha, info.kind, info.shape, info.dtype)
        return info, True

    def put_array(self, array: np.ndarray) -> DatasetInfo:
        """Store an array computed by the service itself (e.g. a concatenation)."""
        tmp = self.tmp_dir / f"array-{uuid.uuid4().hex}.part"
        try:
            with tmp.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            h = hashlib.sha256()
            with tmp.open("rb") as fh:
                for block in iter(lambda: fh.read(_WRITE_BATCH), b""):
                    h.update(block)
            return self._finalise(tmp, h.hexdigest())[0]
        finally:
            tmp.unlink(missing_ok=True)


def _write_hash(fh: Any, h: Any, data: bytes) -> None:
    fh.write(data)
    h.update(data)


def _flush_close(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
