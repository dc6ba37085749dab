"""The checkout and operations pages in headless Chromium against a server
put on the internet (``serve --operator-reads key --no-samples``; the
pattern of ``tests/service/test_browser.py``). A shopper orders from the
checkout page without the key and without the sample customers (the page
asks for the customer id); an operator's /ops shows the map, the nodes, the
allocation and live updates once the key is typed, and said nothing useful
before (its reads refused). Every wait is on DOM state, never a sleep."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import OUTAGE
from tests.service_fixtures import API_KEY, MONDAY_10, live_server, tiny_router
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import RunningServer, free_port, serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture
def private_site(tmp_path: Path) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    with live_server(tmp_path, operator_reads="key", samples=False) as running:
        yield running


def _page(
    browser: Any, url: str, errors: list[str], answers: list[str], clock: bool = False
) -> Any:
    """A loaded page; its script errors go to ``errors``, every API answer
    of 400 or more to ``answers`` (as "STATUS PATH"); ``clock``: with
    Playwright's clock installed (it runs on, and a test may skip ahead)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    if clock:
        page.clock.install()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def answered(response: Any) -> None:
        if response.status >= 400:
            path = response.url.split("//", 1)[1].split("/", 1)[1]
            answers.append(f"{response.status} /{path}")

    page.on("response", answered)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_a_shopper_orders_without_the_key_or_the_samples(
    browser: Any, private_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """/v1/samples is 404: the page asks for the customer id (a text field,
    no cart presets, no CLTV details) instead of retrying, and the order is
    placed over the public checkout calls and the checkout's own stream. No
    answer the page gets names a node or a bid price (they are withheld
    without the key), nor does the page after a live update moved Gold off
    ST-CHI; the options show no "Details"."""
    server, router = private_site
    errors: list[str] = []
    answers: list[str] = []
    seen: list[Any] = []
    page = _page(browser, server.url + "/", errors, answers)
    # the checkout calls' answers, read below (a lambda: Playwright cannot
    # wrap a builtin method such as ``seen.append``)
    page.on("response", lambda response: seen.append(response))
    page.wait_for_selector("body[data-samples='off']")
    assert page.eval_on_selector("#customer", "e => e.tagName") == "INPUT"
    assert page.text_content("#customer-label") == "Your customer id"
    assert page.locator("#cart-preset").is_hidden()
    assert page.locator("#customer-details").is_hidden()
    assert page.text_content("#samples-note") == (
        "Enter your customer id, your items as SKU:QTY and your ZIP code."
    )
    assert page.locator("#error").is_hidden()
    # no id: said in the words of a typed one
    page.fill("#items", "TEE:1")
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error") == "Enter your customer id."
    page.fill("#customer", "C9")
    page.click("#get-options")
    page.wait_for_selector("#options .option-card")
    tiers = page.eval_on_selector_all(
        "#options .option-card", "cs => cs.map(c => c.dataset.tier)"
    )
    assert sorted(tiers) == ["gold", "platinum"]  # C9's CLTV, as by default
    page.wait_for_selector("#live-status[data-state='live']")
    _no_operator_data_after_a_live_update(page, server, router)
    page.click("#confirm")
    page.wait_for_selector("#confirmation:not([hidden])")
    assert page.text_content("#confirmation").startswith(
        "Thank you, your order is placed."
    )
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[["customer_id", "sku"]].values.tolist() == [["C9", "TEE"]]
    # the one refusal: the samples (the options' 422 for the empty id aside)
    assert answers == ["404 /v1/samples", "422 /v1/options"]
    assert errors == []
    rid = page.get_attribute("body", "data-request-id")
    _no_operator_data_answered(seen, router, rid)


def _no_operator_data_after_a_live_update(
    page: Any, server: RunningServer, router: OnlineRouter
) -> None:
    """The options show no "Details" (withheld), and after an outage moves
    Gold off ST-CHI (the checkout's stream) the page names no node."""
    assert page.locator("#options details").count() == 0
    assert page.locator("#answer-details").is_hidden()
    with httpx.Client(base_url=server.url) as client:
        moved = client.post(
            "/v1/capacity/events",
            json={"events": [OUTAGE]},
            headers={"X-API-Key": API_KEY},
        )
    assert moved.status_code == 200, moved.text
    page.wait_for_selector("body[data-revision='2']")  # the stream's update
    assert "Standard shipping now arrives" in page.text_content("#updates")
    html = page.content()
    assert [n for n in router.network.node_ids if n in html] == []


def _no_operator_data_answered(
    seen: list[Any], router: OnlineRouter, rid: str | None
) -> None:
    """The checkout calls the page made answered no node id or bid price."""
    bodies = [
        (r.url, r.text()) for r in seen if "/v1/" in r.url and "/v1/stream" not in r.url
    ]
    assert [url.split("/v1/")[1] for url, _ in bodies] == [
        "options",  # the 422 for the empty id
        "options",
        f"checkouts/{rid}/select",
        f"checkouts/{rid}/confirm",
    ]
    for url, text in bodies:
        assert [n for n in router.network.node_ids if n in text] == [], url
        assert "bid price" not in text.lower() and '"bid_prices":"' not in text


def test_an_empty_cart_without_the_samples_is_shown_no_example(
    browser: Any, private_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """Without the samples the page knows none of the network's SKUs: the
    empty cart's message gives the form alone (it gave the sample network's
    HOM-0575 on every network)."""
    server, _ = private_site
    errors: list[str] = []
    page = _page(browser, server.url + "/", errors, [])
    page.wait_for_selector("body[data-samples='off']")
    page.fill("#customer", "C9")
    page.fill("#items", " , ")
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error") == (
        "Your cart is empty: enter at least one item as SKU:QTY."
    )
    assert errors == []


def _ops_nodes(ops: Any) -> int:
    count: int = ops.locator("#map [data-node-id]").count()
    return count


def test_an_operator_sees_ops_with_the_key_and_a_stranger_does_not(
    browser: Any, private_site: tuple[RunningServer, OnlineRouter]
) -> None:
    """/ops without the key: its reads refused (401), it says the key is
    needed where the map and the allocation would be, and opens no stream. A
    wrong key: 403, said so. The right key typed in the event form: the
    map, the nodes and the allocation load, the stream (read with the key)
    goes live, and an outage posted from the form shows on the map live.
    Reloaded, the tab's key loads everything at once."""
    server, router = private_site
    errors: list[str] = []
    answers: list[str] = []
    ops = _page(browser, server.url + "/ops", errors, answers)
    ops.wait_for_selector("body[data-key='needed']")
    needed = (
        "This server shows its operator data only with the API key: enter it "
        "in “Inject a capacity event”."
    )
    assert ops.text_content("#capacity-asof") == needed
    assert ops.text_content("#alloc-note") == needed
    assert ops.text_content("#live-status") == "live updates off: they need the API key"
    assert _ops_nodes(ops) == 0
    assert sorted(answers) == [
        "401 /v1/allocation",
        "401 /v1/capacity",
        "401 /v1/map",
    ]
    ops.fill("#api-key", "not-the-key-0123456789")
    ops.press("#api-key", "Tab")  # a change
    ops.wait_for_selector("body[data-key='refused']")
    assert ops.text_content("#capacity-asof") == (
        "The API key was refused (403): enter the right one in “Inject a "
        "capacity event”."
    )
    ops.fill("#api-key", API_KEY)
    ops.press("#api-key", "Tab")
    ops.wait_for_selector("body[data-key='accepted']")
    ops.wait_for_selector("#map [data-node-id='ST-CHI']")
    assert _ops_nodes(ops) == 3
    assert ops.locator("#nodes tr[data-node-id]").count() == 3
    ops.wait_for_selector("#live-status[data-state='live']")
    assert ops.text_content("#alloc-note") != needed
    ops.select_option("#event-node", "ST-CHI")
    ops.select_option("#event-kind", "outage")
    ops.click("#inject")
    ops.wait_for_selector("#inject-result[data-status='200']")
    # on the map through the keyed stream (the page reads the map only once)
    ops.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    ops.wait_for_selector("#nodes tr[data-node-id='ST-CHI'].closed")
    assert router.monitor.outage.any()
    answers.clear()
    ops.reload()
    ops.wait_for_selector("body[data-ready='1']")
    ops.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    ops.wait_for_selector("#live-status[data-state='live']")
    assert answers == []
    assert errors == []


#: The key of a server restarted with a key of its own (``serve`` without
#: ``--api-key-file`` makes one for each run).
NEW_KEY = "new-key-0123456789abcdef"


def _serve_on(port: int, router: OnlineRouter, key: str, reads: str) -> Any:
    app = create_app(
        router,
        api_key=key,
        clock=lambda: MONDAY_10,
        poll_s=0.1,
        operator_reads=reads,
        samples=False,
    )
    return serve_in_thread(app, port=port)


def _live_text(ops: Any, text: str) -> None:
    ops.wait_for_function(
        "t => document.querySelector('#live-status').textContent === t", arg=text
    )


def test_ops_reconnects_and_takes_a_restarted_servers_new_key(
    browser: Any, tmp_path: Path
) -> None:
    """/ops live with the key; the server stops: the stream's reconnects
    say "reconnecting…" as an EventSource's did (a failed one said "live
    updates off: trying again in 4 s", then 8, 15, 30 s apart: a server back
    after a minute was read again up to 30 s later, an EventSource's 3 s).
    It comes back with a key of its own: the stream is refused (403) and
    stops. The new key typed: the stream opens with it and goes live (the
    page did nothing: it reloaded on a new key only when its reads had been
    refused, and they had not). The page's clock skips the 3 s between
    tries (it runs on by itself too: a skip that came early costs time
    only)."""
    port = free_port()
    errors: list[str] = []
    answers: list[str] = []
    stream = {"predicate": lambda r: r.url.endswith("/v1/stream"), "timeout": 15_000}
    with tiny_router(tmp_path) as first, contextlib.ExitStack() as running:
        server = running.enter_context(_serve_on(port, first, API_KEY, "key"))
        ops = _page(browser, server.url + "/ops", errors, answers, clock=True)
        ops.wait_for_selector("body[data-key='needed']")
        ops.fill("#api-key", API_KEY)
        ops.press("#api-key", "Tab")
        ops.wait_for_selector("#live-status[data-state='live']")
        with ops.expect_event("requestfailed", **stream):
            running.close()  # the server stops; the page's reconnect fails
            ops.clock.fast_forward(3_000)
    with ops.expect_event("request", **stream):  # and it tries again
        ops.wait_for_selector("#live-status[data-state='reconnecting']")
        ops.clock.fast_forward(3_000)
    # what the failure before this try left said
    assert ops.text_content("#live-status") == "reconnecting…"
    assert ops.get_attribute("#live-status", "data-state") == "reconnecting"
    with tiny_router(tmp_path) as second, _serve_on(port, second, NEW_KEY, "key"):
        ops.clock.fast_forward(3_000)
        _live_text(ops, "live updates off: the API key was refused (403)")
        ops.fill("#api-key", NEW_KEY)
        ops.press("#api-key", "Tab")
        ops.wait_for_selector("#live-status[data-state='live']")
        with httpx.Client(base_url=server.url) as client:
            posted = client.post(
                "/v1/capacity/events",
                json={"events": [{**OUTAGE, "event_id": "restart-1"}]},
                headers={"X-API-Key": NEW_KEY},
            )
        assert posted.status_code == 200, posted.text
        ops.wait_for_selector("#map [data-node-id='ST-CHI'][data-outage='true']")
    assert errors == []


def test_ops_says_a_stream_refused_for_want_of_the_key_and_stops(
    browser: Any, tmp_path: Path
) -> None:
    """/ops on a public server, live with no key (an EventSource); the
    server comes back with ``--operator-reads key`` (a restart, a balancer
    sending the reconnect to such a replica): the page says the stream
    needs the key and stops asking; the key typed opens it. It said "live
    updates off: trying again in 2 s" and asked again for ever (the
    EventSource's answer has no status), and the key typed did nothing."""
    port = free_port()
    errors: list[str] = []
    answers: list[str] = []
    with (
        tiny_router(tmp_path) as first,
        _serve_on(port, first, API_KEY, "public") as server,
    ):
        ops = _page(browser, server.url + "/ops", errors, answers)
        ops.wait_for_selector("#live-status[data-state='live']")
    ops.wait_for_selector("#live-status[data-state='reconnecting']")
    with tiny_router(tmp_path) as second, _serve_on(port, second, API_KEY, "key"):
        _live_text(ops, "live updates off: they need the API key")
        asked = len([a for a in answers if a == "401 /v1/stream"])
        assert asked >= 1
        ops.fill("#api-key", API_KEY)
        ops.press("#api-key", "Tab")
        ops.wait_for_selector("#live-status[data-state='live']")
        # refused once by the stream, once by the page's look at its status
        assert len([a for a in answers if a == "401 /v1/stream"]) == asked
    assert errors == []
