"""``POST /curve`` (a job: greedy cover size against eta on an uploaded dataset) and
``GET /curves/{id}`` (its result).

The job runs :func:`covering.size_curve` in the same queue and workers as cover jobs (progress
stage ``curve``: radii done out of all; ``DELETE /jobs/{id}`` cancels it); its result is a JSON
file in the data directory, linked from ``GET /jobs/{id}`` as ``curve`` once it succeeded.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from covering.errors import one_line
from service.deps import AppState, Authorized, State
from service.errors import InvalidContent, NotFound, UnsupportedMediaType
from service.http import error_responses, media_type, read_json_body, wait_for_job
from service.models import JobRow
from service.schemas import (
    ID_PATTERN,
    SHA_PATTERN,
    ErrorOut,
    JobErrorOut,
    JobOut,
    Metric,
    job_out,
)

__all__ = ["MAX_RADII", "CurveOut", "CurveRequest", "router"]

router = APIRouter(tags=["curves"], dependencies=[Authorized])

#: most radii of one curve (``etas`` items or ``num``)
MAX_RADII = 1000

Eta = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


class CurveRequest(BaseModel):
    """JSON body of ``POST /curve``: an uploaded dataset (and labels) and the radii.

    Radii: ``etas`` (a list), or ``eta_min`` and ``eta_max`` (with ``num``: that many radii
    spaced geometrically, default 16), or neither (``num`` radii, default 16, from a quarter
    of the radius at which a cover has about 1 % of the rows up to that radius).
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=SHA_PATTERN, description="sha256 of an uploaded embedding")
    labels: str | None = Field(
        default=None, pattern=SHA_PATTERN, description="sha256 of uploaded 1-D integer labels"
    )
    etas: list[Eta] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_RADII,
        description="radii (> 0; sorted, repeats dropped); not with eta_min/eta_max/num",
    )
    eta_min: Eta | None = Field(default=None, description="smallest radius of a range")
    eta_max: Eta | None = Field(default=None, description="largest radius of a range")
    num: int | None = Field(
        default=None, ge=2, le=MAX_RADII, strict=True, description="radii in the range"
    )
    metric: Metric = "l2"
    seed: int = Field(default=0, ge=0, le=2**31 - 1, strict=True)

    @field_validator("num", "seed", mode="before")
    @classmethod
    def _integral(cls, v: object) -> object:
        """A float with no fractional part is the integer it equals (as in JSON Schema)."""
        return int(v) if isinstance(v, float) and v.is_integer() else v

    def check_radii(self) -> None:
        """The rules across fields (``InvalidContent``): etas or a range, a range's ends."""
        if self.etas is not None and (
            self.eta_min is not None or self.eta_max is not None or self.num is not None
        ):
            raise InvalidContent("give either etas or a range (eta_min, eta_max, num), not both")
        if (self.eta_min is None) != (self.eta_max is None):
            raise InvalidContent("a range needs both eta_min and eta_max")
        if self.eta_min is not None and self.eta_max is not None and self.eta_min >= self.eta_max:
            raise InvalidContent(
                f"eta_min ({self.eta_min:g}) must be smaller than eta_max ({self.eta_max:g})"
            )

    def job_params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"dataset", "labels"})


class CurveOut(BaseModel):
    """A size-against-eta curve: ``sizes[j]`` centres (greedy radius-mode cover, all classes)
    at radius ``etas[j]``; ``class_sizes[c][j]`` the same for class ``classes[c]`` (one row,
    class -1, without labels). As ``covering.SizeCurve.to_dict()`` plus the ids."""

    curve_id: str
    job_id: str
    dataset: str
    labels: str | None
    n: int
    metric: str
    etas: list[float]
    sizes: list[int]
    fractions: list[float]
    classes: list[int]
    class_counts: list[int]
    class_sizes: list[list[int]]
    seconds: float
    notes: list[str]


CurveId = Annotated[str, Path(pattern=ID_PATTERN, description="curve id (32 hex digits)")]
Wait = Annotated[
    float,
    Query(
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="seconds to wait for the result (capped by the server): 200 + the curve "
        "when done in time, else 202",
    ),
]

