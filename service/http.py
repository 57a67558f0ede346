"""HTTP helpers shared by the routes: media types, body reading, OpenAPI snippets, job waits."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from service.deps import AppState
from service.errors import HashMismatch, PayloadTooLarge, UnsupportedMediaType
from service.models import FINAL_STATES, JobRow
from service.npy import DatasetInfo
from service.schemas import ErrorOut, JobErrorOut, JobOut, job_out

__all__ = [
    "BINARY",
    "NPY_TYPES",
    "allowed_methods",
    "binary_body_openapi",
    "check_known_body",
    "error_responses",
    "finished_or_accepted",
    "ingest_body",
    "json_body_openapi",
    "media_type",
    "read_json_body",
    "require_npy",
    "wait_for_job",
]

NPY_TYPES = ("application/x-npy", "application/octet-stream")
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_JSON_LIMIT = 1 << 20
_HASH_BATCH = 8 << 20

_ERRORS = {
    400: "hash mismatch or malformed request",
    401: "missing or invalid bearer token",
    404: "unknown id",
    409: "the job was cancelled, or the resource's state forbids the request",
    413: "body larger than COVERING_MAX_UPLOAD_BYTES",
    415: "unsupported Content-Type",
    422: "invalid content or parameters",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error codes (all ``{"detail": ...}``)."""
    return {c: {"model": ErrorOut, "description": _ERRORS[c]} for c in codes}


def binary_body_openapi() -> dict[str, Any]:
    """``openapi_extra`` documenting a raw ``.npy`` request body."""
    content: dict[str, Any] = {t: {"schema": BINARY} for t in NPY_TYPES}
    return {"requestBody": {"required": True, "content": content}}


def json_body_openapi(json_schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body (read by the route itself)."""
    content = {"application/json": {"schema": json_schema}}
    return {"requestBody": {"required": True, "content": content}}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the app serves at the request's path (for ``Allow``).

    Starlette's own 405 names only the methods of the first route whose path matched; a path
    served by several routes (``PUT`` and ``GET /datasets/{sha256}``) needs all of them. Each
    method is asked of the app's routes as a request of that method would be routed (static
    files serve ``GET`` and ``HEAD``).
    """
    # a Mount routing the request set the scope's root_path to its own prefix: route anew
    scope = {**scope, "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    methods: set[str] = set()
    for route in scope["app"].router.routes:
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            if route.matches(scope)[0] is not Match.NONE:
                methods.update(("GET", "HEAD"))
            continue
        for method in _METHODS:
            if route.matches({**scope, "method": method})[0] is Match.FULL:
                methods.add(method)
    return sorted(methods)


def require_npy(request: Request) -> None:
    """415 unless the request's body is declared a raw ``.npy`` file."""
    mt = media_type(request)
    if mt not in NPY_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {mt or '(none)'!r} is not accepted: send a .npy file as "
            f"{' or '.join(NPY_TYPES)}"
        )


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


async def ingest_body(
    request: Request, state: AppState, expected_sha: str | None = None
) -> tuple[DatasetInfo, bool]:
    """Stream a raw ``.npy`` body into the store (415 for other media types)."""
    require_npy(request)
    info, created = await state.store.ingest(
        request.stream(),
        max_bytes=state.settings.max_upload_bytes,
        expected_sha=expected_sha,
        declared_length=_declared_length(request),
    )
    if created:
        state.metrics.upload_bytes.inc(info.nbytes)
    return info, created


async def check_known_body(request: Request, state: AppState, expected_sha: str) -> None:
    """Check an upload of a dataset the store already has without storing it again.

    The same checks as a first upload, in the same order: 415 for another media type, 413
    above the size limit, 400 unless the body's sha256 is ``expected_sha`` (the body is only
    hashed: a known file is not rewritten).
    """
    require_npy(request)
    limit = state.settings.max_upload_bytes
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    h = hashlib.sha256()
    size = 0
    pending: list[bytes] = []
    buffered = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        pending.append(chunk)
        buffered += len(chunk)
        if buffered >= _HASH_BATCH:
            await asyncio.to_thread(h.update, b"".join(pending))
            pending, buffered = [], 0
    if pending:
        await asyncio.to_thread(h.update, b"".join(pending))
    sha = h.hexdigest()
    if sha != expected_sha:
        raise HashMismatch(f"body sha256 is {sha}, the URL names {expected_sha}")


async def read_json_body(request: Request) -> bytes:
    """The body of a JSON request, at most 1 MiB."""
    declared = _declared_length(request)
    if declared is not None and declared > _JSON_LIMIT:
        raise PayloadTooLarge(f"JSON bodies are limited to {_JSON_LIMIT} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _JSON_LIMIT:
            raise PayloadTooLarge(f"JSON bodies are limited to {_JSON_LIMIT} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def wait_for_job(state: AppState, job_id: str, seconds: float) -> JobRow:
    """Return the job once it is final or ``seconds`` (capped by the settings) have passed."""
    seconds = min(max(0.0, seconds), state.settings.max_wait_s)
    ev = state.notifier.register(job_id)
    try:
        deadline = time.monotonic() + seconds
        while True:
            job = await asyncio.to_thread(state.store.get_job, job_id)
            left = deadline - time.monotonic()
            if job.status in FINAL_STATES or left <= 0:
                return job
            ev.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout=min(left, 1.0))
    finally:
        state.notifier.unregister(job_id, ev)


def finished_or_accepted(state: AppState, job: JobRow) -> Response:
    """200 with the manifest when the job succeeded, 422/409 when it failed/was cancelled,
    else 202 with the job and ``Location: /jobs/{id}``."""
    loc = {"Location": f"/jobs/{job.id}"}
    if job.status == "succeeded":
        body = state.store.manifest_path(job.cover_id).read_bytes()
        return Response(
            body, media_type="application/json", headers={"Location": f"/covers/{job.cover_id}"}
        )
    out: JobOut = job_out(job)
    if job.status in ("failed", "cancelled"):
        code = 422 if job.status == "failed" else 409
        err = JobErrorOut(
            detail=f"job {job.id} {job.status}: {job.error or ''}".rstrip(": "), job=out
        )
        return JSONResponse(err.model_dump(), status_code=code, headers=loc)
    return JSONResponse(out.model_dump(), status_code=202, headers=loc)
