"""Fixtures of the console tests: a started app, covers and curves made through the API, and
signing in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import MakeClient
from tests.service.helpers import AUTH, TOKEN, put


@dataclass
class Cover:
    id: str
    job: str
    manifest: dict[str, Any]


def make_cover(client: TestClient, X: np.ndarray, y: np.ndarray | None, **params: Any) -> Cover:
    body: dict[str, Any] = {"dataset": put(client, X), **params}
    if y is not None:
        body["labels"] = put(client, y)
    r = client.post("/cover?wait=60", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    m = r.json()
    row = client.app.state.covering.store.get_cover(m["cover_id"])
    return Cover(m["cover_id"], row.job_id, m)


def make_curve(
    client: TestClient, X: np.ndarray, y: np.ndarray | None, **params: Any
) -> dict[str, Any]:
    """``POST /curve?wait`` on ``X`` (and ``y``): the curve's JSON."""
    body: dict[str, Any] = {"dataset": put(client, X), **params}
    if y is not None:
        body["labels"] = put(client, y)
    r = client.post("/curve?wait=60", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def sign_in(client: TestClient, token: str = TOKEN) -> str:
    """Sign in through the form; returns the session's CSRF token (from a page's form)."""
    r = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/ui")
    assert page.status_code == 200
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m is not None
    return m.group(1)


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    """600 rows of scikit-learn's 8x8 digits (square images), float32, and their labels."""
    from covering.data import load_digits

    X, y = load_digits()
    return X[:600], y[:600]


@pytest.fixture
def ui_client(make_client: MakeClient) -> TestClient:
    return make_client()
