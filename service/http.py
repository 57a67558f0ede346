"""HTTP helpers shared by the routes: media types, body reading, OpenAPI snippets, job waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from service.deps import AppState
from service.errors import PayloadTooLarge, UnsupportedMediaType
from service.models import FINAL_STATES, JobRow
from service.npy import DatasetInfo
from service.schemas import ErrorOut, JobErrorOut, JobOut, job_out

__all__ = [
    "BINARY",
    "NPY_TYPES",
    "binary_body_openapi",
    "error_responses",
    "finished_or_accepted",
    "ingest_body",
    "media_type",
    "read_json_body",
    "wait_for_job",
]

NPY_TYPES = ("application/x-npy", "application/octet-stream")
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_JSON_LIMIT = 1 << 20

_ERRORS = {
    400: "hash mismatch or malformed request",
    401: "missing or invalid bearer token",
    404: "unknown id",
    409: "the job was cancelled",
    413: "body larger than COVERING_MAX_UPLOAD_BYTES",
    415: "unsupported Content-Type",
    422: "invalid content or parameters",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error codes (all ``{"detail": ...}``)."""
    return {c: {"model": ErrorOut, "description": _ERRORS[c]} for c in codes}


def binary_body_openapi(json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` documenting a raw ``.npy`` request body (and optionally a JSON one)."""
    content: dict[str, Any] = {t: {"schema": BINARY} for t in NPY_TYPES}
    if json_schema is not None:
        content = {"application/json": {"schema": json_schema}, **content}
    return {"requestBody": {"required": True, "content": content}}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


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
    mt = media_type(request)
    if mt not in NPY_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {mt or '(none)'!r} is not accepted: send a .npy file as "
            f"{' or '.join(NPY_TYPES)}"
        )
    info, created = await state.store.ingest(
        request.stream(),
        max_bytes=state.settings.max_upload_bytes,
        expected_sha=expected_sha,
        declared_length=_declared_length(request),
    )
    if created:
        state.metrics.upload_bytes.inc(info.nbytes)
    return info, created


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
