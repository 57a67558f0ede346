"""The service contract (issue 11): known uploads still checked, ``Allow`` on 405, the schema's
two forms and modes, one server per data directory, cancelling a running job, progress in
budget mode, ``k > n``, a 404 that names the field, and ``/docs`` without a CDN."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service import Settings, create_app
from service.lock import DataDirInUse
from service.store import Store
from tests.service.helpers import AUTH, NPY, TOKEN, npy_bytes, put


def _wait_status(client, job_id: str, status: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/jobs/{job_id}", headers=AUTH).json())["status"] != status:
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


# --------------------------------------------------------------------------- uploads


def test_put_of_a_stored_sha_still_checks_the_request(make_client, blobs) -> None:
    client = make_client(max_upload_bytes=4096)
    X = blobs[0][:40]
    body = npy_bytes(X)
    s = put(client, X)
    store = client.app.state.covering.store
    before = store.dataset_path(s).stat().st_mtime_ns
    other = npy_bytes(X + 1)
    r = client.put(f"/datasets/{s}", content=other, headers={**AUTH, **NPY})
    assert r.status_code == 400 and "sha256" in r.json()["detail"], r.text
    r = client.put(f"/datasets/{s}", content=b"", headers={**AUTH, **NPY})
    assert r.status_code == 400
    for ct in ("text/plain", "application/json"):
        r = client.put(f"/datasets/{s}", content=body, headers={**AUTH, "Content-Type": ct})
        assert r.status_code == 415, r.text
    r = client.put(f"/datasets/{s}", content=body + b"x" * 4096, headers={**AUTH, **NPY})
    assert r.status_code == 413
    r = client.put(f"/datasets/{s}", content=body, headers={**AUTH, **NPY})
    assert r.status_code == 200 and r.json()["sha256"] == s
    assert r.headers["location"] == f"/datasets/{s}"
    assert store.dataset_path(s).read_bytes() == body
    assert store.dataset_path(s).stat().st_mtime_ns == before  # hashed, not rewritten
    assert list(store.tmp_dir.iterdir()) == []


# --------------------------------------------------------------------------- 405


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PATCH", "/datasets/" + "a" * 64, "GET, PUT"),
        ("POST", "/datasets/" + "a" * 64, "GET, PUT"),
        ("OPTIONS", "/datasets/" + "a" * 64, "GET, PUT"),
        ("POST", "/jobs/" + "b" * 32, "DELETE, GET"),
        ("PUT", "/covers/" + "c" * 32, "DELETE, GET"),
        ("GET", "/cover", "POST"),
        ("DELETE", "/cover/npy", "POST"),
        ("GET", "/covers/" + "c" * 32 + "/points", "POST"),
        ("POST", "/healthz", "GET"),
        ("POST", "/docs/assets/swagger-ui.css", "GET, HEAD"),
    ],
)
def test_405_allows_every_method_of_the_path(client, method: str, url: str, allow: str) -> None:
    r = client.request(method, url, headers=AUTH)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allow
    assert r.json()["detail"]


# --------------------------------------------------------------------------- the schema


def test_schema_has_one_route_per_form_and_one_of_the_modes(client) -> None:
    spec = client.get("/openapi.json", headers=AUTH).json()
    paths = spec["paths"]
    for json_route, raw_route in (
        ("/cover", "/cover/npy"),
        ("/covers/{cover_id}/points", "/covers/{cover_id}/points/npy"),
    ):
        body = paths[json_route]["post"]["requestBody"]["content"]
        assert list(body) == ["application/json"]
        assert {p["name"] for p in paths[json_route]["post"].get("parameters", ())} <= {
            "wait",
            "cover_id",
        }
        raw = paths[raw_route]["post"]["requestBody"]["content"]
        assert set(raw) == {"application/x-npy", "application/octet-stream"}
    modes = paths["/cover"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    radius, budget = modes["oneOf"]
    assert radius["required"] == ["dataset", "eta"] and radius["properties"]["k"] == {
        "type": "null"
    }
    assert budget["required"] == ["dataset", "k"]
    assert budget["properties"]["method"]["enum"] == ["auto", "kcenter"]
    assert radius["additionalProperties"] is False and budget["additionalProperties"] is False
    (query,) = [p for p in paths["/cover/npy"]["post"]["parameters"] if p["name"] != "wait"]
    assert (query["in"], query["style"], query["explode"]) == ("query", "form", True)
    r_q, b_q = query["schema"]["oneOf"]
    assert "k" not in r_q["properties"] and "eta" not in b_q["properties"]
    assert r_q["required"] == ["eta"] and b_q["required"] == ["k"]


def test_each_form_refuses_the_others_body(client, blobs) -> None:
    X, _ = blobs
    ds = put(client, X)
    r = client.post("/cover?eta=1", content=npy_bytes(X), headers={**AUTH, **NPY})
    assert r.status_code == 415 and "/cover/npy" in r.json()["detail"]
    r = client.post("/cover?eta=1", json={"dataset": ds, "eta": 1.0}, headers=AUTH)
    assert r.status_code == 422 and "eta" in r.json()["detail"]  # a JSON form reads no query
    r = client.post("/cover/npy?eta=1", json={"dataset": ds}, headers=AUTH)
    assert r.status_code == 415


def test_modes_are_refused_as_the_schema_says(client, blobs) -> None:
    X, _ = blobs
    ds = put(client, X)
    for body in (
        {"k": 3, "method": "greedy"},  # budget mode takes auto or kcenter only
        {"eta": 1.0, "k": 3},
        {"eta": None, "k": None},
        {"k": 2.5},
    ):
        r = client.post("/cover", json={"dataset": ds, **body}, headers=AUTH)
        assert r.status_code == 422, (body, r.text)
        assert "job" not in r.json()  # refused at the boundary: no job was made
    for body in ({"eta": 1.0, "k": None}, {"eta": None, "k": 3}, {"k": 3.0}):
        r = client.post("/cover?wait=30", json={"dataset": ds, **body}, headers=AUTH)
        assert r.status_code == 200, (body, r.text)
    r = client.post("/cover/npy?k=3&method=net", content=npy_bytes(X), headers={**AUTH, **NPY})
    assert r.status_code == 422 and "kcenter" in r.json()["detail"]
    for q in ("k=2.0", "k=true", "eta=inf", "eta=1&eta=2", "seed=1.5&eta=1"):
        r = client.post(f"/cover/npy?{q}", content=npy_bytes(X), headers={**AUTH, **NPY})
        assert r.status_code == 422, (q, r.text)


# --------------------------------------------------------------------------- 404 names the field


def test_unknown_labels_is_a_404_naming_the_field(client, blobs) -> None:
    X, _ = blobs
    ds = put(client, X)
    missing = "e" * 64
    r = client.post("/cover", json={"dataset": ds, "labels": missing, "eta": 1.0}, headers=AUTH)
    assert r.status_code == 404 and r.json()["detail"].startswith("labels:"), r.text
    r = client.post(
        f"/cover/npy?eta=1&labels={missing}", content=npy_bytes(X), headers={**AUTH, **NPY}
    )
    assert r.status_code == 404 and r.json()["detail"].startswith("labels:"), r.text
    r = client.post("/cover", json={"dataset": missing, "eta": 1.0}, headers=AUTH)
    assert r.status_code == 404 and r.json()["detail"].startswith("dataset:"), r.text


# --------------------------------------------------------------------------- k > n


def test_k_above_n_is_clamped_with_a_note(client, blobs) -> None:
    X, _ = blobs
    r = client.post("/cover?wait=30", json={"dataset": put(client, X[:7]), "k": 50}, headers=AUTH)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["params"]["k"] == 7 and m["stats"]["size"] == 7 and m["stats"]["radius"] == 0.0
    assert any("k=50" in note and "k=7" in note for note in m["stats"]["notes"]), m["stats"]


# --------------------------------------------------------------------------- cancel and progress


def test_delete_of_a_running_job_answers_cancelling_then_it_is_cancelled(
    make_client, blobs
) -> None:
    client = make_client(job_delay_s=30.0)
    X, _ = blobs
    ds = put(client, X)
    job = client.post("/cover", json={"dataset": ds, "eta": 1.0}, headers=AUTH).json()
    _wait_status(client, job["id"], "running")
    t0 = time.monotonic()
    r = client.delete(f"/jobs/{job['id']}", headers=AUTH)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelling" and r.headers["location"] == f"/jobs/{job['id']}"
    done = client.get(f"/jobs/{job['id']}?wait=10", headers=AUTH).json()
    assert done["status"] == "cancelled" and time.monotonic() - t0 < 5  # not the 30 s delay
    r = client.delete(f"/jobs/{job['id']}", headers=AUTH)  # a final state stays
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert list(client.app.state.covering.store.covers_dir.iterdir()) == []


def test_a_cancel_asked_just_before_the_end_wins(make_client, blobs, monkeypatch) -> None:
    """The engine's last progress report passes, then the cancel comes: the job still ends
    ``cancelled`` (as ``cancelling`` promised) and its cover is not kept."""
    client = make_client()
    X, _ = blobs
    ds = put(client, X)
    state = client.app.state.covering
    real = state.store.complete_job

    def cancel_then_complete(job_id, cover):
        state.store.request_cancel(job_id)
        return real(job_id, cover)

    monkeypatch.setattr(state.store, "complete_job", cancel_then_complete)
    r = client.post("/cover?wait=30", json={"dataset": ds, "eta": 1.0}, headers=AUTH)
    assert r.status_code == 409, r.text
    job = r.json()["job"]
    assert job["status"] == "cancelled" and job["cover"] is None
    assert list(state.store.covers_dir.iterdir()) == []


def test_budget_mode_reports_its_stages(make_client, blobs, monkeypatch) -> None:
    client = make_client()
    X, y = blobs
    ds, lab = put(client, X), put(client, y)
    store = client.app.state.covering.store
    seen: list[tuple[str, int, int]] = []
    real = store.set_progress

    def record(job_id, stage, done, total):
        seen.append((stage, done, total))
        real(job_id, stage, done, total)

    monkeypatch.setattr(store, "set_progress", record)
    r = client.post("/cover?wait=30", json={"dataset": ds, "labels": lab, "k": 9}, headers=AUTH)
    assert r.status_code == 200, r.text
    stages = [s for s, _, _ in seen]
    assert "kcenter" in stages and "allocate" in stages, seen
    first = stages.index("kcenter")
    assert seen[first] == ("kcenter", 0, 120)  # reported before the work, not after
    assert stages.index("allocate") < first < stages.index("solve")


# --------------------------------------------------------------------------- one server


def test_one_store_per_data_directory(tmp_path: Path) -> None:
    first = Store(tmp_path / "d")
    with pytest.raises(DataDirInUse, match=r"in use by process \d+"):
        Store(tmp_path / "d")
    with pytest.raises(ValueError, match="one covering service per data directory"):
        create_app(Settings(data_dir=tmp_path / "d", api_tokens=[TOKEN]))
    first.close()
    again = Store(tmp_path / "d")  # released by close
    again.close()
    again.close()  # idempotent


# --------------------------------------------------------------------------- /docs


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action") and value is not None:
                self.refs.append(value)


def test_docs_page_needs_no_token_and_no_other_host(client) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    parser = _Refs()
    parser.feed(html)
    assert parser.refs, html
    for ref in parser.refs:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:)?//", ref, re.I), ref  # no host, no scheme
        assert client.get(f"/{ref}").status_code == 200, ref  # served by the app itself
    assert not re.search(r"https?://", html)  # nor in the page's script
    assert "validatorUrl: null" in html  # Swagger UI's online validator badge is off
    assert client.get("/openapi.json").status_code == 401  # the schema keeps its token
    assert client.get("/openapi.json", headers=AUTH).status_code == 200
