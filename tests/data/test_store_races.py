"""Two workers acting on the same rows at once, on both backends.

SQLite runs one writer at a time; PostgreSQL runs READ COMMITTED
transactions side by side, so each test races several store objects (each
with its own connections) on one reservation, checkout, batch or event and
checks the outcome is the one a single writer would give: stock given back
once, a checkout confirmed or cancelled (never both), a batch and an event
logged once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

from tests.data.order_lines import order_line
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import (
    ChangeIdConflict,
    CheckoutState,
    HoldCut,
    StateStore,
    StockChange,
    StockReceipt,
    open_store,
)

T = TypeVar("T")
WORKERS = 4


@pytest.fixture
def stores(state_location: Path | str) -> Iterator[list[StateStore]]:
    """``WORKERS`` stores on one database, the first with stock at N1."""
    with ExitStack() as stack:
        out = [stack.enter_context(open_store(state_location)) for _ in range(WORKERS)]
        out[0].upsert_inventory(
            pd.DataFrame({"node_id": "N1", "sku": ["TEE", "MUG"], "on_hand": [50, 50]})
        )
        yield out


def _race(
    stores: list[StateStore], act: Callable[[StateStore], T]
) -> list[T | Exception]:
    """``act`` on every store at once; each result, or the error it raised."""
    start = threading.Barrier(len(stores))

    def run(store: StateStore) -> T | Exception:
        start.wait()
        try:
            return act(store)
        except InputError as exc:
            return exc

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(run, stores))


def _reserved(store: StateStore) -> dict[str, int]:
    frame = store.inventory_frame().set_index("sku")
    return {str(k): int(v) for k, v in frame["reserved"].items()}


def test_stale_reservations_are_given_back_once(stores: list[StateStore]) -> None:
    for i in range(20):
        stores[0].reserve(f"r{i}", [("TEE", 1), ("MUG", 2)], "N1", ttl_s=10, now=0)

    # half the workers sweep at t=20, the other half release at t=5 (each
    # thinks the reservations are still live): every unit comes back once
    def act(store: StateStore) -> int:
        if stores.index(store) % 2:
            return store.expire_stale(now=20)
        return sum(store.release(f"r{i}", now=5).ok for i in range(20))

    _race(stores, act)
    assert _reserved(stores[0]) == {"MUG": 0, "TEE": 0}
    statuses = {stores[0].reservation_status(f"r{i}") for i in range(20)}
    assert statuses <= {"expired", "released"}
    assert stores[0].check_consistency() == []


def _order(request_id: str) -> list[dict[str, Any]]:
    return [order_line(request_id, "N1", "TEE", 2)]


def test_one_checkout_is_held_once(stores: list[StateStore]) -> None:
    holds = [("N1", [("TEE", 2)])]
    got = _race(
        stores,
        lambda s: s.hold_checkout("q", "gold", holds, 60, order_lines=_order("q")),
    )
    states = [g for g in got if not isinstance(g, Exception)]
    assert len(states) == WORKERS and all(s.status == "held" for s in states)
    assert sum(not s.replayed for s in states) == 1  # the others replayed it
    assert {s.reservation_ids for s in states} == {("q#1.0",)}
    assert _reserved(stores[0])["TEE"] == 2


def test_confirm_and_cancel_race_one_wins(stores: list[StateStore]) -> None:
    for k in range(5):
        rid = f"q{k}"
        stores[0].hold_checkout(
            rid, "gold", [("N1", [("TEE", 2)])], 60, order_lines=_order(rid)
        )

        def act(store: StateStore, rid: str = rid) -> str:
            if stores.index(store) % 2:
                return str(store.cancel_checkout(rid).status)
            return str(store.confirm_checkout(rid).status)

        outcomes = {
            str(g) if isinstance(g, Exception) else g for g in _race(stores, act)
        }
        won = outcomes & {"confirmed", "cancelled"}
        assert len(won) == 1, outcomes  # the losers were refused
    orders = stores[0].online_orders()
    assert orders["order_id"].is_unique
    inv = stores[0].inventory_frame().set_index("sku")
    assert inv.loc["TEE", "on_hand"] == 50 - 2 * len(orders)
    assert inv.loc["TEE", "reserved"] == 0
    assert stores[0].check_consistency() == []


def test_a_batch_is_written_once(stores: list[StateStore]) -> None:
    stores[0].start_allocation_run("run", {"engine": "greedy"})
    rows = pd.DataFrame(
        {"order_id": ["A", "B"], "sku": "TEE", "quantity": 1, "node_id": "N1",
         "service": "ground", "ship_date": "2026-01-05",
         "promised_date": "2026-01-08", "cost": 1.0, "status": "allocated",
         "reason": ""}
    )  # fmt: skip
    got = _race(
        stores,
        lambda s: s.write_allocation_batch("run", 0, rows, consume_inventory=True),
    )
    assert sorted(map(str, got)) == ["False"] * (WORKERS - 1) + ["True"]
    assert len(stores[0].allocations("run")) == 2
    assert stores[0].inventory_frame().set_index("sku").loc["TEE", "on_hand"] == 48
    assert stores[0].check_consistency() == []


def test_an_event_is_logged_once(stores: list[StateStore]) -> None:
    event = {"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "node_id": "N1",
             "type": "outage", "value": True}  # fmt: skip
    got = _race(stores, lambda s: s.append_events([event, {**event, "event_id": "e2"}]))
    seqs = [s for g in got if isinstance(g, list) for s in g if s is not None]
    assert len(seqs) == 2 and len(got) == WORKERS
    assert [e.event_id for e in stores[0].events_after(0)] == ["e1", "e2"]


def test_a_stock_change_id_is_applied_once(stores: list[StateStore]) -> None:
    """Replicas given one receipt's retry at once (one change_id): one adds
    it, the others answer its summary; the unique key is claimed in the
    stock write's transaction, so a loser waits for the winner's commit."""
    receipt = [("N1", "TEE", 5), ("N1", "MUG", 1)]
    got = _race(
        stores, lambda s: s.change_stock_once(receipt, change_id="r1", add=True)
    )
    done = [StockChange("N1", "TEE", 50, 55, 0), StockChange("N1", "MUG", 50, 51, 0)]
    receipts = [g for g in got if isinstance(g, StockReceipt)]
    assert sorted((g._replace(applied_at=None) for g in receipts), key=str) == [
        StockReceipt(done, duplicate=d) for d in [False] + [True] * (WORKERS - 1)
    ]
    assert len({g.applied_at for g in receipts}) == 1  # all: the winner's time
    frame = stores[0].inventory_frame().set_index("sku")["on_hand"]
    assert frame.to_dict() == {"MUG": 51, "TEE": 55}


def test_one_change_id_with_two_bodies_at_once_applies_one(
    stores: list[StateStore],
) -> None:
    """Half the replicas add 5, half add 7, all under one id: one body is
    applied (once), every other answer is its duplicate or a conflict."""
    got = _race(
        stores,
        lambda s: s.change_stock_once(
            [("N1", "TEE", 5 if stores.index(s) % 2 else 7)], change_id="r2", add=True
        ),
    )
    applied = [g for g in got if isinstance(g, StockReceipt) and not g.duplicate]
    assert len(applied) == 1
    after = applied[0].changes[0].after
    assert after in (55, 57)
    for g in got:
        if isinstance(g, StockReceipt):
            assert g.changes == applied[0].changes
        else:
            assert isinstance(g, ChangeIdConflict), g
    assert [isinstance(g, ChangeIdConflict) for g in got].count(True) == WORKERS // 2
    assert stores[0].inventory_frame().set_index("sku").loc["TEE", "on_hand"] == after


def test_a_fresh_store_is_seeded_once(
    new_state: Callable[[], Path | str], tiny_network: Network
) -> None:
    location = new_state()
    with ExitStack() as stack:
        fresh = [stack.enter_context(open_store(location)) for _ in range(WORKERS)]
        got = _race(fresh, lambda s: s.seed_network_inventory(tiny_network))
        assert sorted(map(str, got)) == ["0"] * (WORKERS - 1) + ["6"]
        assert len(fresh[0].inventory_frame()) == 6


def test_swaps_crossing_each_others_skus_lock_in_one_order(
    backend: str, state_location: Path | str, stores: list[StateStore]
) -> None:
    """Two checkouts swapping each other's SKU gave the old hold back, then
    took the new one: two stock rows locked in opposite orders, a deadlock
    PostgreSQL broke after its deadlock_timeout (the store ran the loser
    again). A swap locks both holds' rows in one (node, sku) order first:
    both are held, and no transaction lost a lock conflict. Another session
    holds both rows until both swaps wait on them, so without the order the
    deadlock happened every time."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    import psycopg

    from tierflow.data.store import StoreUnavailable
    from tierflow.data.store.database import off_store_error, on_store_error

    for rid, sku in (("c1", "MUG"), ("c2", "TEE")):
        stores[0].hold_checkout(
            rid, "a", [("N1", [(sku, 1)])], 60, order_lines=_order(rid)
        )
    swaps = {"c1": "TEE", "c2": "MUG"}
    errors: list[StoreUnavailable] = []

    def told(_backend: str, error: StoreUnavailable) -> None:
        errors.append(error)

    on_store_error(told)
    try:
        with psycopg.connect(str(state_location)) as outside:
            outside.execute("SELECT 1 FROM inventory WHERE node_id = 'N1' FOR UPDATE")
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(
                        store.hold_checkout, rid, "b", [("N1", [(sku, 1)])], 60,
                        order_lines=_order(rid),
                    )
                    for store, (rid, sku) in zip(stores[:2], swaps.items(), strict=False)
                ]  # fmt: skip
                try:
                    _wait_for_lock_waiters(outside, 2)
                finally:  # the lock goes whatever happens: no hang
                    outside.commit()
                states = [f.result() for f in futures]
    finally:
        off_store_error(told)
    assert [s.status for s in states] == ["held", "held"]
    assert errors == []  # no deadlock to retry
    assert _reserved(stores[0]) == {"MUG": 1, "TEE": 1}
    assert stores[0].check_consistency() == []