_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CurveRequest.model_json_schema()}},
    }
}


def _check_inputs(state: AppState, dataset: str, labels: str | None) -> None:
    info = state.store.dataset_info(dataset)
    if info.kind != "embedding":
        raise InvalidContent(f"dataset {dataset} holds labels, not a 2-D float embedding")
    if labels is not None:
        lab = state.store.dataset_info(labels)
        if lab.kind != "labels":
            raise InvalidContent(f"labels {labels} is a 2-D embedding, not 1-D integer labels")
        if lab.shape[0] != info.shape[0]:
            raise InvalidContent(
                f"labels have {lab.shape[0]} rows, the dataset has {info.shape[0]}"
            )


def _answer(state: AppState, job: JobRow) -> Response:
    """200 with the curve when the job succeeded, 422/409 when it failed/was cancelled, else
    202 with the job and ``Location: /jobs/{id}``."""
    loc = {"Location": f"/jobs/{job.id}"}
    if job.status == "succeeded":
        return Response(
            state.store.curve_path(job.cover_id).read_bytes(),
            media_type="application/json",
            headers={"Location": f"/curves/{job.cover_id}"},
        )
    out = job_out(job)
    if job.status in ("failed", "cancelled"):
        err = JobErrorOut(
            detail=f"job {job.id} {job.status}: {job.error or ''}".rstrip(": "), job=out
        )
        return JSONResponse(
            err.model_dump(), status_code=422 if job.status == "failed" else 409, headers=loc
        )
    return JSONResponse(out.model_dump(), status_code=202, headers=loc)


@router.post(
    "/curve",
    status_code=202,
    responses={
        200: {"model": CurveOut, "description": "done within ?wait: the curve"},
        202: {
            "model": JobOut,
            "description": "accepted; poll the job at Location",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        409: {"model": JobErrorOut, "description": "the job was cancelled while waiting"},
        **error_responses(400, 401, 404, 413, 415),
        422: {
            "model": ErrorOut,
            "description": "invalid parameters, or the job failed (then with the job as in "
            "JobErrorOut)",
        },
    },
    openapi_extra=_JSON_BODY,
    summary="Cover size against eta on an uploaded dataset (a job)",
)
async def post_curve(request: Request, state: State, wait: Wait = 0) -> Response:
    """JSON ``{dataset, labels?, etas? | eta_min?, eta_max?, num?, metric?, seed?}``. 202 +
    ``Location: /jobs/{id}``; with ``?wait=S`` the curve (200) when the job ends within S
    seconds. The sizes are those of ``covering.size_curve`` on the same data."""
    mt = media_type(request)
    if mt != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type {mt or '(none)'!r} is not accepted: send application/json naming "
            "an uploaded dataset (PUT /datasets/{sha256} first)"
        )
    extra = sorted(set(request.query_params) - {"wait"})
    if extra:
        raise InvalidContent(f"parameters go in the JSON body (only ?wait is read); got {extra}")
    try:
        req = CurveRequest.model_validate_json(await read_json_body(request))
    except ValidationError as exc:
        raise InvalidContent(one_line(exc)) from None
    # unknown ids (404) before the rules across fields: a body its schema allows is refused
    # only for what the schema cannot say
    await asyncio.to_thread(_check_inputs, state, req.dataset, req.labels)
    req.check_radii()
    row: JobRow = await asyncio.to_thread(
        lambda: state.store.create_job(
            kind="curve", params=req.job_params(), dataset=req.dataset, labels=req.labels
        )
    )
    state.worker.wake()
    if wait > 0:
        row = await wait_for_job(state, row.id, wait)
    return await asyncio.to_thread(_answer, state, row)


@router.get(
    "/curves/{curve_id}",
    responses={200: {"model": CurveOut}, **error_responses(401, 404, 422)},
    response_class=Response,
    summary="A size-against-eta curve (JSON)",
)
def get_curve(curve_id: CurveId, state: State) -> Response:
    state.store.get_curve_job(curve_id)
    path = state.store.curve_path(curve_id)
    if not path.is_file():
        raise NotFound(f"curve {curve_id} has no file")
    return Response(path.read_bytes(), media_type="application/json")
