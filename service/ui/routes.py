"""The console's pages under ``/ui``: sign-in, the overview, a job, a cover (a curve's pages are
in ``service.ui.curve_pages``).

Every page but the sign-in form needs a session (else: a redirect to ``/ui/login``); forms that
change state (cancel a job, delete a cover, sign out) carry the session's CSRF token, and a POST
whose ``Origin`` names another host is refused. Pages are rendered on the server (Jinja2), with
a Content-Security-Policy that allows nothing from another host and no script at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import covering
from service.deps import State
from service.errors import Conflict, NotFound
from service.models import FINAL_STATES
from service.routes.jobs import cancel_job
from service.store import ID_RE
from service.ui.curves import CurveCache, list_curves, matching_curve
from service.ui.session import SessionManager, UiSession
from service.ui.views import (
    PAGE,
    CoverCache,
    any_active,
    job_params,
    list_covers,
    list_datasets,
    list_jobs,
    page_of,
)

__all__ = [
    "HEADERS",
    "FormRefused",
    "LoginRequired",
    "PageQ",
    "Signed",
    "Ui",
    "UiState",
    "error_page",
    "page_no",
    "render",
    "router",
    "templates",
]

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

#: nothing from another host, no script, no framing; thumbnails are data: URIs
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(t: float | None) -> str:
    if t is None:
        return "–"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _brief(v: object, most: int = 8) -> str:
    """A parameter's value for the job page: "–" for none, a long list cut to its first items."""
    if v is None:
        return "–"
    if isinstance(v, list) and len(v) > most:
        return f"{', '.join(str(x) for x in v[:most])}, … ({len(v)} in all)"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


templates.env.globals["version"] = covering.__version__
templates.env.filters["brief"] = _brief
templates.env.filters["when"] = _when
templates.env.filters["seconds"] = _seconds
templates.env.filters["short"] = lambda h: f"{h[:12]}…" if isinstance(h, str) and len(h) > 12 else h


class UiState:
    """The console's part of an app: its sessions and cover and curve summaries."""

    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions
        self.covers = CoverCache()
        self.curves = CurveCache()


class LoginRequired(Exception):
    """No valid session: the handler redirects to the sign-in form (back to ``next`` after)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def ui_state(request: Request) -> UiState:
    st: UiState = request.app.state.covering_ui
    return st


Ui = Annotated[UiState, Depends(ui_state)]


def require_session(request: Request, ui: Ui) -> UiSession:
    session = ui.sessions.read(request)
    if session is None:
        nxt = request.url.path if request.method == "GET" else "/ui"
        if request.method == "GET" and request.url.query:
            nxt += "?" + request.url.query
        raise LoginRequired(nxt)
    return session


Signed = Annotated[UiSession, Depends(require_session)]


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: UiSession | None = None,
) -> Response:
    """Render a template with the console's security headers."""
    ctx = {"session": session, **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, message: str, session: UiSession | None) -> Response:
    titles = {403: "Refused", 404: "Not found", 409: "Not now"}
    return render(
        request,
        "error.html",
        {"title": titles.get(status, "Error"), "message": message, "status": status},
        status=status,
        session=session,
    )


def _same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


class FormRefused(Exception):
    """A state-changing form without the session's CSRF token, or from another site (403)."""


def _check_form(request: Request, session: UiSession, csrf: str | None, ui: UiState) -> None:
    if not _same_origin(request) or not ui.sessions.csrf_ok(session, csrf):
        raise FormRefused(
            "this form is stale or came from another site: reload the page and try again"
        )


def page_no(raw: str | None) -> int:
    """A page number from the query; anything else is page 1 (pages are clamped later)."""
    try:
        return max(1, min(int(raw or 1), 1_000_000))
    except ValueError:
        return 1


def _safe_next(nxt: str | None) -> str:
    """Only paths inside the console (never another host, e.g. ``//evil``)."""
    if not nxt or not nxt.startswith("/ui") or nxt.startswith("//") or "\\" in nxt:
        return "/ui"
    return nxt


router = APIRouter(prefix="/ui", include_in_schema=False)

Csrf = Annotated[str | None, Form()]
PageQ = Annotated[str | None, Query(max_length=16)]


@router.get("/login")
def login_form(request: Request, ui: Ui, next: str | None = None) -> Response:
    if ui.sessions.read(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    ui: Ui,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui",
) -> Response:
    if not _same_origin(request):
        return error_page(request, 403, "sign in from this server's own page", None)
    if not ui.sessions.token_ok(token.strip()):
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "That token is not valid."},
            status=401,
        )
    resp = RedirectResponse(_safe_next(next), status_code=303)
    ui.sessions.issue(resp, request, token.strip())
    return resp


@router.get("/logout")
def logout_form(request: Request, ui: Ui) -> Response:
    session = ui.sessions.read(request)
    if session is None:
        return RedirectResponse("/ui/login", status_code=303)
    return render(request, "logout.html", session=session)


@router.post("/logout")
def logout(request: Request, ui: Ui, session: Signed, csrf: Csrf = None) -> Response:
    _check_form(request, session, csrf, ui)
    resp = RedirectResponse("/ui/login", status_code=303)
    ui.sessions.clear(resp, request)
    return resp


