"""Service errors: each carries the HTTP status and a message for the JSON ``detail``."""

from __future__ import annotations

__all__ = [
    "Conflict",
    "HashMismatch",
    "InvalidContent",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "UnsupportedMediaType",
]


class ServiceError(Exception):
    """Base class: ``status`` (HTTP code) and ``detail`` (message for the client)."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    status = 404


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class InvalidContent(ServiceError):
    status = 422


class HashMismatch(ServiceError):
    status = 400


class Conflict(ServiceError):
    status = 409
