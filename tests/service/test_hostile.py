"""Hostile and malformed input: each gets its 4xx with a JSON ``detail``, nothing is kept,
nothing is executed, and the server keeps serving."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from service.errors import NotFound
from service.store import check_id, check_sha
from tests.service.helpers import AUTH, NPY, TOKEN, npy_bytes, put, sha


class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def _pickle_npy(marker: Path) -> bytes:
    a = np.empty(2, dtype=object)
    a[0], a[1] = _Payload(str(marker)), 1
    return npy_bytes(a)


def _npy_with_header(shape: tuple[int, ...], body: bytes, descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + body


def _stored(client) -> list[str]:
    store = client.app.state.covering.store
    return sorted(p.name for p in store.datasets_dir.iterdir()) + sorted(
        p.name for p in store.tmp_dir.iterdir()
    )


def _assert_still_serving(client, X: np.ndarray) -> None:
    assert client.get("/healthz").status_code == 200
    r = client.post("/cover?wait=30", json={"dataset": put(client, X), "eta": 2.0}, headers=AUTH)
    assert r.status_code == 200, r.text


def _expect(r, code: int, word: str = "") -> None:
    assert r.status_code == code, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert detail
    if word:
        assert word.lower() in str(detail).lower(), detail


def test_pickle_npy_is_refused_and_never_unpickled(client, tmp_path, blobs) -> None:
    live = tmp_path / "proof-the-payload-is-live"
    np.load(io.BytesIO(_pickle_npy(live)), allow_pickle=True)
    assert live.is_dir()  # the construct really executes code when unpickled
    marker = tmp_path / "pwned"
    body = _pickle_npy(marker)
    _expect(
        client.put(f"/datasets/{sha(body)}", content=body, headers={**AUTH, **NPY}), 422, "object"
    )
    _expect(client.post("/cover/npy?eta=1", content=body, headers={**AUTH, **NPY}), 422)
    assert not marker.exists()
    assert pickle.dumps(1)  # the pickle module is fine; the server just never used it
    assert _stored(client) == []
    _assert_still_serving(client, blobs[0])


@pytest.mark.parametrize(
    "case",
    [
        "truncated",
        "header_larger",
        "trailing",
        "nan",
        "inf",
        "3d",
        "2d_int",
        "1d_float",
        "structured",
        "big_endian",
        "not_npy",
        "npz",
        "empty_body",
        "empty_array",
        "evil_header",
        "huge_header_shape",
    ],
)
def test_bad_npy_is_422_and_not_kept(client, blobs, case: str) -> None:
    X = blobs[0]
    good = npy_bytes(X)
    nan = X.copy()
    nan[7, 2] = np.nan
    inf = X.copy()
    inf[3, 0] = np.inf
    buf = io.BytesIO()
    np.savez(buf, x=X)
    bodies = {
        "truncated": good[:-10],
        "header_larger": _npy_with_header((240, 4), X.tobytes()),
        "trailing": good + b"\0" * 16,
        "nan": npy_bytes(nan),
        "inf": npy_bytes(inf),
        "3d": npy_bytes(np.zeros((2, 3, 4), np.float32)),
        "2d_int": npy_bytes(np.zeros((3, 4), np.int32)),
        "1d_float": npy_bytes(np.zeros(3, np.float32)),
        "structured": npy_bytes(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])),
        "big_endian": npy_bytes(X.astype(">f4")),
        "not_npy": b"hello, this is not a numpy file at all",
        "npz": buf.getvalue(),
        "empty_body": b"",
        "empty_array": npy_bytes(np.zeros((0, 4), np.float32)),
        "evil_header": _npy_with_header(
            (2, 2), b"\0" * 16, descr="__import__('os').system('touch /tmp/x')"
        ),
        "huge_header_shape": _npy_with_header((2**62, 2**62), b"\0" * 16),
    }
    body = bodies[case]
    _expect(client.put(f"/datasets/{sha(body)}", content=body, headers={**AUTH, **NPY}), 422)
    _expect(client.post("/cover/npy?eta=1&wait=1", content=body, headers={**AUTH, **NPY}), 422)
    assert _stored(client) == []
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/datasets/{put(client, X)}", headers=AUTH).status_code == 200


def test_labels_of_the_wrong_length(client, blobs) -> None:
    X, y = blobs
    ds, short = put(client, X), put(client, y[:-1])
    _expect(
        client.post("/cover", json={"dataset": ds, "labels": short, "eta": 1.0}, headers=AUTH),
        422,
        "rows",
    )
    _expect(
        client.post(
            f"/cover/npy?eta=1&labels={short}", content=npy_bytes(X), headers={**AUTH, **NPY}
        ),
        422,
        "rows",
    )
    # an embedding given as labels, labels given as the dataset
    _expect(
        client.post("/cover", json={"dataset": ds, "labels": ds, "eta": 1.0}, headers=AUTH), 422
    )
    _expect(client.post("/cover", json={"dataset": short, "eta": 1.0}, headers=AUTH), 422)
    _assert_still_serving(client, X)


def test_body_over_the_limit_is_413_and_not_kept(make_client, blobs) -> None:
    client = make_client(max_upload_bytes=1024)
    X = blobs[0]
    body = npy_bytes(X)  # ~2 KB
    assert len(body) > 1024
    _expect(client.put(f"/datasets/{sha(body)}", content=body, headers={**AUTH, **NPY}), 413)
    _expect(client.post("/cover/npy?eta=1", content=body, headers={**AUTH, **NPY}), 413)

    def chunked():  # no Content-Length: the limit is enforced while streaming
        for s in range(0, len(body), 100):
            yield body[s : s + 100]

    _expect(client.put(f"/datasets/{sha(body)}", content=chunked(), headers={**AUTH, **NPY}), 413)
    assert _stored(client) == []
    _assert_still_serving(client, X[:20])


def test_wrong_content_type_is_415(client, blobs) -> None:
    X = blobs[0]
    body = npy_bytes(X)
    for ct in ("text/plain", "application/x-www-form-urlencoded", "image/png"):
        _expect(
            client.put(
                f"/datasets/{sha(body)}", content=body, headers={**AUTH, "Content-Type": ct}
            ),
            415,
        )
        _expect(
            client.post("/cover/npy?eta=1", content=body, headers={**AUTH, "Content-Type": ct}), 415
        )
    _expect(client.put(f"/datasets/{sha(body)}", content=body, headers=AUTH), 415)
    assert _stored(client) == []


def test_hash_mismatch_is_400_and_not_kept(client, blobs) -> None:
    body = npy_bytes(blobs[0])
    _expect(
        client.put(f"/datasets/{'0' * 64}", content=body, headers={**AUTH, **NPY}), 400, "sha256"
    )
    assert _stored(client) == []


def test_unknown_ids_are_404(client, blobs) -> None:
    sid, jid = "ab" * 32, "cd" * 16
    for method, url in (
        ("GET", f"/datasets/{sid}"),
        ("GET", f"/jobs/{jid}"),
        ("DELETE", f"/jobs/{jid}"),
        ("GET", f"/covers/{jid}"),
        ("GET", f"/covers/{jid}/arrays"),
    ):
        _expect(client.request(method, url, headers=AUTH), 404)
    _expect(client.post("/cover", json={"dataset": sid, "eta": 1.0}, headers=AUTH), 404)
    ds = put(client, blobs[0])
    _expect(
        client.post("/cover", json={"dataset": ds, "labels": sid, "eta": 1.0}, headers=AUTH), 404
    )
    _expect(client.post(f"/covers/{jid}/points", json={"dataset": ds}, headers=AUTH), 404)


def test_missing_or_wrong_token_is_401(client, blobs) -> None:
    body = npy_bytes(blobs[0])
    routes = [
        ("PUT", f"/datasets/{sha(body)}"),
        ("GET", f"/datasets/{sha(body)}"),
        ("POST", "/cover"),
        ("GET", f"/jobs/{'a' * 32}"),
        ("DELETE", f"/jobs/{'a' * 32}"),
        ("GET", f"/covers/{'a' * 32}"),
        ("GET", f"/covers/{'a' * 32}/arrays"),
        ("POST", f"/covers/{'a' * 32}/points"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/cover/npy?eta=1"),
        ("POST", f"/covers/{'a' * 32}/points/npy"),
    ]
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-xyz"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        for method, url in routes:
            r = client.request(method, url, content=body, headers={**headers, **NPY})
            _expect(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
    assert _stored(client) == []


@pytest.mark.parametrize(
    "url",
    [
        "/covers/..%2F..%2F..%2Fetc%2Fpasswd",
        "/covers/..",
        "/covers/%2e%2e/arrays",
        "/covers/..%2Fcovering.sqlite/arrays",
        "/jobs/..%2F..%2Fetc%2Fpasswd",
        "/datasets/..%2F..%2Fcovering.sqlite",
        "/covers/" + "a" * 31 + "%2F/arrays",
    ],
)
def test_path_traversal_ids_never_reach_the_filesystem(client, url: str) -> None:
    r = client.get(url, headers=AUTH)
    assert r.status_code in (404, 422), r.text
    assert "detail" in r.json()
    r = client.put(url, content=b"x", headers={**AUTH, **NPY})
    assert r.status_code in (404, 405, 422)
    assert _stored(client) == []


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "..",
        "a" * 31 + "/",
        "A" * 32,
        "",
        "a" * 32 + "\n",
        "/etc/passwd",
        "a" * 64 + "\n",
        "A" * 64,
        "../" + "a" * 61,
    ],
)
def test_store_rejects_bad_ids(bad: str) -> None:
    with pytest.raises(NotFound):
        check_id(bad)
    with pytest.raises(NotFound):
        check_sha(bad)


def test_malformed_json_and_params_are_422(client, blobs) -> None:
    ds = put(client, blobs[0])
    cases = [
        b"{",
        b"[]",
        b'{"dataset": 1}',
        b"null",
        f'{{"dataset": "{ds}"}}'.encode(),  # neither eta nor k
        f'{{"dataset": "{ds}", "eta": 1, "k": 2}}'.encode(),
        f'{{"dataset": "{ds}", "eta": -1}}'.encode(),
        f'{{"dataset": "{ds}", "eta": 1, "metric": "manhattan"}}'.encode(),
        f'{{"dataset": "{ds}", "eta": 1, "bogus": 1}}'.encode(),
        b"\xff\xfe\x00garbage",
    ]
    for raw in cases:
        _expect(
            client.post(
                "/cover", content=raw, headers={**AUTH, "Content-Type": "application/json"}
            ),
            422,
        )
    _expect(
        client.post("/cover/npy?eta=1&k=2", content=npy_bytes(blobs[0]), headers={**AUTH, **NPY}),
        422,
    )
    _expect(
        client.post("/cover/npy?eta=nan", content=npy_bytes(blobs[0]), headers={**AUTH, **NPY}), 422
    )
    _expect(client.post("/cover?wait=-1", json={"dataset": ds, "eta": 1}, headers=AUTH), 422)
    _expect(client.get(f"/jobs/{'a' * 32}?wait=abc", headers=AUTH), 422)


def test_wrong_json_types_and_unknown_query_params_are_422(client, blobs) -> None:
    ds = put(client, blobs[0])
    for body in (
        {"eta": True},
        {"eta": "1.5"},
        {"k": "3"},
        {"k": True},
        {"k": 2.5},  # (2.0 is the integer 2, as in JSON Schema)
        {"eta": 1.0, "seed": 2**31},
    ):
        _expect(client.post("/cover", json={"dataset": ds, **body}, headers=AUTH), 422)
    body = npy_bytes(blobs[0])
    _expect(
        client.post("/cover/npy?eta=1&metrc=cosine", content=body, headers={**AUTH, **NPY}),
        422,
        "metrc",
    )
    r = client.post("/cover?wait=30", json={"dataset": ds, "eta": 2}, headers=AUTH)
    assert r.status_code == 200, r.text  # a JSON integer is a fine radius
    cid = r.json()["cover_id"]
    _expect(
        client.post(
            f"/covers/{cid}/points/npy?bogus=1",
            content=npy_bytes(blobs[0][:5]),
            headers={**AUTH, **NPY},
        ),
        422,
        "bogus",
    )
    assert client.get(f"/jobs/{'a' * 32}?wait=1000", headers=AUTH).status_code == 404  # capped


def test_zero_radius_budget_cover_is_refused_before_extension(client, blobs) -> None:
    X = blobs[0]
    r = client.post("/cover?wait=30", json={"dataset": put(client, X[:5]), "k": 5}, headers=AUTH)
    assert r.status_code == 200 and r.json()["stats"]["radius"] == 0.0
    cid = r.json()["cover_id"]
    _expect(
        client.post(
            f"/covers/{cid}/points?wait=30", json={"dataset": put(client, X[5:9])}, headers=AUTH
        ),
        409,  # a conflict with the cover's state: whatever rows are sent
        "radius 0",
    )
