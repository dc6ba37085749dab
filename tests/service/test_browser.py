"""The checkout and operations pages in a real browser: headless Debian
Chromium driven by Playwright (``executable_path``; ``playwright install``
cannot download here). ``make test`` installs the ``chromium`` package.

One flow on the tiny network (values derived in ``tests/service_fixtures.py``):
the high-CLTV customer sees Platinum and the low one does not; the customer
overrides the recommendation; an operator closes ST-CHI on /ops and the open
checkout page shows Gold's new date and price without a reload; the order is
confirmed. Every wait is on DOM state, never a sleep. Then the same live
update across two replicas on one PostgreSQL store, within a second.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.helpers import OUTAGE
from tests.service.replicas import post_events, replicas
from tests.service_fixtures import API_KEY, live_server
from tierflow.benchmarks.service_screenshots import CHROMIUM_ARGS
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import RunningServer

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TIERFLOW_CHROMIUM", "/usr/bin/chromium")
_databases = itertools.count()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium "
            "(as root), or set TIERFLOW_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield b
        b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    with live_server(tmp_path) as running:
        yield running


def _page(browser: Any, url: str, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def _tiers(page: Any) -> list[str]:
    tiers: list[str] = page.eval_on_selector_all(
        "#options .option-card", "cards => cards.map(c => c.dataset.tier)"
    )
    return tiers


def _ask(page: Any, customer: str) -> None:
    """Pick a customer and ask for options; waits for the new answer."""
    before = page.evaluate("document.body.dataset.requestId || ''")
    page.select_option("#customer", customer)
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_function(
        "prev => (document.body.dataset.requestId || '') !== prev", arg=before
    )


def test_checkout_and_ops_pages_in_chromium(
    browser: Any, site: tuple[RunningServer, OnlineRouter], tmp_path: Path
) -> None:
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _customers_span_the_segments(page)
    _high_cltv_sees_platinum(page)
    gold = _low_cltv_sees_why_not(page)
    page.wait_for_selector("#live-status[data-state='live']")
    page.evaluate("window.__notReloaded = true")
    _operator_closes_st_chi(browser, server.url + "/ops", router, errors, tmp_path)
    _page_shows_golds_new_date_live(page, gold)
    _customer_overrides_the_recommendation(page, tmp_path)
    _confirm_places_the_order(page, router)
    assert errors == []
    for name in ("checkout.png", "ops.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def _customers_span_the_segments(page: Any) -> None:
    """The sample customers span the segments; the picker shows the segment."""
    values = page.eval_on_selector_all("#customer option", "os => os.map(o => o.value)")
    assert values == ["C9", "C4", "NEW-CUSTOMER"]
    page.select_option("#customer", "C4")
    assert page.text_content("#segment") == "silver"


def _high_cltv_sees_platinum(page: Any) -> None:
    """High CLTV: Platinum is offered; the recommended option is pre-selected."""
    _ask(page, "C9")
    assert page.text_content("#segment") == "platinum"
    assert sorted(_tiers(page)) == ["gold", "platinum"]  # Silver: dominated
    first = page.locator("#options .option-card").first
    assert first.locator(".recommended").count() == 1
    assert first.locator("input").is_checked()
    plat = page.locator(".option-card[data-tier='platinum']")
    assert plat.locator(".benefit").text_content() == "Guaranteed next-day"
    # C9's upgrade allowance ($4.50) does not cover the $12.50 upgrade
    assert "priced at the next-day rate" in plat.locator(".meta").text_content()
    assert plat.locator("[data-field='delivery_date']").text_content() == (
        "Guaranteed by Tue, Jan 6"
    )


def _low_cltv_sees_why_not(page: Any) -> Any:
    """Low CLTV: no Platinum, and the page says why; Silver (later and dearer
    than Gold from ST-CHI) is dominated; returns the Gold card."""
    _ask(page, "C4")
    assert _tiers(page) == ["gold"]
    assert "below the Platinum threshold" in page.text_content(
        "#missing li[data-tier='platinum']"
    )
    assert "not offered: dominated by gold: earlier date" in page.text_content(
        "#missing li[data-tier='silver']"
    )
    gold = page.locator(".option-card[data-tier='gold']")
    assert gold.locator("[data-field='delivery_date']").get_attribute("data-date") == (
        "2026-01-06"
    )
    assert gold.locator(".price").text_content() == "$10.00"
    assert gold.locator("input").is_checked()  # Gold is the recommendation
    return gold


def _customer_overrides_the_recommendation(page: Any, tmp_path: Path) -> None:
    """The customer picks Silver (offered again) over the chosen Gold."""
    page.click(".option-card[data-tier='silver']")
    assert page.locator(".option-card[data-tier='silver'] input").is_checked()
    assert "selected" in (
        page.get_attribute(".option-card[data-tier='silver']", "class") or ""
    )
    page.screenshot(path=str(tmp_path / "checkout.png"), full_page=True)


def _operator_closes_st_chi(
    browser: Any, url: str, router: OnlineRouter, errors: list[str], tmp_path: Path
) -> None:
    """An operator closes ST-CHI from /ops (a wrong key is refused first)."""
    ops = _page(browser, url, errors)
    assert ops.locator("#map [data-node-id]").count() == 3
    ops.fill("#api-key", "not-the-key-0123456789")
    ops.select_option("#event-node", "ST-CHI")
    ops.select_option("#event-kind", "outage")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='403']")
    assert not router.monitor.outage.any()
    ops.fill("#api-key", API_KEY)
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    ops.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    ops.wait_for_selector("#nodes tr[data-node-id='ST-CHI'].closed")
    ops.screenshot(path=str(tmp_path / "ops.png"), full_page=True)


def _page_shows_golds_new_date_live(page: Any, gold: Any) -> None:
    """The open checkout page shows Gold's new date and price, and Silver
    (now cheaper than Gold) offered again, without a reload."""
    page.wait_for_selector(
        ".option-card[data-tier='gold'] [data-field='delivery_date'][data-date='2026-01-08']"
    )
    assert gold.locator(".price").text_content() == "$13.00"
    assert "changed" in (gold.locator(".price").get_attribute("class") or "")
    updates = page.eval_on_selector_all(
        "#updates li", "ls => ls.map(l => l.textContent)"
    )
    assert sorted(u.split("capacity changed: ")[1] for u in updates) == [
        "Gold arrives Thu, Jan 8 (was Tue, Jan 6), costs $13.00 (was $10.00), "
        "ships from WH-EAST",
        "Silver is now offered (Lowest price)",
    ]
    assert sorted(_tiers(page)) == ["gold", "silver"]
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator(".option-card[data-tier='gold'] input").is_checked()


def _confirm_places_the_order(page: Any, router: OnlineRouter) -> None:
    """Confirming holds the chosen option and shows the confirmation."""
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.get_attribute("#confirmation", "data-tier") == "silver"
    assert page.text_content("#confirmation").startswith("Order confirmed. Silver")
    assert page.is_disabled("#confirm")
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[["tier", "sku", "node_id"]].values.tolist() == [
        ["silver", "TEE", "WH-EAST"]
    ]


def test_an_event_posted_to_one_replica_reaches_a_page_on_another(
    browser: Any, tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    """Two replicas on one PostgreSQL store: the checkout page is open on B,
    the outage is posted to A, and B's page shows Gold's new date and price
    within a second."""
    pg = postgres_server.create_database(f"browser_{os.getpid()}_{next(_databases)}")
    errors: list[str] = []
    with replicas(tmp_path, pg) as [(a, _), (b, _)]:
        page = _page(browser, b.url + "/", errors)
        _ask(page, "C4")
        gold = ".option-card[data-tier='gold'] [data-field='delivery_date']"
        assert page.get_attribute(gold, "data-date") == "2026-01-06"
        page.wait_for_selector("#live-status[data-state='live']")
        posted = time.monotonic()
        post_events(a.url, OUTAGE)
        page.wait_for_selector(f"{gold}[data-date='2026-01-08']", timeout=5_000)
        took = time.monotonic() - posted
        price = page.locator(".option-card[data-tier='gold'] .price").text_content()
        assert price == "$13.00"
        assert took < 1.0, took
    assert errors == []
