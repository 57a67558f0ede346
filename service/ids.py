"""The service's ids (formats in :mod:`covering.ids`): datasets by the sha256 of their bytes,
jobs, covers and curves by a uuid4 hex. Every id is checked against its pattern before it
names a file."""

from __future__ import annotations

from covering.ids import ID_RE, SHA_RE, new_id
from service.errors import NotFound

__all__ = ["ID_RE", "SHA_RE", "check_id", "check_sha", "new_id"]


def check_sha(sha: str) -> str:
    """Return ``sha`` if it is 64 lowercase hex digits, else raise ``NotFound``."""
    if not isinstance(sha, str) or not SHA_RE.fullmatch(sha):
        raise NotFound(f"unknown dataset {sha!r}")
    return sha


def check_id(id_: str, what: str = "id") -> str:
    """Return ``id_`` if it is a 32-hex-digit id, else raise ``NotFound``."""
    if not isinstance(id_, str) or not ID_RE.fullmatch(id_):
        raise NotFound(f"unknown {what} {id_!r}")
    return id_
