"""Capacity and bid prices move the answer: overflow exactly when capacity is
short, its discount bound, live capacity events, stored bid prices.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.orchestration.checkout.helpers import available, event, event_on, ids
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.capacity.score import capacity_scores
from tierflow.data.errors import InputError
from tierflow.data.store import (
    StateStore,
    StoredEvent,
    StoreUnavailable,
    is_postgres_url,
)
from tierflow.data.vocabulary import HoldStatus
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.bid_prices import FixedBidPrices
from tierflow.orchestration.checkout.router import OnlineRouter, option_changes
from tierflow.orchestration.checkout.shopper_words import Refusal
from tierflow.service import feed
from tierflow.service.feed import CapacityFollower


@pytest.mark.parametrize("free", [0.0, 0.05, 0.14, 0.16, 0.5])
def test_overflow_exactly_when_capacity_is_short(
    tmp_path: Path, state_location: Path | str, free: float
) -> None:
    """Every node keeps ``free`` of its nominal capacity after its backlog."""
    bid = FixedBidPrices([2.0, 1.0, 3.0])
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        net = r.network
        for i, node in enumerate(net.node_ids):
            event(r, node, "backlog", float(net.capacity[i] * (1 - free)), i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 2)], "606", now=MONDAY_10
        )
    work = 2.0  # TEE weighs 1 capacity unit
    expected = capacity_scores(
        net.capacity, 1.0, net.capacity * (1 - free), 0.0, False, workload=work
    )
    short = bool(expected.max() < r.policy.overflow_score_threshold)
    assert ("overflow" in ids(answer)) is short
    if not short:
        assert answer.missing["overflow"].startswith("capacity is not short")
        return
    over = answer.option("overflow")
    assert over.ship_date > MONDAY_10.date()  # ships later
    # what Gold would have used today; with no room today, nothing
    today = answer.option("gold") if "gold" in ids(answer) else None
    freed = (
        0.0
        if today is None
        else 2.0 * float(bid.current()[net.node_idx(today.nodes[0])])
    )
    least = r.policy.overflow_min_discount
    bound = min(r.policy.overflow_discount_cap, max(freed, least))
    assert 0 < over.discount <= bound
    assert over.discount == pytest.approx(
        min(bound, over.price + over.discount), abs=0.01
    )
    assert over.label == f"Ship later, save ${over.discount:.2f}"
    if free == 0.0:  # no room anywhere today: overflow still answers
        assert ids(answer) == ["overflow"]
        assert "lacks room after the forecast" in answer.missing["gold"]


@pytest.mark.parametrize(
    ("cap", "bid", "least", "expected"),
    [
        (1.0, 5.0, 1.0, 1.0),  # the cap
        (50.0, 0.3, 0.25, 0.6),  # the value freed: bid price x 2 units
        (50.0, 0.0, 1.0, 1.0),  # the least discount: zero bid prices
    ],
)
def test_overflow_discount_bound(
    tmp_path: Path,
    state_location: Path | str,
    cap: float,
    bid: float,
    least: float,
    expected: float,
) -> None:
    """min(cap, max(bid price x the order's 2 units, the least discount),
    price): with zero bid prices (the day's forecast still fits) a network
    short by the capacity map still offers overflow a discount; it was $0,
    and overflow hidden as dominated by Silver (a later date, same price)."""
    policy = TierPolicy().with_changes(
        overflow_discount_cap=cap, overflow_min_discount=least
    )
    with tiny_router(
        tmp_path,
        state=state_location,
        policy=policy,
        bid_prices=FixedBidPrices([bid] * 3),
    ) as r:
        for i, node in enumerate(r.network.node_ids):
            event(r, node, "backlog", float(r.network.capacity[i]) * 0.95, i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 2)], "606", now=MONDAY_10
        )
    over = answer.option("overflow")
    assert over.discount == expected
    assert ("least $" in over.explanation) is (least > 2 * bid)


def test_ship_later_without_gold_or_silver_frees_nothing_today(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Every node full today (no room after its backlog): Gold and Silver
    are refused, and "Ship later" is the only option. Waiting frees no
    capacity today (nothing else would ship today), so its discount is the
    least one. It was valued at the bid price of the overflow's own node,
    whose capacity it uses tomorrow: "Ship later, save $8.00" at $3.00 for
    2 Tees whose own price is $11.00 (WH-EAST's bid price $4.00 x 2 units),
    up to the cap: free shipping on the busiest days."""
    bid = FixedBidPrices([4.0, 4.0, 4.0])
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        for i, node in enumerate(r.network.node_ids):
            event(r, node, "backlog", float(r.network.capacity[i]), i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 2)], "606", now=MONDAY_10
        )
    assert ids(answer) == ["overflow"]
    assert "lacks room after the forecast" in answer.missing["gold"]
    assert "lacks room after the forecast" in answer.missing["silver"]
    over = answer.option("overflow")
    own = over.price + over.discount
    assert (over.discount, over.price) == (1.0, round(own - 1.0, 2))
    assert over.label == "Ship later, save $1.00"
    assert over.explanation.endswith(
        "; discount $1.00 = min(cap $15.00, max(value of the capacity freed "
        f"today $0.00 (neither Gold nor Silver ships it today), least $1.00), "
        f"price ${own:.2f})"
    )


