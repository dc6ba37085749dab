"""The checkout and operations pages in a real browser: headless Debian
Chromium driven by Playwright (``executable_path``; ``playwright install``
cannot download here). ``make test`` installs the ``chromium`` package.

One flow on the tiny network (values derived in ``tests/service_fixtures.py``):
the high-CLTV customer sees Platinum and the low one does not, and reads why
in shopper words (node ids and scores only behind "Details"); the customer
overrides the recommendation; an operator closes ST-CHI on /ops and the open
checkout page shows Gold's new date and price without a reload; the order is
confirmed. Then the selected option and the "Recommended" badge after live
updates that change the ranking, /ops's node table (filter, sort, a closed
node), and the same live update across two replicas on one PostgreSQL
store, within a second. Every wait is on DOM state, never a sleep.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import selectors
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.orchestration.checkout.helpers import event as apply_event
from tests.service.helpers import OUTAGE, confirm_tee
from tests.service.replicas import FOLLOWER_ONLY_POLL_S, post_events, replicas
from tests.service_fixtures import API_KEY, MONDAY_10, live_server, tiny_router
from tierflow.capacity.events import EVENT_BOUNDS
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import RunningServer, free_port, serve_in_thread

pytestmark = pytest.mark.browser

_databases = itertools.count()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def refusing_site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    """One server for the tests whose asks are all refused (by the page, the
    API or a routed answer): nothing they do changes it, so they share it
    instead of starting one each."""
    with live_server(tmp_path_factory.mktemp("refusing")) as running:
        yield running


def _new_page(browser: Any, errors: list[str]) -> Any:
    """A desktop-sized page whose script errors go to ``errors``, not loaded
    yet (a test may route its calls or install a clock first)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def _page(browser: Any, url: str, errors: list[str]) -> Any:
    page = _new_page(browser, errors)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def _stream_held_off_page(browser: Any, url: str, errors: list[str]) -> Any:
    """A page whose live stream never connects: what it shows comes from its
    own calls only, not from a re-answer racing the test's next click."""
    page = _new_page(browser, errors)
    page.route("**/v1/stream*", lambda route: route.abort())
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def _fill_ops_event(ops: Any, node: str, kind: str, value: str) -> None:
    """Fill /ops's event form with the right key: ``node``'s ``kind`` event
    of ``value`` (as typed; "" leaves the field empty)."""
    ops.fill("#api-key", API_KEY)
    ops.select_option("#event-node", node)
    ops.select_option("#event-kind", kind)
    ops.fill("#event-value", value)


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
    # C9's upgrade allowance ($4.50) does not cover the $12.50 upgrade:
    # no perk for the shopper, the pricing behind Details
    assert plat.locator("[data-field='perks']").count() == 0
    details = plat.locator("[data-field='details']")
    assert not details.locator("dl").is_visible()
    details.locator("summary").click()
    assert "priced" in details.locator("dl").inner_text()
    assert plat.locator("[data-field='delivery_date']").text_content() == (
        "Guaranteed by Tue, Jan 6"
    )


def _low_cltv_sees_why_not(page: Any) -> Any:
    """Low CLTV: no Platinum, and the page says why; Silver (later and dearer
    than Gold from ST-CHI) is dominated; returns the Gold card."""
    _ask(page, "C4")
    assert _tiers(page) == ["gold"]
    assert page.text_content("#missing li[data-tier='platinum']") == (
        "Guaranteed next-day is a perk for our most loyal customers."
    )
    assert page.text_content("#missing li[data-tier='silver']") == (
        "Lowest price isn't shown: “Standard shipping” arrives sooner for less."
    )
    # what the shopper reads (every Details closed): no node, score or CLTV
    shown = page.inner_text("#options-panel")
    for word in ("ST-CHI", "WH-", "score", "threshold", "predicted", "$40"):
        assert word not in shown, (word, shown)
    page.click("#answer-details summary")
    assert "below the Platinum threshold" in page.inner_text("#answer-details")
    page.click("#answer-details summary")
    gold = page.locator(".option-card[data-tier='gold']")
    assert gold.locator("[data-field='delivery_date']").get_attribute("data-date") == (
        "2026-01-06"
    )
    assert gold.locator(".price").text_content() == "$10.00"
    assert gold.locator("input").is_checked()  # Gold is the recommendation
    return gold


def _customer_overrides_the_recommendation(page: Any, tmp_path: Path) -> None:
    """The customer picks Silver (offered again) over the chosen Gold."""
    page.click(".option-card[data-tier='silver'] .option-main")
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
    closed = ops.locator("#nodes tr[data-node-id='ST-CHI']")
    assert closed.locator("[data-field='score']").inner_text().strip() == "0.00"
    assert closed.locator("[data-field='utilization']").inner_text() == "closed"
    assert closed.locator("[data-field='free']").inner_text() == "0"
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
    assert sorted(u.split(": ", 1)[1] for u in updates) == [
        "Lowest price is now available (arrives Sat, Jan 10, $11.00).",
        "Standard shipping now arrives Thu, Jan 8 (was Tue, Jan 6) and costs "
        "$13.00 (was $10.00).",
    ]
    assert sorted(_tiers(page)) == ["gold", "silver"]
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator(".option-card[data-tier='gold'] input").is_checked()


def _confirm_places_the_order(page: Any, router: OnlineRouter) -> None:
    """Confirming holds the chosen option and shows the confirmation."""
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.get_attribute("#confirmation", "data-tier") == "silver"
    assert page.text_content("#confirmation").startswith(
        "Thank you, your order is placed. Lowest price, arriving Sat, Jan 10, $11.00."
    )
    assert page.is_disabled("#confirm")
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[["tier", "sku", "node_id"]].values.tolist() == [
        ["silver", "TEE", "WH-EAST"]
    ]


def _selection(page: Any) -> dict[str, Any]:
    """What the page shows: the checked option, the one with the
    "Recommended" badge, and the sentence saying which is selected; fails
    when they contradict each other."""
    shown: dict[str, Any] = page.evaluate(
        """() => {
        const cards = [...document.querySelectorAll('#options .option-card')];
        const tier = (c) => c && c.dataset.tier;
        const label = (c) => c && c.querySelector('.benefit').textContent;
        const checked = cards.filter((c) => c.querySelector('input').checked);
        const badged = cards.filter((c) => c.querySelector('.badge.recommended'));
        const marked = cards.filter((c) => c.classList.contains('selected'));
        const note = document.getElementById('selection-note');
        return {
          checked: checked.map(tier), badged: badged.map(tier), marked: marked.map(tier),
          checkedLabel: label(checked[0]), badgedLabel: label(badged[0]),
          note: note.hidden ? null : note.textContent, noteState: note.dataset.state,
          recommended: document.body.dataset.recommended, alone: cards.length === 1,
        };
    }"""
    )
    assert len(shown["checked"]) == 1 and shown["marked"] == shown["checked"], shown
    assert len(shown["badged"]) == 1 and shown["badged"][0] == shown["recommended"]
    checked, badged = shown["checked"][0], shown["badged"][0]
    if shown["noteState"] == "recommended":
        assert checked == badged, shown
        assert shown["note"].startswith(
            f"Selected: {shown['checkedLabel']}, the only delivery option"
            if shown["alone"]
            else f"Selected: {shown['checkedLabel']}, our recommendation."
        ), shown
    else:
        assert checked != badged, shown
        assert shown["note"] == (
            f"Selected: {shown['checkedLabel']}, your choice. "
            f"We recommend {shown['badgedLabel']}."
        ), shown
    return {"checked": checked, "recommended": badged}


def _revision(page: Any, revision: int) -> None:
    page.wait_for_selector(f"body[data-revision='{revision}']")


