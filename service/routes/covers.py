"""``POST /cover`` (JSON) and ``POST /cover/npy`` (the one-call raw ``.npy`` form),
``GET``/``DELETE /covers/{id}``, ``GET /covers/{id}/arrays`` and ``POST /covers/{id}/points``
(JSON) and ``.../points/npy`` (raw).

Each form is its own route so that the OpenAPI schema says exactly what is accepted: the JSON
form reads no query parameter but ``wait``, the raw form reads its parameters from the query."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError

from covering import Manifest
from covering.errors import one_line
from service.deps import AppState, Authorized, State
from service.errors import Conflict, InvalidContent, NotFound, UnsupportedMediaType
from service.http import (
    BINARY,
    NPY_TYPES,
    binary_body_openapi,
    error_responses,
    finished_or_accepted,
    ingest_body,
    json_body_openapi,
    media_type,
    read_json_body,
    require_npy,
    wait_for_job,
)
from service.models import CoverRow, JobRow
from service.npy import DatasetInfo
from service.schemas import (
    ID_PATTERN,
    SHA_PATTERN,
    CoverParams,
    CoverRequest,
    ErrorOut,
    JobErrorOut,
    JobOut,
    PointsRequest,
    query_schema,
)

__all__ = ["router"]

router = APIRouter(tags=["covers"], dependencies=[Authorized])

CoverId = Annotated[str, Path(pattern=ID_PATTERN, description="cover id (32 hex digits)")]
Wait = Annotated[
    float,
    Query(
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="seconds to wait for the result (capped by the "
        "server): 200 + manifest when done in time, else 202",
    ),
]
LabelsQ = Annotated[
    str | None, Query(pattern=SHA_PATTERN, description="sha256 of uploaded labels (raw-body form)")
]

_JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Manifest, "description": "done within ?wait: the cover manifest"},
    202: {
        "model": JobOut,
        "description": "accepted; poll the job at Location",
        "headers": {"Location": {"schema": {"type": "string"}}},
    },
    409: {"model": JobErrorOut, "description": "the job was cancelled while waiting"},
    **error_responses(400, 401, 404, 413, 415),
    422: {
        "model": ErrorOut,
        "description": "invalid input, or the job failed (then with the job as in JobErrorOut)",
    },
}


def _stored(state: AppState, sha: str, field: str) -> DatasetInfo:
    """The stored dataset a request names in ``field``; a 404 that names the field."""
    try:
        return state.store.dataset_info(sha)
    except NotFound:
        raise NotFound(
            f"{field}: no stored dataset has sha256 {sha} (upload it first: PUT /datasets/{sha})"
        ) from None


def _check_cover_inputs(state: AppState, dataset: str, labels: str | None) -> None:
    info = _stored(state, dataset, "dataset")
    if info.kind != "embedding":
        raise InvalidContent(f"dataset {dataset} holds labels, not a 2-D float embedding")
    if labels is not None:
        lab = _stored(state, labels, "labels")
        if lab.kind != "labels":
            raise InvalidContent(f"labels {labels} is a 2-D embedding, not 1-D integer labels")
        if lab.shape[0] != info.shape[0]:
            raise InvalidContent(
                f"labels have {lab.shape[0]} rows, the dataset has {info.shape[0]}"
            )


async def _submit(state: AppState, wait: float, **job: Any) -> Response:
    row: JobRow = await asyncio.to_thread(lambda: state.store.create_job(**job))
    state.worker.wake()
    if wait > 0:
        row = await wait_for_job(state, row.id, wait)
    return await asyncio.to_thread(finished_or_accepted, state, row)


def _query_params(request: Request, known: set[str]) -> dict[str, str]:
    """The query without ``wait``; 422 for a parameter the route does not read (a typo would
    otherwise be ignored) or one given twice."""
    unknown = sorted(set(request.query_params) - known - {"wait"})
    if unknown:
        raise InvalidContent(
            f"unknown query parameter(s) {unknown}: this route reads {sorted(known | {'wait'})}"
        )
    twice = sorted(k for k in request.query_params if len(request.query_params.getlist(k)) > 1)
    if twice:
        raise InvalidContent(f"query parameter(s) {twice} given more than once")
    return {k: v for k, v in request.query_params.items() if k != "wait"}


def _require_json(request: Request, raw_route: str) -> None:
    mt = media_type(request)
    if mt in NPY_TYPES:
        raise UnsupportedMediaType(
            f"this route takes a JSON body naming uploaded datasets: send a raw .npy body "
            f"to {raw_route}"
        )
    if mt != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type {mt or '(none)'!r} is not accepted: send application/json "
            f"(or a raw .npy body to {raw_route})"
        )


_POINTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_JOB_RESPONSES,
    409: {
        "model": ErrorOut,
        "description": "the rows do not fit the cover (columns, dtype, labelled or not) or "
        "it cannot be extended (a budget-mode cover of radius 0); or the job was cancelled "
        "while waiting (then with the job as in JobErrorOut)",
    },
}

_COVER_QUERY = {
    "name": "params",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "the cover's parameters, each its own query parameter "
    "(?eta=1.5&labels=...); exactly one of eta and k",
    "schema": query_schema(CoverParams),
}


@router.post(
    "/cover",
    status_code=202,
    responses=_JOB_RESPONSES,
    openapi_extra=json_body_openapi(CoverRequest.model_json_schema()),
    summary="Compute a cover of uploaded datasets (JSON body)",
)
async def post_cover(request: Request, state: State, wait: Wait = 0) -> Response:
    """JSON ``{dataset, labels?, eta | k, metric?, method?, seed?, time_limit?}`` naming
    uploaded datasets (``PUT /datasets/{sha256}``). 202 + ``Location: /jobs/{id}``; with
    ``?wait=S`` the manifest (200) when the job ends within S seconds. The one-call form (the
    embedding as the body) is ``POST /cover/npy``."""
    _require_json(request, "POST /cover/npy")
    _query_params(request, set())
    try:
        req = CoverRequest.model_validate_json(await read_json_body(request))
    except ValidationError as exc:
        raise InvalidContent(one_line(exc)) from None
    await asyncio.to_thread(_check_cover_inputs, state, req.dataset, req.labels)
    return await _submit(
        state, wait, kind="cover", params=req.job_params(), dataset=req.dataset, labels=req.labels
    )


@router.post(
    "/cover/npy",
    status_code=202,
    responses=_JOB_RESPONSES,
    openapi_extra={**binary_body_openapi(), "parameters": [_COVER_QUERY]},
    summary="Compute a cover of a raw .npy body (the one-call form)",
)
async def post_cover_npy(request: Request, state: State, wait: Wait = 0) -> Response:
    """The embedding as a raw ``.npy`` body (stored as a dataset, as by ``PUT /datasets``),
    the parameters in the query: ``?eta=1.5&labels=<sha256>`` (labels uploaded before). Answers
    as ``POST /cover``."""
    require_npy(request)
    try:
        params = CoverParams.from_query(_query_params(request, set(CoverParams.model_fields)))
    except ValidationError as exc:
        raise InvalidContent(one_line(exc)) from None
    if params.labels is not None:  # 404 before the upload
        await asyncio.to_thread(_stored, state, params.labels, "labels")
    info, _ = await ingest_body(request, state)
    await asyncio.to_thread(_check_cover_inputs, state, info.sha256, params.labels)
    return await _submit(
        state,
        wait,
        kind="cover",
        params=params.job_params(),
        dataset=info.sha256,
        labels=params.labels,
    )


@router.get(
    "/covers/{cover_id}",
    responses={200: {"model": Manifest}, **error_responses(401, 404, 422)},
    response_class=Response,
    summary="The cover manifest (JSON)",
)
def get_cover(cover_id: CoverId, state: State) -> Response:
    state.store.get_cover(cover_id)
    path = state.store.manifest_path(cover_id)
    if not path.is_file():
        raise NotFound(f"cover {cover_id} has no manifest")
    return Response(path.read_bytes(), media_type="application/json")


@router.get(
    "/covers/{cover_id}/arrays",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": BINARY}},
            "description": ".npz with indices, weights, assignment, labels (int64)",
        },
        **error_responses(401, 404, 422),
    },
    summary="The cover's arrays (.npz)",
)
def get_arrays(cover_id: CoverId, state: State) -> Response:
    row = state.store.get_cover(cover_id)
    path = state.store.arrays_path(cover_id)
    if not path.is_file():
        raise NotFound(f"cover {cover_id} has no arrays")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=f"{cover_id}.npz",
        headers={"X-Content-SHA256": row.payload_sha256},
    )


@router.delete(
    "/covers/{cover_id}",
    status_code=204,
    response_class=Response,
    responses={
        **error_responses(401, 404, 422),
        409: {"model": ErrorOut, "description": "a queued or running job adds points to it"},
    },
    summary="Delete a cover (its manifest and arrays; datasets stay)",
)
def delete_cover(cover_id: CoverId, state: State) -> Response:
    """204 when deleted; 409 while a queued or running job adds points to it."""
    state.store.delete_cover(cover_id)
    return Response(status_code=204)


@router.post(
    "/covers/{cover_id}/points",
    status_code=202,
    responses=_POINTS_RESPONSES,
    openapi_extra=json_body_openapi(PointsRequest.model_json_schema()),
    summary="Add uploaded rows to a cover: a job producing a new cover whose parent is {cover_id}",
)
async def post_points(
    cover_id: CoverId, request: Request, state: State, wait: Wait = 0
) -> Response:
    """JSON ``{dataset, labels?}`` naming uploaded rows (and labels). The new cover covers the
    parent's rows followed by the new ones. The one-call form is
    ``POST /covers/{cover_id}/points/npy``."""
    parent = await asyncio.to_thread(state.store.get_cover, cover_id)
    await asyncio.to_thread(_check_extendable, state, cover_id)
    _require_json(request, f"POST /covers/{cover_id}/points/npy")
    _query_params(request, set())
    try:
        req = PointsRequest.model_validate_json(await read_json_body(request))
    except ValidationError as exc:
        raise InvalidContent(one_line(exc)) from None
    return await _submit_points(state, wait, parent, req.dataset, req.labels)


@router.post(
    "/covers/{cover_id}/points/npy",
    status_code=202,
    responses=_POINTS_RESPONSES,
    openapi_extra=binary_body_openapi(),
    summary="Add the rows of a raw .npy body to a cover (the one-call form)",
)
async def post_points_npy(
    cover_id: CoverId, request: Request, state: State, wait: Wait = 0, labels: LabelsQ = None
) -> Response:
    """The new rows as a raw ``.npy`` body, their labels (uploaded before) by sha256 in the
    query. Answers as ``POST /covers/{cover_id}/points``."""
    parent = await asyncio.to_thread(state.store.get_cover, cover_id)
    await asyncio.to_thread(_check_extendable, state, cover_id)
    require_npy(request)
    _query_params(request, {"labels"})
    if labels is not None:  # 404 before the upload
        await asyncio.to_thread(_stored, state, labels, "labels")
    info, _ = await ingest_body(request, state)
    return await _submit_points(state, wait, parent, info.sha256, labels)


async def _submit_points(
    state: AppState, wait: float, parent: CoverRow, dataset: str, lab: str | None
) -> Response:
    def check() -> None:
        _check_cover_inputs(state, dataset, lab)
        new = state.store.dataset_info(dataset)
        old = state.store.dataset_info(parent.dataset)
        # rows that do not fit this cover (they could extend another): 409, a conflict with
        # the state of the cover, as for a cover that cannot be extended at all
        if new.shape[1] != old.shape[1] or new.dtype != old.dtype:
            raise Conflict(
                f"new rows are {new.dtype} with {new.shape[1]} columns, the "
                f"cover's dataset is {old.dtype} with {old.shape[1]}"
            )
        if (parent.labels is None) != (lab is None):
            raise Conflict(
                "the cover is labelled: send labels"
                if parent.labels
                else "the cover is unlabelled: send no labels"
            )

    await asyncio.to_thread(check)
    return await _submit(
        state, wait, kind="add_points", params={}, dataset=dataset, labels=lab, parent=parent.id
    )


def _check_extendable(state: AppState, cover_id: str) -> None:
    """409 before any upload for a cover that cannot be extended: new rows are added at the
    parent's radius (``eta``, or the achieved radius of a budget-mode cover), which must be > 0.
    A conflict with the cover's state, not a fault of the request: any rows would be refused."""
    m = Manifest.model_validate_json(state.store.manifest_path(cover_id).read_bytes())
    if m.params.eta is None and not m.stats.radius > 0:
        raise Conflict(
            f"cover {cover_id} is a budget-mode cover of radius 0 (every row "
            "its own centre): it cannot be extended at a radius; compute a "
            "new cover of all the rows instead"
        )