def test_ship_later_saves_against_every_option_shipping_sooner(
    router: OnlineRouter,
) -> None:
    """TEE to Chicago at 10:30 there, every node 90 % backlogged: Gold ships
    today from ST-CHI at $10.00; "Ship later" from WH-EAST (economy, its
    own price $11.00) was $11.00 - $1.00 = $10.00, no saving against Gold,
    and shown as its discount counts as a benefit. It is now priced from
    the cheapest other shown option: $10.00 - $1.00. Selected and
    confirmed, it is the option that was shown."""
    net = router.network
    for i, node in enumerate(net.node_ids):
        event(router, node, "backlog", 0.9 * float(net.capacity[i]), i)
    chicago_1030 = dt.datetime(
        2026, 1, 5, 10, 30, tzinfo=dt.timezone(-dt.timedelta(hours=6))
    )
    answer = router.generate_fulfillment_options(
        "C1", [("TEE", 1)], "606", now=chicago_1030
    )
    assert ids(answer) == ["gold", "overflow"]
    gold, over = answer.option("gold"), answer.option("overflow")
    assert (gold.nodes, gold.delivery_date, gold.price) == (
        ("ST-CHI",),
        dt.date(2026, 1, 6),
        10.0,
    )
    assert (over.nodes, over.service, over.ship_date, over.delivery_date) == (
        ("WH-EAST",),
        "economy",
        dt.date(2026, 1, 6),
        dt.date(2026, 1, 12),
    )
    assert (over.price, over.discount, over.label) == (
        9.0,
        1.0,
        "Ship later, save $1.00",
    )
    assert over.explanation.endswith(
        "; discount $1.00 = min(cap $15.00, max(value of the capacity freed "
        "today at ST-CHI $0.00, least $1.00), price $10.00); priced from "
        "gold's $10.00 (its own $11.00): $10.00 - $1.00 = $9.00"
    )
    assert answer.missing["silver"] == (
        "dominated by gold: earlier date (2026-01-06 vs 2026-01-10), lower "
        "price ($10.00 vs $11.00)"
    )
    requoted = router.requote(answer.request_id, now=chicago_1030)
    assert requoted.option("overflow") == over
    assert router.select(answer.request_id, "overflow", now=chicago_1030).ok
    confirmed = router.confirm(answer.request_id, now=chicago_1030)
    assert (confirmed.status, confirmed.nodes) == ("confirmed", ("WH-EAST",))


def test_eta_and_price_follow_capacity(router: OnlineRouter) -> None:
    """TEE to Chicago: ST-CHI (ground, 1 day, $10 + $4 handling) beats WH-EAST
    ($13 + $1.50, 3 days); an outage at ST-CHI moves Gold to WH-EAST."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    gold = first.option("gold")
    assert (gold.nodes, gold.delivery_date, gold.price) == (
        ("ST-CHI",),
        dt.date(2026, 1, 6),
        10.0,
    )
    assert router.select(first.request_id, "gold").nodes == ("ST-CHI",)
    # another process logs an outage at ST-CHI; this router picks it up
    assert router.store is not None
    assert not router.refresh()
    with router.store.reopen() as other_store:
        other = CapacityMonitor.open(router.network, other_store)
        event_on(other, "ST-CHI", "outage", True)
    assert router.refresh()
    again = router.requote(first.request_id, now=MONDAY_10)
    assert again.request_id == first.request_id and again.revision == 2
    gold = again.option("gold")
    assert (gold.nodes, gold.delivery_date, gold.price, gold.cost) == (
        ("WH-EAST",),
        dt.date(2026, 1, 8),
        13.0,
        14.5,
    )
    changes = {c["option_id"]: c for c in option_changes(first, again)}
    assert changes["gold"]["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]
    assert changes["gold"]["fields"]["delivery_date"] == ["2026-01-06", "2026-01-08"]
    assert changes["gold"]["fields"]["price"] == [10.0, 13.0]
    # selecting gold again now holds the new plan (ST-CHI's unit comes back)
    held = router.select(first.request_id, "gold")
    assert held.nodes == ("WH-EAST",)
    assert available(router, "ST-CHI", "TEE") == 5
    assert available(router, "WH-EAST", "TEE") == 99


def _close_st_chi_elsewhere(router: OnlineRouter) -> None:
    """An outage of ST-CHI posted on another replica (another store
    connection), and ``router``'s map refreshed with it."""
    assert router.store is not None
    with router.store.reopen() as other_store:
        event_on(CapacityMonitor.open(router.network, other_store), "ST-CHI",
                 "outage", True)  # fmt: skip
    assert router.refresh()


