"""The live hub's memory: answers kept to diff requotes against go when
their quote expires, not only when newer answers push them out."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.service.helpers import OUTAGE
from tests.service_fixtures import (
    MONDAY_10,
    after_quote_read,
    replicas_one_behind,
    tiny_router,
)
from tierflow.data.store import StoreUnavailable
from tierflow.orchestration.checkout.router import OnlineRouter, OptionSet
from tierflow.orchestration.checkout.shopper_words import Refusal, node_closed
from tierflow.service import capacity_view, live
from tierflow.service.capacity_view import map_version
from tierflow.service.live import (
    MAX_REMEMBERED,
    LiveEvent,
    LiveHub,
    Subscriber,
    closed_data,
)
from tierflow.service.shopper_view import shopper_view

T = TypeVar("T")

#: A checkout's work confirmed at a node none of the tests' carts ship from.
WORK_ELSEWHERE = {
    "event_id": "checkout:x:WH-WEST",
    "ts": "2026-01-05T14:30:00Z",
    "node_id": "WH-WEST",
    "type": "backlog_delta",
    "value": 1,
}


def test_an_answer_whose_quote_expired_is_dropped_before_the_count_limit(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A minute's quote TTL, three answers at 0 s: after 61 s a new answer
    drops the two not requoted since (far below the 20,000 kept), while the
    one requoted at 30 s (open until 90 s) and the one of 60 s stay."""
    clock = [0.0]
    router = tiny_router(tmp_path, state=state_location, quote_ttl_s=60)
    hub = LiveHub(router, lambda: MONDAY_10, timer=lambda: clock[0])
    version = map_version(router)

    def answer(customer: str) -> str:
        return _answer(router, hub, customer).request_id

    try:
        old, requoted, lapsing = answer("C5"), answer("C6"), answer("C7")
        clock[0] = 30.0
        hub.remember(router.requote(requoted, now=MONDAY_10), version)
        clock[0] = 60.0
        at_60 = answer("C8")  # at its expiry exactly a quote is still open
        assert hub.n_remembered == 4
        clock[0] = 61.0
        newest = answer("C9")
        assert hub.n_remembered == 3 < MAX_REMEMBERED
        assert old not in hub and lapsing not in hub
        assert requoted in hub and at_60 in hub and newest in hub
    finally:
        router.close()


def _answer(router: OnlineRouter, hub: LiveHub, customer: str) -> OptionSet:
    """A checkout's options on the tiny network, kept by the hub as the
    options route keeps them."""
    made = router.generate_fulfillment_options(
        customer, [("TEE", 1)], "606", now=MONDAY_10
    )
    hub.remember(made, map_version(router))
    return made


def _drain(sub: Subscriber) -> list[LiveEvent]:
    """The events queued for ``sub``."""
    events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    return [ev for ev in events if ev is not None]


async def _updates_until_none_due(hub: LiveHub) -> list[int]:
    """Update until no checkout is due; how many were due after each."""
    due = []
    while True:
        await hub.update()
        due.append(hub.n_due)
        if not hub.n_due:
            return due


#: What a store restarting says.
STARTING = StoreUnavailable("the database system is starting up")


def _failing_requotes(
    router: OnlineRouter,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    when: Callable[[str, int], bool],
) -> list[float]:
    """``router.requote`` raises ``error`` on the tries ``when(request_id,
    k)`` picks (``k`` counts the tries from 1) and answers on the others;
    the steady clock's instant of every try, filled as they come."""
    tries: list[float] = []
    requote = router.requote

    def failing(request_id: str, *, now: dt.datetime | None = None) -> OptionSet:
        tries.append(time.monotonic())
        if when(request_id, len(tries)):
            raise error.with_traceback(None)
        return requote(request_id, now=now)

    monkeypatch.setattr(router, "requote", failing)
    return tries


def _run_closed(
    router: OnlineRouter, hub: LiveHub, steps: Callable[[], Awaitable[T]]
) -> T:
    """Run ``steps`` on an event loop (updates called there, not by the
    hub's task), then close the hub and the router whatever happened."""

    async def guarded() -> T:
        try:
            return await steps()
        finally:
            hub.close()

    try:
        return asyncio.run(guarded())
    finally:
        router.close()


