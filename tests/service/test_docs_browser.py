"""``/docs`` in a real browser with every other host unreachable: the page asks for the token,
shows the API and runs a request with it (chromium through playwright; skipped without)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service import Settings
from tests.service.helpers import TOKEN, thread_server

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_docs_work_offline_with_the_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_tokens=[TOKEN])
    with thread_server(settings) as url, sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=_CHROMIUM, args=["--no-sandbox"])
        except Exception as exc:  # no browser installed
            pytest.skip(f"no chromium: {exc}")
        try:
            page = browser.new_page()
            elsewhere: list[str] = []

            def only_this_server(route: sync_api.Route) -> None:
                if route.request.url.startswith(url + "/"):
                    route.continue_()
                else:  # an offline box: any other host is unreachable
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", only_this_server)
            page.goto(f"{url}/docs")
            page.fill("#token", "not-the-token-123")
            page.click("button[type=submit]")
            page.wait_for_function(
                "document.getElementById('token-status').textContent.includes('refused')"
            )
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector(".opblock", timeout=20_000)
            assert "OAS 3.1" in page.inner_text(".information-container")
            # run GET /metrics from the page: the token goes with it
            block = page.locator(".opblock", has=page.locator("[data-path='/metrics']"))
            block.locator(".opblock-summary").click()
            block.locator("button.try-out__btn").click()
            block.locator("button.execute").click()
            status = block.locator(".live-responses-table .response .response-col_status")
            status.first.wait_for(timeout=20_000)
            assert status.first.inner_text().strip().startswith("200")
            assert elsewhere == []
        finally:
            browser.close()
