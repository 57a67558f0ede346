"""Clients of the covering service. ``CoverClient`` needs only httpx (extra ``[client]``);
the training client lives in ``clients.train`` (extra ``[train]``, imports torch).

The HTTP client is imported on first use, so ``clients.train`` loads where the service's
dependencies (pydantic, FAISS) are missing, e.g. on a GPU machine for the paper run."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.http import (
        FINAL_STATES,
        JOB_STATES,
        AuthError,
        CoverClient,
        CoverServiceError,
        InvalidInput,
        JobFailed,
        NotFound,
        PayloadTooLarge,
    )

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "AuthError",
    "CoverClient",
    "CoverServiceError",
    "InvalidInput",
    "JobFailed",
    "NotFound",
    "PayloadTooLarge",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("clients.http"), name)
    raise AttributeError(f"module 'clients' has no attribute {name!r}")