def _wait_for_lock_waiters(conn: Any, n: int) -> None:
    """Until ``n`` other sessions wait on a lock (30 s at most).

    ``conn`` is in the transaction that holds the lock, and PostgreSQL reads
    ``pg_stat_activity`` once per transaction: each poll clears that
    snapshot, or a first poll made before the other session waited was read
    again and again, and the test failed (then hung, the lock held) on a
    loaded machine."""
    for _ in range(3000):
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
        if row is not None and row[0] >= n:
            return
        time.sleep(0.01)
    pytest.fail(f"{n} sessions never waited on a lock")


_Holds = list[tuple[str, list[tuple[str, int]]]]


def _hold(
    store: StateStore,
    rid: str,
    holds: _Holds,
    ttl_s: float,
    now: float | None = None,
) -> CheckoutState:
    """``store.hold_checkout`` of ``holds``, an order line per held line."""
    lines = [
        {**_order(rid)[0], "sku": sku, "quantity": qty, "node_id": node}
        for node, skus in holds
        for sku, qty in skus
    ]
    return store.hold_checkout(rid, "a", holds, ttl_s, order_lines=lines, now=now)


def _reserved_at(store: StateStore) -> dict[tuple[str, str], int]:
    """Units reserved by (node, sku)."""
    frame = store.inventory_frame().set_index(["node_id", "sku"])
    return {(str(n), str(s)): int(v) for (n, s), v in frame["reserved"].items()}


