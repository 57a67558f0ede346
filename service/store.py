"""Storage of one service instance: content-addressed datasets, cover artifacts and SQLite.

Layout of ``data_dir``::

    datasets/<sha256>.npy     uploaded arrays, named by the sha256 of their bytes
    covers/<id>.json          cover manifests         covers/<id>.npz   cover arrays
    curves/<id>.json          size-against-eta curves (created by the first curve job)
    tmp/                      uploads in flight (emptied at start-up)
    covering.sqlite           jobs and covers (WAL mode)
    covering.lock             held (flock) by the one service using the directory

Every id is validated against a strict pattern before it touches a path, so no request can
name a file outside these folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import numpy as np
from sqlalchemy import event, func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, create_engine, select

from service.errors import Conflict, HashMismatch, InvalidContent, NotFound, PayloadTooLarge
from service.lock import lock_data_dir
from service.models import FINAL_STATES, CoverRow, JobRow
from service.npy import DatasetInfo, inspect_npy, open_npy

RowT = TypeVar("RowT", JobRow, CoverRow)

__all__ = ["ID_RE", "SHA_RE", "Store", "check_id", "check_sha", "new_id"]

log = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
ID_RE = re.compile(r"^[0-9a-f]{32}$")
_WRITE_BATCH = 8 << 20


def check_sha(sha: str) -> str:
    """Return ``sha`` if it is 64 lowercase hex digits, else raise ``NotFound``."""
    if not isinstance(sha, str) or not SHA_RE.fullmatch(sha):
        raise NotFound(f"unknown dataset {sha!r}")
    return sha


def check_id(id_: str, what: str = "id") -> str:
    """Return ``id_`` if it is a 32-hex-digit id, else raise ``NotFound``."""
    if not isinstance(id_, str) or not ID_RE.fullmatch(id_):
        raise NotFound(f"unknown {what} {id_!r}")
    return id_


def new_id() -> str:
    """A fresh job/cover id (uuid4 hex)."""
    return uuid.uuid4().hex


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Files and database of a service instance (thread-safe).

    Parameters
    ----------
    data_dir : path-like
        Created if missing.

    Raises
    ------
    service.lock.DataDirInUse
        Another store (in this or another process) holds the directory: one service per
        data directory. The lock is released by :meth:`close` or when the process ends.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # first: a second server must not touch the files (it would empty tmp/ of the
        # first one's uploads in flight and run its jobs a second time)
        self._lock = lock_data_dir(self.root)
        self.datasets_dir = self.root / "datasets"
        self.covers_dir = self.root / "covers"
        self.tmp_dir = self.root / "tmp"
        try:
            for d in (self.datasets_dir, self.covers_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
            for stale in self.tmp_dir.iterdir():  # uploads cut off by a crash
                stale.unlink(missing_ok=True)
            self.engine = self._make_engine(self.root / "covering.sqlite")
            SQLModel.metadata.create_all(self.engine)
        except BaseException:
            self._lock.close()
            raise
        self._claim_lock = threading.Lock()
        self._info_cache: dict[str, DatasetInfo] = {}

    @staticmethod
    def _make_engine(path: Path) -> Engine:
        engine = create_engine(
            f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def journal_mode(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA journal_mode")).scalar())

    def close(self) -> None:
        """Close the database and release the data directory (idempotent)."""
        self.engine.dispose()
        with contextlib.suppress(OSError):
            self._lock.close()  # closing the descriptor releases the flock

    # ------------------------------------------------------------------ datasets
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
        _fsync_dir(self.datasets_dir)
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

    # ------------------------------------------------------------------ jobs
    def create_job(
        self,
        *,
        kind: str,
        params: dict[str, Any],
        dataset: str,
        labels: str | None = None,
        parent: str | None = None,
    ) -> JobRow:
        job = JobRow(
            id=new_id(),
            kind=kind,
            status="queued",
            params=json.dumps(params),
            dataset=dataset,
            labels=labels,
            parent=parent,
            cover_id=new_id(),
            created_at=time.time(),
        )
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(job)
            s.commit()
        return job

    def _get(self, model: type[RowT], row_id: str, kind: str) -> RowT:
        check_id(row_id, kind)
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(model, row_id)
        if row is None:
            raise NotFound(f"unknown {kind} {row_id}")
        return row

    def get_job(self, job_id: str) -> JobRow:
        return self._get(JobRow, job_id, "job")

    def claim_next(self) -> JobRow | None:
        """Mark the oldest queued job running and return it (None when the queue is empty)."""
        with self._claim_lock, Session(self.engine, expire_on_commit=False) as s:
            oldest = col(JobRow.created_at)
            job = s.exec(
                select(JobRow).where(JobRow.status == "queued").order_by(oldest).limit(1)
            ).first()
            if job is None:
                return None
            job.status = "running"
            job.started_at = time.time()
            job.attempts += 1
            job.stage, job.done, job.total = "starting", 0, 0
            s.add(job)
            s.commit()
            return job

    def set_progress(self, job_id: str, stage: str, done: int, total: int) -> None:
        with Session(self.engine) as s:
            job = s.get(JobRow, job_id)
            if job is not None and job.status == "running":
                job.stage, job.done, job.total = stage[:64], int(done), int(total)
                s.add(job)
                s.commit()

    def finish_job(self, job_id: str, status: str, error: str | None = None) -> None:
        """Record a final state (``failed``/``cancelled``) or put the job back (``queued``).

        A job already in a final state keeps it (a final state is final)."""
        with self._claim_lock, Session(self.engine) as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status in FINAL_STATES:
                return
            job.status = status
            job.error = error
            if status == "queued":
                job.started_at = None
                job.stage, job.done, job.total = "", 0, 0
            else:
                job.finished_at = time.time()
            s.add(job)
            s.commit()

    def complete_job(self, job_id: str, cover: CoverRow) -> bool:
        """Record the cover and mark its job succeeded, in one transaction; return True.

        A job with a cancel asked (``cancelling``) ends ``cancelled`` instead, and one already
        in a final state keeps it: the cover is then not recorded (False; the caller removes
        its files)."""
        with self._claim_lock, Session(self.engine) as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status in FINAL_STATES:
                return False
            if job.cancel_requested:
                job.status, job.error, job.finished_at = "cancelled", "cancelled", time.time()
                s.add(job)
                s.commit()
                return False
            existing = s.get(CoverRow, cover.id)
            if existing is not None:
                s.delete(existing)
                s.flush()
            s.add(cover)
            job.status = "succeeded"
            job.finished_at = time.time()
            job.error = None
            job.stage = "done"
            job.done = job.total = cover.n
            s.add(job)
            s.commit()
            return True

    def request_cancel(self, job_id: str) -> JobRow:
        """Cancel a queued job now; flag a running one (the worker stops it)."""
        check_id(job_id, "job")
        # the same lock as claim_next: a job is either claimed (running) or cancelled, never both
        with self._claim_lock, Session(self.engine, expire_on_commit=False) as s:
            job = s.get(JobRow, job_id)
            if job is None:
                raise NotFound(f"unknown job {job_id}")
            if job.status not in FINAL_STATES:
                job.cancel_requested = True
                if job.status == "queued":
                    job.status = "cancelled"
                    job.finished_at = time.time()
                    job.error = "cancelled before it started"
                s.add(job)
                s.commit()
            return job

    def recover(self) -> int:
        """At start-up: jobs left ``running`` by a crash are queued again (or cancelled if a
        cancel was requested). Returns how many jobs are queued now."""
        with Session(self.engine) as s:
            for job in s.exec(select(JobRow).where(JobRow.status == "running")).all():
                if job.cancel_requested:
                    job.status, job.finished_at = "cancelled", time.time()
                    job.error = "cancelled"
                else:
                    job.status, job.started_at = "queued", None
                    job.stage, job.done, job.total = "", 0, 0
                s.add(job)
            s.commit()
            n = len(s.exec(select(JobRow.id).where(JobRow.status == "queued")).all())
        return n

    def count_jobs(self, status: str) -> int:
        with Session(self.engine) as s:
            return int(
                s.exec(
                    select(func.count()).select_from(JobRow).where(JobRow.status == status)
                ).one()
            )

    # ------------------------------------------------------------------ curves
    # A curve job's result id is its ``cover_id`` column (the id of what the job produces).
    @property
    def curves_dir(self) -> Path:
        return self.root / "curves"

    def curve_path(self, curve_id: str) -> Path:
        return self.curves_dir / f"{check_id(curve_id, 'curve')}.json"

    def complete_curve(self, job_id: str, radii: int) -> bool:
        """Mark a curve job succeeded (its JSON is written); return True.

        A job with a cancel asked ends ``cancelled`` instead, and one already in a final state
        keeps it: False (the caller removes the curve's file)."""
        with self._claim_lock, Session(self.engine) as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status in FINAL_STATES:
                return False
            done = not job.cancel_requested
            job.status, job.finished_at = ("succeeded" if done else "cancelled"), time.time()
            job.error = None if done else "cancelled"
            if done:
                job.stage, job.done, job.total = "done", int(radii), int(radii)
            s.add(job)
            s.commit()
            return done

    def get_curve_job(self, curve_id: str) -> JobRow:
        """The succeeded curve job whose result is ``curve_id``; ``NotFound`` otherwise."""
        check_id(curve_id, "curve")
        with Session(self.engine, expire_on_commit=False) as s:
            job = s.exec(
                select(JobRow).where(JobRow.cover_id == curve_id, JobRow.kind == "curve")
            ).first()
        if job is None or job.status != "succeeded":
            raise NotFound(f"unknown curve {curve_id}")
        return job

    # ------------------------------------------------------------------ covers
    def manifest_path(self, cover_id: str) -> Path:
        return self.covers_dir / f"{check_id(cover_id, 'cover')}.json"

    def arrays_path(self, cover_id: str) -> Path:
        return self.covers_dir / f"{check_id(cover_id, 'cover')}.npz"

    def get_cover(self, cover_id: str) -> CoverRow:
        return self._get(CoverRow, cover_id, "cover")

    def delete_cover(self, cover_id: str) -> None:
        """Forget a cover: its row, then its manifest and arrays.

        The row goes first (in one transaction), so no reader finds a cover without its files;
        a crash before the files are unlinked leaves only unreferenced files. The job that made
        the cover keeps its record. Datasets are shared and stay.

        Raises
        ------
        NotFound
            No such cover.
        Conflict
            A queued or running job adds points to it (it reads the cover's files).
        """
        check_id(cover_id, "cover")
        with self._claim_lock, Session(self.engine) as s:
            row = s.get(CoverRow, cover_id)
            if row is None:
                raise NotFound(f"unknown cover {cover_id}")
            busy = s.exec(
                select(JobRow.id).where(
                    JobRow.parent == cover_id, col(JobRow.status).not_in(FINAL_STATES)
                )
            ).first()
            if busy is not None:
                raise Conflict(
                    f"job {busy} is adding points to cover {cover_id}: cancel it or wait "
                    "for it to end before deleting the cover"
                )
            s.delete(row)
            s.commit()
        for path in (self.manifest_path(cover_id), self.arrays_path(cover_id)):
            path.unlink(missing_ok=True)
        _fsync_dir(self.covers_dir)
        log.info("deleted cover %s", cover_id)


def _write_hash(fh: Any, h: Any, data: bytes) -> None:
    fh.write(data)
    h.update(data)


def _flush_close(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
