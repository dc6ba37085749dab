"""The pages in headless Chromium on networks other than the tiny one: what a
retailer's own ids and zones put on them."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_NETWORK
from tests.orchestration.checkout.helpers import event as apply_event
from tests.service_fixtures import API_KEY, MONDAY_10, live_server, put_scores
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import RunningServer, serve_in_thread

pytestmark = pytest.mark.browser

#: The tiny network's most widely stocked SKU (the page's first sample
#: cart), renamed as a retailer may name one: a comma and a quote in its id.
TEE = 'TEE, white "classic"'


def _rename_sku(folder: Path, old: str, new: str) -> None:
    for name in ("skus.csv", "inventory.csv"):
        with open(folder / name, newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            if row["sku"] == old:
                row["sku"] = new
        with open(folder / name, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows(rows)


@pytest.fixture
def comma_site(tmp_path: Path) -> Iterator[RunningServer]:
    """The app on the tiny network whose TEE is named :data:`TEE`."""
    folder = tmp_path / "network"
    shutil.copytree(TINY_NETWORK, folder)
    _rename_sku(folder, "TEE", TEE)
    store = open_store(tmp_path / "state.db")
    put_scores(store)
    router = OnlineRouter.open(
        load_network(folder), store, capacity_refresh_s=0.0, cltv_refresh_s=0.0
    )
    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
    try:
        with serve_in_thread(app) as server:
            yield server
    finally:
        router.close()


def _options(page: Any) -> list[dict[str, Any]]:
    """Ask for options (ZIP 60601) and wait for the answer; the option
    cards' tiers and the cart the page sent."""
    sent: list[Any] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.post_data_json) if r.url.endswith("/v1/options") else None
        ),
    )
    page.fill("#zip", "60601")
    with page.expect_response(lambda r: r.url.endswith("/v1/options")):
        page.click("#get-options")
    page.wait_for_selector("#options .option-card")
    assert page.locator("#error").is_hidden()
    items: list[dict[str, Any]] = sent[-1]["items"]
    return items


def test_a_sku_with_a_comma_is_ordered_from_the_sample_carts_and_as_typed(
    browser: Any, comma_site: RunningServer
) -> None:
    """A network whose SKU ids hold a comma: the page wrote its own sample
    cart as ``TEE, white "classic":1`` and split it at the comma, so the
    shopper was told "Item 1 (TEE): we have no such product" for the cart
    it had offered. Such an id is written quoted (CSV's way) and read
    back whole; typed the same way, it is read so too."""
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(comma_site.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#items") == '"TEE, white ""classic""":1'
    assert _options(page) == [{"sku": TEE, "quantity": 1}]

    page.select_option("#cart-preset", index=1)
    assert page.input_value("#items") == 'MUG:2, "TEE, white ""classic""":1'
    assert _options(page) == [
        {"sku": "MUG", "quantity": 2},
        {"sku": TEE, "quantity": 1},
    ]

    page.fill("#items", ' "TEE, white ""classic""" : 3 ,MUG, SPRAY:1')
    assert _options(page) == [
        {"sku": TEE, "quantity": 3},
        {"sku": "MUG", "quantity": 1},
        {"sku": "SPRAY", "quantity": 1},
    ]
    assert errors == []


def test_an_empty_cart_is_shown_an_example_of_the_networks_own_skus(
    browser: Any, comma_site: RunningServer
) -> None:
    """The empty cart's example was the sample network's HOM-0575 on every
    network; it is the first sample cart's SKU, written as the field reads
    it (quoted here)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(comma_site.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#items", " , ")
    page.fill("#zip", "60601")
    page.click("#get-options")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").inner_text() == (
        "Your cart is empty: enter at least one item as SKU:QTY, for example "
        '"TEE, white ""classic""":2.'
    )


def test_a_ship_later_alone_says_what_it_saves_against_its_own_price(
    browser: Any, tmp_path: Path
) -> None:
    """Every node's backlog past its capacity today: "Ship later" is the
    one option. Its perk said "At least $1.00 less than every option that
    ships sooner", of options the page did not show (there were none); its
    discount is off its own price then, and the perk says so."""
    with live_server(tmp_path) as (server, router):
        for i, node in enumerate(router.network.node_ids):
            cap = float(router.network.capacity[i])
            apply_event(router, node, "backlog", 2.0 * cap, i)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.fill("#items", "TEE:1")
        _options(page)
        cards = "#options .option-card"
        assert page.eval_on_selector_all(
            cards, "cs => cs.map(c => c.dataset.tier)"
        ) == ["overflow"]
        assert page.inner_text(f"{cards} [data-field='perks']") == (
            "$1.00 off its own price for waiting"
        )


def test_ops_shows_the_network_s_warnings(browser: Any, tmp_path: Path) -> None:
    """A network whose Berlin node lies by the Arabian Sea (lat and lon
    swapped): /ops says so, as ``network validate`` and ``serve``'s start-up
    log do; the tiny network's page says nothing (the note stays hidden)."""
    from tests.cli.test_network_warnings import BERLIN_SWAPPED
    from tests.data.test_network import _european_network, _place

    folder = _european_network(tmp_path / "berlin")
    _place("WH-EAST", "13.5180", "52.3870", "Europe/Berlin")(folder)
    store = open_store(tmp_path / "state.db")
    router = OnlineRouter.open(load_network(folder), store, capacity_refresh_s=0.0)
    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
    try:
        with serve_in_thread(app) as server:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/ops")
            page.wait_for_selector("#network-warnings[data-count='1']")
            assert page.text_content("#network-warnings") == (
                f"Network warning: {BERLIN_SWAPPED}"
            )
            assert page.is_visible("#network-warnings")
    finally:
        router.close()
    with live_server(tmp_path / "tiny") as (server, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url + "/ops")
        page.wait_for_selector("#network-warnings[data-count='0']", state="hidden")
        assert page.is_hidden("#network-warnings")