@router.get("")
async def overview(
    request: Request,
    state: State,
    session: Signed,
    jobs: PageQ = None,
    covers: PageQ = None,
    curves: PageQ = None,
) -> Response:
    def read() -> dict[str, Any]:
        datasets, n_datasets = list_datasets(state.store)
        return {
            "jobs": list_jobs(state.store, page_no(jobs)),
            "covers": list_covers(state.store, page_no(covers)),
            "curves": list_curves(state.store, page_no(curves)),
            "datasets": datasets,
            "n_datasets": n_datasets,
            "active": any_active(state.store),
        }

    return render(request, "index.html", await asyncio.to_thread(read), session=session)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, state: State, session: Signed, job_id: str) -> Response:
    if not ID_RE.fullmatch(job_id):
        return error_page(request, 404, f"no job {job_id!r}", session)
    try:
        job = await asyncio.to_thread(state.store.get_job, job_id)
    except NotFound:
        return error_page(request, 404, f"no job {job_id}", session)
    result_exists = False
    if job.status == "succeeded":
        if job.kind == "curve":
            result_exists = await asyncio.to_thread(state.store.curve_path(job.cover_id).is_file)
        else:
            try:
                await asyncio.to_thread(state.store.get_cover, job.cover_id)
                result_exists = True
            except NotFound:
                pass
    ctx = {
        "job": job,
        "params": job_params(job),
        "final": job.status in FINAL_STATES,
        "result_exists": result_exists,
    }
    return render(request, "job.html", ctx, session=session)


@router.post("/jobs/{job_id}/cancel")
def cancel(
    request: Request, state: State, ui: Ui, session: Signed, job_id: str, csrf: Csrf = None
) -> Response:
    _check_form(request, session, csrf, ui)
    if not ID_RE.fullmatch(job_id):
        return error_page(request, 404, f"no job {job_id!r}", session)
    try:
        cancel_job(job_id, state)  # exactly what DELETE /jobs/{id} does
    except NotFound:
        return error_page(request, 404, f"no job {job_id}", session)
    return RedirectResponse(f"/ui/jobs/{job_id}", status_code=303)


@router.get("/covers/{cover_id}")
async def cover_page(
    request: Request, state: State, ui: Ui, session: Signed, cover_id: str, page: PageQ = None
) -> Response:
    if not ID_RE.fullmatch(cover_id):
        return error_page(request, 404, f"no cover {cover_id!r}", session)
    try:
        summary = await asyncio.to_thread(ui.covers.get, state.store, cover_id)
    except NotFound:
        return error_page(request, 404, f"no cover {cover_id}", session)
    m = summary.manifest
    curve, plot, mark_eta = None, None, m.params.eta if m.params.eta is not None else m.stats.radius
    try:  # the newest curve of the same dataset, labels and metric, with this cover on it
        job = await asyncio.to_thread(
            matching_curve, state.store, summary.row.dataset, summary.row.labels, m.params.metric
        )
        if job is not None:
            curve = await asyncio.to_thread(ui.curves.get, state.store, job.cover_id)
            plot = curve.plot_with(mark_eta, m.stats.size)
    except NotFound:  # gone or unreadable meanwhile: the page says how to make one
        curve = None
    ctx = {
        "c": summary,
        "m": m,
        "classes": page_of(summary.classes, page_no(page), 2 * PAGE),
        "curve": curve,
        "curve_plot": plot,
        "mark_eta": mark_eta,
    }
    return render(request, "cover.html", ctx, session=session)


def _cover_file(state: State, session: UiSession, cover_id: str, kind: str) -> Response:
    del session  # only signed-in browsers download
    if not ID_RE.fullmatch(cover_id):
        raise NotFound(f"unknown cover {cover_id!r}")
    state.store.get_cover(cover_id)
    if kind == "manifest":
        path, media = state.store.manifest_path(cover_id), "application/json"
    else:
        path, media = state.store.arrays_path(cover_id), "application/octet-stream"
    if not path.is_file():
        raise NotFound(f"cover {cover_id} has no {kind}")
    return FileResponse(
        path, media_type=media, filename=f"{cover_id}{path.suffix}", headers=HEADERS
    )


@router.get("/covers/{cover_id}/manifest.json")
def cover_manifest(request: Request, state: State, session: Signed, cover_id: str) -> Response:
    try:
        return _cover_file(state, session, cover_id, "manifest")
    except NotFound as exc:
        return error_page(request, 404, exc.detail, session)


@router.get("/covers/{cover_id}/arrays.npz")
def cover_arrays(request: Request, state: State, session: Signed, cover_id: str) -> Response:
    try:
        return _cover_file(state, session, cover_id, "arrays")
    except NotFound as exc:
        return error_page(request, 404, exc.detail, session)


@router.post("/covers/{cover_id}/delete")
def delete_cover(
    request: Request, state: State, ui: Ui, session: Signed, cover_id: str, csrf: Csrf = None
) -> Response:
    _check_form(request, session, csrf, ui)
    if not ID_RE.fullmatch(cover_id):
        return error_page(request, 404, f"no cover {cover_id!r}", session)
    try:
        state.store.delete_cover(cover_id)
    except NotFound:
        return error_page(request, 404, f"no cover {cover_id}", session)
    except Conflict as exc:
        return error_page(request, 409, exc.detail, session)
    finally:
        ui.covers.drop(cover_id)
    return RedirectResponse("/ui", status_code=303)


@router.api_route("/{rest:path}", methods=["GET", "POST"])
def unknown(request: Request, session: Signed, rest: str) -> Response:
    if rest == "":
        return RedirectResponse("/ui", status_code=303)
    return error_page(request, 404, f"no page /ui/{quote(rest)}", session)
