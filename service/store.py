"""Storage of one service instance: its data directory, as one object for the app.

Layout of ``data_dir``::

    datasets/<sha256>.npy     uploaded arrays, named by the sha256 of their bytes
    covers/<id>.json          cover manifests         covers/<id>.npz   cover arrays
    curves/<id>.json          size-against-eta curves (created by the first curve job)
    tmp/                      uploads in flight (emptied at start-up)
    covering.sqlite           jobs and covers (WAL mode)
    covering.lock             held (flock) by the one service using the directory

:class:`Store` is the content-addressed dataset store
(:class:`~service.datasets_store.DatasetStore`) and the job repository
(:class:`~service.jobs_repo.JobRepo`) over one directory, plus the paths of the cover and
curve files. Every id is validated against a strict pattern (:mod:`service.ids`) before it
touches a path, so no request can name a file outside these folders.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from sqlalchemy import text

from covering.io import fsync_dir
from service.datasets_store import DatasetStore
from service.ids import ID_RE, SHA_RE, check_id, check_sha, new_id
from service.jobs_repo import JobRepo, open_database
from service.lock import lock_data_dir

__all__ = ["ID_RE", "SHA_RE", "Store", "check_id", "check_sha", "new_id"]

log = logging.getLogger(__name__)


class Store(DatasetStore, JobRepo):
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
        self.covers_dir = self.root / "covers"
        try:
            DatasetStore.__init__(self, self.root / "datasets", self.root / "tmp")
            self.covers_dir.mkdir(parents=True, exist_ok=True)
            JobRepo.__init__(self, open_database(self.root / "covering.sqlite"))
        except BaseException:
            self._lock.close()
            raise

    def journal_mode(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA journal_mode")).scalar())

    def close(self) -> None:
        """Close the database and release the data directory (idempotent)."""
        self.engine.dispose()
        with contextlib.suppress(OSError):
            self._lock.close()  # closing the descriptor releases the flock

    # ------------------------------------------------------------------ curves
    @property
    def curves_dir(self) -> Path:
        return self.root / "curves"

    def curve_path(self, curve_id: str) -> Path:
        return self.curves_dir / f"{check_id(curve_id, 'curve')}.json"

    # ------------------------------------------------------------------ covers
    def manifest_path(self, cover_id: str) -> Path:
        return self.covers_dir / f"{check_id(cover_id, 'cover')}.json"

    def arrays_path(self, cover_id: str) -> Path:
        return self.covers_dir / f"{check_id(cover_id, 'cover')}.npz"

    def delete_cover(self, cover_id: str) -> None:
        """Forget a cover: its row, then its manifest and arrays.

        The row goes first (in one transaction), so no reader finds a cover without its files;
        a crash before the files are unlinked leaves only unreferenced files. The job that made
        the cover keeps its record. Datasets are shared and stay. ``NotFound`` and
        ``Conflict`` (a job extends the cover) as :meth:`~service.jobs_repo.JobRepo.forget_cover`.
        """
        self.forget_cover(cover_id)
        for path in (self.manifest_path(cover_id), self.arrays_path(cover_id)):
            path.unlink(missing_ok=True)
        fsync_dir(self.covers_dir)
        log.info("deleted cover %s", cover_id)
