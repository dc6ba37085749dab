"""Choosing and reaching a backend: ``open_store`` from a path or a URL,
``location`` and ``reopen``, one ``StoreUnavailable`` for both, capacity
event notices across connections and processes, and the same frames from
both backends."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.cli.test_follow_restored import _backup_and_restore
from tests.conftest import ROOT
from tests.data.order_lines import order_line
from tests.postgres import NewState, new_database
from tierflow.data.errors import InputError, StoreRestored
from tierflow.data.store import (
    PostgresStore,
    SqliteStore,
    StateStore,
    StoreUnavailable,
    default_state_location,
    describe_location,
    is_postgres_url,
    open_store,
    run_position,
)
from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.data.store.postgres_database import PostgresTransaction

_EVENT = {"ts": "2026-01-05T10:00:00Z", "node_id": "N1", "type": "outage"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tf@/db?host=/tmp/x", "postgresql://tf@/db?host=/tmp/x"),
        ("postgresql://tf:s3cr@t@db.example:5433/db", "postgresql://tf@db.example:5433/db"),
        ("postgres:///db?host=/s&password=pw&sslmode=off", "postgres:///db?host=/s&sslmode=off"),
        # libpq takes "#", "?" and "/" as they come in a password (it knows
        # no fragment, and its user part ends at the first "@" before a "/"):
        # read as an http URL, the password was shown
        ("postgresql://tf:a#b@h:5432/db", "postgresql://tf@h:5432/db"),
        ("postgresql://tf:c?d@h/db?sslmode=off", "postgresql://tf@h/db?sslmode=off"),
        ("postgresql://tf:e?f#g@h", "postgresql://tf@h"),
        ("postgresql://tf@h/db?password=x#y&sslmode=off", "postgresql://tf@h/db?sslmode=off"),
        # libpq decodes a parameter's name, and sslpassword is a secret too
        ("postgresql://tf@h/db?pass%77ord=pw&sslpassword=kp", "postgresql://tf@h/db"),
        ("postgresql://h/db?user=a@b&sslmode=off", "postgresql://h/db?user=a@b&sslmode=off"),
        # a raw "/" in a password (base64's): libpq reads no user part, and
        # the URL was shown whole; a raw "@" before a "/" of it: the rest of
        # the password was shown as the host (QA, 2026-12-07)
        ("postgresql://tf:se/cret@h:5432/db", "postgresql://tf@h:5432/db"),
        ("postgresql://tf:p@ss:w/o%rd#?x@h:5432/db", "postgresql://tf@h:5432/db"),
        # a port, or IPv6, and an "@" in the query: no password to hide
        ("postgresql://h:5432/db?application_name=a@b", "postgresql://h:5432/db?application_name=a@b"),
        ("postgresql://[::1]/db?application_name=a@b", "postgresql://[::1]/db?application_name=a@b"),
    ],
)  # fmt: skip
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert is_postgres_url(url)
    assert describe_location(url) == shown


def test_tierflow_state_may_hold_a_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIERFLOW_STATE", "postgresql://tf@/db?host=/tmp/x")
    assert default_state_location() == "postgresql://tf@/db?host=/tmp/x"
    monkeypatch.setenv("TIERFLOW_STATE", str(tmp_path / "s.db"))
    assert default_state_location() == tmp_path / "s.db"
    with open_store() as store:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "s.db"


def test_open_store_picks_the_backend(state_location: Path | str) -> None:
    with open_store(state_location) as store, store.reopen() as other:
        kind = PostgresStore if is_postgres_url(state_location) else SqliteStore
        assert type(store) is kind and type(other) is kind
        assert store.location == other.location == describe_location(state_location)
        other.append_events([{**_EVENT, "event_id": "e1"}])
        assert store.last_event_seq() == other.last_event_seq() > 0


def test_a_closed_store_is_unavailable(state_location: Path | str) -> None:
    store = open_store(state_location)
    store.close()
    with pytest.raises(StoreUnavailable):
        store.last_event_seq()
    with pytest.raises(StoreUnavailable):
        store.append_events([{**_EVENT, "event_id": "e1"}])


def test_a_checkpoint_folds_the_log_into_the_database(
    state_location: Path | str,
) -> None:
    """SQLite: the events a writer logged sit in the WAL (too few pages for
    the automatic checkpoint) until another connection's ``checkpoint``
    copies them into the database file; PostgreSQL has nothing to do."""
    with open_store(state_location) as writer, writer.reopen() as follower:
        if is_postgres_url(state_location):
            assert follower.checkpoint() is False
            return
        writer.checkpoint()  # the migrations' pages
        db = Path(str(state_location))
        size = db.stat().st_size
        writer.append_events(
            [{**_EVENT, "event_id": f"e{k}", "note": "x" * 500} for k in range(400)]
        )
        assert db.stat().st_size == size  # all in the WAL
        assert follower.checkpoint() is True
        assert db.stat().st_size > size + 400 * 500
        assert follower.last_event_seq() == writer.last_event_seq()


#: A store that cannot write a page mid-transaction (the file size limit, as
#: a full disk does, fails SQLite's write of a spilled page), then
#: writes again once there is room: what it said, the events stored after each.
_FILLER = """
import resource, signal, sys
from pathlib import Path
from tierflow.data.store import SqliteStore, StoreUnavailable
E = {"ts": "2026-01-05T15:00:00Z", "node_id": "WH-EAST", "type": "backlog", "value": 3}
with SqliteStore(Path(sys.argv[1])) as store:
    store.append_events([{**E, "event_id": "e0"}])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
    try:
        store.append_events(
            [{**E, "event_id": f"e{k}", "note": "x" * 500} for k in range(1, 8000)]
        )
    except StoreUnavailable as exc:
        print(exc)
    unlimited = resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (unlimited, unlimited))
    print(store.last_event_seq())
    store.append_events([{**E, "event_id": "after"}])
    print(store.last_event_seq())
