"""Request and response bodies of the HTTP API (pydantic models, documented in OpenAPI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.models import JobRow

__all__ = [
    "ID_PATTERN",
    "SHA_PATTERN",
    "CoverParams",
    "CoverRequest",
    "DatasetOut",
    "ErrorOut",
    "HealthOut",
    "JobErrorOut",
    "JobOut",
    "PointsRequest",
    "ProgressOut",
    "job_out",
]

SHA_PATTERN = r"^[0-9a-f]{64}$"
ID_PATTERN = r"^[0-9a-f]{32}$"
Metric = Literal["l2", "linf", "cosine"]
Method = Literal["auto", "greedy", "net", "milp", "kcenter"]


class CoverParams(BaseModel):
    """Parameters of a cover job (radius mode: ``eta``; budget mode: ``k``; exactly one)."""

    model_config = ConfigDict(extra="forbid")

    labels: str | None = Field(
        default=None, pattern=SHA_PATTERN, description="sha256 of uploaded 1-D integer labels"
    )
    # strict: JSON true, "1.5" or 2.0 (for k) are refused, not coerced
    eta: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, strict=True, description="cover radius"
    )
    k: int | None = Field(default=None, ge=1, le=1 << 40, strict=True, description="centre budget")
    metric: Metric = "l2"
    method: Method = "auto"
    seed: int = Field(default=0, ge=0, le=2**31 - 1, strict=True)
    time_limit: float | None = Field(
        default=None,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        strict=True,
        description="seconds per class for the exact solver",
    )

    @model_validator(mode="after")
    def _one_mode(self) -> CoverParams:
        if (self.eta is None) == (self.k is None):
            raise ValueError("give exactly one of eta (radius mode) and k (budget mode)")
        return self

    def job_params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"labels"})


class CoverRequest(CoverParams):
    """JSON form of ``POST /cover``: names an uploaded dataset (and labels)."""

    dataset: str = Field(pattern=SHA_PATTERN, description="sha256 of an uploaded embedding")


class PointsRequest(BaseModel):
    """JSON form of ``POST /covers/{id}/points``: new rows (and labels) already uploaded."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=SHA_PATTERN)
    labels: str | None = Field(default=None, pattern=SHA_PATTERN)


class DatasetOut(BaseModel):
    sha256: str
    kind: Literal["embedding", "labels"]
    shape: list[int]
    dtype: str
    bytes: int


class ProgressOut(BaseModel):
    stage: str
    done: int
    total: int


class JobOut(BaseModel):
    """State of a job; ``cover`` (``curve`` for a curve job) is the id of its result once it
    succeeded."""

    id: str
    kind: Literal["cover", "add_points", "curve"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: ProgressOut
    error: str | None
    cover: str | None
    curve: str | None = Field(
        default=None, description="a curve job's result, GET /curves/{curve}, once it succeeded"
    )
    parent: str | None
    dataset: str
    labels: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class ErrorOut(BaseModel):
    """Every error: ``detail`` is a message (or, for malformed requests, a list of problems)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[dict[str, Any]]


class JobErrorOut(BaseModel):
    """A job waited on ended without a cover (422: failed, 409: cancelled)."""

    detail: str
    job: JobOut


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_out(job: JobRow) -> JobOut:
    """The API view of a job row."""
    return JobOut(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=job.status,  # type: ignore[arg-type]
        progress=ProgressOut(stage=job.stage, done=job.done, total=job.total),
        error=job.error,
        cover=job.cover_id if job.status == "succeeded" and job.kind != "curve" else None,
        curve=job.cover_id if job.status == "succeeded" and job.kind == "curve" else None,
        parent=job.parent,
        dataset=job.dataset,
        labels=job.labels,
        created_at=_iso(job.created_at) or "",
        started_at=_iso(job.started_at),
        finished_at=_iso(job.finished_at),
    )
