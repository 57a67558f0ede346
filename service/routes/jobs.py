"""``GET /jobs/{id}`` (optionally long-polling) and ``DELETE /jobs/{id}`` (cancel)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from service.deps import Authorized, State
from service.http import error_responses, wait_for_job
from service.schemas import ID_PATTERN, JobOut, job_out

__all__ = ["router"]

router = APIRouter(tags=["jobs"], dependencies=[Authorized])

JobId = Annotated[str, Path(pattern=ID_PATTERN, description="job id (32 hex digits)")]


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses=error_responses(401, 404, 422),
    summary="State and progress of a job",
)
async def get_job(
    job_id: JobId,
    state: State,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=3600,
            allow_inf_nan=False,
            description="seconds to wait for the job to finish (capped by the server)",
        ),
    ] = 0,
) -> JobOut:
    if wait > 0:
        job = await wait_for_job(state, job_id, wait)
    else:
        job = await asyncio.to_thread(state.store.get_job, job_id)
    return job_out(job)


@router.delete(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={
        202: {
            "model": JobOut,
            "description": "the job is running: a cancel was asked (status ``cancelling``); "
            "it ends ``cancelled`` at its next progress report",
        },
        **error_responses(401, 404, 422),
    },
    summary="Cancel a job",
)
def cancel_job(job_id: JobId, state: State) -> JSONResponse:
    """200: a queued job is ``cancelled`` at once (it never runs); a finished one is left as
    it is. 202: a running job answers ``cancelling`` and stops at its next progress report
    (``GET /jobs/{id}?wait=S`` waits for it to be ``cancelled``)."""
    job = state.store.request_cancel(job_id)
    if job.status == "running":
        state.worker.cancel(job_id)
    out = job_out(job)
    return JSONResponse(
        out.model_dump(),
        status_code=202 if out.status == "cancelling" else 200,
        headers={"Location": f"/jobs/{job_id}"} if out.status == "cancelling" else None,
    )
