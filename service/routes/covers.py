"""``POST /cover`` (JSON or one-call raw ``.npy`` form), ``GET``/``DELETE /covers/{id}``,
``GET /covers/{id}/arrays`` and ``POST /covers/{id}/points``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError

from covering import Manifest
from service.deps import AppState, Authorized, State
from service.errors import InvalidContent, NotFound, UnsupportedMediaType
from service.http import (
    BINARY,
    NPY_TYPES,
    binary_body_openapi,
    error_responses,
    finished_or_accepted,
    ingest_body,
    media_type,
    read_json_body,
    wait_for_job,
)
from service.models import JobRow
from service.schemas import (
    ID_PATTERN,
    SHA_PATTERN,
    CoverParams,
    CoverRequest,
    ErrorOut,
    JobErrorOut,
    JobOut,
    Method,
    Metric,
    PointsRequest,
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


def _check_cover_inputs(state: AppState, dataset: str, labels: str | None) -> None:
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


async def _submit(state: AppState, wait: float, **job: Any) -> Response:
    row: JobRow = await asyncio.to_thread(lambda: state.store.create_job(**job))
    state.worker.wake()
    if wait > 0:
        row = await wait_for_job(state, row.id, wait)
    return await asyncio.to_thread(finished_or_accepted, state, row)


def _query_params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "wait"}


def _refuse_unknown_query(request: Request, known: set[str]) -> None:
    """422 for query parameters a route does not read (a typo would otherwise be ignored)."""
    unknown = sorted(set(request.query_params) - known - {"wait"})
    if unknown:
        raise InvalidContent(
            f"unknown query parameter(s) {unknown}: this route reads {sorted(known | {'wait'})}"
        )


@router.post(
    "/cover",
    status_code=202,
    responses=_JOB_RESPONSES,
    openapi_extra=binary_body_openapi(CoverRequest.model_json_schema()),
    summary="Compute a cover (JSON naming uploaded datasets, or a raw .npy body)",
)
async def post_cover(
    request: Request,
    state: State,
    wait: Wait = 0,
    eta: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="radius (raw-body form)")
    ] = None,
    k: Annotated[int | None, Query(ge=1, le=1 << 40, description="budget (raw-body form)")] = None,
    metric: Annotated[Metric, Query(description="raw-body form")] = "l2",
    method: Annotated[Method, Query(description="raw-body form")] = "auto",
    labels: LabelsQ = None,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    time_limit: Annotated[float | None, Query(gt=0, le=86400, allow_inf_nan=False)] = None,
) -> Response:
    """JSON ``{dataset, labels?, eta?, k?, metric?, method?, seed?, time_limit?}`` naming
    uploaded datasets, or the one-call form: the embedding as a raw ``.npy`` body with the
    parameters in the query. 202 + ``Location: /jobs/{id}``; with ``?wait=S`` the manifest
    (200) when the job ends within S seconds."""
    mt = media_type(request)
    if mt == "application/json":
        if _query_params(request):
            raise InvalidContent(
                "with a JSON body, parameters go in the body (only ?wait "
                f"is read from the query; got {sorted(_query_params(request))})"
            )
        raw = await read_json_body(request)
        try:
            req = CoverRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidContent(_pydantic_message(exc)) from None
        dataset = req.dataset
        params: CoverParams = req
    elif mt in NPY_TYPES:
        _refuse_unknown_query(
            request, {"eta", "k", "metric", "method", "labels", "seed", "time_limit"}
        )
        try:
            params = CoverParams(
                labels=labels,
                eta=eta,
                k=k,
                metric=metric,
                method=method,
                seed=seed,
                time_limit=time_limit,
            )
        except ValidationError as exc:
            raise InvalidContent(_pydantic_message(exc)) from None
        if labels is not None:
            await asyncio.to_thread(state.store.dataset_info, labels)  # 404 before the upload
        info, _ = await ingest_body(request, state)
        dataset = info.sha256
    else:
        raise UnsupportedMediaType(
            f"Content-Type {mt or '(none)'!r} is not accepted: use "
            "application/json or a raw .npy body "
            f"({' or '.join(NPY_TYPES)})"
        )
    await asyncio.to_thread(_check_cover_inputs, state, dataset, params.labels)
    return await _submit(
        state, wait, kind="cover", params=params.job_params(), dataset=dataset, labels=params.labels
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
    responses=_JOB_RESPONSES,
    openapi_extra=binary_body_openapi(PointsRequest.model_json_schema()),
    summary="Add rows to a cover: a job producing a new cover whose parent is {cover_id}",
)
async def post_points(
    cover_id: CoverId, request: Request, state: State, wait: Wait = 0, labels: LabelsQ = None
) -> Response:
    """JSON ``{dataset, labels?}`` naming uploaded rows, or a raw ``.npy`` body (labels by
    sha256 in the query). The new cover covers the parent's rows followed by the new ones."""
    parent = await asyncio.to_thread(state.store.get_cover, cover_id)
    await asyncio.to_thread(_check_extendable, state, cover_id)
    mt = media_type(request)
    if mt == "application/json":
        if _query_params(request):
            raise InvalidContent("with a JSON body, parameters go in the body")
        try:
            req = PointsRequest.model_validate_json(await read_json_body(request))
        except ValidationError as exc:
            raise InvalidContent(_pydantic_message(exc)) from None
        dataset, lab = req.dataset, req.labels
    elif mt in NPY_TYPES:
        _refuse_unknown_query(request, {"labels"})
        if labels is not None:
            await asyncio.to_thread(state.store.dataset_info, labels)
        info, _ = await ingest_body(request, state)
        dataset, lab = info.sha256, labels
    else:
        raise UnsupportedMediaType(f"Content-Type {mt or '(none)'!r} is not accepted")

    def check() -> None:
        _check_cover_inputs(state, dataset, lab)
        new = state.store.dataset_info(dataset)
        old = state.store.dataset_info(parent.dataset)
        if new.shape[1] != old.shape[1] or new.dtype != old.dtype:
            raise InvalidContent(
                f"new rows are {new.dtype} with {new.shape[1]} columns, the "
                f"cover's dataset is {old.dtype} with {old.shape[1]}"
            )
        if (parent.labels is None) != (lab is None):
            raise InvalidContent(
                "the cover is labelled: send labels"
                if parent.labels
                else "the cover is unlabelled: send no labels"
            )

    await asyncio.to_thread(check)
    return await _submit(
        state, wait, kind="add_points", params={}, dataset=dataset, labels=lab, parent=cover_id
    )


def _check_extendable(state: AppState, cover_id: str) -> None:
    """422 before any upload for a cover that cannot be extended: new rows are added at the
    parent's radius (``eta``, or the achieved radius of a budget-mode cover), which must be > 0."""
    m = Manifest.model_validate_json(state.store.manifest_path(cover_id).read_bytes())
    if m.params.eta is None and not m.stats.radius > 0:
        raise InvalidContent(
            f"cover {cover_id} is a budget-mode cover of radius 0 (every row "
            "its own centre): it cannot be extended at a radius; compute a "
            "new cover of all the rows instead"
        )


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts) or "invalid request"
