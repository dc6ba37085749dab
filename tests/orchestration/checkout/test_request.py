"""Request validation: bad input names the field; the cart syntax."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import MONDAY_10
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.orchestration.checkout.request import RequestValidator
from tierflow.orchestration.checkout.router import OnlineRouter, parse_items


@pytest.mark.parametrize(
    ("customer", "items", "dest", "extra", "message"),
    [
        ("C1", [("HAT", 1)], "100", {}, r"^field 'sku': index 0: value 'HAT': unknown SKU$"),
        ("C1", [("TEE", 1), ("MUG", 0)], "100", {},
         r"^field 'quantity': index 1: value 0: must be an integer >= 1$"),
        ("C1", [("TEE", -2)], "100", {}, r"^field 'quantity': index 0: value -2"),
        ("C1", [("TEE", 1.5)], "100", {}, r"^field 'quantity': index 0: value 1\.5"),
        ("C1", [("TEE", True)], "100", {}, r"^field 'quantity': index 0: value True"),
        ("C1", [("TEE", 10**30)], "100", {},
         r"^field 'quantity': index 0: value 10{30}: more than 10,000 units on one line$"),
        ("C1", [("TEE", 6000), ("MUG", 10_001)], "100", {},
         r"^field 'quantity': index 1: value 10001: more than 10,000 units on one line$"),
        # the lines of one SKU add up to the order's one line of it, which
        # orders.csv (the export tierflow allocate reads) caps at 10,000
        ("C1", [("TEE", 6000), ("MUG", 1), ("TEE", 5000), ("TEE", 9000)], "100", {},
         r"^field 'quantity': index 2: value 5000: lines of SKU 'TEE' add up to "
         r"20,000 units, more than 10,000 on one order line$"),
        ("C1", [("MUG", 1), ("TEE", 5000), ("MUG", 10_000)], "100", {},
         r"^field 'quantity': index 2: value 10000: lines of SKU 'MUG' add up to "
         r"10,001 units, more than 10,000 on one order line$"),
        ("C1", [("TEE", 1)], "100", {"now": dt.datetime(1, 1, 1, tzinfo=dt.UTC)},
         r"^field 'now': value '0001-01-01T00:00:00\+00:00': outside the years 1900-2200$"),
        ("C1", [("TEE", 1)], "100", {"now": dt.datetime(9999, 12, 31, tzinfo=dt.UTC)},
         r"^field 'now': value '9999-12-31T00:00:00\+00:00': outside the years 1900-2200$"),
        ("C1", [("TEE", 1)], "1000", {}, r"^field 'dest': value '1000': not a US ZIP"),
        ("C1", [("TEE", 1)], "ABCDE", {}, r"^field 'dest': value 'ABCDE': not a US ZIP"),
        ("C1", [("TEE", 1)], "99999", {}, r"^field 'dest': value '99999': unknown ZIP"),
        ("C1", [], "100", {}, r"^field 'items': no items$"),
        ("C1", [("TEE",)], "100", {}, r"^field 'items': index 0: value \('TEE',\)"),
        ("", [("TEE", 1)], "100", {}, r"^field 'customer_id': value '': empty"),
        # a number was "empty customer id"
        (12, [("TEE", 1)], "100", {},
         r"^field 'customer_id': value 12: not text \(a customer id is a string\)$"),
        ("C" * 201, [("TEE", 1)], "100", {},
         r"^field 'customer_id': value 'CCC.*\.\.\.: must be at most 200 printable characters$"),
        ("C1\nC2", [("TEE", 1)], "100", {},
         r"^field 'customer_id': value 'C1\\nC2': must be at most 200 printable characters$"),
        ("C1", [("TEE", 1)], "100", {"now": dt.datetime(2026, 1, 5, 10)},
         r"^field 'now': value '2026-01-05 10:00:00': no timezone offset"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"speed": -1}},
         r"^field 'preferences\.speed': value -1: must be a number in \[0, 1,000\]$"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"speed": 10**400}},
         r"^field 'preferences\.speed': value 10{116}\.\.\.: must be a number in \[0, 1,000\]$"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"speed": 1e308, "cost": 1e308}},
         r"^field 'preferences\.speed': value 1e\+308: must be a number in \[0, 1,000\]$"),
        ("C1", [("TEE", 1)], "100", {"preferences": {"fast": 1}},
         r"^field 'preferences': value 'fast': unknown preference"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(
    router: OnlineRouter,
    customer: str,
    items: Any,
    dest: str,
    extra: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InputError, match=message):
        router.generate_fulfillment_options(customer, items, dest, **extra)


def test_parse_items() -> None:
    assert parse_items("TEE:2, MUG:1") == [("TEE", 2), ("MUG", 1)]
    with pytest.raises(InputError, match=r"^field 'items': index 1: value 'MUG'"):
        parse_items("TEE:2,MUG")
    with pytest.raises(InputError, match=r"^field 'quantity': index 0: value 'x'"):
        parse_items("TEE:x")
    # a whole number however written, as orders.csv and the HTTP API take it
    assert parse_items("TEE:1.0,MUG:1e1") == [("TEE", 1), ("MUG", 10)]
    # 1_0 was Python's 10 (QA), "٣" and "３" its 3
    for bad in ("1.5", "1e400", "nan", "1_0", "٣", "３", "٣.0"):
        with pytest.raises(InputError, match=rf"value '{bad}': not an integer$"):
            parse_items(f"TEE:{bad}")


def test_validator_merges_the_cart() -> None:
    """Repeated SKUs add up in first-seen order; weights are per line."""
    net = load_network(TINY_NETWORK)
    when = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    req = RequestValidator(net).parse(
        "C1", [("TEE", 1), ("MUG", 2), (" TEE ", 3)], " 60601-1234 ", None, when
    )
    # ' TEE ' is TEE, as an orders file's SKU and a customer id are read
    # stripped (the HTTP API's cart refused it as an unknown SKU)
    assert req.skus == ("TEE", "MUG") and req.qty.tolist() == [4, 2]
    assert (req.zip3, req.dest) == ("606", net.dest_idx("606"))
    assert req.line_kg == pytest.approx((4 * 0.3, 2 * 0.5))
    kg, units, _ = req.totals(req.all_lines)
    assert units == 6.0 and kg >= sum(req.line_kg)
    later = req.at(when + dt.timedelta(hours=1))
    assert later.skus == req.skus and later.ts == req.ts + 3600


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("reservation_ttl_s", 10**30, r"value 10{30}: must be a number in \(0, 2,592,000\]$"),
        ("reservation_ttl_s", float("nan"), r"value nan: must be a number in \(0, 2,592,000\]$"),
        ("reservation_ttl_s", "900", r"value '900': must be a number in"),
        ("quote_ttl_s", 0, r"value 0: must be a number in \(0, "),
        ("capacity_refresh_s", -1.0, r"value -1\.0: must be a number in \[0, "),
        ("cltv_refresh_s", float("inf"), r"value inf: must be a number in \[0, "),
        ("max_open_quotes", float("nan"), r"value nan: must be an integer in \[1, 10,000,000\]$"),
        ("capacity_max_age_s", "60", r"value '60': must be a number in \(0, "),
    ],
)  # fmt: skip
def test_router_settings_are_checked_before_the_store_is_opened(
    tmp_path: Path, setting: str, value: Any, message: str
) -> None:
    """A hold of 10**30 s was stored, then overflowed its expiry's timestamp;
    NaN and strings reached the refresh loops."""
    state = tmp_path / "state.db"
    with pytest.raises(InputError, match=rf"^field '{setting}': {message}"):
        OnlineRouter.open(TINY_NETWORK, state, **{setting: value})
    assert not state.exists()


@pytest.mark.parametrize("call", ["select", "confirm", "cancel", "requote"])
def test_every_call_holds_now_to_the_years_a_quote_takes(
    router: OnlineRouter, call: str
) -> None:
    """A hold stamped 9999 kept its stock out of sale for good, and a
    confirm of it then failed after the order was stored."""
    answer = router.generate_fulfillment_options(
        "C1", [("TEE", 1)], "100", now=MONDAY_10
    )
    if call in ("confirm", "cancel"):
        assert router.select(answer.request_id, "gold", now=MONDAY_10).ok
    late = dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert router.store is not None
    before = router.store.inventory_frame()
    with pytest.raises(
        InputError,
        match=r"^field 'now': value '9999-12-31T23:59:00\+00:00': outside the years 1900-2200$",
    ):
        if call == "select":
            router.select(answer.request_id, "gold", now=late)
        elif call == "requote":
            router.requote(answer.request_id, now=late)
        else:
            getattr(router, call)(answer.request_id, now=late)
    pd.testing.assert_frame_equal(router.store.inventory_frame(), before)


@pytest.mark.parametrize("call", ["select", "confirm", "cancel", "requote"])
def test_a_request_id_that_is_not_text_is_named(
    router: OnlineRouter, call: str
) -> None:
    """A list was "unhashable type" from select and requote, and a store
    outage (status unavailable) from confirm and cancel."""
    with pytest.raises(
        InputError, match=r"^field 'request_id': value \['a'\]: must be a request id"
    ):
        if call == "select":
            router.select(["a"], "gold")  # type: ignore[arg-type]
        else:
            getattr(router, call)(["a"])
    assert router.is_open(["a"]) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("now", ["2026-06-01", dt.date(2026, 6, 1), 1.7e9])
def test_now_that_is_not_a_datetime_is_named(router: OnlineRouter, now: Any) -> None:
    """It was an AttributeError ('... has no attribute tzinfo')."""
    with pytest.raises(InputError, match=r"^field 'now': value .*: not a datetime"):
        router.generate_fulfillment_options("C1", [("TEE", 1)], "100", now=now)
