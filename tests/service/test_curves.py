"""``POST /curve`` and ``GET /curves/{id}``: sizes equal ``covering.size_curve``'s, strict
parameters (422), unknown ids (404), progress and cancellation in the job queue."""

from __future__ import annotations

import time

import numpy as np
import pytest

import covering
from covering.data import load_digits
from tests.service.helpers import AUTH, put


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    return X[:600], y[:600]


def _job(client, job_id: str) -> dict:
    r = client.get(f"/jobs/{job_id}", headers=AUTH)
    assert r.status_code == 200
    return r.json()


def test_curve_with_wait_equals_size_curve(client, digits) -> None:
    X, y = digits
    ds, lab = put(client, X), put(client, y)
    etas = [2.0, 0.8, 1.2, 1.6]
    r = client.post(
        "/curve?wait=60", json={"dataset": ds, "labels": lab, "etas": etas}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    body = r.json()
    want = covering.size_curve(X, y, etas)
    assert body["etas"] == [0.8, 1.2, 1.6, 2.0]
    assert body["sizes"] == want.sizes.tolist()
    assert body["class_sizes"] == want.class_sizes.tolist()
    assert body["classes"] == list(range(10)) and body["class_counts"] == want.class_counts.tolist()
    assert body["fractions"] == pytest.approx((want.sizes / 600).tolist())
    assert (body["n"], body["metric"], body["dataset"], body["labels"]) == (600, "l2", ds, lab)
    assert want.sizes[0] > want.sizes[-1]  # a falling curve: the comparison is not vacuous
    cid = body["curve_id"]
    assert r.headers["location"] == f"/curves/{cid}"
    got = client.get(f"/curves/{cid}", headers=AUTH)
    assert got.status_code == 200 and got.json() == body
    job = _job(client, body["job_id"])
    assert job["kind"] == "curve" and job["status"] == "succeeded"
    assert job["curve"] == cid and job["cover"] is None
    assert job["progress"] == {"stage": "done", "done": 4, "total": 4}
    # the curve is a JSON file in the data directory, written atomically
    store = client.app.state.covering.store
    assert store.curve_path(cid).is_file()
    assert not list(store.curves_dir.glob(".*.tmp"))


def test_range_and_default_forms(client, digits) -> None:
    X, _ = digits
    ds = put(client, X)
    r = client.post(
        "/curve?wait=60",
        json={"dataset": ds, "eta_min": 0.9, "eta_max": 2.4, "num": 5, "metric": "linf"},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    grid = np.geomspace(0.9, 2.4, 5)
    assert r.json()["etas"] == pytest.approx(grid.tolist(), rel=1e-12)
    assert r.json()["sizes"] == covering.size_curve(X, None, grid, metric="linf").sizes.tolist()
    assert r.json()["classes"] == [-1] and r.json()["metric"] == "linf"
    r = client.post("/curve?wait=60", json={"dataset": ds, "num": 3, "seed": 4}, headers=AUTH)
    assert r.status_code == 200, r.text
    want = covering.size_curve(X, None, num=3, seed=4)
    assert r.json()["etas"] == want.etas.tolist() and r.json()["sizes"] == want.sizes.tolist()


def test_without_wait_the_job_is_polled_and_linked(client, digits) -> None:
    X, _ = digits
    ds = put(client, X)
    r = client.post("/curve", json={"dataset": ds, "etas": [1.5]}, headers=AUTH)
    assert r.status_code == 202
    job = r.json()
    assert job["kind"] == "curve" and r.headers["location"] == f"/jobs/{job['id']}"
    job = client.get(f"/jobs/{job['id']}?wait=60", headers=AUTH).json()
    assert job["status"] == "succeeded" and job["cover"] is None
    curve = client.get(f"/curves/{job['curve']}", headers=AUTH).json()
    assert curve["sizes"] == covering.size_curve(X, None, [1.5]).sizes.tolist()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"etas": []}, "etas"),
        ({"etas": [0]}, "greater than 0"),
        ({"etas": [1.0, -2.0]}, "greater than 0"),
        ({"etas": ["1.0"]}, "etas.0"),
        ({"etas": [True]}, "etas.0"),
        ({"etas": 1.0}, "etas"),
        ({"etas": [1.0] * 1001}, "etas"),
        ({"eta_min": 2.0, "eta_max": 1.0}, "must be smaller than eta_max"),
        ({"eta_min": 1.0, "eta_max": 1.0}, "must be smaller than eta_max"),
        ({"eta_min": 1.0}, "needs both eta_min and eta_max"),
        ({"eta_max": 1.0, "num": 4}, "needs both eta_min and eta_max"),
        ({"eta_min": 0.0, "eta_max": 1.0}, "eta_min"),
        ({"etas": [1.0], "eta_min": 0.5, "eta_max": 2.0}, "either etas or a range"),
        ({"etas": [1.0], "num": 4}, "either etas or a range"),
        ({"num": 1}, "num"),
        ({"num": 1001}, "num"),
        ({"num": 2.5}, "num"),
        ({"num": "4"}, "num"),
        ({"metric": "l3"}, "metric"),
        ({"seed": -1}, "seed"),
        ({"index": "flat"}, "index"),
        ({"labels": "not-a-sha"}, "labels"),
    ],
)
def test_bad_parameters_are_422_with_a_message(client, digits, body, message) -> None:
    ds = put(client, digits[0][:50])
    r = client.post("/curve", json={"dataset": ds, **body}, headers=AUTH)
    assert r.status_code == 422, (body, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and message in detail, detail
    assert client.app.state.covering.store.count_jobs("queued") == 0


def test_malformed_requests(client, digits) -> None:
    ds = put(client, digits[0][:50])
    head = b'{"dataset": "' + ds.encode() + b'", '
    for raw in (b"{", b"[]", b"", head + b'"etas": [NaN]}', head + b'"eta_max": 1e400}'):
        r = client.post("/curve", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 422, (raw, r.text)
    r = client.post("/curve", content=b"x", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/curve?etas=1", json={"dataset": ds}, headers=AUTH)
    assert r.status_code == 422 and "JSON body" in r.json()["detail"]
    r = client.post("/curve?wait=-1", json={"dataset": ds}, headers=AUTH)
    assert r.status_code == 422
    r = client.post("/curve", json={"etas": [1.0]}, headers=AUTH)
    assert r.status_code == 422 and "dataset" in r.json()["detail"]
    assert client.post("/curve", json={"dataset": ds}).status_code == 401


def test_unknown_and_wrong_kind_ids(client, digits) -> None:
    X, y = digits
    ds, lab = put(client, X[:50]), put(client, y[:50])
    unknown = "0" * 64
    r = client.post("/curve", json={"dataset": unknown, "etas": [1.0]}, headers=AUTH)
    assert r.status_code == 404 and unknown in r.json()["detail"]
    r = client.post("/curve", json={"dataset": ds, "labels": unknown}, headers=AUTH)
    assert r.status_code == 404
    r = client.post("/curve", json={"dataset": lab}, headers=AUTH)
    assert r.status_code == 422 and "holds labels" in r.json()["detail"]
    r = client.post("/curve", json={"dataset": ds, "labels": ds}, headers=AUTH)
    assert r.status_code == 422 and "not 1-D integer labels" in r.json()["detail"]
    r = client.post("/curve", json={"dataset": ds, "labels": put(client, y[:40])}, headers=AUTH)
    assert r.status_code == 422 and "40 rows" in r.json()["detail"]
    assert client.get(f"/curves/{'0' * 32}", headers=AUTH).status_code == 404
    assert client.get("/curves/../covering.sqlite", headers=AUTH).status_code in (404, 422)
    assert client.get("/curves/XYZ", headers=AUTH).status_code == 422
    # a cover's id is not a curve's, and a curve's id is not a cover's
    cover = client.post("/cover?wait=60", json={"dataset": ds, "eta": 1.0}, headers=AUTH).json()
    assert client.get(f"/curves/{cover['cover_id']}", headers=AUTH).status_code == 404
    curve = client.post("/curve?wait=60", json={"dataset": ds, "etas": [1.0]}, headers=AUTH)
    assert client.get(f"/covers/{curve.json()['curve_id']}", headers=AUTH).status_code == 404


def test_a_failing_job_is_422_with_the_job(client) -> None:
    X = np.ones((20, 3), dtype=np.float32)
    X[0] = 0.0  # cosine is undefined for a zero row: the engine refuses it
    ds = put(client, X)
    r = client.post(
        "/curve?wait=60", json={"dataset": ds, "etas": [0.1], "metric": "cosine"}, headers=AUTH
    )
    assert r.status_code == 422
    assert r.json()["job"]["status"] == "failed" and "zero rows" in r.json()["detail"]
    assert r.json()["job"]["curve"] is None


def test_cancel_a_running_curve(make_client, digits) -> None:
    client = make_client()
    X, y = digits
    ds, lab = put(client, X), put(client, y)
    etas = np.geomspace(0.5, 3.0, 400).tolist()  # long enough to be cancelled while running
    job = client.post(
        "/curve", json={"dataset": ds, "labels": lab, "etas": etas}, headers=AUTH
    ).json()
    deadline = time.monotonic() + 60
    while True:
        state = _job(client, job["id"])
        if state["progress"]["stage"] == "curve" and state["progress"]["done"] >= 1:
            break
        assert state["status"] in ("queued", "running") and time.monotonic() < deadline
        time.sleep(0.02)
    assert state["progress"]["total"] == 400
    client.delete(f"/jobs/{job['id']}", headers=AUTH)
    state = client.get(f"/jobs/{job['id']}?wait=60", headers=AUTH).json()
    assert state["status"] == "cancelled" and state["curve"] is None
    assert state["progress"]["done"] < 400
    store = client.app.state.covering.store
    curve_id = store.get_job(job["id"]).cover_id
    assert not store.curve_path(curve_id).exists()
    assert client.get(f"/curves/{curve_id}", headers=AUTH).status_code == 404


def test_cancel_a_queued_curve_and_wait_answers_409(make_client, digits) -> None:
    client = make_client(job_delay_s=30.0)
    ds = put(client, digits[0][:50])
    first = client.post("/curve", json={"dataset": ds, "etas": [1.0]}, headers=AUTH).json()
    second = client.post("/curve", json={"dataset": ds, "etas": [1.0]}, headers=AUTH).json()
    r = client.delete(f"/jobs/{second['id']}", headers=AUTH)
    assert r.json()["status"] == "cancelled"
    client.delete(f"/jobs/{first['id']}", headers=AUTH)
    assert client.get(f"/jobs/{first['id']}?wait=30", headers=AUTH).json()["status"] == "cancelled"
    r = client.post("/curve?wait=0.2", json={"dataset": ds, "etas": [1.0]}, headers=AUTH)
    assert r.status_code == 202  # the delay outlasts ?wait
    client.delete(f"/jobs/{r.json()['id']}", headers=AUTH)
    r = client.get(f"/jobs/{r.json()['id']}?wait=30", headers=AUTH)
    assert r.json()["status"] == "cancelled"


def test_metrics_count_curve_jobs(client, digits) -> None:
    ds = put(client, digits[0][:50])
    client.post("/curve?wait=60", json={"dataset": ds, "etas": [1.0]}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 'covering_jobs_total{kind="curve",status="succeeded"} 1.0' in text


def test_complete_curve_honours_a_late_cancel(tmp_path) -> None:
    from service.store import Store

    store = Store(tmp_path / "data")
    try:
        late = store.create_job(kind="curve", params={}, dataset="0" * 64)
        assert store.claim_next() is not None
        store.request_cancel(late.id)  # after the job's last progress report
        assert store.complete_curve(late.id, 3) is False
        assert store.get_job(late.id).status == "cancelled"
        ok = store.create_job(kind="curve", params={}, dataset="0" * 64)
        assert store.claim_next() is not None
        assert store.complete_curve(ok.id, 3) is True
        assert store.get_curve_job(ok.cover_id).id == ok.id
        assert store.complete_curve(ok.id, 3) is False  # a final state stays final
        with pytest.raises(Exception, match="unknown curve"):
            store.get_curve_job(late.cover_id)
    finally:
        store.close()


def test_hostile_requests_are_4xx_never_500(client, digits) -> None:
    X, y = digits
    ds, lab = put(client, X[:100]), put(client, y[:100])
    for url in ("/curves/..%2F..%2Fcovering.sqlite", "/curves/%00", f"/curves/{'a' * 33}"):
        assert client.get(url, headers=AUTH).status_code in (404, 422), url
    assert client.get(f"/curves/{'a' * 32}").status_code == 401
    big = b'{"dataset": "' + b"a" * (1 << 20) + b'"}'
    r = client.post("/curve", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    deep = b'{"dataset": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = client.post("/curve", content=deep, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422
    # extreme but valid radii: every row its own centre, then one centre per class
    r = client.post(
        "/curve?wait=60",
        json={"dataset": ds, "labels": lab, "etas": [5e-324, 1e-300, 1e300, 1.7e308]},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["sizes"] == [100, 100, 10, 10]
