"""Holds: select, swap, confirm into an order, cancel, expiry, rejection."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.orchestration.checkout.helpers import available
from tests.postgres import NewState, run_sql
from tests.service_fixtures import MONDAY_10, tiny_network, tiny_router
from tierflow.data.errors import InputError
from tierflow.data.orders import ORDER_COLUMNS, read_orders, write_orders
from tierflow.orchestration.checkout import holds
from tierflow.orchestration.checkout.router import OnlineRouter


def test_select_confirm_writes_the_order(router: OnlineRouter) -> None:
    answer = router.generate_fulfillment_options(
        "C10", [("MUG", 2)], "606", now=MONDAY_10
    )
    held = router.select(answer.request_id, "platinum")
    assert held.ok and held.status == "held" and held.nodes == ("WH-EAST",)
    assert available(router, "WH-EAST", "MUG") == 18
    assert router.select(answer.request_id, "platinum").status == "held"  # replay
    assert available(router, "WH-EAST", "MUG") == 18
    done = router.confirm(answer.request_id)
    assert (done.status, done.option_id, done.nodes) == (
        "confirmed",
        "platinum",
        ("WH-EAST",),
    )
    assert router.store is not None
    orders = router.store.online_orders()
    assert orders[
        ["order_id", "tier", "sku", "quantity", "node_id", "service"]
    ].values.tolist() == [
        [answer.request_id, "platinum", "MUG", 2, "WH-EAST", "next_day"]
    ]
    assert orders["delivery_date"].tolist() == ["2026-01-06"]
    inv = router.store.inventory_frame().set_index(["node_id", "sku"])
    assert inv.loc[("WH-EAST", "MUG")].tolist() == [18, 0]
    assert router.confirm(answer.request_id).status == "confirmed"  # idempotent
    with pytest.raises(InputError, match=r"field 'request_id'.*already confirmed"):
        router.select(answer.request_id, "gold")  # the checkout is over
    assert router.store.check_consistency() == []


def test_lines_of_one_sku_up_to_one_order_line_are_confirmed_and_export(
    router: OnlineRouter, tmp_path: Path
) -> None:
    """Two lines of 5,000 TEE are one line of 10,000, the most an order line
    holds: confirmed, and the export of ``online_orders`` (``orders.csv``,
    what ``tierflow allocate`` reads) reads back as that line. (6,000 +
    5,000 is refused at the request: ``test_request.py``.)"""
    assert router.store is not None
    router.store.upsert_inventory(
        pd.DataFrame(
            [("WH-EAST", "TEE", 10_000)], columns=["node_id", "sku", "on_hand"]
        )
    )
    answer = router.generate_fulfillment_options(
        "C10", [("TEE", 5000), ("TEE", 5000)], "606", now=MONDAY_10
    )
    option = answer.options[0].option_id
    assert router.select(answer.request_id, option).status == "held"
    assert router.confirm(answer.request_id).status == "confirmed"
    orders = router.store.online_orders()
    assert orders[["sku", "quantity"]].values.tolist() == [["TEE", 10_000]]
    path = write_orders(orders[[*ORDER_COLUMNS, "promised_date"]], tmp_path / "o.csv")
    exported = read_orders(path, tiny_network())
    assert exported.order_ids == (answer.request_id,)
    assert (exported.line_sku_id, exported.line_qty.tolist()) == (("TEE",), [10_000])


def test_override_swap_and_cancel(router: OnlineRouter) -> None:
    """Gold ships from ST-CHI; Platinum (next-day, which ST-CHI lacks) from
    WH-EAST (priced: C10's allowance does not cover the upgrade)."""
    answer = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert answer.option("gold").nodes == ("ST-CHI",)
    assert answer.option("platinum").nodes == ("WH-EAST",)
    assert router.select(answer.request_id, "gold").nodes == ("ST-CHI",)
    assert available(router, "ST-CHI", "TEE") == 4
    router.select(answer.request_id, "platinum")  # the customer overrides
    assert available(router, "ST-CHI", "TEE") == 5
    assert available(router, "WH-EAST", "TEE") == 99
    assert router.cancel(answer.request_id).status == "cancelled"
    assert available(router, "WH-EAST", "TEE") == 100
    assert router.cancel(answer.request_id).status == "cancelled"  # idempotent
    with pytest.raises(InputError, match=r"checkout was cancelled"):
        router.confirm(answer.request_id)
    never = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert router.cancel(never.request_id).status == "cancelled"  # only dropped
    with pytest.raises(InputError, match=r"^field 'request_id': value 'nope': unknown"):
        router.cancel("nope")


def test_confirm_and_cancel_read_nothing_before_their_transaction(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A confirm or cancel naming its customer is one transaction: the
    customer is checked in it (on PostgreSQL a round trip less)."""
    assert router.store is not None

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("checkout_state read before the transaction")

    monkeypatch.setattr(type(router.store), "checkout_state", no_read)
    for ending, status in (("confirm", "confirmed"), ("cancel", "cancelled")):
        answer = router.generate_fulfillment_options(
            "C10", [("TEE", 1)], "606", now=MONDAY_10
        )
        assert router.select(answer.request_id, "gold", customer_id="C10").ok
        act = getattr(router, ending)
        with pytest.raises(InputError, match=r"not the customer of this checkout"):
            act(answer.request_id, customer_id="C9")
        done = act(answer.request_id, customer_id="C10")
        assert done.status == status
    never = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    with pytest.raises(InputError, match=r"not the customer of this checkout"):
        router.cancel(never.request_id, customer_id="C9")
    assert router.cancel(never.request_id, customer_id="C10").status == "cancelled"


def test_select_holds_a_kept_option_set_without_reading_it_back(
    router: OnlineRouter,
    state_location: Path | str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The router that made the options holds from its own copy (the store
    checks the revision in the hold); after another replica requoted, it
    holds from the stored revision; after that one cancelled, it refuses."""
    assert router.store is not None
    reads: list[str] = []
    get_quote = type(router.store).get_quote

    def counted(self: Any, request_id: str) -> Any:
        reads.append(request_id)
        return get_quote(self, request_id)

    monkeypatch.setattr(type(router.store), "get_quote", counted)
    answer = router.generate_fulfillment_options(
        "C10", [("TEE", 1)], "606", now=MONDAY_10
    )
    rid = answer.request_id
    assert router.select(rid, "gold").nodes == ("ST-CHI",)
    assert reads == []
    with tiny_router(tmp_path / "b", state=state_location, scores=False) as other:
        assert other.requote(rid, now=MONDAY_10).revision == 2
        reads.clear()
        held = router.select(rid, "platinum")  # this router keeps revision 1
        assert held.ok and held.nodes == ("WH-EAST",) and reads == [rid]
        assert available(router, "WH-EAST", "TEE") == 99
        assert other.cancel(rid).status == "cancelled"
        with pytest.raises(InputError, match=r"checkout already cancelled"):
            router.select(rid, "gold")
    assert available(router, "WH-EAST", "TEE") == 100
    assert router.store.check_consistency() == []


def test_unknown_and_expired_ids(tmp_path: Path, new_state: NewState) -> None:
    with tiny_router(
        tmp_path, state=new_state(), reservation_ttl_s=60, quote_ttl_s=3600
    ) as r:
        answer = r.generate_fulfillment_options(
            "C5", [("MUG", 20)], "100", now=MONDAY_10
        )
        with pytest.raises(
            InputError, match=r"field 'option_id': value 'platinum': not an"
        ):
            r.select(answer.request_id, "platinum")
        with pytest.raises(
            InputError, match=r"no option selected for this request yet"
        ):
            r.confirm(answer.request_id)
        with pytest.raises(
            InputError, match=r"^field 'request_id': value 'x': unknown"
        ):
            r.select("x", "gold")
        t0 = MONDAY_10 + dt.timedelta(minutes=1)  # on the options' clock
        assert r.select(answer.request_id, "gold", now=t0).status == "held"
        assert r.store is not None
        assert r.store.available("WH-EAST", ["MUG"], now=t0.timestamp())["MUG"] == 0
        later = t0 + dt.timedelta(seconds=61)
        # the hold lapsed: its stock is free again, another checkout can take it
        assert r.store.available("WH-EAST", ["MUG"], now=later.timestamp())["MUG"] == 20
        with pytest.raises(
            InputError, match=r"hold expired at .*; select an option again"
        ):
            r.confirm(answer.request_id, now=later)
        assert r.store.expire_stale(now=later.timestamp()) == 1
        assert available(r, "WH-EAST", "MUG") == 20
        assert r.cancel(answer.request_id, now=later).status == "expired"
    with tiny_router(tmp_path, state=new_state(), quote_ttl_s=1e-6) as r:
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "100", now=MONDAY_10
        )
        with pytest.raises(InputError, match=r"options expired .*generate them again"):
            r.select(answer.request_id, "gold")


def test_rejected_when_the_stock_is_gone(
    tmp_path: Path, state_location: Path | str
) -> None:
    with tiny_router(tmp_path, state=state_location) as r:
        a = r.generate_fulfillment_options("C5", [("SOFA", 2)], "100", now=MONDAY_10)
        b = r.generate_fulfillment_options("C6", [("SOFA", 2)], "100", now=MONDAY_10)
        assert r.select(a.request_id, "gold").status == "held"
        lost = r.select(b.request_id, "gold")
        assert (lost.ok, lost.status) == (False, "rejected")
        assert lost.shortfall == (("WH-EAST", "SOFA", 2, 0),)
        c = r.generate_fulfillment_options("C7", [("SOFA", 1)], "100", now=MONDAY_10)
        assert c.options == () and "out of stock" in c.missing["gold"]


def test_a_router_deletes_what_ended_checkouts_left(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing else deletes checkouts: a select now and then deletes what
    checkouts whose hold expired and whose quote is gone left, a grace
    after (here none, at every select), as the quotes are; their orders
    stay."""
    monkeypatch.setattr(holds, "KEEP_S", 0.0, raising=False)
    monkeypatch.setattr(holds, "PRUNE_EVERY_S", 0.0, raising=False)
    # holds of 2 s: three checkouts' options and selects took over 0.2 s on
    # PostgreSQL under the fresh clone's load, and the confirm found its
    # hold expired
    with tiny_router(
        tmp_path, state=state_location, reservation_ttl_s=2.0, quote_ttl_s=3.0
    ) as r:
        store = r.store
        assert store is not None

        def held() -> str:
            answer = r.generate_fulfillment_options("C5", [("TEE", 1)], "606")
            assert answer.recommended is not None
            assert r.select(answer.request_id, answer.recommended).ok
            return answer.request_id

        abandoned, confirmed, cancelled = held(), held(), held()
        assert r.confirm(confirmed).status == "confirmed"
        assert r.cancel(cancelled).status == "cancelled"
        time.sleep(3.2)  # every hold and quote expired
        assert store.prune_quotes() == 3
        kept = held()  # this select prunes
        rows = run_sql(state_location, "SELECT request_id FROM checkouts")
        assert [str(row[0]) for row in rows] == [kept]
        rows = run_sql(state_location, "SELECT request_id FROM reservations")
        assert [str(row[0]).split("#")[0] for row in rows] == [kept]
        assert store.online_orders()["order_id"].unique().tolist() == [confirmed]
        assert store.checkout_state(abandoned) is None
        assert store.check_consistency() == []


@pytest.mark.parametrize("days_ahead", [9, -300])
def test_a_checkout_on_its_own_clock_is_judged_on_it(
    tmp_path: Path, days_ahead: int
) -> None:
    """Options and select given instants of a day other than today (a
    simulated day, a batch job's): the select is judged at its own instant.
    On a day after today every option was refused as shipping days late
    (the hold's instant read as wall-clock time since the answer), so
    ``tierflow simulate --day`` failed on any day after today."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_ahead)
    asked = dt.datetime.combine(day, dt.time(10), dt.timezone(dt.timedelta(hours=-5)))
    with tiny_router(tmp_path) as r:
        answer = r.generate_fulfillment_options("C4", [("TEE", 1)], "606", now=asked)
        chosen = answer.options[0].option_id
        held = r.select(answer.request_id, chosen, now=asked + dt.timedelta(minutes=2))
        assert held.status == "held", held
        done = r.confirm(answer.request_id, now=asked + dt.timedelta(minutes=3))
        assert done.status == "confirmed", done


@pytest.mark.parametrize("days_ahead", [-300, 9])
def test_options_judge_holds_on_the_checkout_clock(
    tmp_path: Path, state_location: Path | str, days_ahead: int
) -> None:
    """Options read the stock on the clock their holds were written on (the
    checkout's ``now``), not the wall clock: on a simulated day 300 days
    ago, C5's hold of both SOFAs (live on that day's clock) read as lapsed
    on the wall clock, so C6 was offered a SOFA its select was refused; on
    a day 9 days ahead, the hold read as live long after it lapsed on that
    day's clock, so C7 was told out of stock."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_ahead)
    asked = dt.datetime.combine(day, dt.time(10), dt.timezone(dt.timedelta(hours=-5)))
    with tiny_router(tmp_path, state=state_location, reservation_ttl_s=900) as r:
        a = r.generate_fulfillment_options("C5", [("SOFA", 2)], "100", now=asked)
        assert r.select(a.request_id, "gold", now=asked).status == "held"
        later = asked + dt.timedelta(minutes=5)  # the hold is live
        b = r.generate_fulfillment_options("C6", [("SOFA", 1)], "100", now=later)
        assert b.options == () and "out of stock" in b.missing["gold"]
        lapsed = asked + dt.timedelta(minutes=16)  # past its 900 s
        c = r.generate_fulfillment_options("C7", [("SOFA", 1)], "100", now=lapsed)
        gold = c.option("gold")
        assert gold.nodes == ("WH-EAST",)
        assert r.select(c.request_id, "gold", now=lapsed).status == "held"


def test_an_option_whose_cutoff_passed_is_not_held(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Gold from ST-CHI (cutoff 15:00 Chicago) quoted at 14:50 there ships
    today; selected twenty minutes later it would ship tomorrow, so its date
    is a promise the node cannot keep: refused as expired (on the replica
    that quoted it and on another, which reads the quote from the store),
    held again once requoted. Before, the stale plan was held and confirmed."""
    chicago = dt.timezone(dt.timedelta(hours=-6))
    asked = dt.datetime(2026, 1, 5, 14, 50, tzinfo=chicago)
    with (
        tiny_router(tmp_path, state=state_location) as a,
        tiny_router(tmp_path, state=state_location) as b,
    ):
        answer = a.generate_fulfillment_options("C4", [("TEE", 1)], "606", now=asked)
        gold = next(o for o in answer.options if o.option_id == "gold")
        assert gold.nodes == ("ST-CHI",)
        assert gold.delivery_date == dt.date(2026, 1, 6)
        later = asked + dt.timedelta(minutes=20)  # on the options' clock
        for router in (a, b):
            with pytest.raises(
                InputError,
                match=r"^field 'request_id': value '[^']+': options expired: option "
                r"'gold' ships from ST-CHI on 2026-01-05, whose cutoff has passed "
                r"\(it would ship on 2026-01-06\): requote for the new dates$",
            ):
                router.select(answer.request_id, "gold", now=later)
        again = b.requote(answer.request_id, now=asked + dt.timedelta(minutes=20))
        moved = next(o for o in again.options if o.option_id == "gold")
        assert moved.delivery_date > gold.delivery_date
        assert a.select(answer.request_id, "gold", now=later).status == "held"
        # within the cutoff the option is held as offered
        first = a.generate_fulfillment_options("C4", [("TEE", 1)], "606", now=asked)
        soon = asked + dt.timedelta(minutes=5)
        assert b.select(first.request_id, "gold", now=soon).status == "held"


def test_a_requote_counts_the_checkouts_own_hold_as_its_stock(
    router: OnlineRouter,
) -> None:
    """C10 holds Gold of both SOFAs WH-EAST has (its last units). A requote
    (the live hub's, when the map moves) read those units as taken by
    someone else: every option "removed: out of stock: no node holds the
    quantity of ['SOFA']" while the shopper held them, and switching to
    Platinum (the same node's units, which the swap releases first) was
    refused as no longer offered. Another checkout still finds none; the
    requote offers what the first answer did and its Platinum is held."""
    first = router.generate_fulfillment_options(
        "C10", [("SOFA", 2)], "100", now=MONDAY_10
    )
    assert [o.option_id for o in first.options] == ["gold", "platinum", "silver"]
    assert router.select(first.request_id, "gold").status == "held"
    other = router.generate_fulfillment_options(
        "C9", [("SOFA", 1)], "100", now=MONDAY_10
    )
    assert other.options == () and "out of stock" in other.missing["gold"]
    again = router.requote(first.request_id, now=MONDAY_10)
    assert [o.option_id for o in again.options] == ["gold", "platinum", "silver"]
    assert again.option("gold") == first.option("gold")
    assert router.select(first.request_id, "platinum").status == "held"
    assert available(router, "WH-EAST", "SOFA") == 0
    assert router.confirm(first.request_id).status == "confirmed"
