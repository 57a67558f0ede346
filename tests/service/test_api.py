"""Routes on the in-process app: uploads, covers (both forms), jobs, arrays, points, metrics."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

import covering
from covering.io import read_npz
from tests.service.helpers import AUTH, NPY, npy_bytes, put, sha


def _arrays(client, cover_id: str) -> dict[str, np.ndarray]:
    r = client.get(f"/covers/{cover_id}/arrays", headers=AUTH)
    assert r.status_code == 200
    with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _verify(X, y, manifest: dict, arrays: dict) -> None:
    m = covering.Manifest.model_validate(manifest)
    cov = m.to_cover(arrays)
    covering.verify(X, cov, y)
    assert m.dataset.fingerprint == covering.fingerprint(X)


def test_healthz_needs_no_token(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_upload_is_content_addressed_and_idempotent(client, blobs) -> None:
    X, _ = blobs
    b = npy_bytes(X)
    s = sha(b)
    r = client.put(f"/datasets/{s}", content=b, headers={**AUTH, **NPY})
    assert r.status_code == 201
    assert r.json() == {
        "sha256": s,
        "kind": "embedding",
        "shape": [120, 4],
        "dtype": "float32",
        "bytes": len(b),
    }
    r2 = client.put(
        f"/datasets/{s}", content=b, headers={**AUTH, "Content-Type": "application/octet-stream"}
    )
    assert r2.status_code == 200
    assert client.get(f"/datasets/{s}", headers=AUTH).json()["kind"] == "embedding"
    store = client.app.state.covering.store
    assert store.dataset_path(s).read_bytes() == b
    assert list(store.tmp_dir.iterdir()) == []


def test_json_cover_with_wait_returns_a_valid_manifest(client, blobs) -> None:
    X, y = blobs
    ds, lab = put(client, X), put(client, y)
    r = client.post("/cover?wait=30", json={"dataset": ds, "labels": lab, "eta": 1.5}, headers=AUTH)
    assert r.status_code == 200, r.text
    man = r.json()
    assert man["kind"] == "cover-manifest" and man["params"]["eta"] == 1.5
    assert man["payload"]["url"] == f"/covers/{man['cover_id']}/arrays"
    arrays = _arrays(client, man["cover_id"])
    raw = client.get(f"/covers/{man['cover_id']}/arrays", headers=AUTH).content
    assert sha(raw) == man["payload"]["sha256"]
    _verify(X, y, man, arrays)
    assert client.get(f"/covers/{man['cover_id']}", headers=AUTH).json() == man


def test_job_is_accepted_then_polled(client, blobs) -> None:
    X, _ = blobs
    ds = put(client, X)
    r = client.post("/cover", json={"dataset": ds, "k": 5, "method": "kcenter"}, headers=AUTH)
    assert r.status_code == 202
    assert r.headers["location"] == f"/jobs/{r.json()['id']}"
    job = client.get(r.headers["location"] + "?wait=30", headers=AUTH).json()
    assert job["status"] == "succeeded", job
    assert job["progress"]["stage"] == "done"
    man = client.get(f"/covers/{job['cover']}", headers=AUTH).json()
    assert man["params"]["k"] == 5 and man["stats"]["size"] <= 5


def test_one_call_raw_body(client, blobs) -> None:
    X, y = blobs
    lab = put(client, y)
    r = client.post(
        f"/cover/npy?eta=2.0&metric=linf&labels={lab}&wait=30",
        content=npy_bytes(X),
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    man = r.json()
    assert man["params"]["metric"] == "linf"
    _verify(X, y, man, _arrays(client, man["cover_id"]))
    # each form has its own route: the JSON route refuses a raw body and says where it goes
    r = client.post(f"/cover?eta=2.0&labels={lab}", content=npy_bytes(X), headers={**AUTH, **NPY})
    assert r.status_code == 415 and "POST /cover/npy" in r.json()["detail"]
    r = client.post("/cover/npy?eta=2.0", json={"dataset": lab}, headers=AUTH)
    assert r.status_code == 415


def test_large_cover_leaves_centres_out_of_the_manifest(make_client, blobs) -> None:
    client = make_client(inline_max_centres=2)
    X, y = blobs
    r = client.post(
        "/cover?wait=30",
        json={"dataset": put(client, X), "labels": put(client, y), "eta": 0.5},
        headers=AUTH,
    )
    man = r.json()
    assert man["stats"]["size"] > 2 and man["centres"] is None
    arrays = _arrays(client, man["cover_id"])
    _verify(X, y, man, arrays)


def test_engine_error_fails_the_job_with_its_message(client, blobs) -> None:
    X, y = blobs
    r = client.post(
        "/cover?wait=30",
        json={"dataset": put(client, X), "labels": put(client, y), "k": 2},
        headers=AUTH,
    )
    assert r.status_code == 422
    body = r.json()
    assert body["job"]["status"] == "failed"
    assert "number of classes" in body["detail"]
    job = client.get(f"/jobs/{body['job']['id']}", headers=AUTH).json()
    assert job["status"] == "failed" and "classes" in job["error"]


def test_add_points_makes_a_child_cover(client, blobs) -> None:
    X, y = blobs
    r = client.post(
        "/cover?wait=30",
        json={"dataset": put(client, X[:80]), "labels": put(client, y[:80]), "eta": 1.5},
        headers=AUTH,
    )
    parent = r.json()["cover_id"]
    r = client.post(
        f"/covers/{parent}/points?wait=30",
        json={"dataset": put(client, X[80:]), "labels": put(client, y[80:])},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    child = r.json()
    assert child["parent"] == parent and child["dataset"]["n"] == 120
    _verify(X, y, child, _arrays(client, child["cover_id"]))
    # and again, with a raw body, on top of the child
    extra = (X[:10] + 0.01).astype(np.float32)
    r = client.post(
        f"/covers/{child['cover_id']}/points/npy?wait=30&labels={put(client, y[:10])}",
        content=npy_bytes(extra),
        headers={**AUTH, **NPY},
    )
    assert r.status_code == 200, r.text
    grand = r.json()
    assert grand["parent"] == child["cover_id"] and grand["dataset"]["n"] == 130
    _verify(
        np.concatenate([X, extra]),
        np.concatenate([y, y[:10]]),
        grand,
        _arrays(client, grand["cover_id"]),
    )


def test_add_points_checks_shape_and_labels(client, blobs) -> None:
    X, y = blobs
    parent = client.post(
        "/cover?wait=30",
        json={"dataset": put(client, X), "labels": put(client, y), "eta": 1.5},
        headers=AUTH,
    ).json()["cover_id"]
    wrong_dim = put(client, X[:, :3].copy())
    r = client.post(f"/covers/{parent}/points", json={"dataset": wrong_dim}, headers=AUTH)
    assert r.status_code == 409 and "columns" in r.json()["detail"]
    r = client.post(f"/covers/{parent}/points", json={"dataset": put(client, X[:5])}, headers=AUTH)
    assert r.status_code == 409 and "labels" in r.json()["detail"]


def test_cancel_queued_and_running_jobs(make_client, blobs) -> None:
    client = make_client(job_delay_s=30.0)
    X, _ = blobs
    ds = put(client, X)
    first = client.post("/cover", json={"dataset": ds, "eta": 1.0}, headers=AUTH).json()
    second = client.post("/cover", json={"dataset": ds, "eta": 1.0}, headers=AUTH).json()
    deadline = time.monotonic() + 10
    while client.get(f"/jobs/{first['id']}", headers=AUTH).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = client.delete(f"/jobs/{second['id']}", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"  # queued: at once
    r = client.delete(f"/jobs/{first['id']}", headers=AUTH)
    assert r.status_code == 202 and r.json()["status"] == "cancelling"  # running: asked
    job = client.get(f"/jobs/{first['id']}?wait=10", headers=AUTH).json()
    assert job["status"] == "cancelled"
    assert job["progress"]["stage"] == "delay"
    r = client.post("/cover?wait=0.2", json={"dataset": ds, "eta": 1.0}, headers=AUTH)
    assert r.status_code == 202  # still waiting when ?wait runs out


def test_metrics_count_jobs(client, blobs) -> None:
    X, _ = blobs
    client.post("/cover?wait=30", json={"dataset": put(client, X), "eta": 1.0}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 'covering_jobs_total{kind="cover",status="succeeded"} 1.0' in text
    assert "covering_job_seconds_bucket" in text
    assert "http_request_duration_seconds" in text
    assert "covering_jobs_queued 0.0" in text


def test_ray_address_routes_cover_jobs_to_cover_shards(make_client, blobs, monkeypatch) -> None:
    distributed = pytest.importorskip("covering.distributed")
    calls = []

    def fake_cover_shards(paths, label_paths=None, *, eta, metric="l2", address=None, **kw):
        calls.append((paths, label_paths, eta, metric, address))
        X = np.load(paths[0], allow_pickle=False)
        y = np.load(label_paths[0], allow_pickle=False) if label_paths else None
        return covering.cover(X, y, eta=eta, metric=metric)

    monkeypatch.setattr(distributed, "cover_shards", fake_cover_shards)
    client = make_client(ray_address="ray://head:10001")
    X, y = blobs
    ds, lab = put(client, X), put(client, y)
    r = client.post("/cover?wait=30", json={"dataset": ds, "labels": lab, "eta": 1.5}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert len(calls) == 1
    paths, label_paths, eta, metric, address = calls[0]
    assert paths[0].endswith(f"{ds}.npy") and label_paths[0].endswith(f"{lab}.npy")
    assert (eta, metric, address) == (1.5, "l2", "ray://head:10001")


def test_openapi_documents_binary_bodies(client) -> None:
    assert client.get("/openapi.json").status_code == 401  # the schema needs the token
    spec = client.get("/openapi.json", headers=AUTH).json()
    for path, method in (
        ("/cover/npy", "post"),
        ("/datasets/{sha256}", "put"),
        ("/covers/{cover_id}/points/npy", "post"),
    ):
        content = spec["paths"][path][method]["requestBody"]["content"]
        for mt in ("application/x-npy", "application/octet-stream"):
            assert content[mt]["schema"] == {"type": "string", "format": "binary"}
    assert "application/json" in spec["paths"]["/cover"]["post"]["requestBody"]["content"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_restart_keeps_datasets_covers_and_requeues_jobs(make_client, tmp_path, blobs) -> None:
    data = tmp_path / "persist"
    X, y = blobs
    c1 = make_client(data_dir=data, job_delay_s=30.0)
    ds, lab = put(c1, X), put(c1, y)
    c1.app.state.covering.settings.job_delay_s = 0.0
    man = c1.post(
        "/cover?wait=30", json={"dataset": ds, "labels": lab, "eta": 1.5}, headers=AUTH
    ).json()
    raw = c1.get(f"/covers/{man['cover_id']}/arrays", headers=AUTH).content
    assert c1.app.state.covering.store.journal_mode() == "wal"
    c1.app.state.covering.settings.job_delay_s = 30.0
    job = c1.post("/cover", json={"dataset": ds, "eta": 1.0}, headers=AUTH).json()
    deadline = time.monotonic() + 10
    while c1.get(f"/jobs/{job['id']}", headers=AUTH).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c1.__exit__(None, None, None)  # graceful stop: the running job goes back to the queue
    c2 = make_client(data_dir=data)
    assert c2.get(f"/covers/{man['cover_id']}", headers=AUTH).json() == man
    assert c2.get(f"/covers/{man['cover_id']}/arrays", headers=AUTH).content == raw
    assert read_npz(c2.app.state.covering.store.arrays_path(man["cover_id"]))["indices"].size
    done = c2.get(f"/jobs/{job['id']}?wait=30", headers=AUTH).json()
    assert done["status"] == "succeeded", done
