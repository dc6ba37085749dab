"""The pages under their Content-Security-Policy, in headless Chromium
(``service/security_headers.py``; ``docs/service.md``, "Security").

A policy violation is silent on screen: the browser drops the style or
script it refuses and says so only in the console (``Refused to ...``) and
in a ``securitypolicyviolation`` event. One walk through the main states of
the three pages listens for both, and for any other console error or
warning and any script exception. And a live-update stream refused for now
(503, the server's ceiling on open streams) is opened again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import API_KEY, live_server
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import RunningServer

pytestmark = pytest.mark.browser

#: Records every policy violation of the page (and of its frames) in
#: ``window.__csp``, set before any of the page's own scripts runs.
_LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    with live_server(tmp_path) as running:
        yield running


class Watched:
    """A page whose policy violations, console errors and warnings and
    script exceptions are kept."""

    def __init__(
        self, browser: Any, url: str, width: int = 1280, *, clock: bool = False
    ) -> None:
        self.console: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.set_default_timeout(15_000)
        self.page.add_init_script(_LISTEN)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.console.append(f"exception: {e}"))
        if clock:  # its timers run forward by the test (``page.clock``)
            self.page.clock.install()
        self.page.goto(url)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def trouble(self) -> list[str]:
        """What went wrong so far: violations, then console lines."""
        csp: list[str] = self.page.evaluate("window.__csp")
        return [f"CSP: {v}" for v in csp] + self.console


def _ask(page: Any, customer: str) -> None:
    before = page.evaluate("document.body.dataset.requestId || ''")
    page.select_option("#customer", customer)
    page.click("#get-options")
    page.wait_for_function(
        "prev => (document.body.dataset.requestId || '') !== prev", arg=before
    )
    page.wait_for_selector("#live-status[data-state='live']")


def test_every_page_state_runs_under_the_policy_without_a_console_error(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Checkout: each sample customer, the details, a cart edit, an own
    pick, a live update, 390 and 1920 px, the order placed; /ops: the map,
    the score bars, the forecast, the event form refused without the key
    and applied with it, the table sorted and filtered, 390 px; /docs:
    Swagger UI and a call tried out. Nothing refused, nothing in the
    console."""
    server, _ = site
    checkout = _checkout_asked(browser, server.url)
    ops = _ops_closes_st_chi(browser, server.url)
    page = checkout.page
    page.wait_for_selector("#updates li")  # the live update
    for width in (390, 1920):
        page.set_viewport_size({"width": width, "height": 900})
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    docs = _docs_tried_out(browser, server.url)
    # the refused event (401) is the one console line: the browser's own
    # report of an answer that is not 2xx, which the page shows itself
    assert ops.console == [
        "error: Failed to load resource: the server responded with a status of "
        "401 (Unauthorized)"
    ]
    ops.console.clear()
    assert checkout.trouble() == []
    assert ops.trouble() == []
    assert docs.trouble() == []


def _checkout_asked(browser: Any, url: str) -> Watched:
    """The checkout page through each sample customer, the details, a cart
    edited and put back, an own pick; asked for C9 last."""
    checkout = Watched(browser, url + "/")
    page = checkout.page
    page.wait_for_selector("body[data-ready='1']")
    for customer in ("C4", "NEW-CUSTOMER", "C9"):
        _ask(page, customer)
    page.click("#customer-details summary")
    page.wait_for_selector("#segment.segment-platinum")
    page.click(".option-card >> nth=0 >> summary")
    page.click("#answer-details summary")
    page.fill("#items", "NOT A CART")
    page.wait_for_selector("body[data-edited='1']")
    page.select_option("#cart-preset", "0")
    page.fill("#zip", "60601")
    _ask(page, "C9")
    page.click(".option-card[data-tier='gold'] .option-main")  # an own pick
    return checkout


def _ops_closes_st_chi(browser: Any, url: str) -> Watched:
    """/ops drawn; ST-CHI's outage refused without the key, applied with it;
    the table sorted and filtered; 390 px wide."""
    ops = Watched(browser, url + "/ops")
    page = ops.page
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#map [data-node-id]")
    page.wait_for_selector("#nodes td .bar", state="attached")
    page.wait_for_selector("#live-status[data-state='live']")
    page.select_option("#event-node", "ST-CHI")
    page.select_option("#event-kind", "outage")
    page.click("#inject")  # no key: refused, said on the page
    page.wait_for_selector("#inject-result[data-status='401']")
    page.fill("#api-key", API_KEY)
    page.click("#inject")
    page.wait_for_selector("#inject-result[data-status='200']")
    page.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    page.click("#nodes th[data-sort='score']")
    page.fill("#node-filter", "ST")
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_function(
        "() => document.getElementById('map').dataset.labelled === "
        "String(Math.round(document.getElementById('map').getBoundingClientRect().width))"
    )
    return ops


def _docs_tried_out(browser: Any, url: str) -> Watched:
    """/docs, ``GET /v1/samples`` tried out (answered 200)."""
    docs = Watched(browser, url + "/docs")
    docs.page.click(".opblock-summary-path:has-text('/v1/samples')")
    docs.page.click("button.try-out__btn")
    docs.page.click("button.execute")
    answered = ".live-responses-table tbody .response-col_status"
    docs.page.wait_for_selector(answered)
    assert docs.page.locator(answered).first.inner_text().strip() == "200"
    return docs


def test_a_stream_refused_for_now_is_opened_again(browser: Any, tmp_path: Path) -> None:
    """The server takes one stream: a second checkout's stream is refused
    503 with Retry-After. The browser does not retry an answer that is no
    stream, and the page said "live updates off" for good: its prices and
    dates were no longer kept up to date. It says it is paused and opens
    the stream again once a place is free."""
    with live_server(tmp_path, max_streams=1) as (server, _):
        first = Watched(browser, server.url + "/")
        first.page.wait_for_selector("body[data-ready='1']")
        _ask(first.page, "C4")
        second = Watched(browser, server.url + "/", clock=True)
        page = second.page
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#customer", "C9")
        page.click("#get-options")
        page.wait_for_selector("#live-status[data-state='paused']")
        assert (
            page.locator("#live-status").inner_text()
            == "live updates paused: trying again in 5 s"
        )
        assert page.evaluate("document.body.dataset.streamEnded") is None
        first.page.close()  # a place comes free
        # its tries (each 5 s on) run forward, not waited out: one, or more
        # while the server has yet to see the first page's stream end
        deadline = time.monotonic() + 15
        while page.get_attribute("#live-status", "data-state") != "live":
            assert time.monotonic() < deadline, page.inner_text("#live-status")
            page.clock.run_for(5_000)
            page.wait_for_timeout(100)
        assert page.locator("#live-status").inner_text() == "live updates on"
