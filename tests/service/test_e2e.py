"""The real thing: ``covering serve`` in a subprocess on a free loopback port, driven by
``CoverClient``; SIGKILL restart; a small loopback load test."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

import covering
from bench.loadtest import run_load
from clients import CoverClient
from service import Settings
from tests.service.helpers import (
    TOKEN,
    free_port,
    kill_process,
    start_process_server,
    thread_server,
    wait_healthy,
)

pytestmark = pytest.mark.slow


def _digits() -> tuple[np.ndarray, np.ndarray]:
    pytest.importorskip("sklearn")
    from covering.data import load_digits

    return load_digits()


def _check(X: np.ndarray, y: np.ndarray | None, client: CoverClient, m: covering.Manifest) -> None:
    arrays = client.arrays(m.cover_id, m)
    cov = m.to_cover(arrays)
    covering.verify(X, cov, y)
    assert m.dataset.fingerprint == covering.fingerprint(X)


def test_end_to_end_with_uvicorn_subprocess(tmp_path: Path) -> None:
    X, y = _digits()
    port = free_port()
    proc = start_process_server(tmp_path / "data", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        with CoverClient(url, TOKEN, timeout=60) as client:
            m = client.cover(X, labels=y, eta=1.5)
            assert m.stats.size == len(m.centres.indices) and m.dataset.n == X.shape[0]
            assert m.dataset.labels_fingerprint is not None
            _check(X, y, client, m)
            child = client.add_points(m.cover_id, X[:50] * 0.99, y[:50])
            assert child.parent == m.cover_id and child.dataset.n == X.shape[0] + 50
            _check(np.concatenate([X, X[:50] * 0.99]), np.concatenate([y, y[:50]]), client, child)
            assert 'covering_jobs_total{kind="add_points",status="succeeded"} 1.0' in (
                client.metrics()
            )
    finally:
        kill_process(proc)


def test_sigkill_restart_finishes_the_job_and_keeps_covers(tmp_path: Path) -> None:
    """A job is running (held in its test-only ``COVERING_JOB_DELAY_S`` stage) when the server
    gets SIGKILL; a new server on the same data dir finishes it, and the earlier cover still
    downloads with the same sha256."""
    X, y = _digits()
    X, y = X[:900], y[:900]
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_process_server(data, port, COVERING_JOB_DELAY_S="2")
    try:
        wait_healthy(url, proc=proc)
        with CoverClient(url, TOKEN) as client:
            first = client.cover(X, labels=y, eta=1.5, method="greedy")
            first_sha = hashlib.sha256(
                client._http.get(f"/covers/{first.cover_id}/arrays").content
            ).hexdigest()
            assert first.payload is not None and first_sha == first.payload.sha256
            job_id = client.cover(X, labels=y, eta=1.0, method="greedy", wait=False)
            deadline = time.monotonic() + 20
            while (job := client.job(job_id))["progress"]["stage"] != "delay":
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
            assert job["status"] == "running"
    finally:
        kill_process(proc)  # SIGKILL: no shutdown handler runs
    assert proc.returncode == -9
    proc = start_process_server(data, port)
    try:
        wait_healthy(url, proc=proc)
        with CoverClient(url, TOKEN) as client:
            m = client.wait(job_id, timeout=60)
            assert m.params.eta == 1.0
            _check(X, y, client, m)
            assert client.manifest(first.cover_id) == first
            again = client._http.get(f"/covers/{first.cover_id}/arrays").content
            assert hashlib.sha256(again).hexdigest() == first_sha
            assert client.job(job_id)["status"] == "succeeded"
    finally:
        kill_process(proc)


def test_small_loopback_load(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_tokens=[TOKEN])
    with thread_server(settings) as url:
        res = run_load(url, TOKEN, clients=4, requests=5, n=48, dim=6)
    assert res.requests == 20
    assert res.ok == 20, res.errors
    assert res.p50_ms > 0 and res.requests_per_s > 0


def test_one_server_per_data_directory_and_a_stale_lock_does_not_block(tmp_path: Path) -> None:
    """A second ``covering serve`` on a data directory in use exits at once (code 2, a clear
    message) and leaves the first one's files alone; after the first is killed with SIGKILL
    (no clean-up ran: the lock file is still there) a new server starts on it."""
    data = tmp_path / "data"
    port, port2 = free_port(), free_port()
    first = start_process_server(data, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc=first)
        second = start_process_server(data, port2)
        try:
            assert second.wait(30) == 2
            assert second.stderr is not None
            err = second.stderr.read().decode()
        finally:
            kill_process(second)
        assert err.startswith("error: data directory") and f"process {first.pid}" in err, err
        assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
        with CoverClient(f"http://127.0.0.1:{port}", TOKEN) as client:
            assert client.healthz()["status"] == "ok"  # the first one still serves
    finally:
        kill_process(first)  # SIGKILL
    assert first.returncode == -9 and (data / "covering.lock").is_file()
    third = start_process_server(data, port2)
    try:
        wait_healthy(f"http://127.0.0.1:{port2}", proc=third)
    finally:
        kill_process(third)
