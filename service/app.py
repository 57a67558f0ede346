"""The FastAPI application factory: ``create_app(settings)``.

The app owns its store, its worker threads (started and stopped by the lifespan) and its own
Prometheus registry, so several apps can live in one process (tests do this).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import covering
from service.deps import AppState, Authorized
from service.docs import install_docs
from service.errors import ServiceError
from service.http import allowed_methods
from service.metrics import Metrics
from service.routes import covers, curves, datasets, jobs, system
from service.settings import Settings
from service.store import Store
from service.ui import install as install_ui
from service.worker import Notifier, Worker

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the raw input (which may be bytes or huge)."""
    out = []
    for e in errors:
        out.append(
            {
                "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
        )
    return out


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_req: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _clean_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(allowed_methods(req.scope))
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers or None
        )

    @app.exception_handler(ClientDisconnect)
    async def _disconnect(_req: Request, _exc: ClientDisconnect) -> JSONResponse:
        return JSONResponse({"detail": "client disconnected during the upload"}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", req.method, req.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the covering service.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()`` (read from ``COVERING_*`` environment variables).

    Returns
    -------
    FastAPI
        Its lifespan starts the job worker (re-queueing interrupted jobs) and stops it.

    Raises
    ------
    ValueError
        No API token configured and ``insecure_dev`` not set.
    """
    settings = settings or Settings()
    settings.check_startable()
    store = Store(settings.data_dir)  # holds the data directory's lock until closed
    try:
        return _build(settings, store)
    except BaseException:
        store.close()  # a failed start must not keep the data directory locked
        raise


def _build(settings: Settings, store: Store) -> FastAPI:
    """The app around an open ``store`` (see :func:`create_app`)."""
    metrics = Metrics(lambda: store.count_jobs("queued"))
    notifier = Notifier()
    worker = Worker(store, settings, metrics, notifier)
    state = AppState(
        settings=settings, store=store, worker=worker, metrics=metrics, notifier=notifier
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        log.info(
            "covering service on %s (%d worker(s), backend %s)",
            store.root,
            settings.workers,
            settings.backend,
        )
        try:
            yield
        finally:
            worker.stop()
            store.close()

    app = FastAPI(
        title="covering",
        version=covering.__version__,
        summary="Minimal finite covers of embeddings, as a service",
        lifespan=lifespan,
        # the schema is served below behind the token: every route but /healthz needs it
        # (ARCHITECTURE.md); the /docs page needs none and asks for the token
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Authorized])
    def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    install_docs(app)  # /docs asks for the token (service/docs.py)
    app.state.covering = state
    _install_handlers(app)
    for r in (system.router, datasets.router, covers.router, jobs.router, curves.router):
        app.include_router(r)
    install_ui(app, settings, store.root)  # the web console under /ui
    Instrumentator(registry=metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
    return app