def test_watched_checkouts_are_answered_again_within_the_budget_in_turn(
    tmp_path: Path,
) -> None:
    """Five open pages and an outage that moves each one's Gold: with no
    budget to spare an update answers one page (every confirm moves the map,
    and answering every open page at every update starved the checkout
    calls), the others stay due and the next updates follow at once, oldest
    first, until every page has its new dates. A confirm's work elsewhere
    then moves the map and none of the answers: only the map is sent."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10, requote_budget_s=0.0)
    made = [
        router.generate_fulfillment_options(f"C{i}", [("TEE", 1)], "606", now=MONDAY_10)
        for i in range(5)
    ]
    for m in made:  # as the options route does
        hub.remember(m, map_version(router))

    async def run() -> tuple[list[int], list[list[list[LiveEvent]]], list[int]]:
        subs = [await hub.subscribe(m.request_id) for m in made]
        assert [[ev.event for ev in _drain(sub)] for sub in subs] == [["capacity"]] * 5
        await hub.update()  # nothing moved: nothing due, nothing sent
        assert hub.n_due == 0 and all(sub.queue.empty() for sub in subs)
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        due: list[int] = []
        sent: list[list[list[LiveEvent]]] = []
        while not due or due[-1]:
            await hub.update()
            due.append(hub.n_due)
            sent.append([_drain(sub) for sub in subs])
        router.apply_capacity_events([WORK_ELSEWHERE])
        after = await _updates_until_none_due(hub)
        assert [[ev.event for ev in _drain(sub)] for sub in subs] == [["capacity"]] * 5
        return due, sent, after

    due, sent, after = _run_closed(router, hub, run)
    assert due == after == [4, 3, 2, 1, 0]
    order = sorted(range(5), key=lambda k: made[k].request_id)  # the streams'
    for update, k in enumerate(order):  # one page an update, in turn
        options = [
            [ev for ev in events if ev.event == "options"] for events in sent[update]
        ]
        assert [len(o) for o in options] == [int(j == k) for j in range(5)]
        (moved,) = options[k]
        assert moved.data["changes"][0]["option_id"] == "gold"


def test_a_stock_change_answers_again_only_the_watched_checkouts_of_its_skus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two open pages of TEE and one of MUG. A change of MUG's stock answers
    the MUG page again and no TEE page (a count of a thousand positions must
    not answer every open page); ST-CHI's TEE counted to 0 answers both TEE
    pages, whose streams get Gold from WH-EAST (revision 2, the change
    listed), and not the MUG page. No map is sent: it did not move."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    tees = [_answer(router, hub, c) for c in ("C1", "C2")]
    mug = router.generate_fulfillment_options("C3", [("MUG", 1)], "606", now=MONDAY_10)
    hub.remember(mug, map_version(router))
    asked: list[str] = []
    requote = router.requote

    def counted(request_id: str, *, now: dt.datetime | None = None) -> OptionSet:
        asked.append(request_id)
        return requote(request_id, now=now)

    monkeypatch.setattr(router, "requote", counted)
    store = router.store
    assert store is not None

    async def run() -> list[list[LiveEvent]]:
        subs = [await hub.subscribe(m.request_id) for m in (*tees, mug)]
        assert [[ev.event for ev in _drain(sub)] for sub in subs] == [["capacity"]] * 3
        store.change_stock([("WH-EAST", "MUG", -1)], add=True)
        hub.stock_changed({"MUG"})
        await _updates_until_none_due(hub)
        assert asked == [mug.request_id]
        asked.clear()
        store.change_stock([("ST-CHI", "TEE", 0)])
        hub.stock_changed({"TEE", "SOFA"})
        await _updates_until_none_due(hub)
        assert sorted(asked) == sorted(t.request_id for t in tees)
        return [_drain(sub) for sub in subs]

    sent = _run_closed(router, hub, run)
    assert [[ev.event for ev in events] for events in sent] == [["options"]] * 2 + [[]]
    for events, made in zip(sent[:2], tees, strict=True):
        (ev,) = events
        assert (ev.data["request_id"], ev.data["revision"]) == (made.request_id, 2)
        gold = next(o for o in ev.data["option_set"]["options"] if o["tier"] == "gold")
        assert gold["nodes"] == ["WH-EAST"]
        (moved,) = [c for c in ev.data["changes"] if c["option_id"] == "gold"]
        assert moved["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]


def test_a_late_second_stream_of_a_checkout_gets_its_last_answer(
    tmp_path: Path,
) -> None:
    """A checkout open in two tabs: the first tab's stream had it answered
    again after an outage (revision 2); the second tab, opened after that
    with the first answer, got the map and nothing else, its dates old until
    the next move. Now it gets the last answer (no changes listed: what it
    had is not known); a stream of a checkout never answered again gets none."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)

    first = _answer(router, hub, "C1")

    async def run() -> tuple[list[LiveEvent], list[LiveEvent], list[LiveEvent]]:
        tab_1 = await hub.subscribe(first.request_id, capacity=False)
        assert _drain(tab_1) == []
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        await _updates_until_none_due(hub)
        tab_2 = await hub.subscribe(first.request_id, capacity=False)
        never = await hub.subscribe(
            _answer(router, hub, "C2").request_id, capacity=False
        )
        await hub.update()  # nothing moved since: nothing more
        return _drain(tab_1), _drain(tab_2), _drain(never)

    moved, late, never = _run_closed(router, hub, run)
    assert [(ev.event, ev.data["revision"]) for ev in moved] == [("options", 2)]
    assert moved[0].data["changes"][0]["option_id"] == "gold"
    assert [(ev.event, ev.data["revision"]) for ev in late] == [("options", 2)]
    assert late[0].data["changes"] == []
    assert late[0].data["option_set"] == moved[0].data["option_set"]
    assert never == []


