"""The console's pages of a size-against-eta curve (a ``curve`` job's result): ``/ui/curves/{id}``
(plot, table, parameters) and ``/ui/curves/{id}/curve.json`` (the bytes ``GET /curves/{id}``
serves). Both need a session, like every console page."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from service.deps import State
from service.errors import NotFound
from service.store import ID_RE
from service.ui.routes import HEADERS, PageQ, Signed, Ui, error_page, page_no, render
from service.ui.views import PAGE, page_of

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/curves/{curve_id}")
async def curve_page(
    request: Request, state: State, ui: Ui, session: Signed, curve_id: str, page: PageQ = None
) -> Response:
    if not ID_RE.fullmatch(curve_id):
        return error_page(request, 404, f"no curve {curve_id!r}", session)
    try:
        summary = await asyncio.to_thread(ui.curves.get, state.store, curve_id)
    except NotFound as exc:
        return error_page(request, 404, exc.detail, session)
    ctx = {
        "s": summary,
        "c": summary.curve,
        "rows": page_of(summary.rows, page_no(page), 2 * PAGE),
    }
    return render(request, "curve.html", ctx, session=session)


@router.get("/curves/{curve_id}/curve.json")
def curve_json(request: Request, state: State, session: Signed, curve_id: str) -> Response:
    try:
        if not ID_RE.fullmatch(curve_id):
            raise NotFound(f"unknown curve {curve_id!r}")
        state.store.get_curve_job(curve_id)
        path = state.store.curve_path(curve_id)
        if not path.is_file():
            raise NotFound(f"curve {curve_id} has no file")
    except NotFound as exc:
        return error_page(request, 404, exc.detail, session)
    return FileResponse(
        path, media_type="application/json", filename=f"{curve_id}.json", headers=HEADERS
    )
