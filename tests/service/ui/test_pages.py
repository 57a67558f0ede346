"""The console over HTTP (no browser): sign-in, sessions, CSRF, pages, bad input."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import Settings, create_app
from service.ui.session import COOKIE, KEY_FILE
from tests.service.conftest import MakeClient
from tests.service.helpers import AUTH, TOKEN, put
from tests.service.ui.conftest import make_cover, sign_in

OTHER = "another-token-98765"


def _login_redirect(r) -> str:
    assert r.status_code == 303, r.text
    loc = r.headers["location"]
    assert loc.startswith("/ui/login")
    return loc


# --------------------------------------------------------------------------- sign-in


def test_every_page_but_login_needs_a_session(ui_client: TestClient) -> None:
    for path in ("/ui", f"/ui/jobs/{'a' * 32}", f"/ui/covers/{'b' * 32}", "/ui/anything"):
        r = ui_client.get(path, follow_redirects=False)
        assert _login_redirect(r).startswith("/ui/login?next=/ui")
    r = ui_client.post(f"/ui/covers/{'b' * 32}/delete", data={"csrf": "x"}, follow_redirects=False)
    _login_redirect(r)
    r = ui_client.get("/ui/login")
    assert r.status_code == 200 and 'name="token"' in r.text
    assert ui_client.get("/ui/static/console.css").status_code == 200


def test_wrong_token_gets_401_and_no_cookie(ui_client: TestClient) -> None:
    r = ui_client.post("/ui/login", data={"token": "not-the-token"}, follow_redirects=False)
    assert r.status_code == 401 and "not valid" in r.text
    assert "set-cookie" not in r.headers and COOKIE not in ui_client.cookies
    r = ui_client.post("/ui/login", data={}, follow_redirects=False)
    assert r.status_code == 401 and "set-cookie" not in r.headers
    assert ui_client.get("/ui", follow_redirects=False).status_code == 303


def test_right_token_sets_a_strict_http_only_cookie(ui_client: TestClient) -> None:
    r = ui_client.post(
        "/ui/login", data={"token": TOKEN, "next": "/ui/jobs/x"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/jobs/x"
    cookie = r.headers["set-cookie"]
    for attr in ("HttpOnly", "SameSite=strict", "Path=/ui", "Max-Age=43200"):
        assert attr.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here
    assert ui_client.get("/ui").status_code == 200
    # an open redirect is refused: only paths inside the console
    for nxt in ("//evil.example/ui", "https://evil.example/", "/docs", "/ui\\..\\x"):
        r = ui_client.post("/ui/login", data={"token": TOKEN, "next": nxt}, follow_redirects=False)
        assert r.headers["location"] == "/ui", nxt


def test_cookie_is_secure_over_https(make_client: MakeClient) -> None:
    c = make_client()
    https = TestClient(c.app, base_url="https://testserver")
    r = https.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_forged_and_expired_cookies_go_back_to_login(make_client: MakeClient) -> None:
    c = make_client(ui_session_hours=1 / 3600)  # one second
    sign_in(c)
    good = c.cookies[COOKIE]
    for forged in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "x", good + "x"):
        c.cookies.set(COOKIE, forged, path="/ui")
        _login_redirect(c.get("/ui", follow_redirects=False))
    c.cookies.set(COOKIE, good, path="/ui")
    time.sleep(2.2)
    _login_redirect(c.get("/ui", follow_redirects=False))


@contextlib.contextmanager
def _app(data: Path, **settings: Any) -> Iterator[TestClient]:
    """A started app on ``data``, stopped at the end (one app per data directory at a time)."""
    kw: dict[str, Any] = {"api_tokens": [TOKEN], **settings}
    with TestClient(create_app(Settings(data_dir=data, **kw))) as c:
        yield c


def test_the_key_is_kept_0600_and_survives_restarts_revoked_tokens_end_sessions(
    tmp_path: Path,
) -> None:
    data = tmp_path / "keep"
    key = data / KEY_FILE
    with _app(data) as c:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        first = key.read_text()
        sign_in(c)
        cookie = c.cookies[COOKIE]
    with _app(data) as again:  # a restart on the same data directory: same key, still signed in
        assert key.read_text() == first
        again.cookies.set(COOKIE, cookie, path="/ui")
        assert again.get("/ui", follow_redirects=False).status_code == 200
    with _app(data, api_tokens=[OTHER]) as revoked:  # TOKEN removed: its sessions end
        revoked.cookies.set(COOKIE, cookie, path="/ui")
        _login_redirect(revoked.get("/ui", follow_redirects=False))
    with _app(data, ui_secret_key="k" * 40) as rekeyed:  # another key: everyone signed out
        rekeyed.cookies.set(COOKIE, cookie, path="/ui")
        _login_redirect(rekeyed.get("/ui", follow_redirects=False))


def test_a_loose_key_file_is_reported_and_a_bad_one_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / KEY_FILE).write_text("short\n")
    with pytest.raises(ValueError, match="shorter than 32"), _app(data):
        pass
    (data / KEY_FILE).write_text("k" * 64)
    os.chmod(data / KEY_FILE, 0o644)
    with _app(data) as c:
        assert c.get("/ui/login").status_code == 200
    assert "chmod 600" in caplog.text


def test_insecure_dev_accepts_any_token(make_client: MakeClient) -> None:
    c = make_client(api_tokens=[], insecure_dev=True)
    assert c.post("/ui/login", data={"token": ""}, follow_redirects=False).status_code == 401
    sign_in(c, "anything")


def test_logout_needs_the_csrf_token(ui_client: TestClient) -> None:
    csrf = sign_in(ui_client)
    assert ui_client.get("/ui/logout").status_code == 200
    assert ui_client.post("/ui/logout", data={"csrf": "wrong"}).status_code == 403
    assert ui_client.get("/ui", follow_redirects=False).status_code == 200
    r = ui_client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert COOKIE not in ui_client.cookies
    _login_redirect(ui_client.get("/ui", follow_redirects=False))


# --------------------------------------------------------------------------- pages


def test_pages_send_a_strict_content_security_policy(ui_client: TestClient) -> None:
    r = ui_client.get("/ui/login")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "http" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # no asset from another host: every src/href is a path on this server (or a data: URI)
    sign_in(ui_client)
    for page in (r.text, ui_client.get("/ui").text):
        for url in re.findall(r'(?:src|href|action)="([^"]*)"', page):
            assert url.startswith(("/", "data:", "#")), url


def test_overview_lists_jobs_covers_and_datasets(ui_client: TestClient, digits) -> None:
    X, y = digits
    cov = make_cover(ui_client, X, y, eta=1.5, method="greedy")
    sign_in(ui_client)
    page = ui_client.get("/ui").text
    assert f"/ui/covers/{cov.id}" in page and f"/ui/jobs/{cov.job}" in page
    assert "600 × 64" in page and "float32" in page  # the dataset
    assert "http-equiv" not in page  # nothing running: no self-refresh


def test_cover_page_numbers_match_the_manifest(ui_client: TestClient, digits) -> None:
    X, y = digits
    cov = make_cover(ui_client, X, y, eta=1.5, method="greedy")
    m = cov.manifest
    sign_in(ui_client)
    r = ui_client.get(f"/ui/covers/{cov.id}")
    assert r.status_code == 200
    rows = dict(re.findall(r'<tr data-class="([^"]+)">(.*?)</tr>', r.text, flags=re.S))
    labels = np.asarray(m["centres"]["labels"])
    weights = np.asarray(m["centres"]["weights"])
    assert set(rows) == set(m["stats"]["per_class"]) | {"all"}
    for cls, st in m["stats"]["per_class"].items():
        cells = re.findall(r'<td class="n">([^<]*)</td>', rows[cls])
        n = int(weights[labels == int(cls)].sum())
        assert int(cells[0].replace(",", "")) == n == int((y == int(cls)).sum())
        assert int(cells[1].replace(",", "")) == st["size"]
        assert float(cells[2]) == pytest.approx(st["radius"], rel=1e-3)
    cells = re.findall(r'<td class="n">([^<]*)</td>', rows["all"])
    assert int(cells[0].replace(",", "")) == 600 and int(cells[1]) == m["stats"]["size"]
    # histogram bars add up to the number of centres; thumbnails of the heaviest centres
    counts = [int(c) for c in re.findall(r": (\d+) centre\(s\)</title>", r.text)]
    assert sum(counts) == m["stats"]["size"]
    thumbs = re.findall(r'<img src="data:image/png;base64,[^"]+" width="64"', r.text)
    assert len(thumbs) == min(24, m["stats"]["size"])
    heaviest = max(weights)
    assert f"weight {heaviest}" in r.text
    assert "eta" in r.text and "greedy" in r.text and "l2" in r.text
    assert "{% block" not in r.text
    # downloads: the same bytes as the JSON API
    api = ui_client.get(f"/covers/{cov.id}", headers=AUTH).content
    assert ui_client.get(f"/ui/covers/{cov.id}/manifest.json").content == api
    npz = ui_client.get(f"/ui/covers/{cov.id}/arrays.npz")
    assert npz.status_code == 200
    assert npz.content == ui_client.get(f"/covers/{cov.id}/arrays", headers=AUTH).content


def test_non_image_cover_has_no_thumbnails_and_no_error(ui_client: TestClient, blobs) -> None:
    X, y = blobs  # 4 columns: not a picture
    cov = make_cover(ui_client, X, y, eta=2.0)
    sign_in(ui_client)
    r = ui_client.get(f"/ui/covers/{cov.id}")
    assert r.status_code == 200 and '<img src="data:' not in r.text
    assert "not square images" in r.text
    unlabelled = make_cover(ui_client, X, None, k=5)
    r = ui_client.get(f"/ui/covers/{unlabelled.id}")
    assert r.status_code == 200 and 'data-class="all"' in r.text and "budget mode" in r.text


def test_a_big_cover_page_is_paginated_and_bounded(ui_client: TestClient) -> None:
    rng = np.random.default_rng(0)
    n, classes = 3_000, 120
    X = rng.random((n, 2), dtype=np.float32)
    y = np.arange(n) % classes
    cov = make_cover(ui_client, X, y, eta=1e-6, method="greedy")  # every row its own centre
    assert cov.manifest["stats"]["size"] == n
    sign_in(ui_client)
    t0 = time.perf_counter()
    r = ui_client.get(f"/ui/covers/{cov.id}")
    first = time.perf_counter() - t0
    assert r.status_code == 200
    assert len(re.findall(r'<tr data-class="\d+">', r.text)) == 50
    assert "page 1 of 3" in r.text and len(r.text) < 60_000
    assert len(re.findall(r"<rect ", r.text)) <= 30
    last = ui_client.get(f"/ui/covers/{cov.id}?page=3").text
    assert len(re.findall(r'<tr data-class="\d+">', last)) == 20  # 120 = 50 + 50 + 20
    assert 'data-class="119"' in last and 'data-class="99"' not in last
    for junk in ("0", "-3", "abc", "99999999999999"):
        assert ui_client.get(f"/ui/covers/{cov.id}?page={junk}").status_code == 200
    t0 = time.perf_counter()
    ui_client.get(f"/ui/covers/{cov.id}")
    print(f"big cover page: first {first:.3f} s, cached {time.perf_counter() - t0:.3f} s")


def test_unknown_ids_get_a_404_page(ui_client: TestClient) -> None:
    sign_in(ui_client)
    for path in (
        f"/ui/jobs/{'0' * 32}",
        "/ui/jobs/not-an-id",
        f"/ui/covers/{'0' * 32}",
        "/ui/covers/..%2F..%2Fetc%2Fpasswd",
        f"/ui/covers/{'0' * 32}/manifest.json",
        f"/ui/covers/{'0' * 32}/arrays.npz",
        "/ui/no/such/page",
    ):
        r = ui_client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html") and "Not found" in r.text


def test_failed_job_page_shows_its_error(ui_client: TestClient, blobs) -> None:
    X, y = blobs
    r = ui_client.post(
        "/cover?wait=30",
        json={"dataset": put(ui_client, X), "labels": put(ui_client, y), "k": 2},
        headers=AUTH,
    )
    job = r.json()["job"]
    sign_in(ui_client)
    page = ui_client.get(f"/ui/jobs/{job['id']}").text
    assert "status-failed" in page and 'id="job-error"' in page
    assert "number of classes" in page and "Cancel this job" not in page


def test_cancel_a_running_job_from_its_page(make_client: MakeClient, blobs) -> None:
    c = make_client(job_delay_s=30)
    X, _ = blobs
    r = c.post("/cover", json={"dataset": put(c, X), "eta": 1.0}, headers=AUTH)
    job_id = r.json()["id"]
    csrf = sign_in(c)
    deadline = time.monotonic() + 20
    while c.get(f"/jobs/{job_id}", headers=AUTH).json()["progress"]["stage"] != "delay":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = c.get(f"/ui/jobs/{job_id}").text
    assert 'http-equiv="refresh"' in page and "Cancel this job" in page and "delay" in page
    assert "http-equiv" in c.get("/ui").text  # a job runs: the overview refreshes itself
    assert c.post(f"/ui/jobs/{job_id}/cancel", data={}).status_code == 403  # no CSRF token
    r = c.post(f"/ui/jobs/{job_id}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/jobs/{job_id}"
    done = c.get(f"/jobs/{job_id}?wait=20", headers=AUTH).json()
    assert done["status"] == "cancelled"
    assert "status-cancelled" in c.get(f"/ui/jobs/{job_id}").text