"""


def test_a_full_disk_is_said_and_the_store_writes_again_once_there_is_room(
    tmp_path: Path,
) -> None:
    """SQLite rolls a transaction back itself when a page cannot be written
    (a full disk): the store's ROLLBACK after it failed, and the error said
    only 'cannot rollback - no transaction is active'. It names the file and
    the failure (a full tmpfs: 'database or disk is full'; the size limit:
    'disk I/O error'); nothing of the write is stored, and the next lands."""
    path = tmp_path / "state.db"
    out = subprocess.run(
        [sys.executable, "-c", _FILLER, str(path)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert out.splitlines() == [f"{path}: disk I/O error", "1", "2"]


#: An open whose -shm file cannot grow (no room on the disk; here the file
#: size limit, below the 32 KB SQLite's shared memory takes at once).
_SHM_FILLER = """
import resource, signal, sys
from pathlib import Path
from tierflow.data.store import SqliteStore, StoreUnavailable
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, resource.RLIM_INFINITY))
try:
    SqliteStore(Path(sys.argv[1]))
except StoreUnavailable as exc:
    print(exc)
"""


def test_a_store_opened_on_a_full_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    """With no process on it a store has no -shm file, and SQLite cannot
    make one on a full disk: every command and serve said only
    'disk I/O error' (QA, a full 4 MB tmpfs), as for a failing disk."""
    path = tmp_path / "state.db"
    with open_store(path) as store:
        store.append_events([{**_EVENT, "event_id": "e1"}])
    assert not path.with_name("state.db-shm").exists()
    out = subprocess.run(
        [sys.executable, "-c", _SHM_FILLER, str(path)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert out == f"{path}: database or disk is full (its -shm file could not grow)\n"
    with open_store(path) as store:  # room again: opened, nothing lost
        assert store.last_event_seq() == 1


def test_an_unreachable_store_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(f"postgresql://tierflow@/tierflow?host={tmp_path / 'nothing'}")


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    """A wrong path is the caller's input, named (not a store outage)."""
    with pytest.raises(InputError, match=r": is a folder, not a database file$"):
        open_store(tmp_path)


