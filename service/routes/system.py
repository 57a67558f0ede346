"""``GET /healthz`` (no auth) and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

import covering
from service.deps import Authorized, State
from service.http import error_responses
from service.schemas import HealthOut

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness (no token needed)")
def healthz() -> HealthOut:
    return HealthOut(status="ok", version=covering.__version__)


@router.get(
    "/metrics",
    dependencies=[Authorized],
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        },
        **error_responses(401),
    },
    summary="Prometheus metrics",
)
def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