def test_a_checkout_requoted_over_http_reaches_its_stream(tmp_path: Path) -> None:
    """``POST …/requote`` answers a checkout again outside the hub: its open
    page gets that answer (what moved listed), and the hub's own re-answer
    after it, with nothing more moved, sends nothing."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    first = _answer(router, hub, "C1")

    async def run() -> tuple[list[LiveEvent], list[LiveEvent]]:
        tab = await hub.subscribe(first.request_id, capacity=False)
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        version = map_version(router)
        hub.answered_again(router.requote(first.request_id, now=MONDAY_10), version)
        requoted = _drain(tab)
        await _updates_until_none_due(hub)
        return requoted, _drain(tab)

    requoted, after = _run_closed(router, hub, run)
    assert [(ev.event, ev.data["revision"]) for ev in requoted] == [("options", 2)]
    changed = requoted[0].data["changes"][0]
    assert (changed["option_id"], changed["fields"]["nodes"]) == (
        "gold",
        [["ST-CHI"], ["WH-EAST"]],
    )
    assert after == []


def test_a_watched_checkout_whose_answer_was_pushed_out_still_gets_its_new_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page open while newer answers pushed its checkout's out of the hub
    (20,000 of them: a busy replica's minute): at the outage the hub had no
    answer to diff against and sent nothing, at every later re-answer too
    while the page stayed open. Now it sends the new answer whole (no changes
    listed); the next re-answer that moves nothing sends nothing."""
    monkeypatch.setattr(live, "MAX_REMEMBERED", 2)
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)

    watched = _answer(router, hub, "C1")

    async def run() -> tuple[bool, list[LiveEvent], list[LiveEvent]]:
        page = await hub.subscribe(watched.request_id, capacity=False)
        assert _drain(page) == []
        for k in range(2):  # other shoppers' answers push the page's out
            _answer(router, hub, f"C{k + 2}")
        pushed_out = watched.request_id not in hub
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        await _updates_until_none_due(hub)
        at_outage = _drain(page)
        router.apply_capacity_events([WORK_ELSEWHERE])
        await _updates_until_none_due(hub)
        return pushed_out, at_outage, _drain(page)

    pushed_out, at_outage, after = _run_closed(router, hub, run)
    assert pushed_out
    assert [(ev.event, ev.data["revision"]) for ev in at_outage] == [("options", 2)]
    assert at_outage[0].data["changes"] == []
    gold = next(
        o
        for o in at_outage[0].data["option_set"]["options"]
        if o["option_id"] == "gold"
    )
    before = next(o for o in watched.to_dict()["options"] if o["option_id"] == "gold")
    assert gold != before  # the outage's new dates, which the page had not had
    assert after == []


