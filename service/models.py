"""SQLite tables (sqlmodel): jobs and covers."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

__all__ = ["FINAL_STATES", "JOB_STATES", "CoverRow", "JobRow"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


class JobRow(SQLModel, table=True):
    """One job: ``kind`` is ``"cover"`` or ``"add_points"``; ``params`` is JSON."""

    __tablename__ = "jobs"

    id: str = Field(primary_key=True)
    kind: str
    status: str = Field(index=True)
    params: str
    dataset: str
    labels: str | None = None
    parent: str | None = None
    cover_id: str
    stage: str = ""
    done: int = 0
    total: int = 0
    error: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None


class CoverRow(SQLModel, table=True):
    """A finished cover: its files are ``covers/<id>.json`` and ``covers/<id>.npz``."""

    __tablename__ = "covers"

    id: str = Field(primary_key=True)
    job_id: str
    dataset: str
    labels: str | None = None
    parent: str | None = None
    size: int
    n: int
    payload_sha256: str
    created_at: float