def test_waiting_for_events_across_connections(state_location: Path | str) -> None:
    with open_store(state_location) as waiter, waiter.reopen() as writer:
        start = time.monotonic()
        assert waiter.wait_for_events(0, timeout_s=0.3) == 0  # nothing: times out
        assert 0.25 < time.monotonic() - start < 2.0

        def append_later() -> None:
            time.sleep(0.3)
            writer.append_events([{**_EVENT, "event_id": "e1"}])

        thread = threading.Thread(target=append_later)
        start = time.monotonic()
        thread.start()
        seq = waiter.wait_for_events(0, timeout_s=10)
        thread.join()
        assert seq == writer.last_event_seq() > 0
        assert time.monotonic() - start < 2.0  # woken, not timed out
        assert waiter.wait_for_events(seq - 1, timeout_s=10) == seq  # at once


def test_a_wait_for_events_ends_when_its_stop_is_set(
    state_location: Path | str,
) -> None:
    """A stopping server's follower returns from its wait at once (it waited
    out its 0.5 s, which every PostgreSQL test's server paid at its stop)."""
    with open_store(state_location) as waiter:
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        start = time.monotonic()
        assert waiter.wait_for_events(0, timeout_s=30, stop=stop) == 0
        assert 0.15 < time.monotonic() - start < 10.0  # the stop, not the 30 s
        start = time.monotonic()  # set already: no wait at all
        assert waiter.wait_for_events(0, timeout_s=30, stop=stop) == 0
        assert time.monotonic() - start < 10.0


def test_a_stock_change_wakes_a_waiter_and_names_its_skus(
    state_location: Path | str,
) -> None:
    """A committed stock change moves the stock counter and wakes a waiter on
    the capacity log (PostgreSQL: its notice, well before the 1 s re-read;
    SQLite: the poll's read); the SKUs it changed are read back once each,
    a position counted as it was names none."""
    with open_store(state_location) as waiter, waiter.reopen() as writer:
        assert waiter.stock_version() == 0
        assert waiter.wait_for_changes(0, 0, timeout_s=0.1)[:3] == (0, 0, None)

        committed: list[float] = []

        def count_later() -> None:
            time.sleep(0.3)
            writer.change_stock([("N1", "A", 5), ("N2", "A", 3), ("N1", "B", 0)])
            committed.append(time.monotonic())

        thread = threading.Thread(target=count_later)
        thread.start()
        assert waiter.wait_for_changes(0, 0, timeout_s=10)[:3] == (0, 1, None)
        woken = time.monotonic()
        thread.join()
        # woken by the change (as it commits, or SQLite's 50 ms poll after),
        # not by the 1 s re-read (0.7 s after a commit at 0.3 s): timed from
        # the commit, not from the write's start (0.9 s from the start failed
        # where a loaded machine took long over the write itself)
        assert woken - committed[0] < 0.5, woken - committed[0]
        assert waiter.stock_changed_since(0) == (1, {"A"})  # B: 0 as it was
        writer.change_stock([("N1", "A", 5)])  # nothing moves: no news
        assert waiter.stock_changed_since(1) == (1, set())
        writer.change_stock([("N1", "B", 2), ("N2", "A", -1)], add=True)
        assert waiter.stock_changed_since(1) == (2, {"A", "B"})
        writer.change_stock([("N1", "B", 1)], add=True)
        assert waiter.stock_changed_since(2) == (3, {"B"})
        assert waiter.stock_changed_since(0) == (3, {"A", "B"})
        # a capacity event still wakes it, with the counter as it is
        writer.append_events([{**_EVENT, "event_id": "e1"}])
        assert waiter.wait_for_changes(0, 3, timeout_s=10)[:3] == (
            writer.last_event_seq(), 3, None,
        )  # fmt: skip


