"""The jobs and covers of a service in SQLite (WAL): creating jobs, their state transitions
and lookups.

A job is ``queued``, then ``running`` once a worker claims it, and ends ``succeeded``,
``failed`` or ``cancelled``; a final state is final. A cancel cancels a queued job at once and
flags a running one (``cancel_requested``: the API shows ``cancelling``), which then ends
``cancelled``. At start-up, :meth:`JobRepo.recover` queues again the jobs a crash left running.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, create_engine, select

from service.errors import Conflict, NotFound
from service.ids import check_id, new_id
from service.models import FINAL_STATES, CoverRow, JobRow

RowT = TypeVar("RowT", JobRow, CoverRow)

__all__ = ["JobRepo", "open_database"]


def open_database(path: Path) -> Engine:
    """The SQLite database at ``path`` (WAL, full sync), its tables created if missing."""
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

    SQLModel.metadata.create_all(engine)
    return engine


class JobRepo:
    """Jobs and covers of one database (thread-safe).

    Parameters
    ----------
    engine : sqlalchemy Engine
        From :func:`open_database`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # held by every transition that reads a state and writes the next one, so that a job
        # is either claimed or cancelled, never both
        self._claim_lock = threading.Lock()

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

    # A curve job's result id is its ``cover_id`` column (the id of what the job produces).
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

    def get_cover(self, cover_id: str) -> CoverRow:
        return self._get(CoverRow, cover_id, "cover")

    def forget_cover(self, cover_id: str) -> None:
        """Delete a cover's row (its files are the caller's: :meth:`Store.delete_cover`).

        The job that made the cover keeps its record.

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
