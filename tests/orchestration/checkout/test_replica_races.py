"""One checkout's calls racing on three replicas of one store, on both
backends: what a load balancer's retry or a double click sends.

Each round makes an option set on one replica and fires calls on the same
checkout from the others at once (three confirms; a confirm and a cancel;
two selects; a requote and a select; a select and a confirm; a cancel
while another selects and confirms). Every race
must end as one caller alone would have: the confirms all answer
``confirmed`` and only one of them made the order; a confirm and a cancel
never both win. After every round the store is consistent, each node's
stock is its first stock (plus restocks) less exactly what the stored
orders took, and every replica's capacity map, once it has read the log,
carries each order's work once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.orchestration.checkout.helpers import (
    assert_stock_conserved,
    first_stock,
    orders_work,
)
from tests.service_fixtures import (
    MONDAY_10,
    after_quote_read,
    replicas_one_behind,
    tiny_router,
)
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import StateStore, StoreUnavailable
from tierflow.data.vocabulary import HoldStatus
from tierflow.orchestration.checkout.quotes import encode_quote
from tierflow.orchestration.checkout.router import OnlineRouter, OptionSet

ROUNDS = 60
_CARTS = ([("SOFA", 1)], [("TEE", 3)], [("TEE", 1)], [("TEE", 2), ("MUG", 1)])
_CUSTOMERS = ("C10", "C9", "C1")
_RACES = (
    "confirms",
    "confirm_cancel",
    "selects",
    "requote_select",
    "select_confirm",
    "cancel_unselected",
)


@pytest.fixture
def replicas(
    tmp_path: Path, state_location: Path | str
) -> Iterator[list[OnlineRouter]]:
    """Three routers on one fresh store."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                tiny_router(tmp_path, state=state_location, scores=k == 0)
            )
            for k in range(3)
        ]


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Every call at once; each answer, or the ``InputError`` it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except InputError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_checkout_raced_on_three_replicas_ends_as_one_caller_would(
    replicas: list[OnlineRouter],
) -> None:
    store = replicas[0].store
    assert store is not None
    network = replicas[0].network
    first = first_stock(store)
    rng = random.Random(7)
    seen: Counter[str] = Counter()
    for k in range(ROUNDS):
        if k % 10 == 9:  # restock: scarce, never gone for long
            frame = store.inventory_frame()
            frame["on_hand"] += 3
            store.upsert_inventory(frame[["node_id", "sku", "on_hand"]])
            first = {key: q + 3 for key, q in first.items()}
        a, b, c = rng.sample(replicas, 3)
        answer = a.generate_fulfillment_options(
            rng.choice(_CUSTOMERS), rng.choice(_CARTS), "606", now=MONDAY_10
        )
        rid, offered = answer.request_id, [o.option_id for o in answer.options]
        if not offered:
            continue
        race = _RACES[k % len(_RACES)]
        seen[race] += 1
        _run(race, (a, b, c), rid, rng.choice(offered), rng.choice(offered))
        _check(replicas, store, network, first)
    assert len(seen) == len(_RACES), seen  # every kind of race ran


def _run(
    race: str,
    routers: tuple[OnlineRouter, OnlineRouter, OnlineRouter],
    rid: str,
    one: str,
    two: str,
) -> None:
    """One race on checkout ``rid`` (option set made on the first router),
    checked as it ends."""
    a, b, c = routers
    if race not in ("selects", "requote_select", "cancel_unselected"):
        a.select(rid, one)
    if race == "confirms":
        got = _race([lambda: a.confirm(rid), lambda: b.confirm(rid),
                     lambda: c.confirm(rid)])  # fmt: skip
        if all(isinstance(g, InputError) for g in got):  # the hold was refused
            assert all("select an option" in str(g) for g in got), got
        else:
            statuses = [getattr(g, "status", g) for g in got]
            assert statuses == [HoldStatus.CONFIRMED] * 3, statuses
            assert sum(not g.replayed for g in got) == 1
    elif race == "confirm_cancel":
        got = _race([lambda: b.confirm(rid), lambda: c.cancel(rid)])
        won = [g for g in got if not isinstance(g, InputError)]
        assert len(won) == 1, got  # never confirmed and cancelled both
    elif race == "selects":
        got = _race([lambda: b.select(rid, one), lambda: c.select(rid, two)])
        if any(getattr(g, "status", None) == HoldStatus.HELD for g in got):
            # the last hold stands
            assert a.confirm(rid).status == HoldStatus.CONFIRMED
    elif race == "requote_select":
        _race([lambda: b.requote(rid, now=MONDAY_10), lambda: c.select(rid, one)])
    elif race == "cancel_unselected":  # a cancel while another selects, confirms
        got = _race([lambda: c.cancel(rid), lambda: _select_confirm(b, rid, one)])
        cancelled = getattr(got[0], "status", None) == HoldStatus.CANCELLED
        confirmed = getattr(got[1], "status", None) == HoldStatus.CONFIRMED
        assert not (cancelled and confirmed), got  # never answered both
        ordered = rid in set(a.store.online_orders()["order_id"]) if a.store else False
        assert ordered == confirmed, got
    else:
        _race([lambda: b.select(rid, two), lambda: c.confirm(rid)])