def test_a_hold_that_leaves_fewer_units_than_it_took_sends_stock_news(
    state_location: Path | str,
) -> None:
    """A hold (a reservation, a checkout's hold: one ledger) sends the stock
    news a count sends for a position it leaves with fewer units than it
    took, so at 0 always: open pages of that SKU are answered again. A hold
    that leaves as many, or a refused one, sends none."""
    with open_store(state_location) as store, store.reopen() as waiter:
        store.change_stock([("N1", "A", 3), ("N2", "A", 5), ("N1", "B", 4)])
        assert waiter.stock_changed_since(0) == (1, {"A", "B"})
        assert store.reserve("r1", [("A", 1)], "N2", 60).ok  # 4 left
        assert store.reserve("r2", [("B", 2)], "N1", 60).ok  # 2 left, as taken
        assert waiter.stock_changed_since(1) == (1, set())
        assert not store.reserve("r3", [("A", 4)], "N1", 60).ok  # 3 there
        assert waiter.stock_changed_since(1) == (1, set())
        assert store.reserve("r4", [("A", 3), ("B", 1)], "N1", 60).ok  # A: 0 left
        assert waiter.wait_for_changes(0, 1, timeout_s=10)[:2] == (0, 2)
        assert waiter.stock_changed_since(1) == (2, {"A"})
        assert store.reserve("r5", [("A", 3)], "N2", 60).ok  # 1 left, 3 taken
        assert waiter.stock_changed_since(2) == (3, {"A"})
        assert store.reserve("r6", [("B", 1)], "N1", 60).ok  # B: 0 left
        assert waiter.stock_changed_since(3) == (4, {"B"})


def test_a_sweep_that_gives_a_sold_out_position_units_sends_stock_news(
    state_location: Path | str,
) -> None:
    """Lapsed holds swept back to a position that had fewer units than they
    give back (0 here) send the news a take to 0 sent; a sweep that leaves
    a position as servable as before (B: 4 and 1 back) sends none."""
    with open_store(state_location) as store:
        store.change_stock([("N1", "A", 2), ("N1", "B", 5)])
        assert store.reserve("x1", [("A", 2)], "N1", 60, now=1000.0).ok  # A: 0
        assert store.reserve("x2", [("B", 1)], "N1", 60, now=1000.0).ok
        assert store.stock_changed_since(1) == (2, {"A"})
        assert store.expire_stale(now=1100.0) == 2
        assert store.stock_changed_since(2) == (3, {"A"})
        assert store.reserve("x3", [("B", 1)], "N1", 60, now=1100.0).ok
        assert store.expire_stale(now=1200.0) == 1  # B: 4 left, 1 back
        assert store.stock_changed_since(3) == (3, set())


def test_a_wait_reads_when_the_first_live_hold_lapses(
    state_location: Path | str,
) -> None:
    """The follower's wait reads, with the log and the counter, the expiry
    of the first active reservation (None with none): the time a server
    sweeps lapsed holds at (``service/feed.py``). A lapsed one unswept still
    counts (it is due at once); a released, committed or swept one not."""
    with open_store(state_location) as store, store.reopen() as waiter:
        store.change_stock([("N1", "A", 9)])
        assert waiter.wait_for_changes(0, 1, timeout_s=0).lapse is None
        assert store.reserve("r1", [("A", 1)], "N1", 60, now=1000.0).ok
        assert store.reserve("r2", [("A", 1)], "N1", 30, now=1000.0).ok
        assert store.reserve("r3", [("A", 1)], "N1", 90, now=1000.0).ok
        assert waiter.wait_for_changes(0, 1, timeout_s=0)[:3] == (0, 1, 1030.0)
        assert str(store.release("r2", now=1001.0).status) == "released"
        assert waiter.wait_for_changes(0, 1, timeout_s=0).lapse == 1060.0
        assert store.commit("r1", now=1002.0).ok
        assert waiter.wait_for_changes(0, 1, timeout_s=0).lapse == 1090.0
        assert store.expire_stale(now=1090.0) == 1
        assert waiter.wait_for_changes(0, 1, timeout_s=0).lapse is None


