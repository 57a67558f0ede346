"""``PUT /datasets/{sha256}`` (streamed, hash-checked upload) and ``GET /datasets/{sha256}``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from service.deps import Authorized, State
from service.http import binary_body_openapi, check_known_body, error_responses, ingest_body
from service.schemas import SHA_PATTERN, DatasetOut

__all__ = ["router"]

router = APIRouter(tags=["datasets"], dependencies=[Authorized])

Sha = Annotated[str, Path(pattern=SHA_PATTERN, description="sha256 (hex) of the .npy bytes")]


@router.put(
    "/datasets/{sha256}",
    status_code=201,
    response_model=DatasetOut,
    responses={
        200: {"model": DatasetOut, "description": "already stored"},
        **error_responses(400, 401, 413, 415, 422),
    },
    openapi_extra=binary_body_openapi(),
    summary="Upload a .npy dataset (2-D float embedding or 1-D integer labels)",
)
async def put_dataset(sha256: Sha, request: Request, state: State) -> JSONResponse:
    """Stream the body to disk while hashing it; 400 unless its sha256 is the URL's, 422 unless
    it is a plain finite 2-D float16/32/64 or 1-D integer ``.npy``. 201 when stored, 200 when it
    was already there (the body is then hashed, not stored again: the same 415, 413 and 400
    answers as for a first upload)."""
    path = state.store.dataset_path(sha256)
    if await asyncio.to_thread(path.is_file):
        await check_known_body(request, state, sha256)
        info = await asyncio.to_thread(state.store.dataset_info, sha256)
        return JSONResponse(
            info.as_json(), status_code=200, headers={"Location": f"/datasets/{sha256}"}
        )
    info, created = await ingest_body(request, state, expected_sha=sha256)
    return JSONResponse(
        info.as_json(),
        status_code=201 if created else 200,
        headers={"Location": f"/datasets/{sha256}"},
    )


@router.get(
    "/datasets/{sha256}",
    response_model=DatasetOut,
    responses=error_responses(401, 404, 422),
    summary="Describe a stored dataset",
)
def get_dataset(sha256: Sha, state: State) -> DatasetOut:
    info = state.store.dataset_info(sha256)
    return DatasetOut.model_validate(info.as_json())