def _select_confirm(router: OnlineRouter, rid: str, option: str) -> Any:
    """Select ``option``, then confirm it when held: the confirm's answer,
    else the select's."""
    held = router.select(rid, option)
    return router.confirm(rid) if held.status == HoldStatus.HELD else held


def _check(
    replicas: list[OnlineRouter],
    store: StateStore,
    network: Network,
    first: dict[tuple[str, str], int],
) -> None:
    assert store.check_consistency() == []
    orders = store.online_orders()
    assert_stock_conserved(store, first, orders)
    work = orders_work(network, orders)
    for router in replicas:
        router.refresh()
        np.testing.assert_allclose(router.monitor.backlog, work, atol=1e-9)


def _requote_racing(
    loser: OnlineRouter, rid: str, elsewhere: Callable[[], Any]
) -> tuple[OptionSet, Any]:
    """``loser`` requotes ``rid`` while ``elsewhere`` changes its stored
    option set, interleaved without sleeping: the loser reads the stored
    revision, ``elsewhere`` runs whole (another replica requotes from the
    same revision and stores its answer first), then the loser answers and
    writes. The loser's answer, and what ``elsewhere`` returned."""
    with after_quote_read(loser, elsewhere) as done:
        lost = loser.requote(rid, now=MONDAY_10)
    return lost, done[0]


def test_two_replicas_requoting_at_once_answer_the_one_stored_revision(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A checkout's Gold ships from ST-CHI ($10, Tue 01-06) until an outage
    there, which ``here`` has read and ``there`` not yet: Gold then ships
    from WH-EAST ($13, Thu 01-08). Both requote the checkout at once;
    ``here``'s revision 2 is stored first. ``there`` answered its own
    revision 2 (ST-CHI, $10, Tue), which the store dropped: a select of its
    Gold on ``here`` held and confirmed WH-EAST for Thursday, and on
    ``there`` the closed ST-CHI. Now ``there``'s write is refused (the
    stored revision is no longer the one it read) and it answers the
    stored revision 2 whole: both shoppers see one answer, and the order,
    selected on either replica, is what it said."""
    with replicas_one_behind(tmp_path, state_location) as (here, there, rid):
        lost, won = _requote_racing(
            there, rid, lambda: here.requote(rid, now=MONDAY_10)
        )

        gold = won.option("gold")
        assert (won.revision, gold.nodes, gold.price, gold.delivery_date) == (
            2,
            ("WH-EAST",),
            13.0,
            dt.date(2026, 1, 8),
        )
        assert lost.to_dict() == won.to_dict()
        assert here.stored_answer(rid) == (2, won.to_dict())
        assert there.select(rid, "gold").nodes == ("WH-EAST",)
        assert here.select(rid, "gold").replayed  # the same hold
        assert there.confirm(rid).status == HoldStatus.CONFIRMED
        assert here.store is not None
        orders = here.store.online_orders()
        assert orders[["node_id", "ship_date", "delivery_date"]].to_dict("records") == [
            {
                "node_id": "WH-EAST",
                "ship_date": gold.ship_date.isoformat(),
                "delivery_date": "2026-01-08",
            }
        ]


def test_a_requote_that_lost_to_a_revision_stored_without_its_answer_answers_again(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The revision stored first was written after an outage, without its
    answer (a replica that answered it while the store was away), so it
    cannot be adopted: the losing replica answers again on top of it, as
    revision 3, which the store keeps with its answer."""
    with (
        tiny_router(tmp_path, state=state_location) as here,
        tiny_router(tmp_path, state=state_location, scores=False) as there,
    ):
        made = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        )
        rid = made.request_id
        store = here.store
        assert store is not None
        first = here._quotes.lookup(rid)
        assert first is not None

        def saved_after_an_outage() -> bool:
            again = dataclasses.replace(first, revision=2)
            return store.put_quote(rid, "C1", 2, encode_quote(again), ttl_s=60.0)

        lost, saved = _requote_racing(there, rid, saved_after_an_outage)
        assert lost.revision == 3
        assert here.stored_answer(rid) == (3, lost.to_dict())
        assert saved is True
        assert [o.option_id for o in lost.options] == [
            o.option_id for o in made.options
        ]