def _status(store: StateStore, rid: str, now: float) -> str:
    state = store.checkout_state(rid, now=now)
    assert state is not None
    return str(state.status)


def _waits_on(
    state_location: Path | str,
    locked: tuple[str, str],
    free: list[tuple[str, str]],
    write: Callable[[], T],
) -> T:
    """Run ``write`` while another session holds the stock row ``locked``:
    once it waits on that row, every row of ``free`` must be unlocked (the
    write has not taken it before the row it waits on); its result."""
    import psycopg

    with psycopg.connect(str(state_location)) as outside:
        outside.execute(
            "SELECT 1 FROM inventory WHERE node_id = %s AND sku = %s FOR UPDATE",
            locked,
        )
        with ThreadPoolExecutor(1) as pool:
            written = pool.submit(write)
            try:  # whatever fails here, the lock goes: the write ends, no hang
                _wait_for_lock_waiters(outside, 1)
                for node, sku in free:
                    outside.execute(
                        "SELECT 1 FROM inventory WHERE node_id = %s AND sku = %s "
                        "FOR UPDATE NOWAIT",
                        (node, sku),
                    )
            finally:
                outside.rollback()
            return written.result()


@pytest.mark.parametrize(
    ("n2_tee", "lapsed", "warm_at", "new", "now", "free", "reserved"),
    [
        pytest.param(
            50, [("N2", [("TEE", 1)])], None, [("N1", [("MUG", 1)])], 10,
            [("N2", "TEE")], {("N1", "MUG"): 1, ("N1", "TEE"): 0, ("N2", "TEE"): 0},
            id="sweep-due",
        ),
        pytest.param(
            5, [("N1", [("MUG", 1)]), ("N2", [("TEE", 5)])], 4.9,
            [("N1", [("TEE", 1)]), ("N2", [("TEE", 1)])], 5.5,
            [("N1", "TEE"), ("N2", "TEE")],
            {("N1", "MUG"): 0, ("N1", "TEE"): 2, ("N2", "TEE"): 1},
            id="short-take",
        ),
    ],
)  # fmt: skip
def test_a_hold_sweeps_lapsed_holds_in_a_transaction_of_their_own(
    backend: str,
    state_location: Path | str,
    stores: list[StateStore],
    n2_tee: int,
    lapsed: _Holds,
    warm_at: float | None,
    new: _Holds,
    now: float,
    free: list[tuple[str, str]],
    reserved: dict[tuple[str, str], int],
) -> None:
    """A hold swept lapsed holds inside its own transaction, and their rows
    were a second (node, sku) run: with the sweep due, the lapsed hold's
    N2/TEE was locked before the take's N1/MUG; after a take that fell
    short (N2/TEE all held by the lapsed hold; ``warm_at``: this store's
    sweep ran a moment before, so it was not due), N1/MUG was given back
    after the N1/TEE the take had locked. Either crosses the order every
    take locks in (a deadlock PostgreSQL breaks after its deadlock_timeout).
    The sweep now commits on its own first (a short take rolls back, then
    runs again): while it waits on N1/MUG, the later rows are free."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    stores[0].upsert_inventory(
        pd.DataFrame({"node_id": "N2", "sku": ["TEE"], "on_hand": [n2_tee]})
    )
    assert _hold(stores[0], "old", lapsed, 5, now=0).ok
    if warm_at is not None:
        assert _hold(stores[1], "warm", [("N1", [("TEE", 1)])], 60, now=warm_at).ok
    state = _waits_on(
        state_location,
        ("N1", "MUG"),
        free,
        lambda: _hold(stores[1], "c1", new, 60, now=now),
    )
    assert state.status == "held"
    assert _status(stores[0], "old", now=now) == "expired"
    assert _reserved_at(stores[0]) == reserved
    assert stores[0].check_consistency() == []


def test_an_allocation_batch_takes_stock_in_one_order(
    backend: str, state_location: Path | str, stores: list[StateStore]
) -> None:
    """A batch that consumes stock took it line by line in the batch's
    order: N2/TEE, then N1/MUG, against the (node, sku) order of every hold
    (a batch and a concurrent hold could each wait on the other's row). It
    now takes the rows in that order: waiting on N1/MUG, it has not taken
    N2/TEE."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    stores[0].upsert_inventory(
        pd.DataFrame({"node_id": "N2", "sku": ["TEE"], "on_hand": [50]})
    )
    rows = pd.DataFrame(
        {"order_id": ["A", "B"], "sku": ["TEE", "MUG"], "quantity": 1,
         "node_id": ["N2", "N1"], "service": "ground", "ship_date": "2026-01-05",
         "promised_date": "2026-01-08", "cost": 9.5, "status": "allocated",
         "reason": ""}
    )  # fmt: skip
    assert stores[0].start_allocation_run("day1", {"engine": "cpsat"}) is None
    wrote = _waits_on(
        state_location,
        ("N1", "MUG"),
        [("N2", "TEE")],
        lambda: stores[1].write_allocation_batch(
            "day1", 0, rows, consume_inventory=True
        ),
    )
    assert wrote is True
    stock = stores[0].inventory_frame().set_index(["node_id", "sku"])["on_hand"]
    assert stock.to_dict() == {("N1", "MUG"): 49, ("N1", "TEE"): 50, ("N2", "TEE"): 49}
    assert stores[0].check_consistency() == []


