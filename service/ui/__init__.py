"""The web console: server-rendered pages under ``/ui`` (see ``docs/console.md``).

``install(app, settings, data_dir)`` mounts it on the service app: the routes, the stylesheet at
``/ui/static``, and the handlers that send a browser without a session to the sign-in form.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from service.settings import Settings
from service.ui.curve_pages import router as curve_router
from service.ui.routes import HERE, FormRefused, LoginRequired, UiState, error_page, router
from service.ui.session import SessionManager

__all__ = ["install"]


def install(app: FastAPI, settings: Settings, data_dir: Path) -> None:
    """Mount the console on ``app`` (its session key from ``settings`` or ``data_dir``)."""
    app.state.covering_ui = UiState(SessionManager(settings, data_dir))

    @app.exception_handler(LoginRequired)
    async def _login(_req: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/ui/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(FormRefused)
    async def _refused(req: Request, exc: FormRefused) -> Response:
        return error_page(req, 403, str(exc), None)

    # before the router: its catch-all would answer /ui/static/... with a 404 page
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(curve_router)  # before the router with the catch-all
    app.include_router(router)