def test_the_selection_and_the_recommended_badge_agree_after_live_updates(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """C9 sees Gold (recommended, pre-selected) and Platinum. Closing ST-CHI
    makes Platinum the recommendation: a selection the shopper did not make
    follows it. A shopper's own pick stays through an update (reopening
    ST-CHI makes Gold the recommendation again), and the page says it is
    the shopper's choice, not the recommendation."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C9")
    page.wait_for_selector("#live-status[data-state='live']")
    assert _selection(page) == {"checked": "gold", "recommended": "gold"}
    post_events(server.url, OUTAGE)  # the ranking changes
    _revision(page, 2)
    assert _selection(page) == {"checked": "platinum", "recommended": "platinum"}
    assert any(
        # its date in the sentence's case ("(Guaranteed by Tue, …" read as
        # a new sentence)
        "we now recommend Guaranteed next-day (guaranteed by Tue, Jan 6, " in u
        for u in page.eval_on_selector_all(
            "#updates li", "ls => ls.map(l => l.textContent)"
        )
    )
    # the shopper picks Platinum: reopening ST-CHI makes Gold the
    # recommendation, Platinum stays selected (offered still)
    page.click(".option-card[data-tier='gold'] .option-main")
    page.click(".option-card[data-tier='platinum'] .option-main")
    assert _selection(page) == {"checked": "platinum", "recommended": "platinum"}
    post_events(server.url, {**OUTAGE, "event_id": "ops-2", "value": False})
    _revision(page, 3)
    assert _selection(page) == {"checked": "platinum", "recommended": "gold"}
    # picking the recommendation again, then a new ranking: the pick stays
    page.click(".option-card[data-tier='gold'] .option-main")
    assert _selection(page) == {"checked": "gold", "recommended": "gold"}
    post_events(server.url, {**OUTAGE, "event_id": "ops-3"})
    _revision(page, 4)
    assert _selection(page) == {"checked": "gold", "recommended": "platinum"}
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.get_attribute("#confirmation", "data-tier") == "gold"
    assert errors == []


def test_a_page_open_through_many_updates_keeps_their_newest_lines(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI closed and reopened again and again while a phone's page is
    open: every update added its lines above Place order for good (ten
    closings, 40 lines, the button 1,760 px down the page). The page keeps
    the newest five, the last update's first."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.set_viewport_size({"width": 390, "height": 844})
    _ask(page, "C9")
    page.wait_for_selector("#live-status[data-state='live']")
    for n in range(8):
        post_events(
            server.url, {**OUTAGE, "event_id": f"flap-{n}", "value": n % 2 == 0}
        )
        _revision(page, n + 2)
    lines = page.eval_on_selector_all("#updates li", "ls => ls.map(l => l.textContent)")
    assert len(lines) == 5, lines
    # the last update reopened ST-CHI: Gold is recommended again
    assert "we now recommend Standard shipping" in lines[0], lines
    assert errors == []


def test_a_lone_option_is_not_said_to_have_others_to_choose_from(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """C4 is offered Gold alone (no Platinum, Silver dominated): the
    sentence under it read "Selected: Standard shipping, our
    recommendation. You may choose any other option." with no other option
    on the page. With two options it still says so."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    assert _tiers(page) == ["gold"]
    assert page.inner_text("#selection-note") == (
        "Selected: Standard shipping, the only delivery option for this order."
    )
    _ask(page, "C9")
    assert sorted(_tiers(page)) == ["gold", "platinum"]
    assert page.inner_text("#selection-note") == (
        "Selected: Standard shipping, our recommendation. "
        "You may choose any other option."
    )
    assert errors == []


def _closed_st_chi_says_since_when_and_its_staffing(ops: Any) -> None:
    """ST-CHI closed at OUTAGE's ts (2026-01-05T15:00:00Z), staffed 40 %."""
    chi = "#nodes tr[data-node-id='ST-CHI'] td[data-field='{}']"
    # a closed node keeps its staffing on the page, as the API and `capacity
    # show` keep it (it read "–": the staffing drop posted was nowhere)
    assert ops.text_content(chi.format("staffing")) == "40%"
    # since when, in the reader's zone, and by which event (it said since
    # when and not which event closed it)
    status = ops.text_content(chi.format("status")) or ""
    assert status.startswith("closed since 1/5/2026, ")
    assert status.endswith(f" by event {OUTAGE['event_id']}")


def test_ops_lists_every_node_filtered_and_sorted(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Every node is a row; the rows filter by text, type and status and
    sort by any column, also after a live update."""
    server, _ = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)

    def rows() -> list[str]:
        ids: list[str] = ops.eval_on_selector_all(
            "#nodes tbody tr", "rs => rs.map(r => r.dataset.nodeId)"
        )
        return ids

    assert sorted(rows()) == ["ST-CHI", "WH-EAST", "WH-WEST"]
    assert ops.text_content("#nodes-count") == "3 of 3 nodes"
    # no event yet: no instant (it read "Capacity as of no events yet.")
    assert (ops.text_content("#capacity-asof") or "").startswith(
        "Capacity: no events yet. Overflow "
    )
    ops.click("#nodes th[data-sort='node_id']")
    assert rows() == ["ST-CHI", "WH-EAST", "WH-WEST"]
    assert ops.get_attribute("#nodes th[data-sort='node_id']", "aria-sort") == (
        "ascending"
    )
    ops.click("#nodes th[data-sort='node_id']")
    assert rows() == ["WH-WEST", "WH-EAST", "ST-CHI"]
    # the sort is aria-sort's to say: the arrow drawn is not in the name
    # (a screen reader read "Node ▼")
    assert ops.get_by_role("columnheader", name="Node", exact=True).count() == 1
    ops.select_option("#kind-filter", "warehouse")
    assert rows() == ["WH-WEST", "WH-EAST"]
    ops.fill("#node-filter", "west")
    assert rows() == ["WH-WEST"] and ops.text_content("#nodes-count") == (
        "1 of 3 nodes"
    )
    ops.fill("#node-filter", "")
    ops.select_option("#kind-filter", "")
    staffing = {**OUTAGE, "event_id": "ops-s", "type": "staffing", "value": 40}
    post_events(server.url, staffing, OUTAGE)
    ops.wait_for_selector("#nodes tr[data-node-id='ST-CHI'].closed")
    _closed_st_chi_says_since_when_and_its_staffing(ops)
    ops.select_option("#status-filter", "closed")
    assert rows() == ["ST-CHI"]
    ops.select_option("#status-filter", "")
    ops.click("#nodes th[data-sort='status']")
    assert rows()[0] == "ST-CHI"  # closed first
    assert ops.locator("#map .node-label").count() == 3  # room for every label
    # a lane congestion says which lane (the table had no word of it)
    chi_lanes = "#nodes tr[data-node-id='ST-CHI'] td[data-field='congestion']"
    assert ops.text_content(chi_lanes) == "none"
    lane = {**OUTAGE, "event_id": "ops-l", "type": "congestion", "value": 2.5}
    post_events(server.url, {**lane, "service": "ground"})
    # closed: no room on the lane
    # a lane's line is its phrases' spans: matched whole by get_by_text
    # (:text-is matches no element of more than one)
    ops.locator(chi_lanes).get_by_text(
        "ground ×2.50, room 0, score 0.00", exact=True
    ).wait_for()
    ops.click("#nodes th[data-sort='max_congestion']")
    assert rows()[-1] == "ST-CHI"  # sorted by the largest delay
    assert errors == []


def test_the_node_tables_headings_stay_in_view_down_a_long_table(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A network of more nodes than the window holds (the tiny network's
    map with its nodes repeated to 60; the sample network has 52, a
    generated one 250): scrolled down to the last row, the column headings
    are still on screen. They scrolled away with the page (sticky to the
    table's box, which scrolled sideways and so never down), and an
    operator 200 rows down read "0.00  129%  7,722  0" with no heading."""
    server, _ = site
    cap = httpx.get(server.url + "/v1/capacity").json()
    cap["nodes"] = [
        {**n, "node_id": f"{n['node_id']}-{k}"} for k in range(20) for n in cap["nodes"]
    ]
    errors: list[str] = []
    ops = _new_page(browser, errors)
    ops.route(
        "**/v1/capacity",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(cap)
        ),
    )
    ops.route("**/v1/stream*", lambda route: route.abort())
    ops.goto(server.url + "/ops")
    ops.wait_for_selector("body[data-ready='1']")
    assert ops.text_content("#nodes-count") == "60 of 60 nodes"
    last = ops.locator("#nodes tbody tr").last
    last.scroll_into_view_if_needed()
    heading = ops.locator("#nodes th[data-sort='score']")
    box = heading.bounding_box()
    row = last.bounding_box()
    assert box is not None and row is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= row["y"], (box, row)
    # on top, not covered by the rows under it
    at = ops.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('th')?.dataset.sort",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert at == "score"
    assert errors == []


def test_an_event_posted_to_one_replica_reaches_a_page_on_another(
    browser: Any, tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    """Two replicas on one PostgreSQL store: the checkout page is open on B,
    the outage is posted to A, and B's page shows Gold's new date and price
    within a second of A applying it (its 200: the seconds A takes to answer
    are not the way to B); then the node's return, posted to A, brings the
    first date back. Each takes 0.03-0.30 s here, even beside three busy
    loops (2026-12-06); one run of the whole suite on 2 cores once saw
    1.02 s (a pause of the machine, not of the path), so the better of the
    two must be under a second and both must come within 5 s. B's hub polls the log only every
    :data:`FOLLOWER_ONLY_POLL_S`, so B's capacity follower must bring each:
    at the fixture's 0.1 s poll the hub's own pull (``LiveHub._changes``)
    brought them in 0.29 s with B's follower 1.2 s late, and the test
    passed without it."""
    pg = postgres_server.create_database(f"browser_{os.getpid()}_{next(_databases)}")
    errors: list[str] = []
    fleet = replicas(tmp_path, pg, app_kw={"poll_s": FOLLOWER_ONLY_POLL_S})
    with fleet as [(a, _), (b, _)]:
        page = _page(browser, b.url + "/", errors)
        _ask(page, "C4")
        gold = ".option-card[data-tier='gold'] [data-field='delivery_date']"
        assert page.get_attribute(gold, "data-date") == "2026-01-06"
        page.wait_for_selector("#live-status[data-state='live']")
        post_events(a.url, OUTAGE)
        applied = time.monotonic()  # A's 200: the event is in the store
        page.wait_for_selector(f"{gold}[data-date='2026-01-08']", timeout=5_000)
        took = [time.monotonic() - applied]
        price = page.locator(".option-card[data-tier='gold'] .price").text_content()
        assert price == "$13.00"
        back = {**OUTAGE, "event_id": "ops-2", "ts": "2026-01-05T15:00:01Z"}
        post_events(a.url, {**back, "value": False})
        applied = time.monotonic()
        page.wait_for_selector(f"{gold}[data-date='2026-01-06']", timeout=5_000)
        took.append(time.monotonic() - applied)
        assert min(took) < 1.0, took
    assert errors == []


def test_ops_shows_the_rest_of_day_forecast_as_orders_flow_in(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/ops says where the forecast comes from and how many orders it
    expects; confirmed checkouts change it on the open page."""
    from tests.conftest import TINY_NETWORK
    from tests.demand_history import flat_history
    from tests.service.replicas import stock_up
    from tierflow.data.network import load_network
    from tierflow.service import feed

    # the forecast's refresh cadence (5 s), as test_demand_forecast's
    # QUICK_S: the confirms' refresh was waited for, up to 5 s
    monkeypatch.setattr(feed, "DEMAND_MIN_S", 0.5)
    state = tmp_path / "state.db"
    stock_up(state, 1000)
    demand = flat_history(tmp_path, load_network(TINY_NETWORK))
    kw = {"state": state, "demand": demand}
    errors: list[str] = []
    with (
        live_server(tmp_path, router_kw=kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        ops = _page(browser, server.url + "/ops", errors)
        ops.wait_for_selector("body[data-forecast-source='history']")
        text = ops.text_content("#demand-forecast") or ""
        assert "Rest-of-day forecast (history" in text and "after 0 so far" in text
        for k in range(5):
            confirm_tee(client, f"C{k}")
        ops.wait_for_function(
            "() => document.querySelector('#demand-forecast')"
            ".textContent.includes('after 5 so far')"
        )
    assert errors == []


def test_a_checkout_confirmed_elsewhere_is_shown_placed_not_offered_again(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The checkout confirmed elsewhere (a duplicated tab, the API) with an
    option other than the page's pick: the page shows that order placed and
    disables Place order. It stayed enabled first (the click showed "field
    'request_id': value '…': checkout already confirmed Please show the
    delivery options again"), then said "no longer open … Show the delivery
    options again to start a new one", inviting the same order twice, where
    a reload of the page showed it placed."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, page.eval_on_selector("#customer option", "o => o.value"))
    page.wait_for_selector("#live-status[data-state='live']")
    rid = page.evaluate("document.body.dataset.requestId")
    other = next(
        t for t in _tiers(page) if t != page.evaluate("document.body.dataset.selected")
    )
    label = page.inner_text(f"[data-option-id='{other}'] [data-field='label']")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": other})
        assert held.status_code == 200, held.text
        assert client.post(f"/v1/checkouts/{rid}/confirm").status_code == 200
    page.wait_for_selector("#confirmation:not([hidden])")
    shown = page.locator("#confirmation").inner_text()
    assert shown.startswith(f"Thank you, your order is placed. {label}, "), shown
    assert page.locator("#error").is_hidden()
    assert page.locator("#confirm").is_disabled()
    assert page.evaluate("document.body.dataset.selected") == other
    assert errors == []


def test_the_ops_event_form_sends_what_it_shows(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A hidden invalid Value no longer blocks an outage (the browser refused
    the form silently, the old "Applied" line still shown), and an empty
    Value is refused on the page (it was sent as 0)."""
    server, router = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    _fill_ops_event(ops, "ST-CHI", "backlog", "")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='0']")
    assert "enter a value" in ops.locator("#inject-result").inner_text()
    assert router.monitor.table()["backlog"].sum() == 0
    ops.fill("#event-value", "-50")  # invalid, then hidden by the outage kind
    ops.select_option("#event-kind", "outage")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    ops.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    # a value the browser blocks is said so: the last "Applied" line stayed
    ops.select_option("#event-kind", "staffing")
    ops.fill("#event-value", "-5")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='invalid']")
    text = ops.locator("#inject-result").inner_text()
    assert text.startswith("Not sent: ") and "Applied" not in text, text
    assert errors == []


def test_enter_in_the_api_key_field_sends_no_event(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """An operator types the API key and presses Enter: the form was
    submitted with what it showed, the first node and "Outage" by default,
    and that node closed to every checkout (QA 2026-12-07). Enter there
    applies the key only; Apply event sends the event."""
    server, router = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    before = router.monitor.last_seq
    assert ops.input_value("#event-kind") == "outage"
    ops.fill("#api-key", API_KEY)
    ops.press("#api-key", "Enter")
    assert ops.locator("#inject-result").inner_text() == ""  # it said "Sending…"
    _fill_ops_event(ops, "ST-CHI", "backlog", "5")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    assert router.monitor.last_seq == before + 1
    assert not router.monitor.outage.any()
    assert errors == []


def test_the_ops_event_forms_ranges_are_the_apis(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Each kind's Value takes the range the API takes (``EVENT_BOUNDS``):
    a backlog had no upper bound on the page, so 1e300 was sent and read
    "Refused (422): field 'events[0].value': value 1e+300: must be in [0,
    1e+09]" (QA 2026-12-07); it is refused on the page as the others are."""
    server, router = refusing_site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    before = router.monitor.last_seq
    for kind in ("staffing", "backlog", "congestion"):
        ops.select_option("#event-kind", kind)
        lo, hi = EVENT_BOUNDS[kind]
        shown = ops.eval_on_selector("#event-value", "i => [i.min, i.max]")
        assert [float(v) for v in shown] == [lo, hi], kind
    _fill_ops_event(ops, "ST-CHI", "backlog", "1e300")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='invalid']")
    assert ops.locator("#inject-result").inner_text() == (
        "Not sent: Value must be less than or equal to 1000000000."
    )
    assert router.monitor.last_seq == before
    assert errors == []


def test_the_ops_event_form_posts_a_congestion_event(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The API takes a carrier lane's ``congestion`` (a delay factor 1..100
    for a ``service``), the page's form could not post one. Its Service is
    shown for it alone, a factor out of range is refused on the page, and
    one in range is applied to that lane."""
    server, router = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    before = router.monitor.last_seq
    assert ops.locator("#event-service-field").is_hidden()
    _fill_ops_event(ops, "ST-CHI", "congestion", "0.5")
    assert ops.locator("#event-service-field").is_visible()
    assert ops.eval_on_selector_all(
        "#event-service option", "os => os.map(o => o.value)"
    ) == ["next_day", "two_day", "ground", "economy"]
    ops.select_option("#event-service", "ground")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='invalid']")
    assert ops.locator("#inject-result").inner_text() == (
        "Not sent: Value must be greater than or equal to 1."
    )
    ops.fill("#event-value", "101")
    ops.click("#inject")
    assert ops.locator("#inject-result").inner_text() == (
        "Not sent: Value must be less than or equal to 100."
    )
    assert router.monitor.last_seq == before
    ops.fill("#event-value", "2.5")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    assert ops.locator("#inject-result").inner_text() == (
        f"Applied: ST-CHI congestion 2.5 on ground (log seq {router.monitor.last_seq})."
    )
    chi = router.network.node_index["ST-CHI"]
    assert router.monitor.congestion_by_service(chi)["ground"] == 2.5
    assert router.monitor.congestion_by_service(chi)["two_day"] == 1.0
    ops.select_option("#event-kind", "outage")  # the service goes with the kind
    assert ops.locator("#event-service-field").is_hidden()
    assert errors == []


def test_a_kinds_example_value_does_not_stay_for_the_next_kind(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Staffing chosen, then congestion: the staffing's example 60 % stayed
    in Value, and Apply event sent a delay of x60 on the lane. Each kind
    starts from its own example (none for a backlog); a value the operator
    typed stays."""
    server, _ = refusing_site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    ops.select_option("#event-kind", "staffing")
    assert ops.input_value("#event-value") == "60"
    ops.select_option("#event-kind", "congestion")
    assert ops.input_value("#event-value") == "2"
    ops.select_option("#event-kind", "backlog")
    assert ops.input_value("#event-value") == ""
    ops.fill("#event-value", "40")
    ops.select_option("#event-kind", "staffing")
    assert ops.input_value("#event-value") == "40"
    assert errors == []


def test_the_ops_congestion_form_offers_the_nodes_own_lanes(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI ships by two_day and ground only: the form offered all four
    services for it, and a delay on its next_day read "Applied" and changed
    nothing (the map lists no such lane). The form offers the chosen node's
    lanes, and a service the next node lacks moves to one it has."""
    server, _ = refusing_site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    enabled = "os => os.filter(o => !o.disabled).map(o => o.value)"
    ops.select_option("#event-kind", "congestion")
    ops.select_option("#event-node", "WH-EAST")
    ops.select_option("#event-service", "next_day")
    assert ops.eval_on_selector_all("#event-service option", enabled) == [
        "next_day",
        "two_day",
        "ground",
        "economy",
    ]
    ops.select_option("#event-node", "ST-CHI")
    assert ops.eval_on_selector_all("#event-service option", enabled) == [
        "two_day",
        "ground",
    ]
    assert ops.input_value("#event-service") == "two_day"
    assert errors == []


def test_ops_says_a_congested_lanes_room_beside_its_node(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """WH-EAST (capacity 1000, backlog 400) reads score 0.60; with its
    two_day lane at x3 its row says that lane's room and score, ``two_day
    ×3.00, room 200, score 0.20`` (the API's ``lanes``), live, while its
    score stays the on-time lanes' 0.60 (it said 0.60 alone, and two_day
    offers from it were priced as nearly full). A day without congestion
    reads "none", as before."""
    server, _ = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    cell = "#nodes tr[data-node-id='{}'] td[data-field='{}']"
    east = {**OUTAGE, "node_id": "WH-EAST", "event_id": "b", "type": "backlog"}
    post_events(server.url, {**east, "value": 400})
    ops.wait_for_selector(f"{cell.format('WH-EAST', 'score')}:text-is('0.60')")
    nodes = ("WH-EAST", "WH-WEST", "ST-CHI")
    assert [ops.text_content(cell.format(n, "congestion")) for n in nodes] == (
        ["none"] * 3
    )
    jam = {**east, "event_id": "c", "type": "congestion", "service": "two_day"}
    post_events(server.url, {**jam, "value": 3})
    said = "two_day ×3.00, room 200, score 0.20"
    ops.locator(cell.format("WH-EAST", "congestion")).get_by_text(
        said, exact=True
    ).wait_for()
    assert ops.text_content(cell.format("WH-EAST", "score")) == "0.60"
    assert [ops.text_content(cell.format(n, "congestion")) for n in nodes[1:]] == (
        ["none"] * 2
    )
    cap = httpx.get(server.url + "/v1/capacity").json()
    lane = next(n for n in cap["nodes"] if n["node_id"] == "WH-EAST")["lanes"]
    assert lane["two_day"] == {"congestion": 3.0, "free_capacity": 200.0, "score": 0.2}
    # the map's tooltip says it too
    tip = ops.text_content("#map [data-node-id='WH-EAST'] title") or ""
    assert tip.endswith(f"; {said}"), tip
    # a second delayed lane on a line of its own (on one they ran off the side)
    post_events(server.url, {**jam, "event_id": "g", "service": "ground", "value": 2})
    lines = f"{cell.format('WH-EAST', 'congestion')} div"
    ops.locator(cell.format("WH-EAST", "congestion")).get_by_text(
        "ground ×2.00, room 300, score 0.30", exact=True
    ).wait_for()
    assert ops.locator(lines).all_inner_texts() == [
        f"{said};",
        "ground ×2.00, room 300, score 0.30",
    ]
    assert errors == []


def test_a_node_with_every_lane_congested_fits_its_panel(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """QA's case: with all 4 lanes of WH-EAST congested, the lanes cell was
    267 px wide on 4 lines and the table 1226.5 px, 44 px wider than its
    1182-px panel at a 1280-px window, which scrolled sideways. The cell
    wraps; at 360 px the table still scrolls inside its panel (by design),
    not the page."""
    server, _ = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    east = {**OUTAGE, "node_id": "WH-EAST", "type": "congestion"}
    services = ("next_day", "two_day", "ground", "economy")
    post_events(
        server.url,
        *[
            {**east, "event_id": f"lane-{k}", "service": s, "value": 2 + k}
            for k, s in enumerate(services)
        ],
    )
    lines = "#nodes tr[data-node-id='WH-EAST'] td[data-field='congestion'] div"
    ops.wait_for_function(
        "sel => document.querySelectorAll(sel).length === 4", arg=lines
    )
    widths = (
        "(() => { const w = document.querySelector('#nodes-panel .table-wrap');"
        " return [w.querySelector('table').getBoundingClientRect().width,"
        " w.clientWidth, w.scrollWidth,"
        " document.documentElement.scrollWidth]; })()"
    )
    table, panel, scrolled, page = ops.evaluate(widths)
    assert table <= panel and scrolled <= panel, (table, panel, scrolled)
    assert page == 1280
    ops.set_viewport_size({"width": 360, "height": 800})
    table, panel, scrolled, page = ops.evaluate(widths)
    assert scrolled > panel  # the table scrolls in its own box ...
    assert page == 360  # ... not the page
    assert errors == []


def test_a_closed_node_with_a_feeds_event_id_fits_its_panel(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """QA's case (2026-12-07): a closed node's status, "closed since
    1/5/2026, 10:00:00 AM EST by event …" with a feed's event id, and the
    nodes' names did not wrap: the table scrolled sideways at a 1280-px
    window, the Status column out of view (on the sample network, 1213 px
    in the 1182-px panel with no node closed, 1640 px with one)."""
    server, _ = site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    event_id = "maintenance-window-2026-01-05-wh-east-dock-doors"
    post_events(server.url, {**OUTAGE, "node_id": "WH-EAST", "event_id": event_id})
    status = "#nodes tr[data-node-id='WH-EAST'] td[data-field='status']"
    ops.wait_for_function(
        "([sel, id]) => (document.querySelector(sel)?.textContent || '').includes(id)",
        arg=[status, event_id],
    )
    table, panel, scrolled, page = ops.evaluate(
        "(() => { const w = document.querySelector('#nodes-panel .table-wrap');"
        " return [w.querySelector('table').getBoundingClientRect().width,"
        " w.clientWidth, w.scrollWidth,"
        " document.documentElement.scrollWidth]; })()"
    )
    assert table <= panel and scrolled <= panel, (table, panel, scrolled)
    assert page == 1280
    assert errors == []


@pytest.mark.parametrize("typed", ["0.5", "0.07", "0.005", "0.00001"])
def test_a_staffing_fraction_is_refused_on_the_page_in_the_apis_words(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter], typed: str
) -> None:
    """Staffing 0.5 (meant as half the staff) was sent, and the API refused
    it (422, "0.5 means 0.5 %"). The page refuses it before sending, beside
    the field and in the result line, in the API's words (the same value
    posted to the API reads the same); a kind that takes the value, and a
    staffing of 1 or more, are not held back."""
    server, router = refusing_site
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    before = router.monitor.last_seq
    _fill_ops_event(ops, "ST-CHI", "staffing", typed)
    note = ops.locator("#event-value-note")
    assert note.is_visible()
    said = note.inner_text()
    api = httpx.post(
        server.url + "/v1/capacity/events",
        json={
            "events": [
                {
                    **OUTAGE,
                    "event_id": "half",
                    "type": "staffing",
                    "value": float(typed),
                }
            ]
        },
        headers={"X-API-Key": API_KEY},
    )
    assert api.status_code == 422
    assert (
        api.json()["message"]
        == f"field 'events[0].value': value {float(typed)!r}: {said}"
    )
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='invalid']")
    assert ops.locator("#inject-result").inner_text() == f"Not sent: {said}"
    assert router.monitor.last_seq == before  # nothing posted
    # a backlog of 0.5 is a backlog: the note goes with the kind
    ops.select_option("#event-kind", "backlog")
    assert note.is_hidden()
    assert ops.eval_on_selector("#event-value", "e => e.validity.valid")
    ops.select_option("#event-kind", "staffing")
    assert note.is_visible()
    ops.fill("#event-value", "1")
    assert note.is_hidden()
    assert ops.eval_on_selector("#event-value", "e => e.validity.valid")
    assert errors == []


def test_an_ops_event_that_changed_nothing_is_not_said_applied(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A feed's staffing event stamped a few minutes ahead of the server's
    clock (which it may be, by 5) stands over an operator's of now: the API
    says it was ``stale``, and the page read "Applied: ST-CHI staffing 60"
    while the map kept the feed's 50 %."""
    server, router = site
    router.apply_capacity_events(
        [
            {
                "event_id": "feed-1",
                "ts": "2026-01-05T15:03:00Z",  # MONDAY_10 + 3 minutes
                "node_id": "ST-CHI",
                "type": "staffing",
                "value": 50,
            }
        ],
        received=MONDAY_10,
    )
    errors: list[str] = []
    ops = _page(browser, server.url + "/ops", errors)
    _fill_ops_event(ops, "ST-CHI", "staffing", "60")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    seq = router.monitor.last_seq
    assert ops.locator("#inject-result").inner_text() == (
        "Logged, but it changed nothing: ST-CHI has a later staffing event "
        f"(log seq {seq})."
    )
    assert ops.locator("#inject-result").get_attribute("class") == "fail"
    table = router.monitor.table().set_index("node_id")
    assert table.loc["ST-CHI", "staffing_pct"] == 50.0
    assert errors == []


def test_arrow_keys_go_through_every_option(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Picking an option rebuilds the cards: the focus stays on the option,
    so arrow keys go on through them (the focus fell to the page's body, and
    the second arrow did nothing)."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, page.eval_on_selector("#customer option", "o => o.value"))
    tiers = _tiers(page)
    assert len(tiers) >= 2, tiers
    page.focus(f"#option-{tiers[0]}")
    page.keyboard.press("Space")
    for k in (1, 2, 3):  # round the group, wrapping at its end
        tier = tiers[k % len(tiers)]
        page.keyboard.press("ArrowDown")
        page.wait_for_function("t => document.body.dataset.selected === t", arg=tier)
        assert page.evaluate("document.activeElement.id") == f"option-{tier}"
    assert errors == []


def test_a_focused_details_keeps_the_focus_across_a_live_update(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A keyboard user on an option's "Details" when a live update rebuilt
    the cards: the focus fell to the page's body (only a focused radio
    kept it), and the next Tab started again from the first option."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C9")
    page.wait_for_selector("#live-status[data-state='live']")
    assert "gold" in _tiers(page)
    page.focus("[data-option-id='gold'] summary")
    page.keyboard.press("Enter")  # opens it
    post_events(server.url, OUTAGE)  # Gold moves to WH-EAST: the cards rebuilt
    page.wait_for_function("() => document.body.dataset.revision === '2'")
    focused = page.evaluate(
        "[document.activeElement.tagName, "
        "document.activeElement.closest('[data-option-id]')?.dataset.optionId]"
    )
    assert focused == ["SUMMARY", "gold"]
    assert page.locator("[data-option-id='gold'] details").get_attribute("open") == ""
    assert errors == []


def test_a_focused_option_a_live_update_drops_hands_the_focus_on(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI closed, C4 sees Gold and Silver; a keyboard user picks Silver,
    ST-CHI reopens and Silver is dominated (dropped): the focus fell to the
    page's body. It goes to the option now selected (Gold)."""
    server, _ = site
    errors: list[str] = []
    post_events(server.url, OUTAGE)
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    assert _tiers(page) == ["gold", "silver"]
    page.focus("#option-silver")
    page.keyboard.press("Space")
    page.wait_for_function("() => document.body.dataset.selected === 'silver'")
    post_events(server.url, {**OUTAGE, "event_id": "ops-2", "value": False})
    page.wait_for_function("() => document.body.dataset.revision === '2'")
    assert _tiers(page) == ["gold"]
    assert page.evaluate("document.body.dataset.selected") == "gold"
    assert page.evaluate("document.activeElement.id") == "option-gold"
    assert errors == []


def test_placing_an_order_shows_only_the_confirmation(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The confirm's own ``closed`` event may reach the page before the
    confirm's answer: the page showed "Thank you, your order is placed"
    under "This checkout is no longer open (it was completed or closed
    elsewhere)". The confirm's answer is held back here until the event is
    in."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")

    def late(route: Any) -> None:
        answer = route.fetch()
        time.sleep(0.5)  # the stream's `closed` is sent as the confirm commits
        route.fulfill(response=answer)

    page.route("**/confirm", late)
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.locator("#live-status").get_attribute("data-state") == "off"
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    assert page.evaluate("document.body.dataset.closed") is None
    assert errors == []


def _place_with_select_held(page: Any) -> Any:
    """Click Place order with its select held back: the held route, once
    the page says it is placing the order (``continue_`` or ``fulfill`` it,
    then ``page.unroute("**/select")``)."""
    held: list[Any] = []
    page.route("**/select", lambda route: held.append(route))
    page.click("#confirm")
    page.wait_for_function(
        "() => document.querySelector('#confirm').textContent === 'Placing your order…'"
    )
    while not held:
        page.wait_for_timeout(20)
    return held[0]


def test_options_that_change_while_the_order_is_placed_are_not_confirmed(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI closes while the select is on its way (held back here until
    the live update is on the page): the server holds Standard shipping's
    new plan (Thu, Jan 8, $13.00), and the page confirmed it and said
    "Standard shipping, arriving Tue, Jan 6, $10.00": an order on terms the
    shopper never saw, and told other ones. Now nothing is confirmed; the
    page says the options changed, and the next Place order confirms what
    it shows."""
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    select = _place_with_select_held(page)
    post_events(server.url, OUTAGE)
    _revision(page, 2)
    # a live update while the order is placed leaves the button as it was
    assert page.locator("#confirm").inner_text() == "Placing your order…"
    assert page.locator("#confirm").is_disabled()
    select.continue_()
    page.unroute("**/select")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "Your delivery options changed as you placed your order: nothing is "
        "ordered yet. Check them and place your order again."
    )
    assert _focused(page)["id"] == "error"
    assert page.locator("#confirmation").is_hidden()
    assert router.store is not None
    assert router.store.online_orders().empty
    assert page.locator("#confirm").inner_text() == "Place order · $13.00"
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert (
        page.locator("#confirmation")
        .inner_text()
        .startswith(
            "Thank you, your order is placed. Standard shipping, arriving Thu, Jan 8, "
            "$13.00."
        )
    )
    orders = router.store.online_orders()
    assert orders[["tier", "node_id", "promised_date"]].astype(str).values.tolist() == [
        ["gold", "WH-EAST", "2026-01-08"]
    ]
    assert errors == []


def test_a_checkout_closed_while_its_select_is_refused_stays_over(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """C4's checkout is cancelled through the API while its select is on
    its way (held back here until the stream's ``closed`` is on the page),
    then the select is refused (409): the page had dropped the event and
    asked for new options (a requote: an answer it showed as the
    checkout's, live updates off; refused here, it said "Checkout already
    cancelled. Please show the delivery options again."). The checkout is
    over: the page asks for nothing more and says it is no longer open, as
    when the event comes with no order being placed; Place order and the
    options are off, and nothing is ordered."""
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    rid = page.evaluate("document.body.dataset.requestId")
    select = _place_with_select_held(page)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        cancelled = client.post(f"/v1/checkouts/{rid}/cancel")
        assert cancelled.status_code == 200, cancelled.text
    page.wait_for_selector("#live-status[data-state='off']")  # `closed` came
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url.rsplit("/", 1)[1], r.status)))
    select.continue_()
    page.unroute("**/select")
    page.wait_for_selector("body[data-closed='1']")
    # refused, and no new options asked for a checkout that is over
    assert answers == [("select", 409)]
    assert page.locator("#error").inner_text() == (
        "This checkout is no longer open (it was completed or closed "
        "elsewhere). Show the delivery options again to start a new one."
    )
    assert _focused(page)["id"] == "error"
    assert page.locator("#confirm").is_disabled()
    assert page.locator("#confirm").inner_text() == "Place order · $10.00"
    radios = "#options input[name='option']"
    assert page.eval_on_selector_all(radios, "rs => rs.map(r => r.disabled)") == [True]
    assert page.evaluate("document.body.dataset.revision") == "1"
    assert page.locator("#live-status").inner_text() == "live updates off"
    assert page.locator("#get-options").is_enabled()
    assert router.store is not None
    assert router.store.online_orders().empty
    assert errors == []


def test_the_options_cannot_be_changed_while_the_order_is_placed(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """C9 places Standard shipping and, while the select is on its way,
    clicks Guaranteed next-day: the click was taken (that option checked,
    "Selected: Guaranteed next-day, your choice", Place order at its price
    after the order) while Standard shipping was held and confirmed, so
    the page ended showing an option other than the one ordered. Now the
    options are off while the order is placed, and on again when it
    fails."""
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C9")
    page.wait_for_selector("#live-status[data-state='live']")
    assert _selection(page) == {"checked": "gold", "recommended": "gold"}
    select = _place_with_select_held(page)
    radios = "#options input[name='option']"
    assert page.eval_on_selector_all(radios, "rs => rs.map(r => r.disabled)") == [
        True,
        True,
    ]
    page.click(".option-card[data-tier='platinum'] .option-main", force=True)
    assert page.evaluate("document.body.dataset.selected") == "gold"
    select.fulfill(status=503, json={"error": "unavailable", "message": "down"})
    page.unroute("**/select")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "The store is busy right now: please try again in a moment."
    )
    # the order failed: the shopper may choose again
    assert page.eval_on_selector_all(radios, "rs => rs.map(r => r.disabled)") == [
        False,
        False,
    ]
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.eval_on_selector_all(
        "#options input:checked", "rs => rs.map(r => r.value)"
    ) == ["gold"]
    assert router.store is not None
    assert router.store.online_orders()["tier"].tolist() == ["gold"]
    assert errors == []


def test_show_delivery_options_is_off_while_the_order_is_placed(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """While the order was placed, "Show delivery options" (and Enter in
    the ZIP code) looked ready and did nothing: the page takes no new
    options meanwhile. It is disabled then, as Place order is while
    options load, and on again once the order is placed."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    select = _place_with_select_held(page)
    assert page.locator("#get-options").is_disabled()
    select.continue_()
    page.unroute("**/select")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.locator("#get-options").is_enabled()
    assert page.locator("#get-options").inner_text() == "Show delivery options"
    assert errors == []


def _shows_gold_placed(page: Any, router: OnlineRouter) -> None:
    """The page shows its one order placed (Standard shipping for C4 to
    606), with no error, and the store holds it once."""
    page.wait_for_selector("#confirmation:not([hidden])")
    assert (
        page.locator("#confirmation")
        .inner_text()
        .startswith(
            "Thank you, your order is placed. Standard shipping, arriving Tue, Jan 6, "
            "$10.00."
        )
    )
    assert page.locator("#error").is_hidden()
    assert router.store is not None
    assert router.store.online_orders()["tier"].tolist() == ["gold"]


def _confirm_answer_lost(page: Any) -> None:
    """C4 asks and places its order; the server confirms it and the answer
    is lost on the way back (the page then shows its error)."""
    _ask(page, "C4")

    def lost(route: Any) -> None:
        route.fetch()  # the server confirms
        route.abort("connectionreset")

    page.route("**/confirm", lost)
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")


def test_an_order_whose_confirmation_was_lost_is_shown_placed_on_the_next_try(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The confirm reaches the server, which places the order, and its
    answer is lost on the way back (a phone's connection dropped): the page
    says the store could not be reached, and the shopper clicks Place order
    again. That select was refused ("checkout already confirmed") and the
    page said "Checkout already confirmed. Please show the delivery options
    again." with the options off and no confirmation: a shopper who did
    so placed the order twice. The confirm repeated answers as the first,
    and the page shows the order placed. (The page's stream is held off
    here: its ``closed`` event, next test, would tell the page first.)"""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _confirm_answer_lost(page)
    assert page.locator("#error").inner_text() == (
        "The store could not be reached: check your connection and try again."
    )
    page.unroute("**/confirm")
    page.click("#confirm")
    _shows_gold_placed(page, router)
    assert errors == []


def test_an_order_confirmed_after_its_page_lost_the_answer_is_shown_placed(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The confirm's answer is lost and the page says the store could not
    be reached; then the stream's ``closed`` ("confirmed") comes for it
    (the confirm arrived late, or its answer was lost after the commit).
    The page said "This checkout is no longer open (it was completed or
    closed elsewhere). Show the delivery options again to start a new
    one.", inviting the same order twice (CI, forty-fifth session: the
    event came after the lost answer). The page asks the confirm again and
    shows the order placed."""
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    rid = page.evaluate("document.body.dataset.requestId")
    page.route("**/confirm", lambda route: route.abort("connectionreset"))
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "The store could not be reached: check your connection and try again."
    )
    page.unroute("**/confirm")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post(f"/v1/checkouts/{rid}/confirm").status_code == 200
    _shows_gold_placed(page, router)
    assert page.evaluate("document.body.dataset.closed") is None
    assert errors == []


def test_an_order_edited_after_its_options_came_is_not_placed_as_it_was(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The shopper changes the ZIP code, the cart and the customer after the
    options came: Place order ordered one TEE to 606 for C4, the options of
    the old order, with "MUG:2", "10001" and C9 on screen. Place order is
    off until the options are asked again (or the fields say again what
    they answer)."""
    server, router = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    intro = "Choose how your order ships. Prices include delivery."
    assert page.locator("#options-intro").inner_text() == intro
    page.fill("#zip", "10001")
    assert page.locator("#confirm").is_disabled()
    assert page.locator("#options-intro").inner_text() == (
        "Your order changed since these options were shown: choose “Show "
        "delivery options” for options that match it."
    )
    page.fill("#zip", "60601")  # as it was
    assert page.locator("#confirm").is_enabled()
    assert page.locator("#options-intro").inner_text() == intro
    page.fill("#items", "MUG:2")
    assert page.locator("#confirm").is_disabled()
    page.fill("#items", "TEE:1")
    page.select_option("#customer", "C9")
    assert page.locator("#confirm").is_disabled()
    page.click("#confirm", force=True)  # a click on the disabled button
    page.click("#get-options")
    page.wait_for_function(
        "() => document.body.dataset.edited === '' && !document.querySelector('#confirm').disabled"
    )
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[["customer_id", "sku", "quantity"]].values.tolist() == [
        ["C9", "TEE", 1]
    ]
    assert errors == []


def test_a_refused_ask_does_not_say_options_are_shown(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Options came, then the shopper typed an unknown SKU and asked again:
    the error named it and the options went, but the line under the heading
    still said "Your order changed since these options were shown", of
    options no longer on screen (QA 2026-12-07)."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.fill("#items", "HAT:1")
    assert page.evaluate("document.body.dataset.edited") == "1"
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text().startswith("Item 1 (HAT): ")
    assert page.locator("#options .option-card").count() == 0
    assert page.locator("#options-intro").inner_text() == ""
    assert page.evaluate("document.body.dataset.edited") == ""
    assert errors == []


def test_the_page_says_it_is_loading_and_takes_no_order_meanwhile(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """While options are on their way the button says so, Place order is
    off and the options are marked busy; before, both buttons stayed as
    they were and Place order clicked meanwhile did nothing."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")  # an answer on the page, Place order on
    assert page.locator("#confirm").is_enabled()
    pending: list[Any] = []
    page.route("**/v1/options", lambda route: pending.append(route))  # held here
    page.click("#get-options")
    page.wait_for_function("() => document.getElementById('get-options').disabled")
    assert page.locator("#get-options").inner_text() == "Finding delivery options…"
    assert page.locator("#confirm").is_disabled()
    assert page.locator("#options").get_attribute("aria-busy") == "true"
    route = pending[0]
    route.fulfill(response=route.fetch())
    page.wait_for_function("() => !document.getElementById('get-options').disabled")
    assert page.locator("#get-options").inner_text() == "Show delivery options"
    assert page.locator("#confirm").is_enabled()
    assert page.locator("#options").get_attribute("aria-busy") is None
    assert errors == []


@pytest.mark.parametrize(
    ("items", "dest", "shown"),
    [
        ("TEE:0", "60601", "Item 1 (TEE): the quantity must be at least 1."),
        ("TEE:", "60601", "Item 1 (TEE): the quantity must be a whole number, as in TEE:2."),
        ("TEE:1.5", "60601", "Item 1 (TEE): the quantity must be a whole number, as in TEE:2."),
        ("TEE:1e3", "60601", "Item 1 (TEE): the quantity must be a whole number, as in TEE:2."),
        ("TEE:99999", "60601", "Item 1 (TEE): that is more than one order can take."),
        ("TEE:6000, MUG:1, TEE:5000", "60601", "Item 3 (TEE): together with the other TEE lines, that is more than one order can take."),
        ("TEE:1, HAT:2", "60601", "Item 2 (HAT): we have no such product. Enter items as SKU:QTY, separated by commas."),
        (" , ", "60601", "Your cart is empty: enter at least one item as SKU:QTY, for example TEE:2."),
        (", ".join(["TEE:1"] * 51), "60601", "Your cart has more lines than one order takes (at most 50): place the rest as another order."),
        ("TEE:1", "00601", "Sorry, we don't deliver to ZIP code 00601."),
        ("TEE:1", "6060", "Please enter a US ZIP code (5 digits, or ZIP+4)."),
    ],
)  # fmt: skip
def test_a_cart_or_zip_the_api_refuses_is_explained_in_shopper_words(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter], items: str, dest: str,
    shown: str,
) -> None:  # fmt: skip
    """The page showed the API's field paths and validator words ("field
    'items[0].quantity': Input should be greater than or equal to 1"), took
    "1e3" for 1,000, and told a shopper whose ZIP code is real but outside
    the network (00601, Puerto Rico) to enter a US ZIP code. An empty cart's
    example is a SKU of the network served (its first sample cart's): it was
    the sample network's HOM-0575 on every network."""
    server, _ = refusing_site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.fill("#items", items)
    page.fill("#zip", dest)
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == shown
    assert page.locator("#options .option-card").count() == 0
    assert errors == []


def test_a_long_sku_in_an_error_stays_within_a_phones_width(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """An unknown SKU of 60 letters is named in the error: on a 375 px
    phone the line did not wrap, and the page scrolled sideways to 634 px
    with the error box's text running out of it."""
    server, _ = refusing_site
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    sku = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2 + "01234567"
    page.fill("#items", f"TEE:1, {sku}:1")
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        f"Item 2 ({sku}): we have no such product. "
        "Enter items as SKU:QTY, separated by commas."
    )
    assert page.evaluate("document.documentElement.scrollWidth") == 375
    box = page.evaluate(
        "(() => { const e = document.getElementById('error');"
        " return [e.scrollWidth, e.clientWidth]; })()"
    )
    assert box[0] == box[1], box
    assert errors == []


def test_a_server_error_is_not_shown_as_it_came(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A failing server or proxy (a 500 page of HTML) read "unexpected
    response (500)". (A 502 is asked again: ``test_an_ask_a_gateway_turned_away_is_asked_again``.)"""
    server, _ = refusing_site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.route(
        "**/v1/options",
        lambda route: route.fulfill(status=500, body="<h1>Server error</h1>"),
    )
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "Something went wrong on our side: please try again in a moment."
    )
    assert errors == []


def _another_shopper_holds_the_sofas(client: httpx.Client) -> str:
    """Customer C5 holds both SOFAs (the network's only two) through the API;
    the checkout's request id."""
    cart = {"customer_id": "C5", "items": [{"sku": "SOFA", "quantity": 2}]}
    other = client.post("/v1/options", json={**cart, "dest": "60601"}).json()
    held = client.post(
        f"/v1/checkouts/{other['request_id']}/select",
        json={"option_id": other["recommended"]},
    )
    assert held.status_code == 200, held.text
    return str(other["request_id"])


def test_a_sold_out_cart_says_so_in_plain_words(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Another shopper holds the only two sofas first: Place order said
    "stock was taken since the options were made: ask for options again.".
    (The page's stream is held off: the hold that takes the last units is
    stock news, and the live re-answer raced the click.)"""
    server, _ = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    page.fill("#items", "SOFA:2")
    _ask(page, "C4")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        _another_shopper_holds_the_sofas(client)
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    # the page asks for the checkout's options again (the requote): none now
    assert page.locator("#error").inner_text() == (
        "Sorry, part of your order sold out in the meantime. "
        "No delivery option can be offered for this cart now."
    )
    assert _tiers(page) == []
    assert page.locator("#confirm").is_disabled()
    assert errors == []


def test_a_page_is_told_live_when_another_shopper_takes_the_last_units(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The other side of the race above: with its stream live, the page
    is re-answered as soon as another shopper's hold takes the only two
    sofas, and says so before any click (Place order disabled)."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.fill("#items", "SOFA:2")
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    assert _tiers(page) != []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        _another_shopper_holds_the_sofas(client)
    page.wait_for_function("() => document.body.dataset.revision === '2'")
    assert _tiers(page) == []
    assert page.locator("#confirm").is_disabled()
    assert page.locator("#error").inner_text() == (
        "Sorry, no delivery option can be offered for this cart."
    )
    assert errors == []


def test_a_cart_with_an_item_out_of_stock_everywhere_names_it(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """No node holds three sofas: every tier read "… isn't available: some
    items are out of stock in the quantity you want.", four times, and a
    shopper with tees and sofas in the cart could not tell which item to
    take out. The lines name it."""
    server, _ = refusing_site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.fill("#items", "TEE:1, SOFA:3")
    _ask(page, "C4")
    assert _tiers(page) == []
    assert page.eval_on_selector_all(
        "#missing li", "ls => ls.map(l => l.textContent)"
    ) == [
        f"{label} isn't available: SOFA is out of stock in the quantity you want."
        for label in (
            "Guaranteed next-day",
            "Standard shipping",
            "Lowest price",
            "Ship later",
        )
    ]
    assert page.locator("#error").inner_text() == (
        "Sorry, no delivery option can be offered for this cart."
    )
    assert errors == []


def test_a_sold_out_option_is_offered_again_from_the_stock_left(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Five other shoppers hold ST-CHI's five TEEs first: Place order (Gold
    from ST-CHI, Tue, Jan 6, $10.00) is refused, and the page shows the
    checkout's options requoted on the stock left (Gold from WH-EAST) for
    the next Place order. It said "Please show the delivery options again."
    and kept Place order on the option refused. (The page's stream is held
    off: the fifth hold takes ST-CHI's last TEE, which is stock news.)"""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C4")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for customer in ("C1", "C2", "C3", "C5", "C6"):
            cart = {"customer_id": customer, "items": [{"sku": "TEE", "quantity": 1}]}
            other = client.post("/v1/options", json={**cart, "dest": "60601"}).json()
            gold = next(o for o in other["options"] if o["option_id"] == "gold")
            assert [s["node_id"] for s in gold["shipments"]] == ["ST-CHI"]
            held = client.post(
                f"/v1/checkouts/{other['request_id']}/select",
                json={"option_id": "gold"},
            )
            assert held.status_code == 200, held.text
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "Sorry, part of your order sold out in the meantime: here are your "
        "delivery options now. Check your choice and place your order again."
    )
    assert page.evaluate("document.body.dataset.revision") == "2"
    gold_card = page.locator(".option-card[data-tier='gold']")
    assert gold_card.locator(".when").text_content() == "Arrives Thu, Jan 8"
    assert page.locator("#confirm").inner_text() == "Place order · $13.00"
    assert _placed(page, router) == [["gold", "WH-EAST"]]
    assert errors == []


def _placed(page: Any, router: OnlineRouter) -> list[list[str]]:
    """Place order clicked and confirmed: the store's orders, as (tier, node)."""
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert router.store is not None
    orders = router.store.online_orders()
    return [list(row) for row in orders[["tier", "node_id"]].values.tolist()]


def test_a_select_refused_as_expired_shows_the_checkouts_new_options(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI closes before the live update reaches the page (its stream is
    held off here; the hub requotes open pages within a minute): Place order
    is refused 409 "options expired". The page said "These delivery options
    have expired. Please show the delivery options again." and kept Place
    order on the refused option, which every click had refused the same way.
    It now requotes the checkout and shows the new options, says what moved,
    and the next click places the order."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C4")
    post_events(server.url, OUTAGE)
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "These delivery options have expired: here are the new ones. "
        "Check your choice and place your order again."
    )
    assert _focused(page)["id"] == "error"
    assert page.evaluate("document.body.dataset.revision") == "2"
    assert _tiers(page) == ["gold", "silver"]
    updates = page.eval_on_selector_all(
        "#updates li", "ls => ls.map(l => l.textContent)"
    )
    assert sorted(u.split(": ", 1)[1] for u in updates) == [
        "Lowest price is now available (arrives Sat, Jan 10, $11.00).",
        "Standard shipping now arrives Thu, Jan 8 (was Tue, Jan 6) and costs "
        "$13.00 (was $10.00).",
    ]
    assert page.locator("#confirm").is_enabled()
    assert page.locator("#confirm").inner_text() == "Place order · $13.00"
    assert _placed(page, router) == [["gold", "WH-EAST"]]
    assert page.locator("#error").is_hidden()
    assert errors == []


def test_a_confirm_refused_as_expired_shows_the_checkouts_new_options(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """ST-CHI closes between Place order's select (held there) and its
    confirm: the confirm is refused 409 "options expired", as the select
    would be. The page requotes the checkout and shows the new options, as
    for a refused select, and the next click places the order at WH-EAST
    (the confirm was placed at the closed node until 2026-12-06)."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C4")

    def closing(route: Any) -> None:
        post_events(server.url, OUTAGE)  # after the select's hold, before this
        route.continue_()

    page.route("**/confirm", closing)
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    page.unroute("**/confirm")
    assert page.locator("#error").inner_text() == (
        "These delivery options have expired: here are the new ones. "
        "Check your choice and place your order again."
    )
    assert page.evaluate("document.body.dataset.revision") == "2"
    assert router.store is not None and router.store.online_orders().empty
    assert page.locator("#confirm").inner_text() == "Place order · $13.00"
    assert _placed(page, router) == [["gold", "WH-EAST"]]
    assert errors == []


@pytest.mark.parametrize(
    ("ended", "shown"),
    [
        (
            "lapsed",
            "Your order did not reach us in time, and nothing is ordered: here "
            "are your delivery options now. Check your choice and place your "
            "order again.",
        ),
        (
            "recounted",
            "Sorry, part of your order sold out in the meantime: here are your "
            "delivery options now. Check your choice and place your order again.",
        ),
    ],
)
def test_a_confirm_refused_as_its_hold_ended_is_worded_and_requoted(
    browser: Any, tmp_path: Path, ended: str, shown: str
) -> None:
    """Place order's hold ends between its select and its confirm: it
    lapses (a confirm slower than the hold's TTL, QA 2026-12-07 on a 3 s
    TTL) or a stock recount cuts it (ST-CHI's TEE counted to 0). The
    confirm is refused 409 "hold expired at 2026-…; select an option
    again" (or "hold cut at …: the stock of TEE at ST-CHI was recounted
    …"), which the page showed as it came, an ISO instant and a node id
    before "Please show the delivery options again." Now it is said in
    words and the checkout's options are shown again, as for a confirm
    refused as expired, and the next click places the order."""
    ttl = 1.0 if ended == "lapsed" else 900.0
    errors: list[str] = []
    with live_server(tmp_path, router_kw={"reservation_ttl_s": ttl}) as (
        server,
        router,
    ):
        page = _stream_held_off_page(browser, server.url + "/", errors)
        _ask(page, "C4")

        def ending(route: Any) -> None:
            if ended == "lapsed":
                time.sleep(ttl + 0.2)  # the hold's own TTL, on the wall clock
            else:
                r = httpx.post(
                    server.url + "/v1/stock",
                    json={"mode": "set", "cut_holds": True, "changes": [
                        {"node_id": "ST-CHI", "sku": "TEE", "on_hand": 0}
                    ]},
                    headers={"X-API-Key": API_KEY},
                )  # fmt: skip
                assert r.status_code == 200, r.text
            route.continue_()

        page.route("**/confirm", ending)
        page.click("#confirm")
        page.wait_for_selector("#error:not([hidden])")
        page.unroute("**/confirm")
        assert page.locator("#error").inner_text() == shown
        assert _focused(page)["id"] == "error"
        assert router.store is not None and router.store.online_orders().empty
        assert page.locator("#confirm").is_enabled()
        node = "ST-CHI" if ended == "lapsed" else "WH-EAST"
        assert _placed(page, router) == [["gold", node]]
    assert errors == []


def _wait_for_revision(page: Any, least: int) -> None:
    """Until the page shows answer revision ``least`` or a later one; on
    timeout, an assertion naming the revision and stream state it shows."""
    from playwright.sync_api import TimeoutError as PageTimeout

    try:
        page.wait_for_function(
            f"() => Number(document.body.dataset.revision) >= {least}"
        )
    except PageTimeout:
        shown = page.evaluate(
            "[document.body.dataset.revision,"
            " document.querySelector('#live-status').dataset.state]"
        )
        raise AssertionError(f"revision, stream: {shown}, not {least}+") from None


def test_options_that_come_back_clear_the_sorry_none_line(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Another shopper holds the only two sofas, so the page has no option
    to offer; the hold is cancelled and the next live update brings the
    options back: the page showed them with "Place order" enabled under
    "Sorry, no delivery option can be offered for this cart." still."""
    server, _ = site
    errors: list[str] = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        other = _another_shopper_holds_the_sofas(client)
        page = _page(browser, server.url + "/", errors)
        page.fill("#items", "SOFA:2")
        _ask(page, "C4")
        page.wait_for_selector("#live-status[data-state='live']")
        assert _tiers(page) == []
        assert page.locator("#error").inner_text() == (
            "Sorry, no delivery option can be offered for this cart."
        )
        cancelled = client.post(f"/v1/checkouts/{other}/cancel")
        assert cancelled.status_code == 200, cancelled.text
    post_events(server.url, OUTAGE)  # the map moves: the checkout is re-answered
    # the cancel's stock news re-answers it too: revision 2, or 3 as well
    # before the page was first looked at (it waited for exactly 2 and timed
    # out at 3 under load: a fresh clone's CI run, 2026-12-07; 2 of 30 runs
    # beside two busy loops)
    _wait_for_revision(page, 2)
    assert _tiers(page) != []
    assert page.locator("#error").is_hidden()
    assert page.locator("#confirm").is_enabled()
    assert errors == []


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("America/Los_Angeles", "Capacity as of 1/5/2026, 7:00:00 AM PST."),
        ("Europe/Berlin", "Capacity as of 1/5/2026, 4:00:00 PM GMT+1."),
    ],
)
def test_ops_times_say_their_time_zone(
    browser: Any, site: tuple[RunningServer, OnlineRouter], zone: str, shown: str
) -> None:
    """/ops writes instants in the operator's zone and says which: "Capacity
    as of 1/5/2026, 7:00:00 AM" left a team across zones (and the UTC
    instants of the degraded note) to guess."""
    server, _ = site
    post_events(server.url, OUTAGE)  # ts 2026-01-05T15:00:00Z
    context = browser.new_context(timezone_id=zone)
    try:
        errors: list[str] = []
        ops = context.new_page()
        ops.on("pageerror", lambda exc: errors.append(str(exc)))
        ops.goto(server.url + "/ops")
        ops.wait_for_selector("body[data-ready='1']")
        assert ops.locator("#capacity-asof").inner_text().startswith(shown)
        assert errors == []
    finally:
        context.close()


def test_ops_rounds_no_broken_promise_to_100_percent(
    browser: Any, tmp_path: Path
) -> None:
    """/ops wrote shares whole: the simulated day's Gold, 1,915 of 1,918 kept
    (99.8 %, as the report says), read "100%", and a share under 0.5 % read
    "0%". A share short of all (or above none) now keeps one decimal."""
    out = tmp_path / "sim"
    out.mkdir()
    levels = {"platinum": 1.0, "gold": 0.998436, "silver": 0.9996, "overflow": 0.004}
    policy = {
        "total_cost": 99.5,
        "n_allocated": 3,
        "n_deferred": 0,
        "platinum_on_time_rate": 0.9996,
        "service_level_by_tier": levels,
    }
    summary = {"day": "2026-01-19", "checkouts": 5, "confirmed": 3}
    summary["policies"] = {"cpsat + bid prices": policy}
    (out / "summary.json").write_text(json.dumps(summary))
    with live_server(tmp_path, allocation_dir=out) as (server, _):
        errors: list[str] = []
        ops = _page(browser, server.url + "/ops", errors)
        ops.wait_for_selector("#alloc-plots .chart")
        figures = ops.locator("#alloc-figures .figure").all_inner_texts()
        bars = ops.locator("#alloc-plots .chart").first.inner_html()
        assert errors == []
    assert "99.9%\nPlatinum on time" in figures
    shown = re.findall(r'class="chart-value"[^>]*>([^<]*)<', bars)
    assert shown == ["100%", "99.8%", "99.9%", "0.4%"]


def test_a_stale_maps_note_says_its_instants_in_the_readers_zone(
    browser: Any, tmp_path: Path
) -> None:
    """The degraded note's instants read like the page's own ("1/5/2026,
    5:00:00 AM PST"), on /ops and in the checkout answer's details: the note
    said "(2026-01-05T13:00:00+00:00)" beside "Capacity as of 1/5/2026,
    5:00:00 AM PST", and the checkout's "Capacity as of" was the raw ISO text."""
    old = {"event_id": "old", "ts": "2026-01-05T13:00:00Z", "node_id": "WH-WEST",
           "type": "staffing", "value": 90}  # fmt: skip
    note = (
        "capacity map is stale: its newest event (1/5/2026, 5:00:00 AM PST) "
        "is 2.0 h old, over the 60 min allowed"
    )
    kw = {"capacity_max_age_s": 3600.0}  # the pinned clock is 15:00 UTC
    with live_server(tmp_path, router_kw=kw) as (server, _):
        post_events(server.url, old)
        context = browser.new_context(
            timezone_id="America/Los_Angeles", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        try:
            errors: list[str] = []
            ops = _zoned_page(context, server.url + "/ops", errors)
            shown = ops.locator("#capacity-asof").inner_text()
            assert shown.startswith("Capacity as of 1/5/2026, 5:00:00 AM PST.")
            assert shown.endswith(f"Degraded: {note}")
            page = _zoned_page(context, server.url + "/", errors)
            _ask(page, "C4")
            page.click("#answer-details summary")
            info = page.locator("#answer-info")
            assert info.locator("dt:text-is('Capacity as of') + dd").inner_text() == (
                "1/5/2026, 5:00:00 AM PST"
            )
            assert info.locator("dt:text-is('Degraded') + dd").inner_text() == note
            assert errors == []
        finally:
            context.close()


def _zoned_page(context: Any, url: str, errors: list[str]) -> Any:
    """A page of a context (its own time zone), loaded and ready."""
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_a_stream_refused_for_good_does_not_say_reconnecting(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A stream answered 404 (its checkout over, a quote gone while the
    laptop slept) is not retried by the browser: the page said
    "reconnecting…" for ever."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.route(
        "**/v1/stream*",
        lambda route: route.fulfill(
            status=404, content_type="application/json", body='{"error": "not_found"}'
        ),
    )
    _ask(page, "C4")
    page.wait_for_selector("body[data-stream-ended='1']")
    assert page.locator("#live-status").inner_text() == "live updates off"
    assert errors == []


def test_a_checkout_found_over_when_its_stream_comes_back_cannot_be_ordered(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The page's stream is away (a laptop asleep, a dropped connection)
    while the checkout is confirmed in another tab; when it comes back the
    server refuses it 404, and no ``closed`` event tells the page. It said
    "live updates off" alone, Place order on, which could only be refused.
    It says the checkout is over and what to do, and takes no order from
    it; "Show delivery options" starts a new one."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C4")
    rid = page.evaluate("document.body.dataset.requestId")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.status_code == 200, held.text
        assert client.post(f"/v1/checkouts/{rid}/confirm").status_code == 200
    page.unroute("**/v1/stream*")  # the stream comes back: 404, the checkout over
    page.wait_for_selector("body[data-stream-ended='1']")
    assert page.locator("#error").inner_text() == (
        "This checkout is no longer open: it was completed or closed elsewhere "
        "(another tab or window), or its delivery options expired. Show the "
        "delivery options again to start a new one."
    )
    assert page.locator("#confirm").is_disabled()
    assert page.locator("#option-gold").is_disabled()
    assert page.evaluate("document.body.dataset.closed") == "1"
    assert router.store is not None
    assert len(router.store.online_orders()) == 1  # the other tab's alone
    _ask(page, "C4")  # a new checkout, open: its order can be placed
    assert page.locator("#error").is_hidden()
    assert page.locator("#confirm").is_enabled()
    assert errors == []


def test_an_order_whose_answer_was_lost_is_shown_placed_when_its_stream_is_refused(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The confirm places the order and its answer is lost while the
    stream is away too; the stream comes back refused 404 (this page's own
    order ended the checkout). The page asks the confirm again and shows
    the order placed, not "no longer open", which invited it twice."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _confirm_answer_lost(page)
    page.unroute("**/confirm")
    page.unroute("**/v1/stream*")
    _shows_gold_placed(page, router)
    assert page.evaluate("document.body.dataset.streamEnded") == "1"
    assert page.evaluate("document.body.dataset.closed") is None
    assert errors == []


def _focused(page: Any) -> dict[str, str | None]:
    """The focused element: its id and what it says to a screen reader
    (``role``, ``aria-live``)."""
    focused: dict[str, str | None] = page.evaluate(
        """() => {
        const f = document.activeElement;
        return {id: f.id, role: f.getAttribute('role'),
                live: f.getAttribute('aria-live')};
    }"""
    )
    return focused


def test_the_live_status_dot_is_not_spoken(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The coloured dot before "live updates on" is drawn by the style
    sheet; a screen reader read it as part of the status ("black circle
    live updates on"), on the checkout page and on /ops. Its text
    alternative is empty now, as /ops's sort arrows' are."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.wait_for_selector("#live-status[data-state='live']")
    assert page.locator("#live-status").aria_snapshot() == "- status: live updates on"
    dot = "el => getComputedStyle(el, '::before').content"
    assert page.eval_on_selector("#live-status", dot) == '"● " / ""'  # still drawn
    ops = _page(browser, server.url + "/ops", errors)
    ops.wait_for_selector("#live-status[data-state='live']")
    assert ops.locator("#live-status").aria_snapshot() == "- status: live updates on"
    assert errors == []


def test_placing_an_order_moves_the_focus_to_the_spoken_confirmation(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Place order pressed from the keyboard: the focus is on the
    confirmation, a polite live region. The button is disabled meanwhile, so
    the focus fell to the page's body and a screen reader said nothing."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.focus("#confirm")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert _focused(page) == {"id": "confirmation", "role": "status", "live": "polite"}
    assert page.evaluate("document.activeElement.textContent").startswith(
        "Thank you, your order is placed."
    )
    assert errors == []


def test_an_error_placing_an_order_takes_the_focus_and_is_spoken(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Place order answered with an error: the focus is on the error, an
    alert (it fell to the page's body while the button was disabled)."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    _ask(page, "C4")
    page.route("**/confirm", lambda route: route.fulfill(status=503, body="{}"))
    page.focus("#confirm")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert _focused(page) == {"id": "error", "role": "alert", "live": None}
    assert page.evaluate("document.activeElement.textContent") == (
        "The store is busy right now: please try again in a moment."
    )
    assert errors == []


def test_a_hung_server_is_given_up_on_and_the_buttons_come_back(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A server that never answers (held here; QA stopped it with SIGSTOP):
    ``api()`` set no timeout, so "Finding delivery options…" and "Placing
    your order…" stayed on screen for ever. Past the page's 15 s (its clock
    run forward) the call is given up on, the shopper is told, and both
    buttons are back (an ask for options is asked again under its key,
    ``test_an_ask_that_timed_out_is_asked_again_under_its_key``)."""
    server, _ = site
    errors: list[str] = []
    page = _new_page(browser, errors)
    page.clock.install()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    held: list[Any] = []
    page.route("**/v1/options", lambda route: held.append(route))  # never answered
    page.click("#get-options")
    page.wait_for_function("() => document.getElementById('get-options').disabled")
    page.clock.run_for(14_000)
    assert page.locator("#get-options").inner_text() == "Finding delivery options…"
    page.clock.run_for(1_100)  # past 15 s, not the 0.5 s before the next try
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "The store is not responding: trying again in 0.5 s."
    )
    assert page.locator("#get-options").is_enabled()
    assert page.locator("#get-options").inner_text() == "Show delivery options"
    page.unroute("**/v1/options")
    _ask(page, "C4")
    page.route("**/confirm", lambda route: held.append(route))  # never answered
    page.click("#confirm")
    page.wait_for_function(
        "() => document.getElementById('confirm').textContent === 'Placing your order…'"
    )
    page.clock.run_for(16_000)
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "The store is not responding: please try again."
    )
    assert page.locator("#confirm").is_enabled()
    assert page.locator("#confirm").inner_text() == "Place order · $10.00"
    assert errors == []


def _server_on(port: int) -> Callable[[OnlineRouter], Any]:
    """A server of a router on ``port``, its clock pinned and its live hub
    polling fast: the tests of a server that goes away and comes back on
    the same port."""

    def serve(router: OnlineRouter) -> Any:
        app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
        return serve_in_thread(app, port=port)

    return serve


def _clocked_page_of_a_server_gone(
    browser: Any, tmp_path: Path, errors: list[str]
) -> tuple[Any, int]:
    """A page loaded from a server on a free port with its clock installed
    (the test runs it forward), and the port, the server stopped."""
    port = free_port()
    with tiny_router(tmp_path) as router, _server_on(port)(router) as server:
        page = _new_page(browser, errors)
        page.clock.install()
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
    return page, port


def test_what_changed_while_the_server_was_down_is_announced(
    browser: Any, tmp_path: Path
) -> None:
    """ST-CHI closes while the server is down (logged to the store, as
    ``tierflow capacity ingest`` does). The restarted server no longer has
    the page's answer: its ``options`` event lists no changes, and the page
    showed Gold's new date and price and a new option without a word. The
    page works out what moved from the answer it showed and says it as it
    says a live change."""
    port = free_port()
    errors: list[str] = []
    serve = _server_on(port)

    with tiny_router(tmp_path) as first, serve(first) as server:
        page = _page(browser, server.url + "/", errors)
        _ask(page, "C4")
        page.wait_for_selector("#live-status[data-state='live']")
        assert _tiers(page) == ["gold"]
    page.wait_for_selector("#live-status[data-state='reconnecting']")
    # said in a live region: a screen reader heard nothing of the dates and
    # prices on screen no longer being kept up to date
    assert page.get_by_role("status").filter(has_text="reconnecting…").count() == 1
    with tiny_router(tmp_path, scores=False) as ingest:
        ingest.apply_capacity_events([OUTAGE], received=MONDAY_10)
    with tiny_router(tmp_path, scores=False) as second, serve(second):
        _revision(page, 2)
        gold = page.locator(".option-card[data-tier='gold']")
        assert gold.locator(".price").text_content() == "$13.00"
        assert "changed" in (gold.locator(".price").get_attribute("class") or "")
        updates = page.eval_on_selector_all(
            "#updates li", "ls => ls.map(l => l.textContent)"
        )
        assert sorted(u.split(": ", 1)[1] for u in updates) == [
            "Lowest price is now available (arrives Sat, Jan 10, $11.00).",
            "Standard shipping now arrives Thu, Jan 8 (was Tue, Jan 6) and costs "
            "$13.00 (was $10.00).",
        ]
    assert errors == []


def test_the_server_back_takes_away_the_line_that_it_could_not_be_reached(
    browser: Any, tmp_path: Path
) -> None:
    """Place order while the server is down says the store could not be
    reached. When it is back (the checkout's stream open again, "live
    updates on"), that line went on standing under options kept live, as if
    the store were still away; it goes, the focus it held passes to Place
    order, and the order is placed."""
    port = free_port()
    errors: list[str] = []
    serve = _server_on(port)

    with tiny_router(tmp_path) as first, serve(first) as server:
        page = _page(browser, server.url + "/", errors)
        _ask(page, "C4")
        page.wait_for_selector("#live-status[data-state='live']")
    page.wait_for_selector("#live-status[data-state='reconnecting']")
    page.click("#confirm")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == (
        "The store could not be reached: check your connection and try again."
    )
    assert _focused(page)["id"] == "error"
    with tiny_router(tmp_path, scores=False) as second, serve(second):
        page.wait_for_selector("#live-status[data-state='live']")
        page.wait_for_selector("#error", state="hidden")
        assert _focused(page)["id"] == "confirm"
        assert _placed(page, second) == [["gold", "ST-CHI"]]
    assert errors == []


def _quotes(folder: Path) -> int:
    """How many option sets the store at ``folder / "state.db"`` holds."""
    with sqlite3.connect(folder / "state.db") as db:
        (n,) = db.execute("SELECT COUNT(*) FROM quotes").fetchone()
    return int(n)


def test_options_asked_while_the_server_is_down_come_when_it_is_back(
    browser: Any, tmp_path: Path
) -> None:
    """Options asked while the server is down (a replica restarting) said
    the store could not be reached, and the page waited for a click once it
    was back. It says it is trying again and asks again itself (0.5 s, then
    doubling to 10 s): the options come within a try of the server's return,
    for the order asked (a ZIP code typed meanwhile is not sent half typed:
    the page says the order changed), and the tries that never reached it
    made no option set."""
    port = free_port()
    errors: list[str] = []
    serve = _server_on(port)

    with tiny_router(tmp_path) as first, serve(first) as server:
        page = _new_page(browser, errors)
        page.clock.install()  # the tries' waits run forward, not waited out
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
    answered: list[int] = []
    page.on(
        "response",
        lambda r: answered.append(r.status) if r.url.endswith("/v1/options") else None,
    )
    page.select_option("#customer", "C4")
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == (
        "The store could not be reached: trying again in 0.5 s."
    )
    for attempt, wait_ms in ((2, 500), (3, 1000)):
        page.clock.run_for(wait_ms)
        page.wait_for_function(
            "n => document.body.dataset.askRetry === String(n)", arg=attempt
        )
    assert page.inner_text("#error") == (
        "The store could not be reached: trying again in 2 s."
    )
    page.fill("#zip", "10001")  # typed while the page tries again
    with tiny_router(tmp_path, scores=False) as second, serve(second):
        page.clock.run_for(2000)
        page.wait_for_selector("#options .option-card")
        assert _tiers(page) == ["gold"]
        assert page.locator("#error").is_hidden()
        assert page.input_value("#zip") == "10001"
        assert page.evaluate("document.body.dataset.edited") == "1"
        assert page.locator("#confirm").is_disabled()
        assert answered == [200]
        assert _quotes(tmp_path) == 1
        page.fill("#zip", "60601")
        assert _placed(page, second) == [["gold", "ST-CHI"]]
    assert errors == []


def test_options_are_asked_again_a_bounded_number_of_times(
    browser: Any, tmp_path: Path
) -> None:
    """A server that stays down is asked 8 times more, further apart each
    time up to 10 s (its clock run forward here), then the page stops and
    says so as it did, for the shopper to try again."""
    errors: list[str] = []
    page, _ = _clocked_page_of_a_server_gone(browser, tmp_path, errors)
    sent: list[str] = []
    page.on(
        "request",
        lambda r: sent.append(r.url) if r.url.endswith("/v1/options") else None,
    )
    page.click("#get-options")
    waits: list[float] = []
    for attempt in range(1, 9):
        page.wait_for_function(
            "n => document.body.dataset.askRetry === String(n)", arg=attempt
        )
        wait = float(re.findall(r"in ([\d.]+) s", page.inner_text("#error"))[0])
        waits.append(wait)
        page.clock.run_for(int(wait * 1000))
    page.wait_for_function("() => document.body.dataset.askRetry === ''")
    assert waits == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert page.inner_text("#error") == (
        "The store could not be reached: check your connection and try again."
    )
    page.clock.run_for(60_000)
    assert len(sent) == 9
    assert page.evaluate("document.body.dataset.askRetry") == ""
    assert page.locator("#get-options").is_enabled()
    assert errors == []


@contextmanager
def _silent_listener(port: int) -> Iterator[None]:
    """A server on ``port`` that takes every connection and reads what it is
    sent, and never answers (a hung process keeps its socket open so)."""
    listener = socket.create_server(("127.0.0.1", port), backlog=64)
    stop = threading.Event()

    def run() -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    if sock is listener:
                        conn, _ = listener.accept()
                        sel.register(conn, selectors.EVENT_READ)
                    elif not sock.recv(65536):  # the page closed it (aborted)
                        sel.unregister(sock)
                        sock.close()
            for key in list(sel.get_map().values()):
                if key.fileobj is not listener:
                    key.fileobj.close()  # type: ignore[union-attr]

    thread = threading.Thread(target=run, name="silent-listener", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_asks_to_a_hung_server_are_given_up_within_the_retry_deadline(
    browser: Any, tmp_path: Path
) -> None:
    """A server that takes the connection and never answers: each try of the
    ask waited the page's 15 s before it counted as failed, so "trying
    again" stood about 3 minutes (8 tries of 15 s and the 45 s of waits),
    not the ~45 s the schedule says. The tries stop 60 s after the first
    failure (``ASK_RETRY_DEADLINE_MS``; the last try's timeout cut to what
    is left), with the give-up message (the page's clock run forward)."""
    errors: list[str] = []
    page, port = _clocked_page_of_a_server_gone(browser, tmp_path, errors)
    with _silent_listener(port):
        page.click("#get-options")
        page.wait_for_function("() => document.getElementById('get-options').disabled")
        page.clock.run_for(15_100)  # the first ask's own API_TIMEOUT_MS
        page.wait_for_function("() => document.body.dataset.askRetry === '1'")
        assert page.inner_text("#error") == (
            "The store is not responding: trying again in 0.5 s."
        )
        first: int = page.evaluate("Date.now()")
        tries = "1"
        elapsed = 0
        while tries and elapsed < 90_000:
            page.clock.run_for(250)
            tries, now = page.evaluate("[document.body.dataset.askRetry, Date.now()]")
            elapsed = now - first
        assert tries == "", f"still trying {elapsed} ms after the first failure"
        assert 59_000 <= elapsed <= 62_000, elapsed
        assert page.inner_text("#error") == (
            "The store is not responding: please try again."
        )
        assert page.locator("#get-options").is_enabled()
    assert errors == []


def _checkout_in_store(folder: Path, request_id: str) -> tuple[str, int]:
    """The checkout's status in the store at ``folder / "state.db"`` and the
    units held in it all (open checkouts' holds)."""
    with sqlite3.connect(folder / "state.db") as db:
        (status,) = db.execute(
            "SELECT status FROM checkouts WHERE request_id = ?", (request_id,)
        ).fetchone()
        (held,) = db.execute(
            "SELECT COALESCE(SUM(reserved), 0) FROM inventory"
        ).fetchone()
    return str(status), int(held)


def test_the_checkout_an_ask_left_behind_is_cancelled_when_the_server_is_back(
    browser: Any, tmp_path: Path
) -> None:
    """The shopper's option is held; the server goes down, the cart is
    changed and options asked again: the page cancels the checkout shown,
    and with the server down the cancel failed and was never sent again,
    the hold kept until it expired (30 minutes). It goes with the ask's
    tries: the old checkout is cancelled and its stock given back within
    seconds of the server's return."""
    port = free_port()
    errors: list[str] = []
    serve = _server_on(port)

    with tiny_router(tmp_path) as first, serve(first) as server:
        page = _page(browser, server.url + "/", errors)
        _ask(page, "C4")
        old = page.evaluate("document.body.dataset.requestId")
        with httpx.Client(base_url=server.url, timeout=10) as client:
            held = client.post(
                f"/v1/checkouts/{old}/select",
                json={"option_id": page.evaluate("document.body.dataset.selected")},
            )
        assert held.status_code == 200, held.text
        assert _checkout_in_store(tmp_path, old) == ("held", 1)
    page.fill("#items", "TEE:2")  # the cart changed while the server is down
    page.click("#get-options")
    page.wait_for_function("() => document.body.dataset.askRetry === '1'")
    with tiny_router(tmp_path, scores=False) as second, serve(second):
        back = time.monotonic()
        while _checkout_in_store(tmp_path, old) != ("cancelled", 0):
            assert time.monotonic() - back < 8, _checkout_in_store(tmp_path, old)
            time.sleep(0.1)
        page.wait_for_selector("#options .option-card")
        assert page.evaluate("document.body.dataset.requestId") != old
    assert errors == []


def _keys(page: Any) -> list[str | None]:
    """The ``Idempotency-Key`` of each ``/v1/options`` the page sends, as
    it sends them."""
    keys: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            keys.append(r.headers.get("idempotency-key"))
            if r.url.endswith("/v1/options")
            else None
        ),
    )
    return keys


def test_an_ask_a_gateway_turned_away_is_asked_again(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A 503 (a gateway with no server up: /v1/options itself never answers
    503) or a 502 is asked again, under the ask's one key; the next ask has
    a new key. (Until 2026-12-07 a 502 was not asked again: the server may
    have made the option set, and a second ask made another.)"""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    keys = _keys(page)
    statuses = [503, 502]

    def gateway(route: Any) -> None:
        if statuses:
            route.fulfill(status=statuses.pop(0), body="<h1>Unavailable</h1>")
        else:
            route.continue_()

    page.route("**/v1/options", gateway)
    page.click("#get-options")
    page.wait_for_selector("#options .option-card")
    assert statuses == []
    assert page.locator("#error").is_hidden()
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1, keys
    assert re.fullmatch(r"[0-9a-f-]{36}", keys[0] or "")
    page.click("#get-options")
    page.wait_for_function("() => document.body.dataset.askRetry === ''")
    page.wait_for_selector("#options .option-card")
    assert len(keys) == 4 and keys[3] not in keys[:3], keys
    assert errors == []


def test_an_ask_that_timed_out_is_asked_again_under_its_key(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A timed-out ask may have made an option set on the server: the page
    asks again under the same key, and the server answers the set the lost
    answer carried (same request id). Until 2026-12-07 it was not asked
    again (the shopper asked, and a second option set was made)."""
    server, _ = site
    errors: list[str] = []
    page = _new_page(browser, errors)
    page.clock.install()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    keys = _keys(page)
    lost: list[dict[str, Any]] = []

    def lose_the_first(route: Any) -> None:
        if lost:
            route.continue_()
        else:  # the server answers; the answer never reaches the page (a
            # request of the test's: a route.fetch() left the next ask unrouted)
            sent = route.request
            made = httpx.post(
                sent.url,
                content=sent.post_data_buffer,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": sent.headers["idempotency-key"],
                },
            )
            lost.append(made.json())

    page.route("**/v1/options", lose_the_first)
    page.click("#get-options")
    page.wait_for_function("() => document.getElementById('get-options').disabled")
    page.clock.run_for(15_100)  # API_TIMEOUT_MS, not the 0.5 s after it
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == (
        "The store is not responding: trying again in 0.5 s."
    )
    answer = lost[0]
    page.clock.run_for(600)
    page.wait_for_selector("#options .option-card")
    assert page.evaluate("document.body.dataset.requestId") == answer["request_id"]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    assert errors == []


def _hold_the_page_clock(page: Any) -> None:
    """Stop the page's clock (installed before its load) half a second on
    from where it is (a pause cannot go back, and the clock runs on while
    the call travels): its timers stand still, as a laptop's asleep, while
    the server's go on."""
    now_ms = page.evaluate("Date.now()") + 500
    page.clock.pause_at(dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC))


def test_a_checkout_whose_options_expired_is_told_so(
    browser: Any, tmp_path: Path
) -> None:
    """The page is left open past the options' expiry (3 s here, 30 min by
    default), its own clock held (so its expiry timer does not tell it
    first); the next re-answer finds them expired and the stream's
    ``closed`` event says why (``why: "expired"``): the page said "This
    checkout is no longer open (it was completed or closed elsewhere)".
    New options are offered."""
    errors: list[str] = []
    with live_server(tmp_path, router_kw={"quote_ttl_s": 3.0}) as (server, _):
        page = _new_page(browser, errors)
        page.clock.install()
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
        _ask(page, "C4")
        page.wait_for_selector("#live-status[data-state='live']")
        _hold_the_page_clock(page)
        time.sleep(3.2)  # the options expire
        post_events(server.url, OUTAGE)  # the map moves: the checkout is re-answered
        page.wait_for_selector("body[data-closed='1']")
        assert page.locator("#error").inner_text() == (
            "These delivery options have expired: show the delivery options again."
        )
        assert page.locator("#confirm").is_disabled()
        assert page.locator("#requote").is_visible()
    assert errors == []


def test_options_left_open_past_their_expiry_say_so_and_offer_new_ones(
    browser: Any, tmp_path: Path
) -> None:
    """A page left open past its options' expiry (2 s here, 30 min by
    default) says so at their ``expires_at``, by its own timer: it heard of
    it from the server's next re-answer alone (up to a minute late; never
    with its stream away, as here, which keeps the server from telling it
    first), and Place order meanwhile was refused "options expired".
    Place order and
    the options go off, the focus that was on them goes to "Show new
    delivery options", and Enter there asks again: the shopper's own pick
    stays, and the order is placed."""
    errors: list[str] = []
    with live_server(tmp_path, router_kw={"quote_ttl_s": 2.0}) as (server, router):
        page = _stream_held_off_page(browser, server.url + "/", errors)
        _ask(page, "C9")  # Platinum and Gold
        first = page.evaluate("document.body.dataset.requestId")
        own = (
            "gold"
            if page.evaluate("document.body.dataset.recommended") != "gold"
            else "platinum"
        )
        page.click(f".option-card[data-tier='{own}'] .option-main")
        assert _focused(page)["id"] == f"option-{own}"
        assert page.locator("#requote").is_hidden()
        page.wait_for_selector("body[data-closed='1']", timeout=5_000)
        assert page.evaluate("document.body.dataset.closedWhy") == "expired"
        assert page.locator("#error").inner_text() == (
            "These delivery options have expired: show the delivery options again."
        )
        assert page.locator("#confirm").is_disabled()
        assert page.locator(f"#option-{own}").is_disabled()
        assert _focused(page)["id"] == "requote"
        assert page.locator("#requote").inner_text() == "Show new delivery options"
        page.keyboard.press("Enter")
        page.wait_for_function(
            "prev => (document.body.dataset.requestId || '') !== prev", arg=first
        )
        assert page.locator("#requote").is_hidden()
        assert page.locator("#error").is_hidden()
        assert page.locator(f"#option-{own}").is_checked()
        assert (
            page.locator("#selection-note")
            .inner_text()
            .endswith(
                "your choice. We recommend "
                + page.locator(
                    ".option-card[data-recommended='true'] .benefit"
                ).inner_text()
                + "."
            )
        )
        page.click("#confirm")
        page.wait_for_selector("#confirmation:not([hidden])")
        assert page.get_attribute("#confirmation", "data-tier") == own
        assert router.store is not None
        assert router.store.online_orders()["tier"].tolist() == [own]
    assert errors == []


def test_a_place_order_on_expired_options_leaves_no_order_to_place(
    browser: Any, tmp_path: Path
) -> None:
    """The page is left open past the options' expiry with no live update
    to tell it (its stream held off here) and its expiry timer late (its
    clock held, as a laptop's asleep): Place order is refused 409, and the
    requote too. The page said so but kept Place order on, which was
    refused the same way at every click. New options are offered."""
    errors: list[str] = []
    with live_server(tmp_path, router_kw={"quote_ttl_s": 3.0}) as (server, _):
        page = _new_page(browser, errors)
        page.clock.install()
        page.route("**/v1/stream*", lambda route: route.abort())
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
        _ask(page, "C4")
        _hold_the_page_clock(page)
        time.sleep(3.2)  # the options expire
        page.click("#confirm")
        page.wait_for_selector("#error:not([hidden])")
        assert page.locator("#error").inner_text() == (
            "These delivery options have expired. Please show the delivery options again."
        )
        assert page.locator("#confirm").is_disabled()
        assert page.locator("#option-gold").is_disabled()
        assert _focused(page)["id"] == "error"
        assert page.locator("#requote").is_visible()
    assert errors == []


def test_the_samples_are_loaded_again_after_a_failure(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """``GET /v1/samples`` fails twice, then works: the page says so while it
    tries again and then fills its lists. It tried once, left the customer
    and cart lists empty, and "Show delivery options" then showed
    "field 'customer_id': value '': String should have at least 1
    character"."""
    server, _ = site
    errors: list[str] = []
    failures = [2]

    def flaky(route: Any) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            route.fulfill(status=500, content_type="application/json", body="{}")
        else:
            route.continue_()

    page = _new_page(browser, errors)
    page.clock.install()  # the tries' waits are skipped, not sat through
    page.route("**/v1/samples", flaky)
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-samples='retrying']")
    shown = page.locator("#error").inner_text()  # 1 s, or 2 s at the next try
    assert re.fullmatch(
        r"The sample customers and carts could not be loaded \(something went "
        r"wrong on our side\): trying again in [12] s\.",
        shown,
    ), shown
    page.clock.fast_forward(1_000)
    page.wait_for_function(
        "() => document.getElementById('error').textContent"
        ".endsWith('trying again in 2 s.')"
    )
    page.clock.fast_forward(2_000)
    page.wait_for_selector("body[data-samples='loaded']")
    assert page.locator("#error").is_hidden()
    values = page.eval_on_selector_all("#customer option", "os => os.map(o => o.value)")
    assert values == ["C9", "C4", "NEW-CUSTOMER"]
    assert page.locator("#cart-preset option").count() > 0
    assert errors == []


@pytest.mark.parametrize(
    ("customer", "items", "answer", "shown"),
    [
        ("", "TEE:1", None, "Choose a customer."),
        ("x" * 5000, "TEE:1", None, "That customer id is not valid: letters A-Z a-z, digits 0-9 and _.:- only, up to 64 characters."),
        ("Ünïcödé-客户", "TEE:1", None, "That customer id is not valid: letters A-Z a-z, digits 0-9 and _.:- only, up to 64 characters."),
        ("C4", "TEE:1," + "X" * 70_000, None, "Your order is too large to send: remove some items and try again."),
        ("C4", "TEE:1", 404, "The store could not find what this page asked for: please reload the page."),
        ("C4", "TEE:1", 429, "Too many requests right now: please wait a moment and try again."),
    ],
)  # fmt: skip
def test_a_customer_id_or_an_answer_the_shopper_cannot_act_on_is_worded(
    browser: Any, refusing_site: tuple[RunningServer, OnlineRouter], customer: str,
    items: str, answer: int | None, shown: str,
) -> None:  # fmt: skip
    """A missing or invalid customer id showed the validator's words, the
    id echoed whole and the pattern as a regex; a body over the size limit
    (413), a 404 or a 429 (a proxy's) showed the API's or the proxy's text."""
    server, _ = refusing_site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.evaluate(
        """(c) => { const s = document.getElementById('customer');
        s.append(new Option('qa', c)); s.value = c; }""",
        customer,
    )
    if answer is not None:
        page.route(
            "**/v1/options",
            lambda route: route.fulfill(
                status=answer, content_type="text/plain", body="slow down"
            ),
        )
    page.fill("#items", items)
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == shown
    assert errors == []


def test_ops_says_an_event_was_not_sent_when_the_server_is_down(
    browser: Any, tmp_path: Path
) -> None:
    """The server stops with /ops open: Apply event read "Refused (0):
    network error: TypeError: Failed to fetch"."""
    errors: list[str] = []
    with live_server(tmp_path) as (server, _):
        ops = _page(browser, server.url + "/ops", errors)
    ops.fill("#api-key", API_KEY)
    ops.select_option("#event-kind", "outage")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='0']")
    assert ops.locator("#inject-result").inner_text() == (
        "Not sent: the server could not be reached."
    )
    # the live map stopped: said in a live region (a screen reader heard
    # nothing of it)
    reconnecting = ops.get_by_role("status").filter(has_text="reconnecting…")
    assert reconnecting.count() == 1
    assert errors == []


def test_ops_says_its_load_failed_and_tries_again(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """/v1/capacity and the stream answer 503 as /ops loads: the page was
    blank, with no word, for good (the browser does not retry a refused
    stream). The capacity line says what failed; the load and the stream
    are tried again, and the page fills once the server answers.
    The page's clock skips the back-off's seconds (waited for, they were
    most of the test's time): the waits are said, not sat through."""
    server, _ = site
    errors: list[str] = []
    page = _new_page(browser, errors)
    page.clock.install()
    unavailable = json.dumps(
        {"error": "unavailable", "message": "state store unavailable"}
    )
    for url in ("**/v1/capacity", "**/v1/stream*"):
        page.route(
            url,
            lambda route: route.fulfill(
                status=503, content_type="application/json", body=unavailable
            ),
        )
    page.goto(server.url + "/ops")
    page.wait_for_selector("body[data-ready='1']")
    shown = page.locator("#capacity-asof").inner_text()  # 2 s, or 4 s next
    assert re.fullmatch(
        r"Capacity could not be loaded \(503: state store unavailable\): "
        r"trying again in [24] s\.",
        shown,
    ), shown
    page.wait_for_selector("#live-status[data-state='off']")
    assert page.locator("#nodes tbody tr").count() == 0
    page.unroute("**/v1/capacity")
    page.unroute("**/v1/stream*")
    # both tries are due within the longest wait said (or 8 s, were one more
    # failed try made meanwhile); each fires at most once, and a call in
    # flight is not given up on (15 s)
    page.clock.fast_forward(8_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#nodes tbody tr').length === 3"
    )
    assert (
        page.locator("#capacity-asof")
        .inner_text()
        .startswith("Capacity: no events yet. ")
    )
    assert page.locator("#map [data-node-id]").count() == 3
    page.wait_for_selector("#live-status[data-state='live']", timeout=20_000)
    assert errors == []


def test_enter_asks_for_options_and_the_focus_goes_to_the_answer(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Enter in the ZIP or items field asks for options (it did nothing);
    the focus then goes to the options' heading, or to the error with the
    ZIP field marked invalid when the ZIP is wrong: the button is disabled
    while the options load, and the focus fell to the page's body."""
    server, _ = site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors)
    page.fill("#zip", "60601")
    page.focus("#zip")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-request-id]")
    assert _focused(page)["id"] == "options-heading"
    page.fill("#zip", "ABC")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert _focused(page) == {"id": "error", "role": "alert", "live": None}
    assert page.get_attribute("#zip", "aria-invalid") == "true"
    first = page.evaluate("document.body.dataset.requestId")
    page.fill("#zip", "60601")
    page.focus("#items")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "prev => document.body.dataset.requestId !== prev && "
        "!document.getElementById('get-options').disabled",
        arg=first,
    )
    assert _focused(page)["id"] == "options-heading"
    assert page.get_attribute("#zip", "aria-invalid") is None
    assert page.locator("#error").is_hidden()
    assert errors == []


def test_an_open_ops_page_says_how_old_a_stale_map_is_now(
    browser: Any, tmp_path: Path
) -> None:
    """The map is stale (its newest event 2 h old, 1 h allowed) and ages
    with /ops open: the note kept its first age ("is 2.0 h old" an hour
    later), since getting older sends no event. The page reads the map
    again while it is degraded."""
    old = {"event_id": "old", "ts": "2026-01-05T13:00:00Z", "node_id": "WH-WEST",
           "type": "staffing", "value": 90}  # fmt: skip
    later = [dt.timedelta(0)]
    kw = {"capacity_max_age_s": 3600.0}
    errors: list[str] = []
    with live_server(tmp_path, router_kw=kw, clock=lambda: MONDAY_10 + later[0]) as (
        server,
        _,
    ):
        post_events(server.url, old)
        ops = _new_page(browser, errors)
        ops.clock.install()
        ops.goto(server.url + "/ops")
        ops.wait_for_selector("body[data-ready='1']")
        assert "is 2.0 h old" in ops.locator("#capacity-asof").inner_text()
        later[0] = dt.timedelta(hours=1)
        # the page's next read is 5 s on (DEGRADED_POLL_S): its clock skips
        # them (the age said is the server's answer's, not the page clock's)
        ops.clock.fast_forward(5_000)
        ops.wait_for_function(
            "() => document.getElementById('capacity-asof').textContent"
            ".includes('is 3.0 h old')"
        )
    assert errors == []


def test_the_ship_later_card_says_what_waiting_saves_against_the_others(
    browser: Any, tmp_path: Path
) -> None:
    """Every node 90 % backlogged: the page offers "Ship later". Its card's
    label says "save $X"; its perk said the same again ("You save $X by
    waiting") where it can say what is new: the price is at least $X below
    every other option shown, each of which ships sooner."""
    with live_server(tmp_path) as (server, router):
        for i, node in enumerate(router.network.node_ids):
            cap = float(router.network.capacity[i])
            apply_event(router, node, "backlog", 0.9 * cap, i)
        errors: list[str] = []
        page = _page(browser, server.url + "/", errors)
        _ask(page, page.eval_on_selector("#customer option", "o => o.value"))
        assert "overflow" in _tiers(page)
        card = "#options .option-card[data-tier='overflow']"
        perks = page.inner_text(f"{card} [data-field='perks']")
        label = page.inner_text(card)
        saving = re.search(r"save (\$\d+\.\d\d)", label)
        assert saving is not None, label
        assert perks.startswith(
            f"At least {saving.group(1)} less than every option that ships sooner"
        ), perks
        assert errors == []


def test_ops_says_how_often_this_servers_workers_were_restarted(
    browser: Any, tmp_path: Path
) -> None:
    """``tierflow serve --workers 2``: /ops says 0 worker restarts, then 1
    once a worker was killed and started again, and that the count is the
    answering server's, not the fleet's. Only ``/metrics`` said it
    (``tierflow_worker_restarts_total``): an operator on /ops saw nothing
    of a worker crashing in a loop."""
    from tests.cli.test_serve import _children, _two_workers, _wait_for, _wait_up

    proc, base, log = _two_workers(tmp_path, {}, "--no-pin-cpus")
    errors: list[str] = []
    try:
        _wait_up(base, log)
        ops = _page(browser, base + "/ops", errors)
        ops.wait_for_selector("#worker-restarts[data-count='0']")
        text = ops.text_content("#worker-restarts") or ""
        assert text.startswith(
            "Worker restarts: 0 on this server since it started (read "
        )
        assert text.endswith(
            "from the server that answered this page; each replica counts its "
            "own, so this is not the fleet's)."
        )
        workers = _children(proc.pid)
        os.kill(workers[0], signal.SIGKILL)
        _wait_for(
            lambda: (
                len(_children(proc.pid)) == 2 and workers[0] not in _children(proc.pid)
            )
        )
        _wait_up(base, log)
        ops.reload()
        ops.wait_for_selector("body[data-ready='1']")
        ops.wait_for_selector("#worker-restarts[data-count='1']")
        said = ops.text_content("#worker-restarts") or ""
        assert said.startswith("Worker restarts: 1 on this server since it started")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert errors == []


def test_ops_says_worker_restarts_are_not_counted_without_metrics(
    browser: Any, tmp_path: Path
) -> None:
    """``--no-metrics``: nothing counts the restarts, and /ops says so
    rather than 0."""
    errors: list[str] = []
    with live_server(tmp_path, metrics=False) as (server, _):
        ops = _page(browser, server.url + "/ops", errors)
        ops.wait_for_selector("#worker-restarts[data-count='']")
        assert ops.text_content("#worker-restarts") == (
            "Worker restarts: not counted on this server (its metrics are off)."
        )
    assert errors == []


def test_a_reload_while_the_order_is_placed_shows_it_placed(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """The shopper reloads (or goes back and forward) while "Placing your
    order…" waits on a slow network, and the server has placed the order:
    the page came back blank (the first sample cart, the first ZIP code,
    no options, no word of the order), and a shopper who ordered again
    ordered twice. The page keeps its checkout for the tab
    (``sessionStorage``) and asks the store again: it shows the order
    placed, once."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C4")
    pending: list[Any] = []

    def slow(route: Any) -> None:
        route.fetch()  # the server confirms; its answer is still on its way
        pending.append(route)

    page.route("**/confirm", slow)
    page.click("#confirm")
    page.wait_for_function(
        "document.getElementById('confirm').textContent === 'Placing your order…'"
    )
    while not pending:
        page.wait_for_timeout(20)
    page.unroute("**/confirm")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    _shows_gold_placed(page, router)
    assert page.locator("#confirm").is_disabled()
    assert page.input_value("#zip") == "60601"
    assert errors == []


def _order_fields(page: Any) -> list[str]:
    """The sample cart picked, the customer, the items and the ZIP code."""
    return [
        page.input_value(s) for s in ("#cart-preset", "#customer", "#items", "#zip")
    ]


def test_a_reload_brings_back_the_shoppers_order_and_options(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A reload (or the back button) mid-checkout: the cart picked among
    the samples, the cart the shopper typed, the ZIP code, the options and
    their pick come back, one checkout (the page came back with the first
    sample cart and ZIP code and no options, its checkout left open).
    Place order then orders what the page shows. A requote that fails on
    the reload says so, the fields back."""
    server, router = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    # a checkout cancelled elsewhere meanwhile: the page says so (it came
    # back with its fields alone, not a word of the options) and keeps it
    # no longer
    _ask(page, "C4")
    over = page.evaluate("document.body.dataset.requestId")
    assert httpx.post(f"{server.url}/v1/checkouts/{over}/cancel").status_code == 200
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#error").inner_text() == (
        "Your delivery options could not be refreshed (this checkout is no "
        "longer open): show the delivery options again."
    )
    assert page.input_value("#customer") == "C4"
    assert page.evaluate("sessionStorage.getItem('tierflow.checkout')") is None
    page.select_option("#cart-preset", "1")
    page.fill("#items", "TEE:2")
    _ask(page, "C9")
    rid = page.evaluate("document.body.dataset.requestId")
    page.check("#option-gold")
    # the store busy as the page comes back: the fields, the cart picked
    # among the samples and the checkout are kept (they came back as the
    # first sample cart, and nothing said the options were not refreshed)
    page.route("**/requote", lambda route: route.fulfill(status=503, json={}))
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "Your delivery options could not be refreshed (the store is busy right "
        "now): reload the page to try again."
    )
    assert _order_fields(page) == ["1", "C9", "TEE:2", "60601"]
    assert page.locator("#options .option-card").count() == 0
    assert page.locator("#confirm").is_disabled()
    page.unroute("**/requote")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#options .option-card")
    assert page.locator("#error").is_hidden()
    assert _order_fields(page) == ["1", "C9", "TEE:2", "60601"]
    assert page.evaluate("document.body.dataset.requestId") == rid
    assert page.locator("#option-gold").is_checked()
    assert page.locator("#selection-note").inner_text() == (
        "Selected: Standard shipping, your choice. We recommend Guaranteed next-day."
    )
    assert [tier for tier, _ in _placed(page, router)] == ["gold"]
    assert errors == []


def test_each_details_toggle_says_what_it_is_about(
    browser: Any, site: tuple[RunningServer, OnlineRouter]
) -> None:
    """A screen reader tabbing through the page heard "Details, collapsed"
    at every toggle (the shopper's, one per option, the checkout's), with
    nothing to tell which option or what each is about. Each toggle is
    named after what it opens, "Details" first (the visible word), as
    Chromium's accessibility tree has it (what a screen reader reads)."""
    server, _ = site
    errors: list[str] = []
    page = _stream_held_off_page(browser, server.url + "/", errors)
    _ask(page, "C9")
    tree = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")
    toggles = [
        node["name"]["value"]
        for node in tree["nodes"]
        if node.get("role", {}).get("value") == "DisclosureTriangle"
    ]
    assert sorted(toggles) == [
        "Details of Guaranteed next-day",
        "Details of Standard shipping",
        "Details of the shopper",
        "Details of this checkout",
    ]
    assert errors == []