#: Two SKUs whose byte order (every take's: Python sorts the cells) is not
#: the order of a language's collation: ``MUG`` < ``Mug`` in bytes, ``Mug``
#: first in ICU ``en-US`` (and in ``en_US.UTF-8``).
_CASED = ("MUG", "Mug")


@pytest.fixture
def cased_store(
    backend: str, locale_state_location: Path | str
) -> Iterator[StateStore]:
    """A store on a database with a locale's collation, stock of both
    ``_CASED`` SKUs at N1."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    with open_store(locale_state_location) as store:
        store.upsert_inventory(
            pd.DataFrame({"node_id": "N1", "sku": list(_CASED), "on_hand": 50})
        )
        yield store


def test_a_stock_change_locks_in_the_takes_order_whatever_the_collation(
    locale_state_location: Path | str, cased_store: StateStore
) -> None:
    """``stock load`` locked its rows ``ORDER BY sku FOR UPDATE`` in the
    database's collation, a take in the bytes' order: on a database made
    under a locale a count of MUG and Mug locked Mug first, then waited on
    the MUG a hold had taken, which then waited on Mug (a deadlock
    PostgreSQL broke after its deadlock_timeout; QA, 2026-12-08). Waiting
    on MUG, it has not locked Mug now."""
    changed = _waits_on(
        locale_state_location,
        ("N1", "MUG"),
        [("N1", "Mug")],
        lambda: cased_store.change_stock([("N1", sku, 40) for sku in _CASED]),
    )
    assert [(c.sku, c.after) for c in changed] == [("MUG", 40), ("Mug", 40)]


def test_a_swap_locks_in_the_takes_order_whatever_the_collation(
    locale_state_location: Path | str, cased_store: StateStore
) -> None:
    """A swap locks both holds' rows first, ``ORDER BY node_id, sku``: in
    the database's collation that was Mug before MUG, against every take's
    byte order (QA, 2026-12-08)."""
    assert cased_store.hold_checkout(
        "c1", "a", [("N1", [("Mug", 1)])], 60, order_lines=_order("c1")
    ).ok
    state = _waits_on(
        locale_state_location,
        ("N1", "MUG"),
        [("N1", "Mug")],
        lambda: cased_store.hold_checkout(
            "c1", "b", [("N1", [("MUG", 1)])], 60, order_lines=_order("c1")
        ),
    )
    assert state.status == "held"
    assert _reserved(cased_store) == {"MUG": 1, "Mug": 0}


def test_a_prune_gives_lapsed_stock_back_in_one_order(
    backend: str,
    state_location: Path | str,
    stores: list[StateStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prune gave the stock of unswept lapsed holds back a chunk of
    reservations at a time, each chunk's rows in (node, sku) order: two
    chunks were two runs (here chunks of one: N2/TEE's, then N1/MUG's).
    It now gives every chunk's stock back in one run: waiting on N1/MUG,
    it has not taken N2/TEE."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    from tierflow.data.store import checkouts, database, ledger

    stores[0].upsert_inventory(
        pd.DataFrame({"node_id": "N2", "sku": ["TEE"], "on_hand": [50]})
    )
    assert _hold(stores[0], "c1", [("N2", [("TEE", 1)])], 5, now=0).ok
    assert _hold(stores[0], "c2", [("N1", [("MUG", 1)])], 5, now=0).ok

    def by_one(items: list[str], size: int = 1) -> Iterator[list[str]]:
        return database.chunks(items, 1)

    monkeypatch.setattr(checkouts, "chunks", by_one)
    monkeypatch.setattr(ledger, "chunks", by_one)
    pruned = _waits_on(
        state_location,
        ("N1", "MUG"),
        [("N2", "TEE")],
        lambda: stores[1].prune_checkouts(now=10),
    )
    assert pruned == 2
    assert _reserved_at(stores[0]) == {
        ("N1", "MUG"): 0,
        ("N1", "TEE"): 0,
        ("N2", "TEE"): 0,
    }
    assert stores[0].check_consistency() == []


def test_a_deadlock_is_a_conflict_the_store_retries(
    backend: str, state_location: Path | str
) -> None:
    """Two transactions taking two rows in opposite orders: PostgreSQL
    aborts one (deadlock_detected), which is a StoreConflict (``@retried``
    runs it again). psycopg derives DeadlockDetected from OperationalError,
    not TransactionRollback: it was an unavailable store, never retried (a
    select answered 503 under make bench-fleet)."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    import threading

    from tierflow.data.store import StoreConflict
    from tierflow.data.store.postgres_database import PostgresDatabase
    from tierflow.data.store.schema import POSTGRES_MIGRATIONS

    db = PostgresDatabase(str(state_location), POSTGRES_MIGRATIONS)
    db.execute("INSERT INTO inventory (node_id, sku, on_hand, reserved) "
               "VALUES ('N1', 'A', 5, 0), ('N1', 'B', 5, 0)")  # fmt: skip
    both = threading.Barrier(2)

    def cross(first: str, second: str) -> str:
        try:
            with db.tx() as tx:
                for k, sku in enumerate((first, second)):
                    tx.execute_each(
                        "UPDATE inventory SET reserved = reserved + 1 "
                        "WHERE node_id = 'N1' AND sku = ?",
                        [(sku,)],
                    )
                    if k == 0:
                        both.wait()
        except StoreConflict:
            return "conflict"
        return "done"

    try:
        with ThreadPoolExecutor(2) as pool:
            got = sorted(pool.map(cross, "AB", "BA"))
    finally:
        db.close()
    assert got == ["conflict", "done"]


