"""``/docs`` renders with no network: Debian's Chromium (Playwright) with every
request off loopback refused and recorded; Swagger UI must draw every
operation of ``/openapi.json`` from the files tierflow serves itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service_fixtures import live_server

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def offline_page(browser: Any, blocked: list[str], errors: list[str]) -> Any:
    """A page whose requests off loopback are refused (and listed in
    ``blocked``); script errors go to ``errors``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)

    def gate(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", gate)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def test_docs_render_every_operation_offline(browser: Any, tmp_path: Path) -> None:
    blocked: list[str] = []
    errors: list[str] = []
    with live_server(tmp_path) as (server, _):
        spec = httpx.get(f"{server.url}/openapi.json").json()
        operations = {
            (method.upper(), path)
            for path, item in spec["paths"].items()
            for method in item
        }
        page = offline_page(browser, blocked, errors)
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock")
        page.wait_for_function(
            "n => document.querySelectorAll('.opblock').length >= n",
            arg=len(operations),
        )
        shown = {
            (method, path)
            for method, path in page.eval_on_selector_all(
                ".opblock",
                """blocks => blocks.map(b => [
                    b.querySelector('.opblock-summary-method').textContent.trim(),
                    b.querySelector('.opblock-summary-path').dataset.path])""",
            )
        }
        title = page.text_content(".information-container .title") or ""
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
        page.close()
    assert shown == operations
    assert {("POST", "/v1/options"), ("GET", "/metrics")} <= shown
    assert title.startswith("tierflow")
    assert blocked == [] and errors == []
    assert (tmp_path / "docs.png").stat().st_size > 20_000


def test_the_docs_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    """Every script, stylesheet and icon of ``/docs`` is served here."""
    with live_server(tmp_path) as (server, _):
        html = httpx.get(f"{server.url}/docs").text
        assets = re.findall(r'(?:href|src)="([^"]+)"', html)
        assets += re.findall(r"url: '([^']+)'", html)
        assert len(assets) == 4 and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            assert httpx.get(f"{server.url}{asset}").status_code == 200, asset