def _requote_unwritten(
    router: OnlineRouter, rid: str, monkeypatch: pytest.MonkeyPatch
) -> OptionSet:
    """``router`` requotes ``rid`` while its store cannot be written (its
    connection is away; the store stays up for the other replicas): the
    answer it kept in the process, to write once it can."""

    def down(*_: object, **__: object) -> bool:
        raise StoreUnavailable("the database is away")

    assert router.store is not None
    with monkeypatch.context() as outage:
        outage.setattr(router.store, "put_quote", down)
        return router.requote(rid, now=MONDAY_10)


def test_a_requote_answered_in_an_outage_that_lost_is_dropped_for_the_stored_one(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``there`` (its map without the ST-CHI outage ``here`` read) requotes
    a checkout while it cannot write the store: revision 2, Gold from
    ST-CHI ($10, Tue 01-06), shown to its shopper and kept in the process.
    ``here`` requotes the same checkout meanwhile and stores its revision
    2: Gold from WH-EAST ($13, Thu 01-08), and Silver. When ``there``
    wrote its answer after the outage, the store kept ``here``'s (the
    older-revision rule) and ``there`` kept its own: its select of Gold
    held the closed ST-CHI under the revision the store held WH-EAST for,
    and ``here``'s select of it held WH-EAST. Now ``there``'s write is
    compare-and-set as a live requote's: it lost, so ``there`` drops its
    copy and takes the stored revision. Its shopper was shown another
    Gold than the store's, so a select of Gold there is refused (requote);
    Silver, which only the stored answer offers, holds the stored plan."""
    with replicas_one_behind(tmp_path, state_location) as (here, there, rid):
        shown_there = _requote_unwritten(there, rid, monkeypatch)
        shown_here = here.requote(rid, now=MONDAY_10)
        assert [(o.option_id, o.nodes, o.price) for o in shown_there.options] == [
            ("gold", ("ST-CHI",), 10.0)
        ]
        assert [(o.option_id, o.nodes, o.price) for o in shown_here.options] == [
            ("gold", ("WH-EAST",), 13.0),
            ("silver", ("WH-EAST",), 11.0),
        ]
        assert (shown_there.revision, shown_here.revision) == (2, 2)

        assert there.save_unsaved() == 0  # lost: nothing written
        assert there.stored_answer(rid) == (2, shown_here.to_dict())
        with pytest.raises(InputError) as refused:
            there.select(rid, "gold")
        assert str(refused.value) == (
            f"field 'request_id': value {rid!r}: options expired: option 'gold' is not the "
            "one shown (revision 2 was answered here while the store could "
            "not be written, and another server's revision 2 was kept): "
            "requote for the new options"
        )
        assert there.select(rid, "silver").nodes == ("WH-EAST",)
        assert here.select(rid, "gold").nodes == ("WH-EAST",)  # what it showed
        assert there.confirm(rid).status == HoldStatus.CONFIRMED
        assert here.store is not None
        orders = here.store.online_orders()
        assert orders[["tier", "node_id", "delivery_date"]].to_dict("records") == [
            {"tier": "gold", "node_id": "WH-EAST", "delivery_date": "2026-01-08"}
        ]


def test_a_requote_refused_as_not_shown_is_held_once_requoted(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused shopper requotes there: revision 3, answered over the
    stored revision 2 and stored, is what its page shows and what a select
    of Gold there holds."""
    with replicas_one_behind(tmp_path, state_location) as (here, there, rid):
        _requote_unwritten(there, rid, monkeypatch)
        here.requote(rid, now=MONDAY_10)
        assert there.save_unsaved() == 0
        with pytest.raises(InputError, match="requote for the new options"):
            there.select(rid, "gold")
        again = there.requote(rid, now=MONDAY_10)
        assert again.revision == 3
        assert here.stored_answer(rid) == (3, again.to_dict())
        held = there.select(rid, "gold")
        assert (held.status, held.nodes) == (
            HoldStatus.HELD,
            again.option("gold").nodes,
        )