def test_a_confirm_gives_stock_back_in_one_order(
    backend: str, state_location: Path | str, stores: list[StateStore]
) -> None:
    """A confirm updates its stock rows in the (node, sku) order every hold
    takes them in, whatever the order of its shipments: it gave them back
    per reservation, so a hold shipping from N2 then N1 locked N2's row
    first, against a concurrent hold's order (a deadlock PostgreSQL breaks
    after its deadlock_timeout). With another session holding N1's row, the
    confirm waits on it before it touches N2's (it held N2's row before)."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    stores[0].upsert_inventory(
        pd.DataFrame({"node_id": "N2", "sku": ["MUG"], "on_hand": [50]})
    )
    held = _hold(stores[0], "c1", [("N2", [("MUG", 1)]), ("N1", [("TEE", 1)])], 60)
    assert held.status == "held"
    confirmed = _waits_on(  # N2's row is free: the confirm has not locked it yet
        state_location,
        ("N1", "TEE"),
        [("N2", "MUG")],
        lambda: stores[1].confirm_checkout("c1"),
    )
    assert confirmed.status == "confirmed"
    stock = stores[0].inventory_frame().set_index(["node_id", "sku"])
    assert stock.loc[("N1", "TEE"), "on_hand"] == 49
    assert stock.loc[("N2", "MUG"), "on_hand"] == 49
    assert stores[0].check_consistency() == []


def test_a_count_that_cuts_holds_locks_their_rows_in_one_order(
    backend: str, state_location: Path | str, stores: list[StateStore]
) -> None:
    """A count of N2's TEE cuts c1, which holds N1's TEE too: the count
    locks N1's row before N2's, the (node, sku) order every take locks
    them in (it locked N2's, the row counted, then freed N1's after it:
    a deadlock with a take of both). With another session holding N1's
    row, the count waits on it before it touches N2's."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    stores[0].upsert_inventory(
        pd.DataFrame({"node_id": "N2", "sku": ["TEE"], "on_hand": [5]})
    )
    held = _hold(stores[0], "c1", [("N2", [("TEE", 2)]), ("N1", [("TEE", 1)])], 60)
    assert held.status == "held"
    done = _waits_on(  # N2's row is free: the count has not kept it locked
        state_location,
        ("N1", "TEE"),
        [("N2", "TEE")],
        lambda: stores[1].change_stock_once(
            [("N2", "TEE", 1)], change_id=None, cut_holds=True
        ),
    )
    assert done == StockReceipt(
        [StockChange("N2", "TEE", 5, 1, 0)],
        False,
        (HoldCut("c1", "N2", "TEE", 2), HoldCut("c1", "N1", "TEE", 1)),
    )
    assert _reserved_at(stores[0]) == {
        ("N1", "MUG"): 0,
        ("N1", "TEE"): 0,
        ("N2", "TEE"): 0,
    }
    assert stores[0].check_consistency() == []
