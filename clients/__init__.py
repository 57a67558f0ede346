"""Clients of the covering service. ``CoverClient`` needs only httpx (extra ``[client]``);
the training client lives in ``clients.train`` (extra ``[train]``, imports torch)."""

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