def _select(store: StateStore, node: str, qty: int, now: float) -> str:
    """Checkout ``c``'s select of ``qty`` A from ``node``: its status."""
    line = order_line("c", node, "A", qty)
    held = store.hold_checkout(
        "c", f"{node}:{qty}", [(node, [("A", qty)])], 600, order_lines=[line], now=now
    )
    return str(held.status)


def test_a_swap_that_gives_a_sold_out_position_units_sends_stock_news(
    state_location: Path | str,
) -> None:
    """A select of another option gives the old hold's units back in the
    round trip that takes the new one, each update returning the units it
    left: a position that had fewer units than it got back (0 here) sends
    the news a sweep sends. A swap that leaves the position as servable
    as before sends none, nor one refused (nothing written)."""
    with open_store(state_location) as store, store.reopen() as waiter:
        store.change_stock([("N1", "A", 2), ("N2", "A", 5)])
        assert _select(store, "N1", 2, now=100.0) == "held"  # N1: 0 left
        assert waiter.stock_changed_since(1) == (2, {"A"})
        assert _select(store, "N2", 1, now=101.0) == "held"  # N1: 0 -> 2
        assert waiter.stock_changed_since(2) == (3, {"A"})
        assert _select(store, "N2", 2, now=102.0) == "held"  # N2: 4 -> 5 -> 3
        assert waiter.stock_changed_since(3) == (3, set())
        assert _select(store, "N1", 3, now=103.0) == "rejected"  # 2 there
        assert waiter.stock_changed_since(3) == (3, set())
        assert store.available("N2", ["A"], now=104.0) == {"A": 3}
        assert store.check_consistency() == []


def _hold(store: StateStore, rid: str, holds: list[tuple[str, int, int]]) -> None:
    """Checkout ``rid`` holds ``(node, A, B)`` units at each node (now 100)."""
    line = order_line(rid, holds[0][0], "A", 1)
    wanted = [
        (node, [(sku, q) for sku, q in (("A", a), ("B", b)) if q])
        for node, a, b in holds
    ]
    held = store.hold_checkout(rid, "o", wanted, 600, order_lines=[line], now=100.0)
    assert str(held.status) == "held"


def test_a_cancel_that_gives_a_sold_out_position_units_sends_stock_news(
    state_location: Path | str,
) -> None:
    """A cancel gives a checkout's units back as a sweep does: a position
    that had fewer units than it gets back (A at N1: 0, then 1 of 2) sends
    the stock news, named once per SKU however many positions; one that
    stays as servable as before (B at N1: 4, 1 back; A at N2) sends none.
    A cancel replayed gives nothing back and sends none."""
    with open_store(state_location) as store, store.reopen() as waiter:
        store.change_stock([("N1", "A", 3), ("N2", "A", 9), ("N1", "B", 5)])
        _hold(store, "c1", [("N1", 3, 1), ("N2", 1, 0)])  # A at N1: 0 left
        assert waiter.stock_changed_since(1) == (2, {"A"})
        assert str(store.cancel_checkout("c1", now=101.0).status) == "cancelled"
        assert waiter.wait_for_changes(0, 2, timeout_s=10)[:3] == (0, 3, None)
        assert waiter.stock_changed_since(2) == (3, {"A"})
        assert str(store.cancel_checkout("c1", now=102.0).status) == "cancelled"
        assert waiter.stock_changed_since(3) == (3, set())
        _hold(store, "c2", [("N1", 0, 1), ("N2", 2, 0)])  # B: 4, A at N2: 7
        assert waiter.stock_changed_since(3) == (3, set())
        store.cancel_checkout("c2", now=103.0)
        assert waiter.stock_changed_since(3) == (3, set())
        _hold(store, "c3", [("N1", 2, 2)])  # A: 1 left of 3, B: 3 of 5
        assert waiter.stock_changed_since(3) == (4, {"A"})
        _hold(store, "c4", [("N1", 0, 3)])  # B: 0 left
        assert waiter.stock_changed_since(4) == (5, {"B"})
        store.cancel_checkout("c3", now=104.0)  # A 1 -> 3, B 0 -> 2
        assert waiter.stock_changed_since(5) == (6, {"A", "B"})
        assert store.available("N1", ["A", "B"], now=105.0) == {"A": 3, "B": 2}
        assert store.check_consistency() == []


