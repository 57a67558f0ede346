"""The covering service: a FastAPI app computing cover manifests of uploaded embeddings.

Start it with ``covering serve`` or embed it::

    from service import Settings, create_app
    app = create_app(Settings(data_dir="data", api_tokens=["secret-token"]))

The names are imported lazily, so ``service.cli`` (loaded by every ``covering`` command) stays
cheap and works without the ``[service]`` extra until ``serve`` actually runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Settings", "create_app"]

if TYPE_CHECKING:
    from service.app import create_app
    from service.settings import Settings


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from service.app import create_app

        return create_app
    if name == "Settings":
        from service.settings import Settings

        return Settings
    raise AttributeError(f"module 'service' has no attribute {name!r}")