def test_an_option_from_a_node_closed_since_is_not_held(router: OnlineRouter) -> None:
    """Gold from ST-CHI, offered before an outage there and selected after
    it: refused as expired (HTTP 409), as a passed cutoff is; held from the
    requote's plan. It was held and confirmed at the closed node."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert first.option("gold").nodes == ("ST-CHI",)
    _close_st_chi_elsewhere(router)
    with pytest.raises(
        InputError,
        match=r"^field 'request_id': value '[^']+': options expired: option 'gold' "
        r"ships from ST-CHI, closed since it was offered \(outage\): requote for "
        r"the new options$",
    ):
        router.select(first.request_id, "gold")
    assert available(router, "ST-CHI", "TEE") == 5
    router.requote(first.request_id, now=MONDAY_10)
    assert router.select(first.request_id, "gold").nodes == ("WH-EAST",)


def test_a_hold_at_a_node_closed_since_is_not_confirmed(
    router: OnlineRouter,
) -> None:
    """Gold from ST-CHI, held before an outage there and confirmed after it:
    refused as expired (HTTP 409), in its select's words, and nothing
    ordered; the order is placed from the requote's plan, at WH-EAST on the
    date it keeps. It was confirmed at the closed node: its work on ST-CHI's
    backlog (0 -> 1.0 while closed) and its line in ``online_orders`` at
    ST-CHI, shipping 2026-01-05 for 2026-01-06, which nothing moved."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert router.select(first.request_id, "gold").nodes == ("ST-CHI",)
    _close_st_chi_elsewhere(router)
    with pytest.raises(
        Refusal,
        match=r"^field 'request_id': value '[^']+': options expired: option 'gold' "
        r"ships from ST-CHI, closed since it was offered \(outage\): requote for "
        r"the new options$",
    ) as refused:
        router.confirm(first.request_id)
    assert refused.value.shopper == (
        "options expired: option 'gold' can't ship as offered (a location that "
        "ships your items is temporarily closed): requote for the new options"
    )
    chi = router.network.node_idx("ST-CHI")
    assert router.store is not None
    assert router.store.online_orders().empty
    assert router.monitor.backlog[chi] == 0.0
    assert available(router, "ST-CHI", "TEE") == 4  # held until swapped or lapsed
    gold = router.requote(first.request_id, now=MONDAY_10).option("gold")
    assert (gold.nodes, gold.delivery_date) == (("WH-EAST",), dt.date(2026, 1, 8))
    assert router.select(first.request_id, "gold").nodes == ("WH-EAST",)
    assert available(router, "ST-CHI", "TEE") == 5
    done = router.confirm(first.request_id)
    assert (done.status, done.nodes) == (HoldStatus.CONFIRMED, ("WH-EAST",))
    orders = router.store.online_orders()
    assert orders[["node_id", "ship_date", "delivery_date"]].values.tolist() == [
        ["WH-EAST", "2026-01-05", "2026-01-08"]
    ]
    assert router.monitor.backlog[chi] == 0.0
    # placed: a repeat answers as the first, whatever closes since
    event(router, "WH-EAST", "outage", True, 2)
    again = router.confirm(first.request_id)
    assert (again.status, again.nodes, again.replayed) == (
        HoldStatus.CONFIRMED,
        ("WH-EAST",),
        True,
    )


def test_an_overflow_from_a_node_closed_since_is_not_held(
    router: OnlineRouter,
) -> None:
    """Capacity short: "Ship later" from WH-EAST, offered before an outage
    there and selected after it: refused as expired, as Gold is (it was
    exempt, and held an order days ahead at a node whose outage has no
    end); the requote ships it from ST-CHI, open."""
    net = router.network
    for i, node in enumerate(net.node_ids):
        event(router, node, "backlog", float(net.capacity[i] * 0.95), i)
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert first.option("overflow").nodes == ("WH-EAST",)
    event(router, "WH-EAST", "outage", True, 5)
    with pytest.raises(
        InputError,
        match=r"^field 'request_id': value '[^']+': options expired: option "
        r"'overflow' ships from WH-EAST, closed since it was offered \(outage\): "
        r"requote for the new options$",
    ):
        router.select(first.request_id, "overflow", now=MONDAY_10)
    assert available(router, "WH-EAST", "TEE") == 100
    router.requote(first.request_id, now=MONDAY_10)
    held = router.select(first.request_id, "overflow", now=MONDAY_10)
    assert held.nodes == ("ST-CHI",)


