"""``CoverClient.curve``: the server's curve (``POST /curve``) equals ``covering.size_curve``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import covering
from clients import CoverClient, InvalidInput, JobFailed, NotFound
from service import Settings
from tests.service.helpers import TOKEN, thread_server


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoverClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("curve-data"), api_tokens=[TOKEN])
    with thread_server(settings) as url, CoverClient(url, TOKEN, timeout=30) as c:
        yield c


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(3), 40).astype(np.int64)
    X = (rng.normal(size=(120, 5)) + y[:, None] * 3.0).astype(np.float32)
    return X, y


def test_curve_waits_and_equals_size_curve(client: CoverClient, data) -> None:
    X, y = data
    curve = client.curve(X, y, etas=[1.0, 2.0, 3.0])
    want = covering.size_curve(X, y, [1.0, 2.0, 3.0])
    assert curve["sizes"] == want.sizes.tolist()
    assert curve["class_sizes"] == want.class_sizes.tolist()
    assert client.curve_result(curve["curve_id"]) == curve
    grid = np.geomspace(1.0, 3.0, 4)
    ranged = client.curve(X, eta_min=1.0, eta_max=3.0, num=4, wait=60, poll=5)
    assert ranged["sizes"] == covering.size_curve(X, None, grid).sizes.tolist()


def test_curve_without_wait_returns_the_job(client: CoverClient, data) -> None:
    X, _ = data
    job_id = client.curve(X, etas=[2.0], wait=False)
    assert isinstance(job_id, str)
    curve = client.wait_curve(job_id, timeout=60)
    assert curve["sizes"] == covering.size_curve(X, None, [2.0]).sizes.tolist()
    assert client.job(job_id)["curve"] == curve["curve_id"]
    with pytest.raises(ValueError, match="curve job, not a cover job"):
        client.wait(job_id, timeout=60)
    cover_job = client.cover(X, eta=2.0, wait=False)
    with pytest.raises(ValueError, match="cover job, not a curve job"):
        client.wait_curve(cover_job, timeout=60)


def test_curve_errors_are_typed(client: CoverClient, data) -> None:
    X, _ = data
    with pytest.raises(InvalidInput, match="eta_min"):
        client.curve(X, eta_min=3.0, eta_max=1.0)
    with pytest.raises(NotFound):
        client.curve("0" * 64, etas=[1.0])
    with pytest.raises(NotFound):
        client.curve_result("0" * 32)
    Z = np.ones((10, 2), dtype=np.float32)
    Z[0] = 0.0
    with pytest.raises(JobFailed, match="zero rows"):
        client.curve(Z, etas=[0.5], metric="cosine")