def test_a_release_that_gives_a_sold_out_position_units_sends_stock_news(
    state_location: Path | str,
) -> None:
    """A reservation's release gives its units back as a cancel does: a
    position that had fewer units than it gets back sends the news, one
    that stays as servable (4 there, 1 back) none, nor a release replayed
    or a commit (its units leave ``on_hand`` too: nothing freed)."""
    with open_store(state_location) as store, store.reopen() as waiter:
        store.change_stock([("N1", "A", 2), ("N2", "A", 5)])
        assert store.reserve("r1", [("A", 2)], "N1", 60, now=100.0).ok  # 0 left
        assert waiter.stock_changed_since(1) == (2, {"A"})
        assert str(store.release("r1", now=101.0).status) == "released"
        assert waiter.wait_for_changes(0, 2, timeout_s=10)[:3] == (0, 3, None)
        assert waiter.stock_changed_since(2) == (3, {"A"})
        assert store.release("r1", now=102.0).replayed
        assert waiter.stock_changed_since(3) == (3, set())
        assert store.reserve("r2", [("A", 1)], "N2", 60, now=102.0).ok  # 4 left
        assert store.release("r2", now=103.0).ok is False
        assert waiter.stock_changed_since(3) == (3, set())
        assert store.reserve("r3", [("A", 3)], "N2", 60, now=103.0).ok  # 2 of 5
        assert waiter.stock_changed_since(3) == (4, {"A"})
        assert store.release("r3", now=104.0).status == "released"
        assert waiter.stock_changed_since(4) == (5, {"A"})
        assert store.reserve("r4", [("A", 2)], "N1", 60, now=104.0).ok  # 0 left
        assert waiter.stock_changed_since(5) == (6, {"A"})
        assert store.commit("r4", now=105.0).ok
        assert waiter.stock_changed_since(6) == (6, set())
        assert store.available("N1", ["A"], now=106.0) == {"A": 0}
        assert store.available("N2", ["A"], now=106.0) == {"A": 5}


