"""The console's curve pages over HTTP (no browser): ``/ui/curves/{id}``, curve jobs on the
overview and the job page, and a cover's curve section."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import covering
from tests.service.conftest import MakeClient
from tests.service.helpers import AUTH, put
from tests.service.ui.conftest import make_cover, make_curve, sign_in

ETAS = [1.0, 1.25, 1.5, 2.0, 2.5]
ROW = re.compile(r'<tr data-eta="([^"]+)">(.*?)</tr>', flags=re.S)
CELL = re.compile(r'<td class="n">([^<]*)</td>')
DOT = re.compile(r'<circle class="(dot|mark)"[^>]* data-eta="([^"]+)" data-size="(\d+)"')


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _table(page: str) -> list[list[str]]:
    return [[m.group(1), *CELL.findall(m.group(2))] for m in ROW.finditer(page)]


def test_curve_page_numbers_match_the_json(ui_client: TestClient, digits) -> None:
    X, y = digits
    curve = make_curve(ui_client, X, y, etas=ETAS)
    cid = curve["curve_id"]
    sign_in(ui_client)
    r = ui_client.get(f"/ui/curves/{cid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "{%" not in r.text and "<script" not in r.text
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', r.text):
        assert url.startswith(("/", "data:", "#")), url  # nothing from another host
    api = ui_client.get(f"/curves/{cid}", headers=AUTH).json()
    assert api["sizes"][0] > api["sizes"][-1]  # a falling curve: the checks below can fail
    rows = _table(r.text)
    assert len(rows) == len(ETAS) == len(api["etas"])
    classes = api["classes"]
    assert classes == list(range(10))
    for j, (eta, shown, size, frac, *per_class) in enumerate(rows):
        assert float(eta) == api["etas"][j] and float(shown) == pytest.approx(api["etas"][j])
        assert _int(size) == api["sizes"][j]
        assert float(frac.rstrip("%")) == pytest.approx(100 * api["fractions"][j], abs=0.005)
        assert [_int(v) for v in per_class] == [api["class_sizes"][c][j] for c in range(10)]
        assert sum(_int(v) for v in per_class) == _int(size)
    for c in classes:
        assert f">class {c}</th>" in r.text
    # the plot: a dot per radius at the curve's numbers, a line through them, no cover marked
    dots = DOT.findall(r.text)
    assert [(float(e), int(s)) for _, e, s in dots] == list(
        zip(api["etas"], api["sizes"], strict=True)
    )
    assert {k for k, _, _ in dots} == {"dot"} and 'class="line"' in r.text
    assert "l2" in r.text and f"/ui/jobs/{api['job_id']}" in r.text
    # the download: the bytes the API serves
    assert f'href="/ui/curves/{cid}/curve.json" download' in r.text
    got = ui_client.get(f"/ui/curves/{cid}/curve.json")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert got.content == ui_client.get(f"/curves/{cid}", headers=AUTH).content


def test_overview_lists_curves_and_links_curve_jobs_to_them(ui_client: TestClient, digits):
    X, y = digits
    curve = make_curve(ui_client, X, y, etas=[1.5, 2.0])
    cov = make_cover(ui_client, X, y, eta=1.5, method="greedy")
    cid, job = curve["curve_id"], curve["job_id"]
    sign_in(ui_client)
    page = ui_client.get("/ui").text
    assert f"/ui/covers/{cid}" not in page  # a curve is not a cover
    jobs = page[page.index('id="jobs"') : page.index('id="covers"')]
    assert f'curve <a href="/ui/curves/{cid}">' in jobs and f"/ui/jobs/{job}" in jobs
    assert f'cover <a href="/ui/covers/{cov.id}">' in jobs
    curves = page[page.index('id="curves"') : page.index('id="datasets"')]
    assert f'href="/ui/curves/{cid}"' in curves and cov.id not in curves
    assert ">2</td>" in curves and ">l2<" in curves  # radii and metric


def test_overview_without_curves_says_how_to_make_one(ui_client: TestClient) -> None:
    sign_in(ui_client)
    page = ui_client.get("/ui").text
    assert "No size-against-eta curves yet" in page and "POST /curve" in page


def test_job_page_of_a_curve_job(
    ui_client: TestClient, digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While it runs: stage ``curve`` and the radii done, a cancel button; then a link."""
    X, y = digits
    real, gate = covering.size_curve, threading.Event()

    def slow(*args: Any, **kw: Any) -> Any:
        time.sleep(0.3)  # past the worker's progress throttle
        kw["progress"]("curve", 2, 5)
        gate.wait(30)
        return real(*args, **kw)

    monkeypatch.setattr(covering, "size_curve", slow)
    body = {"dataset": put(ui_client, X), "labels": put(ui_client, y), "etas": ETAS}
    job_id = ui_client.post("/curve", json=body, headers=AUTH).json()["id"]
    sign_in(ui_client)
    try:
        deadline = time.monotonic() + 20
        while ui_client.get(f"/jobs/{job_id}", headers=AUTH).json()["progress"]["done"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        page = ui_client.get(f"/ui/jobs/{job_id}").text
        assert '<dd id="stage">curve</dd>' in page
        assert 'value="2" max="5"' in page and "curve 2 / 5 radii" in page
        assert 'http-equiv="refresh"' in page and "Cancel this job" in page
        assert "1.0, 1.25, 1.5, 2.0, 2.5" in page  # its radii
    finally:
        gate.set()
    job = ui_client.get(f"/jobs/{job_id}?wait=30", headers=AUTH).json()
    assert job["status"] == "succeeded"
    page = ui_client.get(f"/ui/jobs/{job_id}").text
    assert f'<a class="button" href="/ui/curves/{job["curve"]}">Open the curve</a>' in page
    assert "was deleted" not in page and "/ui/covers/" not in page
    assert "done 5 / 5 radii" in page and "http-equiv" not in page
    assert ui_client.get(f"/ui/curves/{job['curve']}").status_code == 200


def test_cover_page_shows_the_matching_curve(ui_client: TestClient, digits) -> None:
    X, y = digits
    cov = make_cover(ui_client, X, y, eta=1.5, method="greedy")
    size = cov.manifest["stats"]["size"]
    sign_in(ui_client)

    def section() -> str:
        page = ui_client.get(f"/ui/covers/{cov.id}")
        assert page.status_code == 200
        return page.text[page.text.index('<section id="curve">') : page.text.index('id="centres"')]

    none = section()  # no curve yet: how to make one
    assert 'id="no-curve"' in none and "<svg" not in none
    assert "POST /curve" in none and "covering curve" in none
    row = ui_client.app.state.covering.store.get_cover(cov.id)
    assert row.dataset in none and str(row.labels) in none
    # curves of the same data that do not match: no labels, another metric
    make_curve(ui_client, X, None, etas=ETAS)
    make_curve(ui_client, X, y, etas=ETAS, metric="linf")
    assert 'id="no-curve"' in section()

    first = make_curve(ui_client, X, y, etas=ETAS)
    got = section()
    assert 'id="no-curve"' not in got and '<svg class="curve"' in got
    assert f'href="/ui/curves/{first["curve_id"]}" id="curve-link"' in got
    marks = [(float(e), int(s)) for k, e, s in DOT.findall(got) if k == "mark"]
    assert marks == [(1.5, size)]  # this cover, on the plot
    dots = [(float(e), int(s)) for k, e, s in DOT.findall(got) if k == "dot"]
    assert dots == list(zip(first["etas"], first["sizes"], strict=True))
    assert "this cover" in got

    newer = make_curve(ui_client, X, y, etas=[1.2, 1.8])  # the newest matching one is shown
    got = section()
    assert f'href="/ui/curves/{newer["curve_id"]}" id="curve-link"' in got
    assert first["curve_id"] not in got


def test_budget_mode_cover_is_marked_at_its_radius(ui_client: TestClient, blobs) -> None:
    X, y = blobs
    cov = make_cover(ui_client, X, y, k=6)
    make_curve(ui_client, X, y, etas=[0.5, 1.0, 2.0])
    sign_in(ui_client)
    page = ui_client.get(f"/ui/covers/{cov.id}").text
    marks = [(float(e), int(s)) for k, e, s in DOT.findall(page) if k == "mark"]
    st = cov.manifest["stats"]
    assert marks == [(pytest.approx(st["radius"]), st["size"])] and "radius" in page


def test_a_long_curve_is_paginated_and_bounded(ui_client: TestClient) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((60, 2), dtype=np.float32)
    curve = make_curve(ui_client, X, None, eta_min=0.01, eta_max=1.0, num=101)
    cid = curve["curve_id"]
    sign_in(ui_client)
    r = ui_client.get(f"/ui/curves/{cid}")
    assert r.status_code == 200
    rows = _table(r.text)
    assert len(rows) == 50 and all(len(row) == 4 for row in rows)  # unlabelled: no classes
    assert "page 1 of 3" in r.text and "none (unlabelled)" in r.text
    assert 'class="dot"' not in r.text and 'class="line"' in r.text  # 101 radii: a line
    assert len(r.text) < 60_000
    last = _table(ui_client.get(f"/ui/curves/{cid}?page=3").text)
    assert [float(row[0]) for row in last] == curve["etas"][100:]
    assert [_int(row[2]) for row in last] == curve["sizes"][100:]
    for junk in ("0", "-1", "x", "99999999"):
        assert ui_client.get(f"/ui/curves/{cid}?page={junk}").status_code == 200
    job = ui_client.get(f"/ui/jobs/{curve['job_id']}").text
    assert "eta_min" in job and "101" in job


def test_a_curve_of_many_classes_has_no_column_per_class(ui_client: TestClient) -> None:
    rng = np.random.default_rng(1)
    X = rng.random((63, 2), dtype=np.float32)
    y = np.arange(63) % 21  # one class more than the table has columns for
    curve = make_curve(ui_client, X, y, etas=[0.1, 0.5])
    sign_in(ui_client)
    page = ui_client.get(f"/ui/curves/{curve['curve_id']}").text
    rows = _table(page)
    assert [_int(row[2]) for row in rows] == curve["sizes"] and all(len(r) == 4 for r in rows)
    assert ">class 0<" not in page and "21 classes are in the JSON" in page


def test_unknown_curves_get_a_404_page(make_client: MakeClient, blobs) -> None:
    c = make_client(job_delay_s=30)
    X, _ = blobs
    pending = c.post("/curve", json={"dataset": put(c, X), "etas": [1.0]}, headers=AUTH).json()
    sign_in(c)
    for path in (
        f"/ui/curves/{'0' * 32}",
        "/ui/curves/not-an-id",
        "/ui/curves/..%2F..%2Fetc%2Fpasswd",
        f"/ui/curves/{pending['id']}",  # a job id is not a curve id
        f"/ui/curves/{'0' * 32}/curve.json",
        "/ui/curves/not-an-id/curve.json",
    ):
        r = c.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html") and "Not found" in r.text
    page = c.get(f"/ui/jobs/{pending['id']}").text  # not done: no link yet
    assert "/ui/curves/" not in page and "Cancel this job" in page


def test_a_curve_whose_file_is_gone_or_broken(ui_client: TestClient, digits) -> None:
    X, y = digits
    cov = make_cover(ui_client, X, y, eta=1.5, method="greedy")
    curve = make_curve(ui_client, X, y, etas=[1.5, 2.0])
    store = ui_client.app.state.covering.store
    path = store.curve_path(curve["curve_id"])
    path.write_text('{"curve_id": "not a curve"')
    sign_in(ui_client)
    r = ui_client.get(f"/ui/curves/{curve['curve_id']}")
    assert r.status_code == 404 and "unreadable" in r.text
    page = ui_client.get(f"/ui/covers/{cov.id}")
    assert page.status_code == 200 and 'id="no-curve"' in page.text
    path.unlink()
    assert ui_client.get(f"/ui/curves/{curve['curve_id']}").status_code == 404
    assert ui_client.get(f"/ui/curves/{curve['curve_id']}/curve.json").status_code == 404
    job = ui_client.get(f"/ui/jobs/{curve['job_id']}").text
    assert "has no file" in job and "Open the curve" not in job
    assert 'id="no-curve"' in ui_client.get(f"/ui/covers/{cov.id}").text


def test_curve_pages_need_a_session(ui_client: TestClient, blobs) -> None:
    X, y = blobs
    curve = make_curve(ui_client, X, y, etas=[1.0])
    for path in (f"/ui/curves/{curve['curve_id']}", f"/ui/curves/{curve['curve_id']}/curve.json"):
        r = ui_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/ui/login?next={path}"
    # the JSON API's bearer token does not open the console
    r = ui_client.get(f"/ui/curves/{curve['curve_id']}", headers=AUTH, follow_redirects=False)
    assert r.status_code == 303
