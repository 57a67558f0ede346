"""Deleting a cover: ``Store.delete_cover``, ``DELETE /covers/{id}`` and the console's form."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.service.helpers import AUTH, put
from tests.service.ui.conftest import make_cover, sign_in


def test_delete_through_the_api(client: TestClient, blobs) -> None:
    X, y = blobs
    cov = make_cover(client, X, y, eta=2.0)
    store = client.app.state.covering.store
    files = [store.manifest_path(cov.id), store.arrays_path(cov.id)]
    assert all(f.is_file() for f in files)
    assert client.delete(f"/covers/{cov.id}").status_code == 401  # the API needs its token
    r = client.delete(f"/covers/{cov.id}", headers=AUTH)
    assert r.status_code == 204 and r.content == b""
    assert not any(f.exists() for f in files)
    assert client.get(f"/covers/{cov.id}", headers=AUTH).status_code == 404
    assert client.delete(f"/covers/{cov.id}", headers=AUTH).status_code == 404
    assert client.delete("/covers/not-an-id", headers=AUTH).status_code == 422
    # the job keeps its record; datasets stay
    assert client.get(f"/jobs/{cov.job}", headers=AUTH).json()["status"] == "succeeded"
    assert store.dataset_path(put(client, X)).is_file()


def test_a_cover_being_extended_is_not_deleted(client: TestClient, blobs) -> None:
    c = client
    X, y = blobs
    store = c.app.state.covering.store
    cov_row = store.get_cover(make_cover(c, X, y, eta=2.0).id)
    c.app.state.covering.settings.job_delay_s = 30  # the next job waits (cancellable)
    r = c.post(
        f"/covers/{cov_row.id}/points",
        json={"dataset": put(c, X[:5] + 0.01), "labels": put(c, y[:5])},
        headers=AUTH,
    )
    job = r.json()["id"]
    r = c.delete(f"/covers/{cov_row.id}", headers=AUTH)
    assert r.status_code == 409 and job in r.json()["detail"]
    csrf = sign_in(c)
    r = c.post(f"/ui/covers/{cov_row.id}/delete", data={"csrf": csrf})
    assert r.status_code == 409 and "cancel it or wait" in r.text
    c.delete(f"/jobs/{job}", headers=AUTH)
    deadline = time.monotonic() + 20
    while c.get(f"/jobs/{job}", headers=AUTH).json()["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert c.delete(f"/covers/{cov_row.id}", headers=AUTH).status_code == 204


def test_delete_from_the_console_needs_csrf_and_same_origin(client: TestClient, blobs) -> None:
    X, y = blobs
    cov = make_cover(client, X, y, eta=2.0)
    csrf = sign_in(client)
    assert f'action="/ui/covers/{cov.id}/delete"' in client.get(f"/ui/covers/{cov.id}").text
    url = f"/ui/covers/{cov.id}/delete"
    assert client.post(url, data={}).status_code == 403
    assert client.post(url, data={"csrf": "forged"}).status_code == 403
    r = client.post(url, data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert client.get(f"/covers/{cov.id}", headers=AUTH).status_code == 200  # still there
    r = client.post(
        url, data={"csrf": csrf}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    assert client.get(f"/covers/{cov.id}", headers=AUTH).status_code == 404
    assert client.get(f"/ui/covers/{cov.id}").status_code == 404  # not served from a cache
    job_page = client.get(f"/ui/jobs/{cov.job}").text
    assert "was deleted" in job_page


def test_a_cover_deleted_by_the_api_leaves_the_console_cache(client: TestClient, blobs) -> None:
    X, y = blobs
    cov = make_cover(client, X, y, eta=2.0)
    sign_in(client)
    assert client.get(f"/ui/covers/{cov.id}").status_code == 200  # now cached
    assert client.delete(f"/covers/{cov.id}", headers=AUTH).status_code == 204
    assert client.get(f"/ui/covers/{cov.id}").status_code == 404
