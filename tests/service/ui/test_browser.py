"""The console in a real browser: Playwright driving Debian's Chromium against ``covering serve``.

Skipped (with the reason) when the ``playwright`` package or a Chromium binary is missing;
``.ci/run`` installs Chromium first so CI runs these. Playwright's own browser download cannot
work offline, so the system Chromium is launched through ``executable_path`` (override it with
``COVERING_CHROMIUM``). Set ``COVERING_UI_SCREENSHOT=path.png`` to keep the cover page's
screenshot (``docs/img/console.png`` is made that way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.service.helpers import (
    AUTH,
    NPY,
    TOKEN,
    free_port,
    kill_process,
    npy_bytes,
    sha,
    start_process_server,
    wait_healthy,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

CHROMIUM = os.environ.get("COVERING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COVERING_CHROMIUM)",
        allow_module_level=True,
    )

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Served:
    url: str
    cover: dict[str, Any]  # manifest of a labelled cover of digit images
    spare: str  # a cover the tests delete
    failed_job: str
    curve: dict[str, Any]  # a size-against-eta curve of the cover's dataset, labels and metric


def _upload(client: httpx.Client, a: np.ndarray) -> str:
    b = npy_bytes(a)
    r = client.put(f"/datasets/{sha(b)}", content=b, headers=NPY)
    assert r.status_code in (200, 201), r.text
    return sha(b)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``covering serve`` in a subprocess with a cover of 600 digit images (8x8) and their
    size-against-eta curve."""
    from covering.data import load_digits

    X, y = load_digits()
    X, y = X[:600], y[:600]
    port = free_port()
    proc = start_process_server(tmp_path_factory.mktemp("ui-data"), port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        with httpx.Client(base_url=url, headers=AUTH, timeout=120) as c:
            ds, labels = _upload(c, X), _upload(c, y)
            body = {"dataset": ds, "labels": labels, "eta": 1.5, "method": "greedy"}
            r = c.post("/cover?wait=120", json=body)
            assert r.status_code == 200, r.text
            spare = c.post("/cover?wait=120", json={**body, "eta": 3.0})
            assert spare.status_code == 200, spare.text
            kbody = {"dataset": ds, "labels": labels, "k": 2, "method": "kcenter"}
            bad = c.post("/cover?wait=120", json=kbody)
            assert bad.status_code == 422, bad.text  # fewer centres than classes
            cbody = {"dataset": ds, "labels": labels, "etas": [1.0, 1.5, 2.0, 2.5]}
            curve = c.post("/curve?wait=120", json=cbody)
            assert curve.status_code == 200, curve.text
            yield Served(
                url, r.json(), spare.json()["cover_id"], bad.json()["job"]["id"], curve.json()
            )
    finally:
        kill_process(proc)


@dataclass
class Browser:
    page: Any
    context: Any
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (its own user-data-dir); console errors are collected."""
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        page = ctx.new_page()
        b = Browser(page, ctx)
        page.on("console", lambda m: b.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: b.errors.append(str(e)))
        try:
            yield b
        finally:
            ctx.close()


def _sign_in(b: Browser, url: str, path: str) -> None:
    b.page.goto(url + path)
    assert b.page.url.startswith(url + "/ui/login")  # sent to the form first
    b.page.fill("#token", TOKEN)
    b.page.click("button[type=submit]")
    b.page.wait_for_load_state()
    assert b.page.url == url + path, b.page.url


def _int(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_sign_in_and_read_a_cover(served: Served, browser: Browser, tmp_path: Path) -> None:
    m = served.cover
    page = browser.page
    _sign_in(browser, served.url, f"/ui/covers/{m['cover_id']}")
    cookie = next(c for c in browser.context.cookies() if c["name"] == "covering_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"

    # per-class numbers against the manifest
    labels = np.asarray(m["centres"]["labels"])
    weights = np.asarray(m["centres"]["weights"])
    for cls, st in m["stats"]["per_class"].items():
        cells = page.locator(f'#per-class tr[data-class="{cls}"] td').all_inner_texts()
        assert cells[0] == cls
        assert _int(cells[1]) == int(weights[labels == int(cls)].sum())
        assert _int(cells[2]) == st["size"]
        assert float(cells[3]) == pytest.approx(st["radius"], rel=1e-3)
    total = page.locator('#per-class tr[data-class="all"] td').all_inner_texts()
    assert _int(total[0]) == m["dataset"]["n"] and _int(total[1]) == m["stats"]["size"]
    assert page.locator("#parameters").inner_text().count("greedy") == 1

    # server-made pictures, rendered by the browser: histogram bars and decoded thumbnails
    assert page.locator("svg.hist rect.bar").count() >= 1
    thumbs = page.locator("ul.thumbs img")
    assert thumbs.count() == min(24, m["stats"]["size"])
    widths = thumbs.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)")
    assert set(widths) == {8}  # every PNG decoded as an 8x8 image

    shot = tmp_path / "cover.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("COVERING_UI_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)

    # the download link serves the manifest the API serves
    with page.expect_download() as dl:
        page.click("text=manifest (JSON)")
    got = Path(dl.value.path()).read_bytes()
    api = httpx.get(f"{served.url}/covers/{m['cover_id']}", headers=AUTH).content
    assert got == api

    page.goto(served.url + "/ui")
    assert page.locator(f'#covers a[href="/ui/covers/{m["cover_id"]}"]').count() == 1
    page.goto(f"{served.url}/ui/jobs/{served.failed_job}")
    error = httpx.get(f"{served.url}/jobs/{served.failed_job}", headers=AUTH).json()["error"]
    assert error and page.locator("#job-error").inner_text() == error
    assert browser.errors == []


def test_a_curve_page_and_the_curve_on_its_cover(served: Served, browser: Browser) -> None:
    page, url, cid = browser.page, served.url, served.curve["curve_id"]
    _sign_in(browser, url, f"/ui/curves/{cid}")
    api = httpx.get(f"{url}/curves/{cid}", headers=AUTH).json()
    assert api["sizes"] == served.curve["sizes"] and api["sizes"][0] > api["sizes"][-1]

    # the table, as the browser shows it, against GET /curves/{id}
    rows = page.locator("#curve-table tbody tr")
    assert rows.count() == len(api["etas"]) == 4
    for j in range(rows.count()):
        cells = rows.nth(j).locator("td").all_inner_texts()
        assert float(cells[0]) == pytest.approx(api["etas"][j], rel=1e-5)
        assert _int(cells[1]) == api["sizes"][j]
        assert float(cells[2].rstrip("%")) == pytest.approx(100 * api["fractions"][j], abs=0.005)
        assert [_int(v) for v in cells[3:]] == [row[j] for row in api["class_sizes"]]
    # the plot is drawn: a dot per radius, inside the picture, lower for smaller covers
    dots = page.locator("svg.curve circle.dot")
    assert dots.count() == 4
    boxes = [dots.nth(j).bounding_box() for j in range(4)]
    assert all(b is not None and b["width"] > 0 for b in boxes)
    tops = [b["y"] for b in boxes if b is not None]
    assert tops == sorted(tops)  # sizes fall as eta grows: each dot lower on the page
    with page.expect_download() as dl:
        page.click("text=curve (JSON)")
    got = Path(dl.value.path()).read_bytes()
    assert got == httpx.get(f"{url}/curves/{cid}", headers=AUTH).content

    # the cover of the same dataset, labels and metric shows the curve with itself marked
    m = served.cover
    page.goto(f"{url}/ui/covers/{m['cover_id']}")
    mark = page.locator("#curve svg.curve circle.mark")
    assert mark.count() == 1
    assert float(mark.get_attribute("data-eta") or "nan") == m["params"]["eta"]
    assert int(mark.get_attribute("data-size") or "-1") == m["stats"]["size"]
    page.click("#curve-link")
    page.wait_for_load_state()
    assert page.url == f"{url}/ui/curves/{cid}"

    # the overview and the job page lead to the curve, not to a cover
    page.goto(url + "/ui")
    assert page.locator(f'#jobs a[href="/ui/curves/{cid}"]').count() == 1
    assert page.locator(f'#curves a[href="/ui/curves/{cid}"]').count() == 1
    assert page.locator(f'a[href="/ui/covers/{cid}"]').count() == 0
    page.goto(f"{url}/ui/jobs/{api['job_id']}")
    assert page.locator("#stage").inner_text() == "done"
    page.click("text=Open the curve")
    page.wait_for_load_state()
    assert page.url == f"{url}/ui/curves/{cid}"
    assert browser.errors == []


def test_wrong_token_forged_cookie_404_and_delete(served: Served, browser: Browser) -> None:
    page, url = browser.page, served.url
    page.goto(url + "/ui/login")
    page.fill("#token", "not-a-token")
    with page.expect_response(lambda r: r.url.endswith("/ui/login")) as resp:
        page.click("button[type=submit]")
    assert resp.value.status == 401
    assert page.locator("p.error").inner_text() == "That token is not valid."
    assert browser.context.cookies() == []
    browser.context.add_cookies(
        [{"name": "covering_ui", "value": "forged.value.sig", "url": url + "/ui"}]
    )
    page.goto(url + "/ui")
    assert page.url.startswith(url + "/ui/login")
    browser.context.clear_cookies()

    _sign_in(browser, url, f"/ui/covers/{served.spare}")
    browser.errors.clear()  # the 401 above is logged as a failed resource load
    r = page.goto(f"{url}/ui/covers/{'0' * 32}")
    assert r is not None and r.status == 404 and "Not found" in page.inner_text("h1")
    browser.errors.clear()
    page.goto(f"{url}/ui/covers/{served.spare}")
    page.click("text=Delete this cover")
    page.wait_for_load_state()
    assert page.url == url + "/ui"
    assert page.locator(f'#covers a[href="/ui/covers/{served.spare}"]').count() == 0
    assert httpx.get(f"{url}/covers/{served.spare}", headers=AUTH).status_code == 404
    page.click("text=Sign out")
    page.wait_for_load_state()
    assert page.url == url + "/ui/login"
    page.goto(url + "/ui")
    assert page.url.startswith(url + "/ui/login")
    assert browser.errors == []