@pytest.mark.parametrize(
    ("kind", "value", "since"),
    [
        ("staffing", 0.0, "without staff today since it was offered (staffing 0%)"),
        ("nominal_capacity", 0.0, "of no capacity since it was offered (nominal 0)"),
    ],
)
def test_a_hold_at_a_node_that_stopped_shipping_since_is_neither_held_nor_confirmed(
    router: OnlineRouter, kind: str, value: float, since: str
) -> None:
    """Gold from ST-CHI, offered and held; then ST-CHI's staff is gone (or
    its capacity is set to 0): it ships nothing today, as closed, so the
    select of the option is refused and so is the confirm of the hold, as
    for an outage, naming the cause. Until 2026-12-06 only an outage was
    refused: the order was confirmed at ST-CHI, shipping 2026-01-05 for
    2026-01-06, its work on ST-CHI's backlog (0 -> 1.0)."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    other = router.generate_fulfillment_options(
        "C6", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert first.option("gold").nodes == other.option("gold").nodes == ("ST-CHI",)
    assert router.select(first.request_id, "gold").nodes == ("ST-CHI",)
    event(router, "ST-CHI", kind, value, 1)
    expired = (
        rf"^field 'request_id': value '[^']+': options expired: option 'gold' "
        rf"ships from ST-CHI, {re.escape(since)}: requote for the new options$"
    )
    with pytest.raises(Refusal, match=expired):
        router.select(other.request_id, "gold")
    with pytest.raises(Refusal, match=expired) as refused:
        router.confirm(first.request_id)
    assert refused.value.shopper.startswith("options expired: option 'gold' can't ")
    assert router.store is not None
    assert router.store.online_orders().empty
    assert router.monitor.backlog[router.network.node_idx("ST-CHI")] == 0.0
    gold = router.requote(first.request_id, now=MONDAY_10).option("gold")
    assert gold.nodes == ("WH-EAST",)


def test_bad_capacity_event_applies_nothing(router: OnlineRouter) -> None:
    good = {"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "ST-CHI",
            "type": "outage", "value": True}  # fmt: skip
    bad = {**good, "event_id": "b", "node_id": "NOPE"}
    with pytest.raises(InputError, match=r"row 2: field 'node_id': value 'NOPE'"):
        router.apply_capacity_events([good, bad])
    assert not router.monitor.outage.any()


def test_stored_bid_prices_steer_gold(router: OnlineRouter) -> None:
    store = router.store
    assert store is not None
    router.bid_prices.refresh_s = 0.0  # type: ignore[attr-defined]
    store.put_bid_prices(
        {"ST-CHI": 1.0}, as_of=dt.datetime.now(dt.UTC), source="lp batch 7"
    )
    answer = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    gold = answer.option("gold")
    assert gold.nodes == ("WH-EAST",)  # 14.0 + 1.0 > 14.5 + 0
    assert answer.bid_prices.startswith("allocator bid prices (lp batch 7, as of")
    assert gold.explanation.endswith(answer.bid_prices)
    store.put_bid_prices({"ST-CHI": 0.2}, as_of=dt.datetime.now(dt.UTC), source="lp 8")
    again = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert again.option("gold").nodes == ("ST-CHI",)
    assert again.option("gold").capacity_cost == pytest.approx(0.2)


def test_the_capacity_log_is_read_outside_the_routers_lock(
    router: OnlineRouter,
) -> None:
    """A confirm pulls its own work from the store at once; that read (a round
    trip on PostgreSQL) must not hold the lock every other request's answer
    waits for: only applying the events does."""
    held_during_read: list[bool] = []
    monitor = router.monitor
    read = monitor.logged_since

    def watched() -> list[StoredEvent]:
        taken = threading.Event()

        def probe() -> None:  # another thread: can it take the lock now?
            if router.lock.acquire(blocking=False):
                router.lock.release()
                taken.set()

        other = threading.Thread(target=probe)
        other.start()
        other.join()
        held_during_read.append(not taken.is_set())
        return read()

    monitor.logged_since = watched  # type: ignore[method-assign]
    answer = router.generate_fulfillment_options("C5", [("TEE", 1)], "606")
    assert answer.recommended is not None
    router.select(answer.request_id, answer.recommended)
    before = monitor.n_applied
    assert router.confirm(answer.request_id).status == "confirmed"
    assert monitor.n_applied > before  # the order's work, applied at once
    assert held_during_read and not any(held_during_read)


def _counted_pulls(router: OnlineRouter) -> list[int]:
    """One entry per :meth:`OnlineRouter.refresh` from now on."""
    pulls: list[int] = []
    pull = router.refresh

    def counted() -> bool:
        pulls.append(1)
        return pull()

    router.refresh = counted  # type: ignore[method-assign]
    return pulls


def _logged_elsewhere(router: OnlineRouter, store: StateStore) -> None:
    """Another process logs a staffing event of the router's first node."""
    with store.reopen() as other:
        other.append_events(
            [{"event_id": "elsewhere", "ts": "2026-01-05T10:00:00Z",
              "node_id": router.network.node_ids[0], "type": "staffing",
              "value": 50}]
        )  # fmt: skip


def _pulled_after(router: OnlineRouter, seq: int, deadline: float) -> bool:
    """Whether the router's map pulled in an event after ``seq`` by
    ``deadline`` (the steady clock)."""
    while router.monitor.last_seq == seq and time.monotonic() < deadline:
        time.sleep(0.02)
    return router.monitor.last_seq > seq


