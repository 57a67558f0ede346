"""Request and response bodies of the HTTP API (pydantic models, documented in OpenAPI)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from covering.api import METHODS
from covering.ids import ID_PATTERN, SHA_PATTERN
from covering.metrics import METRICS
from service.models import JobRow

__all__ = [
    "BUDGET_METHODS",
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
    "query_schema",
]

# the engine's names, one place (the OpenAPI enums; tests/service/test_schemas.py checks them)
if TYPE_CHECKING:
    Metric = str
    Method = str
else:
    Metric = Literal[METRICS]
    Method = Literal[METHODS]


_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")

#: budget-mode methods (the engine refuses the others with ``k``)
BUDGET_METHODS = ("auto", "kcenter")


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without its ``null`` alternative (and without ``default: null``)."""
    alts = prop.get("anyOf")
    if alts is None:
        return prop
    kept = [a for a in alts if a.get("type") != "null"]
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _one_mode(schema: dict[str, Any]) -> None:
    """Rewrite a cover-parameters object schema (in place) as ``oneOf`` its two modes.

    Radius mode: ``eta`` a number, ``k`` absent or null; budget mode: ``k`` an integer, ``eta``
    absent or null, ``method`` auto or kcenter. Each branch is a closed object, so the schema
    says exactly what the server accepts: one of eta and k (a null counts as absent).
    """
    props: dict[str, Any] = schema.pop("properties")
    required: list[str] = schema.pop("required", [])
    closed = schema.pop("additionalProperties", False)
    radius = {**props, "eta": _not_null(props["eta"]), "k": {"type": "null"}}
    budget = {
        **props,
        "k": _not_null(props["k"]),
        "eta": {"type": "null"},
        "method": {**props["method"], "enum": list(BUDGET_METHODS)},
    }
    schema["oneOf"] = [
        {
            "title": title,
            "type": "object",
            "properties": branch,
            "required": [*required, key],
            "additionalProperties": closed,
        }
        for title, branch, key in (("radius mode", radius, "eta"), ("budget mode", budget, "k"))
    ]


class CoverParams(BaseModel):
    """Parameters of a cover job (radius mode: ``eta``; budget mode: ``k``; exactly one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_mode)

    labels: str | None = Field(
        default=None, pattern=SHA_PATTERN, description="sha256 of uploaded 1-D integer labels"
    )
    # strict: JSON true, "1.5" or 2.5 (for k) are refused, not coerced; 2.0 is the integer 2
    # (as in JSON Schema, whose data model does not tell 2.0 from 2)
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

    @field_validator("k", "seed", mode="before")
    @classmethod
    def _integral(cls, v: object) -> object:
        """A float with no fractional part is the integer it equals (as in JSON Schema)."""
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    @model_validator(mode="after")
    def _one_mode(self) -> CoverParams:
        if (self.eta is None) == (self.k is None):
            raise ValueError("give exactly one of eta (radius mode) and k (budget mode)")
        if self.k is not None and self.method not in BUDGET_METHODS:
            raise ValueError(
                f"budget mode (k) uses method {' or '.join(BUDGET_METHODS)}, not {self.method!r}"
            )
        return self

    @classmethod
    def from_query(cls, query: dict[str, str]) -> CoverParams:
        """The parameters as a query gives them, every value a string: integers in decimal
        digits, numbers as JSON writes them; anything else is refused like a JSON value of the
        wrong type (``ValidationError``)."""
        typed: dict[str, object] = {}
        for name, raw in query.items():
            if name in ("k", "seed") and _INT_RE.fullmatch(raw):
                typed[name] = int(raw)
            elif name in ("eta", "time_limit") and _NUMBER_RE.fullmatch(raw):
                typed[name] = float(raw)
            else:
                typed[name] = raw
        return cls.model_validate(typed)

    def job_params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"labels"})


def query_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema for an exploded query object. A query has no null: a property
    that may be null is its non-null schema (leave the parameter out to say "none"), one that
    must be null (the other mode's key) is left out."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        if "properties" not in obj:
            return obj
        props = {
            name: _not_null(prop)
            for name, prop in obj["properties"].items()
            if prop.get("type") != "null"
        }
        return {**obj, "properties": props}

    schema = strip(model.model_json_schema())
    if "oneOf" in schema:
        schema["oneOf"] = [strip(b) for b in schema["oneOf"]]
    return schema


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
    status: Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"] = Field(
        description="``cancelling``: running, a cancel was asked (it ends ``cancelled`` at "
        "the job's next progress report, or ``succeeded`` never)"
    )
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
    """The API view of a job row (a running job with a cancel asked is ``cancelling``)."""
    status = "cancelling" if job.status == "running" and job.cancel_requested else job.status
    return JobOut(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
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