def test_a_watched_checkout_the_store_failed_is_answered_again_a_poll_later(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's own loop: the map moves and the store fails the watched
    checkout's requote twice (a database restarting). The checkout stays due
    and is tried again ``poll_s`` later each time, not at every turn of the
    loop, and its page gets the new dates at the third try. It was dropped
    at the first failure: the page kept the old dates until the map moved
    again or a minute passed."""
    router = tiny_router(tmp_path, state=state_location)
    hub = LiveHub(router, lambda: MONDAY_10, poll_s=0.2, min_interval_s=0.0)
    watched = _answer(router, hub, "C1")
    tries = _failing_requotes(router, monkeypatch, STARTING, lambda _, k: k <= 2)

    async def run() -> list[LiveEvent]:
        page = await hub.subscribe(watched.request_id, capacity=False)
        await hub.start()
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        hub.notify()
        got = await asyncio.wait_for(page.queue.get(), timeout=10)
        await hub.stop()
        return [got] if got is not None else []

    events = _run_closed(router, hub, run)
    assert [(ev.event, ev.data["revision"]) for ev in events] == [("options", 2)]
    assert events[0].data["changes"][0]["option_id"] == "gold"
    assert len(tries) == 3
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(tries))
    assert hub.n_due == 0


def test_a_checkout_the_store_fails_keeps_no_other_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two watched checkouts, the store failing the first in line (another
    replica's, its copy not here, while this replica's store is away): the
    second, whose copy this process keeps, gets its new dates in the same
    update; the first stays due for a poll later."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    made = [_answer(router, hub, f"C{k}") for k in (1, 2)]
    first, second = sorted(made, key=lambda m: m.request_id)  # the streams' order
    failing = first.request_id
    _failing_requotes(router, monkeypatch, STARTING, lambda r, _: r == failing)

    async def run() -> list[list[LiveEvent]]:
        pages = [
            await hub.subscribe(m.request_id, capacity=False) for m in (first, second)
        ]
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        await hub.update()
        return [_drain(page) for page in pages]

    at_first, at_second = _run_closed(router, hub, run)
    assert at_first == []
    assert [(ev.event, ev.data["revision"]) for ev in at_second] == [("options", 2)]
    assert hub.n_due == 1


def test_a_stream_opened_while_the_store_failed_its_requote_gets_it_next_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's stream opens after the map moved, and the store fails the
    requote that would bring the page the new dates: the checkout falls due
    and the next update answers it (the page waited for the next move of
    the map or the minute's re-answer)."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    watched = _answer(router, hub, "C1")
    router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
    _failing_requotes(router, monkeypatch, STARTING, lambda _, k: k == 1)

    async def run() -> tuple[list[LiveEvent], int, list[LiveEvent]]:
        await hub.update()  # the hub has seen the move, nobody watched then
        page = await hub.subscribe(watched.request_id, capacity=False)
        first, due = _drain(page), hub.n_due
        await hub.update()  # the map has not moved since
        return first, due, _drain(page)

    first, due, then = _run_closed(router, hub, run)
    assert (first, due) == ([], 1)
    assert [(ev.event, ev.data["revision"]) for ev in then] == [("options", 2)]
    assert hub.n_due == 0


def test_one_checkout_whose_requote_fails_keeps_nothing_from_the_other_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A defect in one watched checkout's requote (not the store's: an
    error nobody expected) failed the whole update: no stream got the new
    map, nor any other checkout its new dates. Now that one is logged and
    dropped; the map and the others' answers go out."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    broken, fine = _answer(router, hub, "C1"), _answer(router, hub, "C2")
    defect = RuntimeError("a defect")
    _failing_requotes(router, monkeypatch, defect, lambda r, _: r == broken.request_id)

    async def run() -> list[list[LiveEvent]]:
        pages = [await hub.subscribe(m.request_id) for m in (broken, fine)]
        for page in pages:
            assert [ev.event for ev in _drain(page)] == ["capacity"]
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        await _updates_until_none_due(hub)
        return [_drain(page) for page in pages]

    with caplog.at_level(logging.ERROR, logger="tierflow.service"):
        at_broken, at_fine = _run_closed(router, hub, run)
    assert [ev.event for ev in at_broken] == ["capacity"]
    assert [(ev.event, ev.data.get("revision")) for ev in at_fine] == [
        ("capacity", None),
        ("options", 2),
    ]
    assert f"live requote of {broken.request_id} failed" in caplog.text


def test_streams_opened_on_one_map_share_its_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each new stream built its own first map (6 s of CPU for 1,000 opens
    on the sample network, and a copy of it each). Streams opened on the
    map the hub built last get that event, the update's included; a moved
    map and one rebuilt from its store (a restore: the same state key, maybe
    other values) are built anew."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    built: list[dict[str, Any]] = []

    def counted(*args: Any, **kw: Any) -> dict[str, Any]:
        built.append(capacity_view.capacity_payload(*args, **kw))
        return built[-1]

    monkeypatch.setattr(live, "capacity_payload", counted)

    async def first_map() -> LiveEvent:
        (ev,) = _drain(await hub.subscribe(None))
        return ev

    async def run() -> None:
        a, b, c = [await first_map() for _ in range(3)]
        assert a is b is c and len(built) == 1
        router.apply_capacity_events([OUTAGE])
        moved = await first_map()
        assert moved is not a and len(built) == 2
        assert (
            moved.data["version"]
            == capacity_view.capacity_payload(router, MONDAY_10)["version"]
            != a.data["version"]
        )
        ops = await hub.subscribe(None)
        _drain(ops)
        router.apply_capacity_events([{**OUTAGE, "event_id": "ops-2", "value": False}])
        await hub.update()
        (published,) = _drain(ops)
        assert await first_map() is published and len(built) == 3
        key = map_version(router)
        router.monitor.attach(router.store)  # type: ignore[arg-type]
        assert map_version(router) == key
        assert await first_map() is not published and len(built) == 4

    _run_closed(router, hub, run)


def test_a_stale_maps_first_event_says_its_age_at_each_open(tmp_path: Path) -> None:
    """A map with a note (here stale: no event in the 60 s allowed) is not
    shared: its note says the map's age when the stream opens."""
    now = [MONDAY_10]
    router = tiny_router(tmp_path, capacity_max_age_s=60)
    hub = LiveHub(router, lambda: now[0])

    async def run() -> list[LiveEvent]:
        first = _drain(await hub.subscribe(None))  # the age counts from here
        now[0] += dt.timedelta(minutes=2)
        first += _drain(await hub.subscribe(None))
        now[0] += dt.timedelta(minutes=1)
        return first + _drain(await hub.subscribe(None))

    fresh, two, three = _run_closed(router, hub, run)
    assert not fresh.data["degraded"]
    assert [ev.data["notes"] for ev in (two, three)] == [
        [f"capacity map is stale: no capacity event in the {m} min since the "
         "server started, over the 60 s allowed"]
        for m in (2, 3)
    ]  # fmt: skip


def test_an_age_just_over_the_limit_is_not_printed_as_the_limit(
    tmp_path: Path,
) -> None:
    """QA's note read "is 20 s old, over the 20 s allowed" (20.3 s rounded
    down): an age that rounds to the limit it is over gets one decimal more,
    rounded up."""
    now = [MONDAY_10]
    router = tiny_router(tmp_path, capacity_max_age_s=60)
    hub = LiveHub(router, lambda: now[0])

    async def run() -> list[LiveEvent]:
        first = _drain(await hub.subscribe(None))  # the age counts from here
        now[0] += dt.timedelta(seconds=60.04)
        return first + _drain(await hub.subscribe(None))

    _, over = _run_closed(router, hub, run)
    assert over.data["notes"] == [
        "capacity map is stale: no capacity event in the 60.1 s since the "
        "server started, over the 60 s allowed"
    ]


def test_a_map_whose_event_failed_is_sent_at_the_next_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The map moved and writing its event failed (an error nobody
    expected): the update failed, but the move was already marked seen, so
    no stream got the map until it moved again. Now the next update sends it."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)
    payload = capacity_view.capacity_payload
    failures = [RuntimeError("a defect")]

    def failing_once(*args: Any, **kw: Any) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return payload(*args, **kw)

    async def run() -> list[LiveEvent]:
        ops = await hub.subscribe(None)
        _drain(ops)
        monkeypatch.setattr(live, "capacity_payload", failing_once)
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        with pytest.raises(RuntimeError, match="a defect"):
            await hub.update()
        await hub.update()
        return _drain(ops)

    sent = _run_closed(router, hub, run)
    assert [ev.event for ev in sent] == ["capacity"]
    assert sent[0].data["version"] == payload(router, MONDAY_10)["version"] != [0, 0]


def test_an_update_failing_again_and_again_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A defect that fails every update (here the map's event, with the map
    moved): the hub's loop goes on, and the failure is logged once with its
    traceback, not at every turn of the loop (four tracebacks a second)."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10, poll_s=0.02, min_interval_s=0.0)
    tries: list[float] = []

    def failing(*args: Any, **kw: Any) -> dict[str, Any]:
        tries.append(time.monotonic())
        raise RuntimeError("a defect")

    async def run() -> None:
        await hub.start()
        monkeypatch.setattr(live, "capacity_payload", failing)
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        hub.notify()
        while len(tries) < 5:
            await asyncio.sleep(0.01)
        await hub.stop()

    with caplog.at_level(logging.ERROR, logger="tierflow.service"):
        _run_closed(router, hub, run)
    said = [r for r in caplog.records if r.message.startswith("live update failed")]
    assert [r.message for r in said] == ["live update failed: RuntimeError('a defect')"]
    assert said[0].exc_info is not None


def test_a_checkout_cancelled_by_another_process_closes_its_streams_here(
    tmp_path: Path,
) -> None:
    """A page's stream on this process, the cancel on another (a load
    balancer sends them anywhere): a cancel moves no capacity, so the page
    kept live options for a cancelled checkout until the minute's
    re-answer. Now the next update reads which watched checkouts ended
    elsewhere (one read for all) and closes their streams; an open
    checkout's stream gets nothing."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10)

    cancelled, still_open = _answer(router, hub, "C1"), _answer(router, hub, "C2")
    assert router.select(cancelled.request_id, "gold").status == "held"
    store = router.store
    assert store is not None

    async def run() -> tuple[list[LiveEvent | None], list[LiveEvent]]:
        page = await hub.subscribe(cancelled.request_id, capacity=False)
        other_page = await hub.subscribe(still_open.request_id, capacity=False)
        with store.reopen() as elsewhere:  # another process's connection
            elsewhere.cancel_checkout(cancelled.request_id)
        await hub.update()
        events = [page.queue.get_nowait() for _ in range(page.queue.qsize())]
        return events, _drain(other_page)

    events, other = _run_closed(router, hub, run)
    assert [(ev.event, ev.data) for ev in events if ev is not None] == [
        (
            "closed",
            {
                "request_id": cancelled.request_id,
                "reason": "checkout already cancelled",
                "why": "cancelled",
            },
        )
    ]
    assert events[-1] is None  # the stream ends
    assert other == []
    assert cancelled.request_id not in hub


def test_a_checkout_requoted_by_another_process_reaches_its_streams_here(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A page's stream on this replica (``there``, in the private mode: an
    operator's page and a shopper's), the requote on another (``here``; a
    load balancer sends them anywhere): the streams got the new answer only
    at the minute's re-answer, and meanwhile showed the old revision's dates
    and prices. Now the update that reads which watched checkouts ended
    reads their revisions too (the same one read) and sends the stored
    answer, each page in its reader's view, once; another checkout's stream
    gets nothing."""
    with (
        tiny_router(tmp_path, state=state_location) as here,
        tiny_router(tmp_path, state=state_location, scores=False) as there,
    ):
        made = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        )
        other = here.generate_fulfillment_options(
            "C2", [("TEE", 1)], "606", now=MONDAY_10
        )
        hub = LiveHub(there, lambda: MONDAY_10, withhold=True)

        async def run() -> tuple[list[list[LiveEvent]], OptionSet]:
            operator = await hub.subscribe(made.request_id, capacity=False)
            shopper = await hub.subscribe(made.request_id, capacity=False, full=False)
            other_page = await hub.subscribe(other.request_id, capacity=False)
            for sub in (operator, shopper, other_page):  # this replica's requote
                assert [ev.data["revision"] for ev in _drain(sub)] == [2]
            requoted = await asyncio.to_thread(
                here.requote, made.request_id, now=MONDAY_10
            )
            await hub.update()
            first = [_drain(sub) for sub in (operator, shopper, other_page)]
            await hub.update()
            again = [_drain(sub) for sub in (operator, shopper, other_page)]
            assert again == [[], [], []]
            return first, requoted

        (seen, shopper_seen, other_seen), requoted = asyncio.run(run())
        hub.close()
        assert requoted.revision == 3
        assert [(ev.event, ev.data) for ev in seen] == [
            (
                "options",
                {
                    "request_id": made.request_id,
                    "revision": 3,
                    "changes": [],
                    "option_set": requoted.to_dict(),
                },
            )
        ]
        assert [(ev.event, ev.data) for ev in shopper_seen] == [
            (
                "options",
                {
                    "request_id": made.request_id,
                    "revision": 3,
                    "changes": [],
                    "option_set": shopper_view(requoted),
                },
            )
        ]
        assert other_seen == []


