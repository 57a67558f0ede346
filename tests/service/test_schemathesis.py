"""Property-based checks of the app against its own OpenAPI schema (in-process ASGI)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.transport.serialization import serialize_binary  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import tests.service.st_hooks  # noqa: E402, F401  (valid .npy bodies; PUT at its body's sha256)
from service import Settings, create_app  # noqa: E402
from tests.service.helpers import AUTH, TOKEN  # noqa: E402

_DATA = Path(tempfile.mkdtemp(prefix="covering-schemathesis-"))
_APP = create_app(
    Settings(data_dir=_DATA, api_tokens=[TOKEN], max_upload_bytes=1 << 16, max_wait_s=0.5)
)


@schemathesis.serializer("application/x-npy")
def _npy_body(_ctx: object, value: object) -> bytes:
    return serialize_binary(value)  # type: ignore[arg-type]


schema = schemathesis.openapi.from_asgi("/openapi.json", _APP, headers=AUTH)


@pytest.fixture(scope="module", autouse=True)
def _lifespan() -> Iterator[None]:
    with TestClient(_APP):  # runs the worker while the module's tests run
        yield
    shutil.rmtree(_DATA, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case) -> None:
    """Every check schemathesis has (``--checks all``): no 5xx; status codes, content types,
    headers and bodies as documented; schema-valid requests accepted (2xx, or 404 for ids
    that are not stored) and invalid ones refused; 405 with ``Allow`` for other methods."""
    case.call_and_validate(headers=AUTH)


@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_token_is_401_never_5xx(case) -> None:
    response = case.call(headers={"Authorization": "Bearer not-a-valid-token"})
    assert response.status_code < 500
    if case.path != "/healthz":  # never served without a valid token
        assert response.status_code in (401, 404, 405), (case.path, response.status_code)