class _Gate:
    """Open or closed to the follower's log reads. A read holds the gate's
    lock from passing it to its answer, so :meth:`close` returns only once
    no read is under way: a read that passed just before the gate closed
    read the log after a confirm's commit but before the confirm applied
    its own work to the map, and pulled it (the test failed once at load
    6.9)."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._reading = threading.Lock()

    def close(self) -> None:
        with self._reading:
            self._open.clear()

    def open(self) -> None:
        self._open.set()

    def read(self, last: Callable[[], int]) -> int:
        with self._reading:
            assert self._open.wait(10)
            return last()


def _gated_follower_reads(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> _Gate:
    """A gate on the log reads of the connections ``store.reopen()`` gives
    (the follower's): while it is closed the follower waits to look."""
    gate = _Gate()
    reopen = store.reopen

    def gated_reopen(**wait: Any) -> Any:
        own = reopen(**wait)
        last = own.last_event_seq
        own.last_event_seq = lambda: gate.read(last)  # type: ignore[method-assign]
        return own

    monkeypatch.setattr(store, "reopen", gated_reopen)
    return gate


def test_the_follower_does_not_pull_what_a_confirm_pulled(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A confirm applies its own work at once, read with its commit (no
    pull of its own); the server's follower, woken by the same events, tells
    the pages but reads the log again only for events its router has not
    applied (another process's)."""
    store = router.store
    assert store is not None
    pulls = _counted_pulls(router)
    gate = _gated_follower_reads(store, monkeypatch)
    changed = threading.Event()
    follower = CapacityFollower(router, changed.set)
    follower.start()
    try:
        answer = router.generate_fulfillment_options("C5", [("TEE", 1)], "606")
        assert answer.recommended is not None
        router.select(answer.request_id, answer.recommended)
        gate.close()  # the confirm runs to its end before the follower looks
        before = router.monitor.last_seq
        assert router.confirm(answer.request_id).status == "confirmed"
        assert router.monitor.last_seq > before  # the order's work, applied
        assert pulls == []  # read with the confirm's commit
        gate.open()
        assert changed.wait(10)  # the follower saw the order's work ...
        assert pulls == []  # ... and did not read the log again for it
        seq = router.monitor.last_seq
        _logged_elsewhere(router, store)
        assert _pulled_after(router, seq, time.monotonic() + 10) and len(pulls) == 1
    finally:
        gate.open()
        follower.stop()


def test_the_follower_writes_options_answered_while_the_store_failed(
    router: OnlineRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Option sets whose write failed reach the store from a quiet replica
    (no other answer written) within a read of the log or two, whatever
    the log's own reads did: the follower wrote them once, when the log
    was read again after failing, and a router's store still reconnecting
    then kept them in this process for good (QA: another replica's select
    said "unknown request id" 20 s after the outage)."""
    store = router.store
    assert store is not None

    def down(*_: object, **__: object) -> None:
        raise StoreUnavailable("the database is away")

    with monkeypatch.context() as outage:
        outage.setattr(store, "put_quote", down)
        answer = router.generate_fulfillment_options("C5", [("TEE", 1)], "606")
    with tiny_router(tmp_path, state=store.location, scores=False) as other:
        # not written yet: "retry" (it was "unknown request id", 404)
        assert other.select(answer.request_id, "gold").status == "unavailable"
        follower = CapacityFollower(router, lambda: None)
        follower.start()
        try:
            deadline = time.monotonic() + 10
            while store.get_quote(answer.request_id) is None:
                assert time.monotonic() < deadline, "never written"
                time.sleep(0.05)
        finally:
            follower.stop()
        assert other.select(answer.request_id, "gold").status == "held"


def test_a_follower_goes_on_after_an_error_nobody_expected(
    router: OnlineRouter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A defect in one turn of the follower (here writing the unsaved option
    sets) ended its thread: the replica followed no other process's events
    again and said nothing. Now the error is logged with its traceback and
    the next turn, a second later, pulls the events logged meanwhile."""
    failures = [RuntimeError("a defect")]
    save_unsaved = router.save_unsaved

    def failing_once() -> int:
        if failures:
            raise failures.pop()
        return save_unsaved()

    monkeypatch.setattr(router, "save_unsaved", failing_once)
    store = router.store
    assert store is not None
    follower = CapacityFollower(router, lambda: None)
    with caplog.at_level(logging.ERROR, logger="tierflow.service"):
        follower.start()
        try:
            deadline = time.monotonic() + 10
            while failures and time.monotonic() < deadline:
                time.sleep(0.02)
            seq = router.monitor.last_seq
            _logged_elsewhere(router, store)
            pulled = _pulled_after(router, seq, deadline)
        finally:
            follower.stop()
    assert pulled
    (record,) = [r for r in caplog.records if "capacity follower failed" in r.message]
    assert record.message == "capacity follower failed: RuntimeError('a defect')"
    assert record.exc_info is not None


def test_a_burst_of_events_is_one_pull(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events logged elsewhere within ``PULL_EVERY_S`` of the follower's
    last pull are pulled together, once the window has passed: a stream of
    confirms does not wake every worker once per confirm. (The window is
    1.5 s: at 0.4 s the four appends of a loaded CI run, 0.06 s apart,
    once outlasted it and made a third pull.)"""
    monkeypatch.setattr(feed, "PULL_EVERY_S", 1.5)
    pulls = _counted_pulls(router)
    follower = CapacityFollower(router, lambda: None)
    follower.start()
    node = router.network.node_ids[0]
    store = router.store
    assert store is not None
    try:
        with store.reopen() as other:

            def log_and_wait_for(k: int) -> None:
                other.append_events([{"event_id": f"burst-{k}", "type": "staffing",
                    "ts": "2026-01-05T10:00:00Z", "node_id": node, "value": 50 + k}])  # fmt: skip
                target = other.last_event_seq()
                deadline = time.monotonic() + 10
                while router.monitor.last_seq < target:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)

            log_and_wait_for(0)
            assert len(pulls) == 1
            for k in (1, 2, 3):  # each one poll apart (SQLite) or notified
                other.append_events([{"event_id": f"burst-{k}", "type": "staffing",
                    "ts": "2026-01-05T10:00:00Z", "node_id": node, "value": 50 + k}])  # fmt: skip
                time.sleep(0.06)
            log_and_wait_for(4)
    finally:
        follower.stop()
    assert len(pulls) == 2  # the first event, then the other four at once


def test_the_follower_snapshots_the_map_so_a_restart_replays_little(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router takes no snapshot, and every confirm logs its work: the
    follower saves one every ``SNAPSHOT_EVERY`` events it or the router
    applied, so a process opening the store replays only the log after it
    and has the same map (a server that never saved one replayed the whole
    log at every start)."""
    monkeypatch.setattr(feed, "SNAPSHOT_EVERY", 5, raising=False)
    store = router.store
    assert store is not None
    node = router.network.node_ids[0]
    follower = CapacityFollower(router, lambda: None)
    follower.start()
    try:
        with store.reopen() as other:
            for k in range(12):  # another process's events, pulled in
                other.append_events([{"event_id": f"snap-{k}", "type": "backlog_delta",
                    "ts": "2026-01-05T10:00:00Z", "node_id": node, "value": 1.0}])  # fmt: skip
            answer = router.generate_fulfillment_options("C5", [("TEE", 1)], "606")
            assert answer.recommended is not None
            router.select(answer.request_id, answer.recommended)
            assert router.confirm(answer.request_id).status == "confirmed"
            last = other.last_event_seq()
            deadline = time.monotonic() + 10
            snap = other.latest_capacity_snapshot()
            # the follower counts the snapshot saved just after the save,
            # which this connection may see first: wait for both
            while (
                snap is None or snap[0] <= last - 5 or router.monitor.unsnapshotted >= 5
            ) and time.monotonic() < deadline:
                time.sleep(0.02)
                snap = other.latest_capacity_snapshot()
            assert snap is not None and snap[0] > last - 5
            assert router.monitor.unsnapshotted < 5
            replayed = CapacityMonitor.open(router.network, other)
            assert replayed.last_seq == router.monitor.last_seq == last
            assert replayed.n_applied == router.monitor.n_applied
            assert np.array_equal(replayed.backlog, router.monitor.backlog)
    finally:
        follower.stop()


def test_a_split_overflow_never_ships_a_closed_nodes_line(
    tmp_path: Path, state_location: Path | str
) -> None:
    """MUG (only WH-EAST) and SPRAY (only WH-WEST, closed), every node short:
    no node may ship SPRAY later (an outage has no end time: it shipped from
    WH-WEST, closed, on a date nobody knew it would keep), so "Ship later"
    is refused, closed, in both words. The outage lifted, it ships split,
    SPRAY from WH-WEST. (Closing any node once dropped every closed holder
    from the split plan with no reason given.)"""
    bid = FixedBidPrices([0.0, 0.0, 0.0])
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        net = r.network
        for i, node in enumerate(net.node_ids):
            event(r, node, "backlog", float(net.capacity[i] * 0.95), i)
        event(r, "WH-WEST", "outage", True, 10)
        closed = r.generate_fulfillment_options(
            "C5", [("MUG", 1), ("SPRAY", 1)], "606", now=MONDAY_10
        )
        event(r, "WH-WEST", "outage", False, 11)
        answer = r.generate_fulfillment_options(
            "C5", [("MUG", 1), ("SPRAY", 1)], "606", now=MONDAY_10
        )
    assert "overflow" not in ids(closed)
    assert (closed.missing["overflow"], closed.unavailable["overflow"]) == (
        "every node that could ship ['SPRAY'] (WH-WEST) is closed (outage)",
        "Ship later isn't available right now: a location that ships your "
        "items is temporarily closed.",
    )
    over = answer.option("overflow")
    assert {s.node_id: s.lines[0].sku for s in over.shipments} == {
        "WH-EAST": "MUG",
        "WH-WEST": "SPRAY",
    }
    assert over.ship_date > MONDAY_10.date() and over.discount >= 1.0


def _chi_holds_mug_and_spray(router: OnlineRouter) -> None:
    """ST-CHI stocks MUG and SPRAY too: the one node holding the whole cart
    (MUG also at WH-EAST alone, SPRAY at WH-WEST alone)."""
    assert router.store is not None
    router.store.upsert_inventory(
        pd.DataFrame(
            {"node_id": ["ST-CHI"] * 2, "sku": ["MUG", "SPRAY"], "on_hand": [5, 5]}
        )
    )


_SHUT = {"outage": "is closed (outage)", "staffing": "has no staff today (staffing 0%)"}


@pytest.mark.parametrize(("kind", "value"), [("outage", True), ("staffing", 0.0)])
def test_overflow_splits_when_the_whole_carts_holder_is_closed(
    tmp_path: Path, state_location: Path | str, kind: str, value: object
) -> None:
    """MUG and SPRAY, which ST-CHI alone holds both of, every node short.
    ST-CHI closed (or without staff), Gold and Silver split the cart over
    WH-EAST (MUG) and WH-WEST (SPRAY), open, and so does "Ship later": a
    ship day after each node's own, its date the later shipment's, its
    cost with the split shipment's, priced from Silver's less the least
    discount (zero bid prices). It was refused, "every node that could
    ship it (ST-CHI) is closed (outage)", the open nodes together holding
    every line. With SPRAY's other holder closed too it is refused, said
    as before."""
    bid = FixedBidPrices([0.0, 0.0, 0.0])
    cart = [("MUG", 1), ("SPRAY", 1)]
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        _chi_holds_mug_and_spray(r)
        net = r.network
        for i, node in enumerate(net.node_ids):
            event(r, node, "backlog", float(net.capacity[i] * 0.95), i)
        whole = r.generate_fulfillment_options("C5", cart, "606", now=MONDAY_10)
        event(r, "ST-CHI", kind, value, 10)
        answer = r.generate_fulfillment_options("C5", cart, "606", now=MONDAY_10)
        event(r, "WH-WEST", "outage", True, 11)
        spray_shut = r.generate_fulfillment_options("C5", cart, "606", now=MONDAY_10)
        policy = r.policy
    assert whole.option("overflow").nodes == ("ST-CHI",)
    # SPRAY's every holder shut: refused, the whole cart's holder named, as
    # the other tiers name it
    assert "overflow" not in ids(spray_shut)
    assert spray_shut.missing["overflow"] == (
        f"every node that could ship it (ST-CHI) {_SHUT[kind]}"
    )
    assert ids(answer) == ["gold", "silver", "overflow"]
    gold, silver, over = (answer.option(t) for t in ("gold", "silver", "overflow"))
    for option in (gold, silver, over):
        assert {s.node_id: s.lines[0].sku for s in option.shipments} == {
            "WH-EAST": "MUG",
            "WH-WEST": "SPRAY",
        }
    at_once = {s.node_id: s.ship_date for s in gold.shipments}
    assert at_once == {"WH-EAST": MONDAY_10.date(), "WH-WEST": MONDAY_10.date()}
    later = {s.node_id: s.ship_date for s in over.shipments}
    assert later == {"WH-EAST": dt.date(2026, 1, 6), "WH-WEST": dt.date(2026, 1, 6)}
    assert over.ship_date == max(later.values())
    assert over.delivery_date == max(s.delivery_date for s in over.shipments)
    assert over.delivery_date > gold.delivery_date
    assert over.cost == pytest.approx(
        sum(s.cost for s in over.shipments) + policy.split_shipment_cost
    )
    assert (over.discount, over.price) == (1.0, round(silver.price - 1.0, 2))
    assert over.label == "Ship later, save $1.00"
    assert "overflow" not in answer.missing


def test_a_closed_whole_carts_holder_is_no_busy_day(
    tmp_path: Path, state_location: Path | str
) -> None:
    """MUG and SPRAY, ST-CHI (the one node holding both) closed, WH-EAST and
    WH-WEST idle: the cart splits today over nodes with room, so "Ship
    later" is not offered, capacity is not short for either line (the
    closed node's score of 0 made it short; it was refused as closed)."""
    bid = FixedBidPrices([0.0, 0.0, 0.0])
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        _chi_holds_mug_and_spray(r)
        event(r, "ST-CHI", "outage", True, 10)
        answer = r.generate_fulfillment_options(
            "C5", [("MUG", 1), ("SPRAY", 1)], "606", now=MONDAY_10
        )
    assert ids(answer) == ["gold", "silver"]
    assert answer.missing["overflow"] == (
        "capacity is not short: best capacity score for every line 1.00 >= 0.15"
    )


def test_a_split_cart_held_back_by_one_closed_line_reads_closed(
    tmp_path: Path, state_location: Path | str
) -> None:
    """MUG (only WH-EAST, open and idle) and SPRAY (only WH-WEST, closed):
    no tier can ship SPRAY today, and no node may ship it later: every tier
    is refused, each saying the node is closed. WH-EAST's free room vetoed
    overflow ("capacity is not short: best capacity score 1.00"), and Gold
    said WH-WEST "lacks room"; then overflow shipped SPRAY from WH-WEST,
    closed, on a date nobody knew it would keep."""
    bid = FixedBidPrices([0.0, 0.0, 0.0])
    with tiny_router(tmp_path, state=state_location, bid_prices=bid) as r:
        event(r, "WH-WEST", "outage", True, 10)
        split = r.generate_fulfillment_options(
            "C5", [("MUG", 1), ("SPRAY", 1)], "606", now=MONDAY_10
        )
        mug = r.generate_fulfillment_options("C5", [("MUG", 1)], "606", now=MONDAY_10)
    assert ids(split) == []
    closed = "every node that could ship ['SPRAY'] (WH-WEST) is closed (outage)"
    assert split.missing["gold"] == split.missing["overflow"] == closed
    # a cart every line of which can ship today is not held back
    assert "overflow" not in ids(mug) and mug.missing["overflow"].startswith(
        "capacity is not short: best capacity score 1.00 >= "
    )


def test_an_option_a_requote_dropped_is_a_conflict(router: OnlineRouter) -> None:
    """Every node holding the cart closes and the checkout is requoted (as
    the live hub requotes an open page): its gold is no longer offered. A
    select of it is out of date (409, as a closed node's), not a bad value:
    it answered 422 "not an option of this request". An id no revision
    could offer stays a bad value."""
    first = router.generate_fulfillment_options(
        "C5", [("TEE", 1)], "606", now=MONDAY_10
    )
    assert "gold" in ids(first)
    assert router.store is not None
    with router.store.reopen() as other_store:
        monitor = CapacityMonitor.open(router.network, other_store)
        for node in router.network.node_ids:
            event_on(monitor, node, "outage", True)
    assert router.refresh()
    again = router.requote(first.request_id, now=MONDAY_10)
    assert again.revision == 2 and "gold" not in ids(again)
    with pytest.raises(
        InputError,
        match=r"^field 'request_id': value '[^']+': options expired: option 'gold' "
        r"is no longer offered \(the options were requoted since: now \[.*\]\): "
        r"select one of the new options$",
    ):
        router.select(first.request_id, "gold", now=MONDAY_10)
    with pytest.raises(InputError, match=r"^field 'option_id': value 'diamond'"):
        router.select(first.request_id, "diamond", now=MONDAY_10)


def test_the_follower_sweeps_a_lapsed_hold_and_tries_a_failed_sweep_again(
    router: OnlineRouter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hold lapsed before the follower starts, nothing written after: its
    first wait reads the expiry and it sweeps. The first sweep fails (the
    store away): said once, and tried again ``RETRY_S`` (1 s) later, not in
    a loop at once; the second gives the stock back."""
    store = router.store
    assert store is not None
    assert store.reserve("r1", [("TEE", 1)], "ST-CHI", 1, now=time.time() - 10).ok
    calls: list[float] = []
    sweep = type(store).expire_stale

    def failing_once(self: Any, *, now: float | None = None) -> int:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise StoreUnavailable("the database is away")
        return sweep(self, now=now)

    monkeypatch.setattr(type(store), "expire_stale", failing_once)
    follower = CapacityFollower(router, lambda: None)
    with caplog.at_level(logging.WARNING, logger="tierflow.service"):
        follower.start()
        try:
            deadline = time.monotonic() + 10
            while (
                store.reservation_status("r1") != "expired"
                and time.monotonic() < deadline
            ):
                time.sleep(0.02)
        finally:
            follower.stop()
    assert store.reservation_status("r1") == "expired"
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.9 * feed.RETRY_S, calls
    said = [r.message for r in caplog.records if "not swept" in r.message]
    backend = "postgres" if is_postgres_url(store.location) else "sqlite"
    assert said == [f"lapsed holds not swept ({backend}): the database is away"]


def test_holds_lapsing_one_after_another_are_swept_together(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds lapsing 0.15 s apart are not a sweep (a write transaction) each
    in every process: one follower sweeps at most once in ``SWEEP_GAP_S``,
    and the holds that lapsed meanwhile go back in the next sweep."""
    store = router.store
    assert store is not None
    now = time.time()
    # five holds of 1 s lapsing 0.15 s apart, from now on
    for k in range(5):
        at = now - 1 + 0.15 * k
        assert store.reserve(f"r{k}", [("TEE", 1)], "ST-CHI", 1, now=at).ok
    calls: list[float] = []
    sweep = type(store).expire_stale

    def counted(self: Any, *, now: float | None = None) -> int:
        calls.append(time.monotonic())
        return sweep(self, now=now)

    monkeypatch.setattr(type(store), "expire_stale", counted)
    follower = CapacityFollower(router, lambda: None)
    follower.start()
    try:
        time.sleep(1.4)
    finally:
        follower.stop()
    assert {store.reservation_status(f"r{k}") for k in range(5)} == {"expired"}
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(g >= 0.9 * feed.SWEEP_GAP_S for g in gaps), gaps
    assert len(calls) <= 3, calls


def test_the_followers_snapshot_keeps_a_forget(
    router: OnlineRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's map carries another network's node (WH-NYC, an event of
    it logged); the operator forgets it (``capacity forget``) while the
    server runs. The follower's next snapshot wrote WH-NYC back from the
    map the server had opened: the forget undone, every open warned of it
    again. It now leaves out what the store's newest snapshot forgot."""
    monkeypatch.setattr(feed, "SNAPSHOT_EVERY", 5, raising=False)
    store = router.store
    assert store is not None
    node = router.network.node_ids[0]
    with store.reopen() as other:
        other.append_events([{"event_id": "nyc", "type": "staffing",
            "ts": "2026-01-05T10:00:00Z", "node_id": "WH-NYC", "value": 50}])  # fmt: skip
        router.monitor.refresh()  # the server's map carries WH-NYC
        assert router.monitor.carries_foreign
        operator = CapacityMonitor.open(router.network, other)
        assert operator.forget_nodes(["WH-NYC"]) == ["WH-NYC"]
        operator.snapshot()
        forgot = other.latest_capacity_snapshot()
        assert forgot is not None and "WH-NYC" not in str(forgot[1])
        follower = CapacityFollower(router, lambda: None)
        follower.start()
        try:
            for k in range(6):
                other.append_events([{"event_id": f"after-{k}", "type": "backlog_delta",
                    "ts": "2026-01-05T10:00:00Z", "node_id": node, "value": 1.0}])  # fmt: skip
            deadline = time.monotonic() + 10
            snap = other.latest_capacity_snapshot()
            while (
                snap is None or snap[0] <= forgot[0]
            ) and time.monotonic() < deadline:
                time.sleep(0.02)
                snap = other.latest_capacity_snapshot()
        finally:
            follower.stop()
        assert snap is not None and snap[0] > forgot[0], "the follower saved none"
        assert "WH-NYC" not in str(snap[1])
        assert not router.monitor.carries_foreign
