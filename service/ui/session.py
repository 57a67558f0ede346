"""Console sign-in: signed session cookies, their key, and CSRF tokens.

A session is an ``itsdangerous`` signed, timestamped payload ``{"t": <token digest>, "c":
<CSRF token>}`` in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over https) scoped to
``/ui``. The digest (an HMAC under the signing key) names the API token used to sign in, so
removing a token from ``COVERING_API_TOKENS`` ends its sessions. Forms that change state carry
the CSRF token.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service.settings import Settings

__all__ = ["COOKIE", "KEY_FILE", "SessionManager", "UiSession", "load_or_create_key"]

log = logging.getLogger(__name__)

COOKIE = "covering_ui"
KEY_FILE = "ui-session.key"
_SALT = "covering-ui-session"


@dataclass(frozen=True)
class UiSession:
    """A signed-in browser: ``csrf`` is the token its forms must send back."""

    csrf: str


def load_or_create_key(data_dir: Path) -> str:
    """The signing key kept in ``data_dir/ui-session.key``, created (mode 0600) if missing.

    Creation is atomic (a temporary file hard-linked into place), so concurrent starts agree
    on one key.

    Raises
    ------
    ValueError
        The file exists but is not a regular file or holds too short a key.
    """
    path = data_dir / KEY_FILE
    if not path.exists():
        tmp = data_dir / f".{KEY_FILE}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file: remove it to get a new console key")
    if st.st_mode & 0o077:
        log.warning("%s is readable by other users: chmod 600 it", path)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 characters: remove it")
    return key


class SessionManager:
    """Issues and checks console sessions for one app.

    Parameters
    ----------
    settings : Settings
        ``api_tokens``, ``insecure_dev``, ``ui_secret_key``, ``ui_session_hours``.
    data_dir : Path
        Where the generated key is kept when ``ui_secret_key`` is unset.
    """

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        secret = settings.ui_secret_key
        key = secret.get_secret_value() if secret is not None else load_or_create_key(data_dir)
        self._signer = URLSafeTimedSerializer(key, salt=_SALT)
        self._key = hashlib.sha256(b"covering-ui-token:" + key.encode()).digest()
        self.max_age = round(settings.ui_session_hours * 3600)

    def _digest(self, token: str) -> str:
        """Names the token in the cookie: keyed, so a cookie reveals nothing about it."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def _open(self) -> bool:
        return not self.settings.api_tokens and self.settings.insecure_dev

    def token_ok(self, token: str) -> bool:
        """Whether ``token`` is one of ``COVERING_API_TOKENS`` (compared in constant time).

        Without any token (``insecure_dev`` only) every non-empty token is accepted, as the
        JSON API then accepts every request."""
        if self._open():
            return bool(token)
        given = token.encode()
        ok = False
        for t in self.settings.api_tokens:  # no early exit: no timing signal
            ok |= hmac.compare_digest(given, t.encode())
        return ok

    def _known_digest(self, digest: str) -> bool:
        if self._open():
            return True
        ok = False
        for t in self.settings.api_tokens:
            ok |= hmac.compare_digest(digest, self._digest(t))
        return ok

    def issue(self, response: Response, request: Request, token: str) -> None:
        """Set the session cookie for a browser that signed in with ``token``."""
        value = self._signer.dumps({"t": self._digest(token), "c": secrets.token_urlsafe(24)})
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def read(self, request: Request) -> UiSession | None:
        """The session of a request, or None (no cookie, a forged, expired or revoked one)."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: Any = self._signer.loads(raw, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        digest, csrf = data.get("t"), data.get("c")
        if not isinstance(digest, str) or not isinstance(csrf, str) or not csrf:
            return None
        if not self._known_digest(digest):
            return None
        return UiSession(csrf=csrf)

    @staticmethod
    def clear(response: Response, request: Request) -> None:
        """Delete the session cookie."""
        response.delete_cookie(
            COOKIE,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def csrf_ok(session: UiSession, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())
