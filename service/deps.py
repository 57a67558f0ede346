"""Shared request dependencies: the app's state and bearer-token authentication."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.metrics import Metrics
from service.settings import Settings
from service.store import Store
from service.worker import Notifier, Worker

__all__ = ["AppState", "Authorized", "State", "require_token"]

_bearer = HTTPBearer(auto_error=False, description="one of COVERING_API_TOKENS")


@dataclass
class AppState:
    """Everything a request handler needs, kept on ``app.state.covering``."""

    settings: Settings
    store: Store
    worker: Worker
    metrics: Metrics
    notifier: Notifier


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.covering
    return state


State = Annotated[AppState, Depends(get_state)]


def require_token(
    state: State,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>`` with a known token.

    With no token configured (only possible with ``insecure_dev``) every request passes.
    """
    tokens = state.settings.api_tokens
    if not tokens and state.settings.insecure_dev:
        return
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    given = creds.credentials.encode()
    ok = False
    for t in tokens:  # compare with every token: no early exit timing signal
        ok |= hmac.compare_digest(given, t.encode())
    if not ok:
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


Authorized = Depends(require_token)