def test_a_cancel_or_release_sends_its_stock_news_in_no_round_trip_of_its_own(
    postgres_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a cancel or a release that sends stock news waits on the
    round trips of one that sends none (besides its ``COMMIT``: a cancel's
    one read, a release's two): the give-back and the news go queued, one
    statement, with the ``COMMIT``. Read back, they cost one more each."""
    trips: list[str] = []
    for name in ("execute", "executemany", "execute_each", "execute_all"):
        real = getattr(PostgresTransaction, name)

        def counted(self: Any, *args: Any, _real: Any = real, _name: str = name) -> Any:
            trips.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(PostgresTransaction, name, counted)
    with open_store(new_database(postgres_server)) as store:
        store.change_stock([("N1", "A", 3), ("N2", "A", 9), ("N1", "B", 5)])
        _hold(store, "c1", [("N1", 3, 1), ("N2", 1, 0)])  # A at N1: 0 left
        _hold(store, "c2", [("N1", 0, 1)])  # B: 3 left
        for rid, news in (("c1", {"A"}), ("c2", set())):
            version = store.stock_version()
            trips.clear()
            store.cancel_checkout(rid, now=101.0)
            assert trips == ["execute_all"]
            assert store.stock_changed_since(version) == (version + len(news), news)
        assert store.reserve("r1", [("A", 3)], "N1", 60, now=102.0).ok  # 0 left
        assert store.reserve("r2", [("B", 1)], "N1", 60, now=102.0).ok  # 3 left
        for rid, news in (("r1", {"A"}), ("r2", set())):
            version = store.stock_version()
            trips.clear()
            store.release(rid, now=103.0)
            assert trips == ["execute", "execute"]
            assert store.stock_changed_since(version) == (version + len(news), news)
        assert store.check_consistency() == []


_APPENDER = textwrap.dedent(
    """
    import sys, time
    from tierflow.data.store import open_store

    with open_store(sys.argv[1]) as store:
        for i in range(3):
            time.sleep(0.2)
            store.append_events([{"event_id": f"p{i}", "ts": "2026-01-05T10:00:00Z",
                                  "node_id": "N1", "type": "outage"}])
    """
)


def test_waiting_for_events_of_another_process(state_location: Path | str) -> None:
    with open_store(state_location) as waiter:
        proc = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(state_location)], cwd=ROOT
        )
        seen: list[str] = []
        read, deadline = 0, time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            waiter.wait_for_events(read, timeout_s=5)
            for event in waiter.events_after(read):
                seen.append(event.event_id)
                read = event.seq
        assert proc.wait(timeout=60) == 0
    assert seen == ["p0", "p1", "p2"]


def _fill(store: StateStore) -> None:
    """The same writes on either backend (fixed clocks)."""
    store.upsert_inventory(
        pd.DataFrame({"node_id": ["N1", "N2"], "sku": "TEE", "on_hand": [5, 7]})
    )
    line = order_line("q", "N1", "TEE", 2)
    store.hold_checkout(
        "q", "gold", [("N1", [("TEE", 2)])], 60, order_lines=[line], now=0
    )
    store.confirm_checkout("q", now=1)
    store.put_cltv_scores(
        pd.DataFrame({"customer_id": ["a", "b"], "predicted_spend": [1.5, 2.0],
                      "p_active": 0.5, "segment": "silver"}),
        as_of=dt.date(2026, 1, 4), model_version="v",
    )  # fmt: skip
    store.start_allocation_run("run", {})
    store.write_allocation_batch(
        "run", 0,
        pd.DataFrame({"order_id": ["A", "B"], "sku": "TEE", "quantity": 1,
                      "node_id": ["N1", None], "service": "ground",
                      "ship_date": "2026-01-05", "promised_date": "2026-01-08",
                      "cost": [1.0, None], "status": ["allocated", "deferred"],
                      "reason": ""}),
    )  # fmt: skip


def _frames(store: StateStore) -> list[pd.DataFrame]:
    return [
        store.inventory_frame(),
        store.online_orders(),
        store.online_orders(since=5.0),  # empty
        store.cltv_scores(["a", "b", "zz"]),
        store.allocations("run"),
    ]


def test_both_backends_give_the_same_frames(
    tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    url = postgres_server.create_database("same_frames")
    with SqliteStore(tmp_path / "s.db") as lite, open_store(url) as pg:
        for store in (lite, pg):
            _fill(store)
        for ours, theirs in zip(_frames(lite), _frames(pg), strict=True):
            pd.testing.assert_frame_equal(ours, theirs)


def test_a_read_leaves_nothing_open_under_a_write(state_location: Path | str) -> None:
    """A read's rows are fetched at once, so a connection shared by threads
    (a server's capacity follower reads the log while requests write) never
    has a read open when a write begins. On SQLite that open read, after
    another connection's commit, made the write fail at once with "database
    is locked" (2-worker load runs answered 503 about once a second)."""
    with open_store(state_location) as a, a.reopen() as b:
        a.append_events([{**_EVENT, "event_id": f"r{k}"} for k in range(3)])
        seqs = [e.seq for e in a.events_after(0)]
        assert isinstance(a, DatabaseStore)  # the Database seam under the store
        rows = a._db.execute("SELECT seq FROM capacity_events ORDER BY seq")
        assert tuple(rows.fetchone()) == (seqs[0],)  # the rest not read yet
        b.append_events([{**_EVENT, "event_id": "other"}])  # another commit
        assert a.append_events([{**_EVENT, "event_id": "mine"}])[0] is not None
        assert [tuple(r) for r in rows.fetchall()] == [(s,) for s in seqs[1:]]


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql:/db?host=/tmp/x", "postgresql:/db?host=/tmp/x"),  # one slash
        ("POSTGRESQL://tf@/db", "POSTGRESQL://tf@/db"),
        ("mysql://tf:s3cr@t@db.example/db", "mysql://tf@db.example/db"),
        # one slash, a password: shown, it was (a QA pass, 2026-12-05)
        ("postgresql:/tf:s3cret@db/x", "postgresql:/tf@db/x"),
    ],
)  # fmt: skip
def test_a_url_that_is_not_postgresql_is_refused_not_taken_for_a_file(
    location: str, shown: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """It was a SQLite file named like the URL, in folders made for it: a
    replica with a typo in its URL ran on a store of its own."""
    monkeypatch.chdir(tmp_path)
    why = (
        f"value {shown!r}: not a PostgreSQL URL (postgresql://... or "
        "postgres://...) nor a SQLite file (for a file of that name, start it "
        "with ./)"
    )
    with pytest.raises(InputError) as caught:
        open_store(location)
    assert str(caught.value) == f"field 'state': {why}"
    monkeypatch.setenv("TIERFLOW_STATE", location)
    with pytest.raises(InputError) as caught:
        open_store()
    assert str(caught.value) == f"field 'TIERFLOW_STATE': {why}"
    assert list(tmp_path.iterdir()) == []
    with open_store("./" + location.split(":", 1)[0] + ":/x.db") as store:
        assert isinstance(store, SqliteStore)  # a file so named, on purpose


def _batch_rows(order: str) -> pd.DataFrame:
    """One allocated line of ``order``."""
    return pd.DataFrame({"order_id": [order], "sku": "TEE", "quantity": 1,
                         "node_id": "N1", "service": "ground",
                         "ship_date": "2026-01-05", "promised_date": "2026-01-08",
                         "cost": 1.0, "status": "allocated", "reason": ""})  # fmt: skip


def test_a_store_restored_from_before_a_run_refuses_its_batches_and_its_finish(
    backend: str, new_state: NewState, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A backup taken before a run started, restored under it: the run's
    next batch went into a store without the run's row or its first batch,
    and the run was marked finished there. Now the next batch, the finish
    and a bid price publish are refused by name (``StoreRestored``), nothing
    written; a writer that holds no position (None) is not checked."""
    state = new_state()
    backup, restore = _backup_and_restore(backend, state, tmp_path, request)
    with open_store(state):  # the tables, made
        pass
    backup()
    with open_store(state) as store:
        made = store.allocation_run_position("run").made
        assert store.start_allocation_run("run", {}) is None
        assert store.allocation_run_position("run") == run_position(None, made)
        held = run_position(None, made)
        assert store.write_allocation_batch("run", 0, _batch_rows("A"), held=held)
        held = run_position(0, made)
        assert store.allocation_run_position("run") == held
        store.refuse_restored_run("run", held)  # nothing restored yet
        restore()
        said = (
            "was restored under this run (run): it had committed batches up to "
            "0, the restored store holds none of its batches; nothing more is "
            "written: run the same command again to resume from batch 0"
        )
        with pytest.raises(StoreRestored, match=re.escape(said)):
            store.write_allocation_batch("run", 1, _batch_rows("B"), held=held)
        with pytest.raises(StoreRestored, match=re.escape(said)):
            store.finish_allocation_run("run", held)
        with pytest.raises(StoreRestored, match=re.escape(said)):
            store.refuse_restored_run("run", held)
        assert store.latest_allocation_run() is None
        assert store.last_committed_batch("run") is None
        # the same command run again: its run started anew, batch 0 again
        made = store.allocation_run_position("run").made
        assert store.start_allocation_run("run", {}) is None
        held = run_position(None, made)
        assert store.write_allocation_batch("run", 0, _batch_rows("A"), held=held)
        store.finish_allocation_run("run", run_position(0, made))
        run = store.latest_allocation_run()
        assert run is not None and run.finished_at is not None