def test_a_requote_answered_in_an_outage_that_lost_holds_the_same_offer_stored(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both replicas on one map: the revision 2 ``there`` answered while it
    could not write the store offers what the stored revision 2 offers,
    option for option. Its write loses all the same (one answer per
    revision), and a select there holds the stored plan, which is what its
    shopper was shown."""
    with (
        tiny_router(tmp_path, state=state_location) as here,
        tiny_router(tmp_path, state=state_location, scores=False) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        ).request_id
        shown_there = _requote_unwritten(there, rid, monkeypatch)
        shown_here = here.requote(rid, now=MONDAY_10)
        assert [o.to_dict() for o in shown_there.options] == [
            o.to_dict() for o in shown_here.options
        ]
        assert there.save_unsaved() == 0
        assert there.stored_answer(rid) == (2, shown_here.to_dict())
        gold = shown_here.option("gold")
        assert there.select(rid, "gold").nodes == gold.nodes
        assert there.confirm(rid).status == HoldStatus.CONFIRMED


def test_a_requote_answered_in_an_outage_is_stored_with_its_answer(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody requoted meanwhile: the requote kept in the process is written
    over the revision it was answered from, with its answer, so another
    replica's stream sends it whole (it was written without it, and every
    other replica answered the checkout again on top of it)."""
    with (
        tiny_router(tmp_path, state=state_location) as here,
        tiny_router(tmp_path, state=state_location, scores=False) as there,
    ):
        rid = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        ).request_id
        shown = _requote_unwritten(there, rid, monkeypatch)
        assert here.stored_answer(rid) is None  # revision 1: no answer stored
        assert there.save_unsaved() == 1
        assert here.stored_answer(rid) == (2, shown.to_dict())
        assert here.select(rid, "gold").nodes == shown.option("gold").nodes


def _as_stored_before_expires_at(state: Path, rid: str) -> None:
    """Rewrite ``rid``'s stored answer as one stored before answers said
    ``expires_at`` (the quote row itself always had its expiry)."""
    with closing(sqlite3.connect(state)) as conn, conn:
        (body,) = conn.execute(
            "SELECT body FROM quotes WHERE request_id = ?", (rid,)
        ).fetchone()
        written = json.loads(body)
        del written["answer"]["expires_at"]
        conn.execute(
            "UPDATE quotes SET body = ? WHERE request_id = ?",
            (json.dumps(written), rid),
        )


def test_an_answer_stored_without_its_expiry_is_served_with_it(
    tmp_path: Path,
) -> None:
    """An answer stored before answers said ``expires_at`` was served
    without it (``null`` to a requote that adopted it, absent from the
    stream's event) until the checkout was answered again: both now carry
    the expiry the store keeps with the quote."""
    state = tmp_path / "state.db"
    with replicas_one_behind(tmp_path, state) as (here, there, rid):

        def requote_stored_before() -> OptionSet:
            won = here.requote(rid, now=MONDAY_10)
            _as_stored_before_expires_at(state, rid)
            return won

        lost, won = _requote_racing(there, rid, requote_stored_before)
        assert won.expires_at is not None
        assert lost.expires_at == won.expires_at
        assert lost.to_dict() == won.to_dict()
        assert here.stored_answer(rid) == (2, won.to_dict())
