"""``covering serve``: run the service with uvicorn (plugged in through an entry point)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "serve"]


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="datasets, covers and the job database (default: $COVERING_DATA_DIR)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="job threads (default: $COVERING_WORKERS or 1)")
    ] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev", help="allow running without any API token (development only)"
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the covering HTTP service (tokens from COVERING_API_TOKENS)."""
    try:
        import uvicorn

        from service.app import create_app
        from service.settings import Settings
    except ImportError as exc:
        raise ValueError(f"covering serve needs the [service] extra: {exc}") from None

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if workers is not None:
        overrides["workers"] = workers
    if insecure_dev:
        overrides["insecure_dev"] = True
    settings = Settings(**overrides)  # type: ignore[arg-type]
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {log_level!r}")
    logging.getLogger().setLevel(level)
    logging.getLogger("service").setLevel(level)
    app = create_app(settings)  # raises ValueError without a token (exit code 2)
    if settings.insecure_dev and not settings.api_tokens:
        logging.getLogger(__name__).warning(
            "no API token: every request is accepted (--insecure-dev)"
        )
    uvicorn.run(
        app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=10
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``covering`` command line."""
    app.command("serve")(serve)
