"""``CoverClient`` against a live in-process server (uvicorn in a thread) and mock transports."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
import types
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

import covering
from clients import (
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
from service import Settings
from tests.service.helpers import REPO, TOKEN, free_port, thread_server


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("client-data"), api_tokens=[TOKEN])
    with thread_server(settings) as u:
        yield u


@pytest.fixture
def client(url: str) -> Iterator[CoverClient]:
    with CoverClient(url, TOKEN, timeout=30, backoff=0.01) as c:
        yield c


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 30).astype(np.int64)
    X = (rng.normal(size=(90, 5)) * 0.3 + y[:, None] * 4.0).astype(np.float32)
    return X, y


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_upload_array_and_file_give_the_npy_sha(client: CoverClient, data, tmp_path) -> None:
    X, _ = data
    s = client.upload(X)
    assert s == hashlib.sha256(_npy(X)).hexdigest()
    assert client.dataset(s)["shape"] == [90, 5]
    p = tmp_path / "x.npy"
    np.save(p, X[:10])
    s2 = client.upload(p)
    assert s2 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert client.upload(np.asfortranarray(X)) == s  # made contiguous, same bytes
    with pytest.raises(ValueError, match="object"):
        client.upload(np.array([{}, 1], dtype=object))


def test_upload_streams_with_content_length_and_skips_known_data() -> None:
    seen: list[httpx.Request] = []
    stored: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        s = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            return httpx.Response(200 if s in stored else 404, json={"detail": "x"})
        body = request.content
        assert hashlib.sha256(body).hexdigest() == s
        stored.add(s)
        return httpx.Response(201, json={"sha256": s})

    contents: list[object] = []
    with CoverClient("http://test", TOKEN, transport=httpx.MockTransport(handler)) as c:
        real = c._http.request

        def spy(method: str, url: str, **kw: object) -> httpx.Response:
            contents.append(kw.get("content"))
            return real(method, url, **kw)  # type: ignore[arg-type]

        c._http.request = spy  # type: ignore[method-assign]
        big = np.zeros((3000, 100), np.float32)  # 1.2 MB: several chunks
        s = c.upload(big)
        assert isinstance(contents[-1], types.GeneratorType)  # streamed, not one bytes blob
        put = seen[-1]
        assert put.method == "PUT"
        assert put.headers["content-length"] == str(len(_npy(big)))
        assert "transfer-encoding" not in put.headers
        assert put.headers["authorization"] == f"Bearer {TOKEN}"
        n = len(seen)
        assert c.upload(big) == s and len(seen) == n + 1  # only the GET this time


def test_cover_arrays_verify_and_add_points(client: CoverClient, data) -> None:
    X, y = data
    m = client.cover(X, labels=y, eta=1.2)
    assert isinstance(m, covering.Manifest) and m.params.eta == 1.2
    arr = client.arrays(m.cover_id)
    assert set(arr) == {"indices", "weights", "assignment", "labels"}
    cov = covering.Cover(
        indices=arr["indices"],
        weights=arr["weights"],
        assignment=arr["assignment"],
        labels=arr["labels"],
        eta=1.2,
        radius=m.stats.radius,
        metric="l2",
        method=m.params.method,
        n=90,
        dim=5,
        lower_bound=None,
        fingerprint=m.dataset.fingerprint,
    )
    covering.verify(X, cov, y)
    # by sha, without waiting
    job_id = client.cover(client.upload(X), labels=client.upload(y), k=6, wait=False)
    assert isinstance(job_id, str) and len(job_id) == 32
    m2 = client.wait(job_id, timeout=30, poll=0.5)
    assert m2.params.k == 6 and m2.stats.size <= 6
    assert client.job(job_id)["status"] == "succeeded"
    child = client.add_points(m.cover_id, X[:7] + 0.05, y[:7])
    assert child.parent == m.cover_id and child.dataset.n == 97


def test_cancel_a_running_job(tmp_path, data) -> None:
    """A running job answers ``cancelling``; ``cancel(wait=...)`` returns it ``cancelled``."""
    X, _ = data
    settings = Settings(data_dir=tmp_path / "d", api_tokens=[TOKEN], job_delay_s=30.0)
    with thread_server(settings) as u, CoverClient(u, TOKEN, timeout=30) as c:
        job_id = c.cover(X, eta=1.0, wait=False)
        for _ in range(500):
            if c.job(job_id)["status"] == "running":
                break
            time.sleep(0.02)
        asked = c.cancel(job_id)
        assert asked["status"] == "cancelling" and asked["status"] in JOB_STATES
        t0 = time.monotonic()
        done = c.cancel(job_id, wait=20)
        assert done["status"] == "cancelled" and time.monotonic() - t0 < 10
        assert done["status"] in FINAL_STATES
        with pytest.raises(JobFailed) as e:
            c.wait(job_id, timeout=5)
        assert e.value.status == 409


def test_typed_errors_carry_the_server_message(client: CoverClient, url: str, data) -> None:
    X, y = data
    with CoverClient(url, "wrong-token-123") as bad, pytest.raises(AuthError) as e:
        bad.manifest("a" * 32)
    assert e.value.status == 401 and "token" in e.value.detail
    with pytest.raises(NotFound) as nf:
        client.manifest("b" * 32)
    assert nf.value.status == 404
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(InvalidInput, match="NaN"):
        client.upload(Xn)
    with pytest.raises(JobFailed) as jf:
        client.cover(X, labels=y, k=1)
    assert jf.value.job["status"] == "failed" and "classes" in jf.value.job["error"]
    with pytest.raises(ValueError, match="exactly one"):
        client.cover(X, eta=1.0, k=2)
    job_id = client.cover(X, eta=0.3, wait=False)
    with pytest.raises(TimeoutError):
        client.wait(job_id, timeout=0.0)
    client.cancel(job_id)


def test_arrays_sha_mismatch_is_detected(client: CoverClient, url: str, data) -> None:
    X, _ = data
    m = client.cover(X, eta=1.0)
    good = client._http.get(f"/covers/{m.cover_id}/arrays").content

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/arrays"):
            return httpx.Response(200, content=good[:-1] + bytes([good[-1] ^ 1]))
        return httpx.Response(200, content=m.model_dump_json().encode())

    with (
        CoverClient("http://test", TOKEN, transport=httpx.MockTransport(handler)) as c,
        pytest.raises(CoverServiceError, match="sha256"),
    ):
        c.arrays(m.cover_id)


def test_retries_idempotent_calls_only() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "GET" and calls.count("GET") < 3:
            return httpx.Response(503, json={"detail": "busy"})
        if request.method == "POST":
            return httpx.Response(502, json={"detail": "bad gateway"})
        if request.method == "DELETE":
            raise httpx.ReadError("connection reset")
        return httpx.Response(200, json={"id": "a" * 32, "status": "queued"})

    with CoverClient(
        "http://test", TOKEN, retries=3, backoff=0.001, transport=httpx.MockTransport(handler)
    ) as c:
        assert c.job("a" * 32)["status"] == "queued"
        assert calls.count("GET") == 3
        with pytest.raises(CoverServiceError) as e:
            c.cover("c" * 64, eta=1.0)
        assert e.value.status == 502 and calls.count("POST") == 1
        with pytest.raises(CoverServiceError) as e2:
            c.cancel("a" * 32)
        assert e2.value.status == 0 and calls.count("DELETE") == 4


def test_413_maps_to_payload_too_large() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"detail": "unknown"})
        return httpx.Response(413, json={"detail": "body exceeds the limit"})

    with (
        CoverClient("http://test", TOKEN, transport=httpx.MockTransport(handler)) as c,
        pytest.raises(PayloadTooLarge, match="limit"),
    ):
        c.upload(np.zeros((4, 2), np.float32))


def test_unreachable_server_is_a_service_error_after_retries() -> None:
    with (
        CoverClient(
            f"http://127.0.0.1:{free_port()}", TOKEN, retries=2, backoff=0.001, timeout=2
        ) as c,
        pytest.raises(CoverServiceError) as e,
    ):
        c.healthz()
    assert e.value.status == 0


@pytest.mark.slow  # a subprocess
def test_clients_package_does_not_import_torch() -> None:
    code = "import sys, clients; assert 'torch' not in sys.modules; print(clients.__all__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    assert "CoverClient" in out.stdout
