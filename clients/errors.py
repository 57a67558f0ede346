"""The errors of :class:`~clients.CoverClient`: one class per kind of answer of the service."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "AuthError",
    "CoverServiceError",
    "InvalidInput",
    "JobFailed",
    "NotFound",
    "PayloadTooLarge",
    "error_for",
]


class CoverServiceError(Exception):
    """An error answer of the service (or no answer: ``status == 0``).

    Attributes
    ----------
    status : int
        HTTP status code (0 when the server could not be reached).
    detail : Any
        The server's ``detail`` (usually a message).
    """

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"[{status}] {detail}" if status else str(detail))
        self.status = status
        self.detail = detail


class AuthError(CoverServiceError):
    """401/403: missing or wrong token."""


class NotFound(CoverServiceError):
    """404: unknown dataset, job or cover."""


class PayloadTooLarge(CoverServiceError):
    """413: the upload exceeds the server's limit."""


class InvalidInput(CoverServiceError):
    """400/415/422: the request or its content was refused."""


class JobFailed(CoverServiceError):
    """The job ended ``failed`` or ``cancelled``; ``job`` is its last state."""

    def __init__(self, status: int, detail: Any, job: dict[str, Any]) -> None:
        super().__init__(status, detail)
        self.job = job


def error_for(r: httpx.Response) -> CoverServiceError:
    """The error of an answer with status >= 400 (``detail`` from its JSON body, else its text)."""
    try:
        body = r.json()
    except ValueError:
        body = None
    detail: Any = (
        body.get("detail", body) if isinstance(body, dict) else (r.text or r.reason_phrase)
    )
    if isinstance(body, dict) and isinstance(body.get("job"), dict):
        return JobFailed(r.status_code, detail, body["job"])
    cls: type[CoverServiceError] = {
        401: AuthError,
        403: AuthError,
        404: NotFound,
        413: PayloadTooLarge,
        400: InvalidInput,
        415: InvalidInput,
        422: InvalidInput,
    }.get(r.status_code, CoverServiceError)
    return cls(r.status_code, detail)
