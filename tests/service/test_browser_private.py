"""The checkout and operations pages in headless Chromium against a server
put on the internet (``serve --operator-reads key --no-samples``; the
pattern of ``tests/service/test_browser.py``). A shopper orders from the
checkout page without the key and without the sample customers (the page
asks for the customer id); an operator's /ops shows the map, the nodes, the
allocation and live updates once the key is typed, and said nothing useful
before (its reads refused). Every wait is on DOM state, never a sleep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import API_KEY, live_server
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import RunningServer

pytestmark = pytest.mark.browser


@pytest.fixture
def private_site(tmp_path: Path) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    with live_server(tmp_path, operator_reads="key", samples=False) as running:
        yield running


def _page(browser: Any, url: str, errors: list[str], answers: list[str]) -> Any:
    """A loaded page; its script errors go to ``errors``, every API answer
    of 400 or more to ``answers`` (as "STATUS PATH")."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
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
    placed over the public checkout calls and the checkout's own stream."""
    server, router = private_site
    errors: list[str] = []
    answers: list[str] = []
    page = _page(browser, server.url + "/", errors, answers)
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