def test_a_checkout_unread_while_the_store_is_away_is_not_closed(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A replica answering a watched checkout again while its store cannot
    be read, its quote not in this process: nothing is sent, the page keeps
    its options. It sent "closed" ("unknown request id"): a live checkout's
    page was told it was over during the outage."""
    with (
        tiny_router(tmp_path, state=state_location) as here,
        tiny_router(tmp_path, state=state_location, scores=False) as there,
    ):
        made = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        )
        hub = LiveHub(there, lambda: MONDAY_10)
        try:
            assert there.store is not None
            there.store.close()  # the store goes away for this replica
            assert hub._requote(made.request_id) is None
            assert made.request_id not in hub
        finally:
            hub.close()


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("options expired (older than 1800 s): generate them again", "expired"),
        ("checkout already confirmed", "confirmed"),
        ("checkout already cancelled", "cancelled"),
        ("checkout already confirmed, cannot cancel", "confirmed"),
        ("checkout already expired", "expired"),
        ("unknown request id (no options were generated for it, or they were "
         "dropped)", "unknown"),
    ],
)  # fmt: skip
def test_a_closed_event_says_why_in_one_word(reason: str, why: str) -> None:
    """``closed`` carries ``why`` beside the router's words: a page told an
    expired checkout it was "completed or closed elsewhere"."""
    assert closed_data("r1", reason) == {
        "request_id": "r1",
        "reason": reason,
        "why": why,
    }


def test_a_closed_event_names_no_node_to_a_stream_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private-mode hub (``serve --operator-reads key``) whose re-answer
    of a watched checkout is refused for a reason that names a node (a
    ``Refusal``): a stream with the key reads the operator's words, one
    without the key the shopper's, with the same ``why``. The ``closed``
    event had no shopper view: every stream read the operator's reason."""
    router = tiny_router(tmp_path)
    hub = LiveHub(router, lambda: MONDAY_10, withhold=True)
    watched = _answer(router, hub, "C1")
    rid = watched.request_id
    refusal = Refusal(node_closed("gold", "ST-CHI"), field="request_id", value=rid)
    _failing_requotes(router, monkeypatch, refusal, lambda _, __: True)

    async def run() -> list[list[LiveEvent]]:
        pages = [
            await hub.subscribe(rid, capacity=False, full=full)
            for full in (True, False)
        ]
        router.apply_capacity_events([{**OUTAGE, "ts": "2026-01-05T14:00:00Z"}])
        await hub.update()
        return [_drain(page) for page in pages]

    operator, shopper = _run_closed(router, hub, run)
    assert [(ev.event, ev.data) for ev in operator] == [
        (
            "closed",
            {
                "request_id": rid,
                "reason": "options expired: option 'gold' ships from ST-CHI, "
                "closed since it was offered (outage): requote for the new options",
                "why": "expired",
            },
        )
    ]
    assert [(ev.event, ev.data) for ev in shopper] == [
        (
            "closed",
            {
                "request_id": rid,
                "reason": "options expired: option 'gold' can't ship as offered "
                "(a location that ships your items is temporarily closed): "
                "requote for the new options",
                "why": "expired",
            },
        )
    ]
    assert shopper[0].wire is not None and "ST-CHI" not in shopper[0].wire


#: When a ``POST …/requote`` on the hub's process writes its answer to the
#: store and sends it (on the event loop), against an update's read of
#: another replica's stored answer: before the read, after it, and after
#: the update made its event of it.
_ROUTE_STEPS = {
    "before": (("requote", "send"), (), ()),
    "stored before": (("requote",), (), ("send",)),
    "after": ((), ("requote", "send"), ()),
}


@pytest.mark.parametrize("requoted_here", list(_ROUTE_STEPS))
def test_a_requote_here_between_the_reads_of_anothers_is_sent_once_in_order(
    tmp_path: Path,
    state_location: Path | str,
    requoted_here: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another replica requotes a watched checkout (revision 3); this one's
    update reads the revisions, then, while it reads the stored answer, a
    ``POST …/requote`` here answers it again (revision 4, sent to its
    streams as the route does, on the event loop once the store has it).
    ``before`` the stored answer is read, that answer is this hub's own
    revision 4, which it sent again; so too when only the route's store
    write comes before the read and its sending after the update made its
    event (``stored before``: on PostgreSQL the requote runs in a thread,
    then the route sends it); ``after``, the stored revision 3 went out
    after 4. Now each stream gets revision 4 once and nothing older after
    it, and the hub keeps its own answer to diff the next re-answer
    against."""
    first, then, last = _ROUTE_STEPS[requoted_here]
    with (
        tiny_router(tmp_path, state=state_location) as there,
        tiny_router(tmp_path, state=state_location, scores=False) as here,
    ):
        rid = there.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        ).request_id
        hub = LiveHub(here, lambda: MONDAY_10, withhold=True)
        read_stored = here.stored_answer

        async def run() -> list[list[int]]:
            route = _Route(here, hub, rid, asyncio.get_running_loop())
            pages = [
                await hub.subscribe(rid, capacity=False),
                await hub.subscribe(rid, capacity=False, full=False),
            ]
            for page in pages:
                assert [ev.data["revision"] for ev in _drain(page)] == [2]
            pending: list[str] = []

            def stored_answer(request_id: str) -> Any:
                route.run(first)
                stored = read_stored(request_id)
                route.run(then)
                pending.extend(last)
                return stored

            def version_then_send(router: OnlineRouter) -> tuple[int, ...]:
                # the update's next step after the stored answers' events
                route.run(pending)
                pending.clear()
                return map_version(router)

            monkeypatch.setattr(live, "map_version", version_then_send)
            there.requote(rid, now=MONDAY_10)
            here.stored_answer = stored_answer  # type: ignore[method-assign]
            await hub.update()
            return [[ev.data["revision"] for ev in _drain(page)] for page in pages]

        seen = asyncio.run(run())
        hub.close()
        assert seen == [[4], [4]]
        assert rid in hub


class _Route:
    """``POST …/requote`` of ``request_id`` on ``router``'s process, in its
    two steps: ``requote`` (the store's part, in the calling thread) and
    ``send`` (the hub's, on ``loop``, waited for)."""

    def __init__(
        self,
        router: OnlineRouter,
        hub: LiveHub,
        request_id: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.router, self.hub, self.request_id, self.loop = (
            router,
            hub,
            request_id,
            loop,
        )
        self.answers: list[OptionSet] = []

    def run(self, steps: Sequence[str]) -> None:
        for step in steps:
            if step == "requote":
                self.answers.append(self.router.requote(self.request_id, now=MONDAY_10))
            else:
                answer, version = self.answers[-1], map_version(self.router)
                asyncio.run_coroutine_threadsafe(
                    _on_loop(
                        functools.partial(self.hub.answered_again, answer, version)
                    ),
                    self.loop,
                ).result()


async def _on_loop(func: Callable[[], None]) -> None:
    """``func()`` on the running event loop (as a route runs)."""
    func()


def test_a_live_requote_that_lost_to_another_replicas_streams_the_stored_one(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A page's stream opens on ``there`` (its map without the ST-CHI
    outage ``here`` read) while ``here`` requotes the checkout: both from
    revision 1, ``here``'s revision 2 stored first. The stream got
    ``there``'s own revision 2 (Gold from the closed ST-CHI, $10), an
    answer the store did not hold and no other replica held from; now it
    gets the stored revision 2, whole, once."""
    with replicas_one_behind(tmp_path, state_location) as (here, there, rid):
        won: list[OptionSet] = []
        hub = LiveHub(there, lambda: MONDAY_10)

        async def run() -> tuple[list[LiveEvent], list[LiveEvent]]:
            requote_here = functools.partial(here.requote, rid, now=MONDAY_10)
            with after_quote_read(there, requote_here) as done:
                page = await hub.subscribe(rid, capacity=False)
            won.extend(done)
            first = _drain(page)
            await hub.update()
            return first, _drain(page)

        first, after = _run_closed(there, hub, run)
        assert [(ev.event, ev.data) for ev in first] == [
            (
                "options",
                {
                    "request_id": rid,
                    "revision": 2,
                    "changes": [],
                    "option_set": won[0].to_dict(),
                },
            )
        ]
        assert won[0].option("gold").nodes == ("WH-EAST",)
        assert after == []


def test_a_requote_answered_in_an_outage_that_lost_streams_the_stored_one(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's stream on ``there`` (its map without the ST-CHI outage
    ``here`` read; opening it answered revision 2) got ``there``'s revision
    3 (Gold from ST-CHI, $10), answered while ``there`` could not write the
    store; ``here`` stored its own revision 3 meanwhile (Gold from WH-EAST,
    $13). When ``there``'s write lost, its stream kept its own answer (the
    stored revision was not newer than the one it had); now it gets the
    stored revision 3, whole, once (then revision 4: ``there``'s update
    read the outage, and answered the page again on it)."""
    with replicas_one_behind(tmp_path, state_location) as (here, there, rid):
        hub = LiveHub(there, lambda: MONDAY_10)
        assert there.store is not None

        def down(*_: object, **__: object) -> bool:
            raise StoreUnavailable("the database is away")

        async def run() -> tuple[OptionSet, OptionSet, list[Any], list[Any]]:
            page = await hub.subscribe(rid, capacity=False)
            _drain(page)
            with monkeypatch.context() as outage:  # a POST …/requote here
                outage.setattr(there.store, "put_quote", down)
                shown = there.requote(rid, now=MONDAY_10)
            hub.answered_again(shown, map_version(there))
            won = here.requote(rid, now=MONDAY_10)
            first = _drain(page)
            assert there.save_unsaved() == 0
            await hub.update()
            after = _drain(page)
            await hub.update()
            return shown, won, first, [*after, *_drain(page)]

        shown, won, first, after = _run_closed(there, hub, run)
        assert shown.option("gold").nodes == ("ST-CHI",)
        assert won.option("gold").nodes == ("WH-EAST",)
        assert [(ev.event, ev.data["revision"]) for ev in first] == [("options", 3)]
        assert first[0].data["option_set"] == shown.to_dict()
        assert [(ev.event, ev.data) for ev in after[:1]] == [
            (
                "options",
                {
                    "request_id": rid,
                    "revision": 3,
                    "changes": [],
                    "option_set": won.to_dict(),
                },
            )
        ]
        assert [ev.data["revision"] for ev in after] == [3, 4]
        assert [o["nodes"] for o in after[1].data["option_set"]["options"]] == [
            ["WH-EAST"],
            ["WH-EAST"],
        ]


def test_a_stream_opened_while_an_older_stored_answer_is_sent_gets_no_older_one(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica requotes a watched checkout (revision 3); this one's
    update makes the event of that stored answer, and before it is sent a
    second page of the checkout opens its stream here, whose first answer
    is revision 4 (answered again on opening: the hub no longer keeps an
    answer of it). The new stream got revision 4, then the update's 3: a
    page went back to the older dates and prices. Now it gets 4 alone; the
    first page gets 3 (what a second page's opening answers is not sent to
    the others)."""
    with (
        tiny_router(tmp_path, state=state_location) as there,
        tiny_router(tmp_path, state=state_location, scores=False) as here,
    ):
        rid = there.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        ).request_id
        hub = LiveHub(here, lambda: MONDAY_10)

        async def run() -> list[list[int]]:
            loop = asyncio.get_running_loop()
            page = await hub.subscribe(rid, capacity=False)
            assert [ev.data["revision"] for ev in _drain(page)] == [2]
            late: list[Subscriber] = []
            opened: list[bool] = []

            def version_then_open(router: OnlineRouter) -> tuple[int, ...]:
                # the update's next step after the stored answers' events
                # (once: the opening stream's requote reads the version too)
                if not opened:
                    opened.append(True)
                    opening = hub.subscribe(rid, capacity=False)
                    late.append(
                        asyncio.run_coroutine_threadsafe(opening, loop).result()
                    )
                return map_version(router)

            there.requote(rid, now=MONDAY_10)
            monkeypatch.setattr(live, "map_version", version_then_open)
            await hub.update()
            return [[ev.data["revision"] for ev in _drain(s)] for s in (page, *late)]

        assert _run_closed(here, hub, run) == [[3], [4]]


def test_what_a_checkouts_streams_were_sent_goes_with_them_or_with_the_checkout(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The hub's record of what a checkout's streams were sent (one per
    watched checkout) is kept while a stream watches it: the update after
    its last stream closed forgets it, and a checkout finished here
    (``forget``) goes at once, so the records stay as many as the watched
    checkouts."""
    router = tiny_router(tmp_path, state=state_location)
    hub = LiveHub(router, lambda: MONDAY_10)
    left, confirmed = (_answer(router, hub, c).request_id for c in ("C1", "C2"))

    async def run() -> list[list[str]]:
        pages = [await hub.subscribe(rid, capacity=False) for rid in (left, confirmed)]
        for rid in (left, confirmed):
            again = router.requote(rid, now=MONDAY_10)
            hub.answered_again(again, map_version(router))
        kept = sorted(hub._sent)
        hub.unsubscribe(pages[0])
        await hub.update()
        after_update = sorted(hub._sent)
        hub.forget(confirmed, "confirmed")
        return [kept, after_update, sorted(hub._sent)]

    assert _run_closed(router, hub, run) == [sorted([left, confirmed]), [confirmed], []]


def test_an_open_checkout_is_told_when_its_map_goes_stale_and_fresh_again(
    tmp_path: Path, state_location: Path | str
) -> None:
    """QA's case (2026-12-07): the map going stale (no event in the 60 s
    allowed) and fresh again (an event) moves no date or price, and a
    re-answer that moved no option was not sent: an open checkout page kept
    "Degraded: capacity map is stale" in its Details after the event, and
    never learnt its answer had become degraded. The flag's change is sent."""
    now = [MONDAY_10]
    router = tiny_router(tmp_path, state=state_location, capacity_max_age_s=60)
    hub = LiveHub(router, lambda: now[0])
    made = router.generate_fulfillment_options("C4", [("TEE", 1)], "606", now=now[0])
    hub.remember(made, map_version(router))
    assert not made.degraded

    async def run() -> list[list[LiveEvent]]:
        sub = await hub.subscribe(made.request_id)
        _drain(sub)
        now[0] += dt.timedelta(minutes=2)
        await _updates_until_none_due(hub)
        stale = _drain(sub)
        ts = now[0].astimezone(dt.UTC).isoformat()
        staffing = {"event_id": "s-1", "ts": ts, "node_id": "WH-WEST",
                    "type": "staffing", "value": 90}  # fmt: skip
        router.apply_capacity_events([staffing])
        await _updates_until_none_due(hub)
        return [stale, _drain(sub)]

    stale, fresh = _run_closed(router, hub, run)
    answers = [
        [ev.data["option_set"] for ev in events if ev.event == "options"]
        for events in (stale, fresh)
    ]
    assert [[a["degraded"] for a in sent] for sent in answers] == [[True], [False]]
    assert answers[0][0]["notes"] == [
        "capacity map is stale: no capacity event in the 2 min since the "
        "server started, over the 60 s allowed"
    ]
    assert [a["revision"] for sent in answers for a in sent] == [2, 3]
