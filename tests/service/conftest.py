"""Fixtures: in-process apps (TestClient, lifespan running) on temporary data directories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import Settings, create_app
from tests.service.helpers import TOKEN

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """Factory of started apps: ``make_client(data_dir=None, **settings)``."""
    opened: list[TestClient] = []

    def make(data_dir: Path | None = None, **overrides: Any) -> TestClient:
        kw: dict[str, Any] = {"api_tokens": [TOKEN], **overrides}
        settings = Settings(data_dir=data_dir or tmp_path / "data", **kw)
        c = TestClient(create_app(settings), raise_server_exceptions=False)
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in reversed(opened):
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three well separated labelled clusters: X float32 (120, 4), y int64 (120,)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40).astype(np.int64)
    X = (rng.normal(size=(120, 4)) * 0.3 + y[:, None] * 5.0).astype(np.float32)
    return X, y
