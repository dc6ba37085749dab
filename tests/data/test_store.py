"""The state store: reservations, the three guarantees, CLTV scores, allocations."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.postgres import downgrade_store, run_sql, set_schema_version
from tierflow.data.errors import InputError, TierflowError
from tierflow.data.store import (
    SCHEMA_VERSION,
    SqliteStore,
    StateStore,
    is_postgres_url,
    open_store,
)
from tierflow.data.store import database as store_database
from tierflow.data.store.sqlite_database import SqliteDatabase


def _stock(store: StateStore, **on_hand: int) -> None:
    store.upsert_inventory(
        pd.DataFrame(
            {"node_id": "N1", "sku": list(on_hand), "on_hand": list(on_hand.values())}
        )
    )


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    with open_store(state_location) as s:
        _stock(s, TEE=10, MUG=3)
        yield s


def test_schema_is_migrated(store: StateStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION


def test_sqlite_store_is_in_wal_mode(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "state.db") as store:
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


@pytest.mark.parametrize("given", ["csv", "folder", "under a file"])
def test_what_cannot_be_a_store_is_refused_by_name(tmp_path: Path, given: str) -> None:
    """SQLite itself says only "file is not a database" or "unable to open
    database file", naming nothing."""
    table = tmp_path / "orders.csv"
    table.write_text("order_id,sku\nA,TEE\n")
    path, message = {
        "csv": (table, "not a SQLite database (a tierflow state store is one)"),
        "folder": (tmp_path, "is a folder, not a database file"),
        "under a file": (
            table / "state.db",
            f"cannot be created: {table} is a file, not a folder",
        ),
    }[given]
    with pytest.raises(InputError) as caught:
        SqliteStore(path)
    assert str(caught.value) == f"{path}: {message}"
    assert table.read_text() == "order_id,sku\nA,TEE\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


def test_another_applications_sqlite_database_is_refused_untouched(
    tmp_path: Path,
) -> None:
    """A ``--state`` pointing at another program's SQLite file (a typo, a
    shared data folder) was taken for a new store: tierflow switched it to
    WAL and created its twenty tables beside the other program's. A file
    with tables and no tierflow schema version is refused, byte for byte
    as it was, no file made beside it."""
    other = tmp_path / "grafana.db"
    conn = sqlite3.connect(other)
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT);"
        "CREATE TABLE dashboard (id INTEGER PRIMARY KEY);"
        "INSERT INTO users VALUES (1, 'admin');"
    )
    conn.close()
    before = other.read_bytes()
    with pytest.raises(InputError) as caught:
        SqliteStore(other)
    assert str(caught.value) == (
        f"{other}: not a tierflow state store: it holds another program's "
        "tables (dashboard, users) and no tierflow schema version"
    )
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grafana.db"]
    empty = tmp_path / "empty.db"  # an empty file is a new store, as before
    empty.touch()
    with SqliteStore(empty) as store:
        assert store.schema_version() == SCHEMA_VERSION


@pytest.mark.parametrize("version", [3, SCHEMA_VERSION + 1])
def test_another_programs_sqlite_file_with_a_user_version_is_refused_untouched(
    tmp_path: Path, version: int
) -> None:
    """Many programs set ``PRAGMA user_version`` (Firefox's places.sqlite,
    Android's databases): such a file was taken for a tierflow store at that
    version, switched to WAL and given a ``-writer`` file, then said to need
    ``tierflow state migrate`` (which failed on "no such table") or a newer
    tierflow. A version without tierflow's tables is another program's."""
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(other)
    conn.executescript(
        "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT);"
        f"PRAGMA user_version = {version};"
    )
    conn.close()
    before = other.read_bytes()
    for migrate in (True, False):
        with pytest.raises(InputError) as caught:
            SqliteStore(other, migrate=migrate)
        assert str(caught.value) == (
            f"{other}: not a tierflow state store: it holds another program's "
            f"tables (moz_places) and schema version {version}, none of tierflow's"
        )
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite"]


def test_a_store_in_a_folder_it_cannot_write_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store writes its -wal, -shm and -writer files beside the database:
    in a folder it may not write (a read-only mount, another user's folder)
    SQLite said only "unable to open database file", naming nothing, for a
    store there or one to be made there, and ``serve`` started degraded on
    it, retrying every second. (Root writes any folder: its refusal is
    simulated.)"""
    folder = tmp_path / "ro"
    folder.mkdir()
    with SqliteStore(folder / "old.db"):
        pass
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    for name, verb in [("old.db", "opened"), ("new.db", "created")]:
        with pytest.raises(InputError) as caught:
            SqliteStore(folder / name)
        assert str(caught.value) == (
            f"{folder / name}: cannot be {verb}: its folder {folder} is not "
            "writable by this user (a store writes its -wal, -shm and -writer "
            "files beside the database)"
        )
    assert not (folder / "new.db").exists()


def test_what_sqlite_cannot_open_is_named(tmp_path: Path) -> None:
    """SQLite's own failure to open a file (here a link to a folder that is
    not there) names the store, as every PostgreSQL error does: the CLI said
    ``Error: unable to open database file``."""
    link = tmp_path / "state.db"
    link.symlink_to(tmp_path / "gone" / "state.db")
    with pytest.raises(TierflowError) as caught:
        SqliteStore(link)
    assert str(caught.value) == f"{link}: unable to open database file"


def _event(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts": "2026-01-01T00:00:00+00:00",
        "node_id": "N1",
        "type": "backlog",
        "value": 1.0,
    }


def test_a_second_store_in_a_process_keeps_the_first_ones_locks(
    tmp_path: Path,
) -> None:
    """Opening a store where the process has one open already (a server's
    capacity follower, its page reader) must not drop the first one's locks:
    closing any descriptor of the database file drops every POSIX lock the
    process holds on it, and another process that then closes its connection
    takes itself for the last, folds the write-ahead log in and deletes it
    under the open connections (the store then reads as malformed)."""
    path = tmp_path / "state.db"
    with SqliteStore(path) as first:
        first.append_events([_event("e1")])
        with SqliteStore(path):
            wal = path.with_name("state.db-wal")
            assert wal.exists()
            reader = (
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                "c.execute('SELECT COUNT(*) FROM capacity_events').fetchall(); "
                "c.close()"
            )
            subprocess.run([sys.executable, "-c", reader, str(path)], check=True)
            assert wal.exists()
            first.append_events([_event("e2")])
            assert [e.event_id for e in first.events_after(0)] == ["e1", "e2"]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()


def test_newer_schema_is_refused(state_location: Path | str) -> None:
    open_store(state_location).close()
    set_schema_version(state_location, 99)
    with pytest.raises(TierflowError, match=r"schema version 99 is newer than"):
        open_store(state_location)


def test_reserve_commit_release(store: StateStore) -> None:
    r = store.reserve("r1", [("TEE", 4), ("MUG", 1)], "N1", ttl_s=60, now=0)
    assert (r.ok, r.status, r.expires_at) == (True, "active", 60.0)
    assert store.available("N1", ["TEE", "MUG", "HAT"], now=1) == {
        "TEE": 6,
        "MUG": 2,
        "HAT": 0,
    }
    short = store.reserve("r2", [("TEE", 2), ("MUG", 3)], "N1", ttl_s=60, now=1)
    assert (short.ok, short.status, short.shortfall) == (
        False,
        "rejected",
        (("MUG", 3, 2),),
    )
    assert store.available("N1", ["TEE"], now=1) == {"TEE": 6}  # all-or-nothing
    assert store.commit("r1", now=2).status == "committed"
    inv = store.inventory_frame().set_index("sku")
    assert inv.loc["TEE"].tolist() == ["N1", 6, 0]
    assert store.commit("r1", now=3).replayed  # idempotent
    with pytest.raises(
        InputError, match=r"reservation is committed, cannot be released"
    ):
        store.release("r1", now=3)
    store.reserve("r3", [("TEE", 6)], "N1", ttl_s=60, now=4)
    assert store.release("r3", now=5).status == "released"
    assert store.release("r3", now=6).replayed
    assert store.available("N1", ["TEE"], now=6) == {"TEE": 6}
    with pytest.raises(InputError, match=r"field 'request_id': value 'nope': unknown"):
        store.commit("nope")
    assert store.check_consistency() == []


def test_expiry_frees_stock(store: StateStore) -> None:
    store.reserve("old", [("MUG", 3)], "N1", ttl_s=10, now=0)
    assert store.available("N1", ["MUG"], now=9) == {"MUG": 0}
    assert store.available("N1", ["MUG"], now=10) == {"MUG": 3}  # reads skip stale
    mat = store.available_matrix(["N1"], ["MUG", "TEE"], now=10)
    assert mat.tolist() == [[3, 10]]
    assert store.reserve("new", [("MUG", 2)], "N1", ttl_s=10, now=11).ok
    assert store.reservation_status("old") == "expired"
    with pytest.raises(
        InputError, match=r"reservation is expired, cannot be committed"
    ):
        store.commit("old", now=12)
    assert store.expire_stale(now=100) == 1
    assert store.check_consistency() == []


def test_idempotent_request_ids(store: StateStore) -> None:
    first = store.reserve("req", [("TEE", 3)], "N1", ttl_s=60, now=0)
    again = store.reserve("req", [("TEE", 3)], "N1", ttl_s=60, now=1)
    assert first.ok and again.ok and again.replayed and not first.replayed
    assert store.available("N1", ["TEE"], now=1) == {"TEE": 7}  # reserved once
    with pytest.raises(InputError, match=r"already used with different lines"):
        store.reserve("req", [("TEE", 4)], "N1", ttl_s=60, now=1)
    with pytest.raises(InputError, match=r"field 'quantity': index 0: value 0"):
        store.reserve("bad", [("TEE", 0)], "N1", ttl_s=60)


def _contend(location: str, worker: int, n: int, barrier: Any, queue: Any) -> None:
    store = open_store(location)
    barrier.wait()
    ok = sum(
        store.reserve(f"w{worker}-{i}", [("HOT", 1)], "N1", ttl_s=3600).ok
        for i in range(n)
    )
    store.close()
    queue.put(ok)


@pytest.mark.parametrize(
    "attempts",
    # 100 units and 1,200 takes: the 8 race for the stock from the barrier on
    [150, pytest.param(500, marks=pytest.mark.slow)],
)
def test_no_oversell_under_8_processes(
    state_location: Path | str, attempts: int
) -> None:
    with open_store(state_location) as s:
        _stock(s, HOT=100)
    # a fork server that imported this module (numpy, pandas, tierflow)
    # once: 8 interpreters spawned each importing them anew took most of
    # the test; each process still opens its own store (``_contend``)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    barrier, queue = ctx.Barrier(8), ctx.Queue()
    procs = [
        ctx.Process(
            target=_contend, args=(str(state_location), w, attempts, barrier, queue)
        )
        for w in range(8)
    ]
    for p in procs:
        p.start()
    granted = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(granted) == 100
    with open_store(state_location) as s:
        assert s.inventory_frame()[["on_hand", "reserved"]].values.tolist() == [
            [100, 100]
        ]
        assert s.check_consistency() == []


#: Lines of each batch the crasher writes: a batch takes 0.1-0.3 s to write
#: (a kill lands in one whatever its size: the loop does little else).
_BATCH_ROWS = 5_000


def _crash(location: str, wrote: Any) -> None:
    """Write allocation batches, taking and committing stock between them,
    until killed; ``wrote`` is set once a batch is in."""
    store = open_store(location)
    start = store.start_allocation_run("run", {"engine": "greedy"})
    batch = 0 if start is None else start + 1
    rows = _BATCH_ROWS
    while True:
        frame = pd.DataFrame({
            "order_id": [f"O{batch}-{i}" for i in range(rows)], "sku": "TEE",
            "quantity": 1, "node_id": "N1", "service": "ground",
            "ship_date": "2026-01-05", "promised_date": "2026-01-08", "cost": 9.5,
            "status": "allocated", "reason": "",
        })  # fmt: skip
        store.write_allocation_batch("run", batch, frame)
        r = store.reserve(f"q{batch}", [("TEE", 1)], "N1", ttl_s=3600)
        if r.ok and batch % 2:
            store.commit(f"q{batch}")
        wrote.set()
        batch += 1


def test_sigkill_mid_batch_leaves_store_consistent(state_location: Path | str) -> None:
    with open_store(state_location) as s:
        _stock(s, TEE=1_000_000)
    rng = np.random.default_rng(0)
    # forked from a server that imported this module once (a fresh
    # interpreter per attempt spent 0.6 s of its 1-2 s importing pandas)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    for attempt in range(3):
        wrote = ctx.Event()
        proc = ctx.Process(target=_crash, args=(str(state_location), wrote))
        proc.start()
        assert wrote.wait(timeout=60)  # it is writing
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.kill()  # SIGKILL
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL
        with open_store(state_location) as s:  # reopening works
            assert s.check_consistency() == [], attempt
            last = s.last_committed_batch("run")
            assert last is not None
            done = s.allocations("run")
            assert sorted(done["batch"].unique().tolist()) == list(range(last + 1))
            assert len(done) == _BATCH_ROWS * (last + 1)  # whole batches only


def test_cltv_scores(store: StateStore) -> None:
    day = dt.date(2026, 1, 5)
    scores = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(11)],
            "predicted_spend": [float(i * 10) for i in range(11)],
            "p_active": 0.5,
            "segment": ["silver"] * 8 + ["gold"] * 2 + ["platinum"],
        }
    )
    assert store.put_cltv_scores(scores, as_of=day, model_version="v1") == 11
    assert store.cltv_threshold(90) == 90.0  # floor(0.9 * 10) = index 9
    assert store.cltv_threshold(0) == 0.0 and store.cltv_threshold(100) == 100.0
    # the top 10 % of 11 is 2 (ceil 1.1): C9 and C10; at 0 everyone, at 100 the best
    assert store.cltv_top_threshold(90) == 90.0
    assert store.cltv_top_threshold(0) == 0.0
    assert store.cltv_top_threshold(100) == 100.0
    hit = store.cltv_score("C7")
    assert hit is not None and (hit.predicted_spend, hit.as_of) == (70.0, day)
    assert store.cltv_score("nobody") is None
    got = store.cltv_scores(["C1", "C10", "zz"]).set_index("customer_id")
    assert got["predicted_spend"].to_dict() == {"C1": 10.0, "C10": 100.0}
    bad = scores.assign(p_active=[0.5] * 10 + [1.5])
    with pytest.raises(InputError, match=r"field 'p_active': index 10: value 1\.5"):
        store.put_cltv_scores(bad, as_of=day, model_version="v2")
    assert store.cltv_score("C7") is not None  # the day's scores are intact
    # a newer day replaces what lookups see; re-putting a day replaces it
    store.put_cltv_scores(
        scores.iloc[:3], as_of=day + dt.timedelta(1), model_version="v2"
    )
    assert store.cltv_score(
        "C7"
    ) is None and store.latest_cltv_as_of() == day + dt.timedelta(1)
    store.put_cltv_scores(
        scores.iloc[:2], as_of=day + dt.timedelta(1), model_version="v3"
    )
    assert len(store.cltv_scores([f"C{i}" for i in range(11)])) == 2


def test_cltv_version_moves_with_every_write_of_scores(store: StateStore) -> None:
    """What a reader's cache checks: each write (a new day, or a day
    replaced in place) moves it; a refused write does not."""
    day = dt.date(2026, 1, 5)
    scores = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "predicted_spend": [1.0, 2.0],
         "p_active": 0.5, "segment": "silver"}
    )  # fmt: skip
    versions = [store.cltv_version()]
    store.put_cltv_scores(scores, as_of=day, model_version="v1")
    versions.append(store.cltv_version())
    store.put_cltv_scores(scores, as_of=day, model_version="v1")  # same day again
    versions.append(store.cltv_version())
    with pytest.raises(InputError):
        store.put_cltv_scores(
            scores.assign(p_active=2.0), as_of=day, model_version="v2"
        )
    versions.append(store.cltv_version())
    assert versions == [0, 1, 2, 2]


def test_the_new_customer_prior_is_kept_with_its_days_scores(
    store: StateStore,
) -> None:
    """The model's new-customer prior is written with the day's scores, in
    their transaction: replaced with them, removed with them (a day written
    again without one), kept when a write of them is refused; it is the
    latest day's or none."""
    day = dt.date(2026, 1, 5)
    scores = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "predicted_spend": [1.0, 2.0],
         "p_active": 0.5, "segment": "silver"}
    )  # fmt: skip
    assert store.cltv_new_customer_spend() is None  # no scores at all
    store.put_cltv_scores(scores, as_of=day, model_version="v1")
    assert store.cltv_new_customer_spend() is None  # scores without a prior
    store.put_cltv_scores(
        scores, as_of=day, model_version="v1", new_customer_spend=37.25
    )
    assert store.cltv_new_customer_spend() == 37.25
    with pytest.raises(  # bad scores: neither they nor the prior change
        InputError, match=r"field 'p_active': index 1: value 2\.0: must be in"
    ):
        store.put_cltv_scores(
            scores.assign(p_active=[0.5, 2.0]),
            as_of=day,
            model_version="v2",
            new_customer_spend=99.0,
        )
    assert store.cltv_new_customer_spend() == 37.25
    for bad in (-0.01, math.nan, math.inf, True):
        with pytest.raises(
            InputError,
            match=rf"^field 'new_customer_spend': value {re.escape(str(bad))}: "
            r"must be a finite number >= 0$",
        ):
            store.put_cltv_scores(
                scores.iloc[:1], as_of=day, model_version="v3",
                new_customer_spend=bad,
            )  # fmt: skip
    assert len(store.cltv_scores(["C1", "C2"])) == 2  # the refused writes wrote none
    assert store.cltv_new_customer_spend() == 37.25
    # a newer day without a prior: the older day's is not the latest's
    store.put_cltv_scores(scores, as_of=day + dt.timedelta(1), model_version="v2")
    assert store.cltv_new_customer_spend() is None
    store.put_cltv_scores(
        scores, as_of=day + dt.timedelta(1), model_version="v2",
        new_customer_spend=0.0,
    )  # fmt: skip
    assert store.cltv_new_customer_spend() == 0.0
    # the same day again without one removes it with the day's scores
    store.put_cltv_scores(scores, as_of=day + dt.timedelta(1), model_version="v3")
    assert store.cltv_new_customer_spend() is None


def test_migration_13_adds_the_new_customer_prior_to_a_version_12_store(
    state_location: Path | str,
) -> None:
    """A store of schema 12 (scores without a prior) gets the table; its
    scores keep no prior until a day is written with one."""
    scores = pd.DataFrame(
        {"customer_id": ["C1"], "predicted_spend": [1.0], "p_active": 0.5,
         "segment": "silver"}
    )  # fmt: skip
    with open_store(state_location) as s:
        s.put_cltv_scores(scores, as_of=dt.date(2026, 1, 5), model_version="v1")
    downgrade_store(state_location, 12)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.cltv_new_customer_spend() is None
        assert s.cltv_score("C1") is not None
        s.put_cltv_scores(
            scores, as_of=dt.date(2026, 1, 5), model_version="v2",
            new_customer_spend=12.5,
        )  # fmt: skip
        assert s.cltv_new_customer_spend() == 12.5


def test_migration_7_adds_table_versions_to_a_version_6_store(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    downgrade_store(state_location, 6)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.cltv_version() == 0


def test_migration_8_indexes_checkouts_by_expiry_on_a_version_7_store(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    downgrade_store(state_location, 7)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.prune_checkouts() == 0
    if is_postgres_url(state_location):
        query = "SELECT indexname FROM pg_indexes WHERE tablename = 'checkouts'"
    else:
        query = "SELECT name FROM sqlite_master WHERE tbl_name = 'checkouts'"
    assert ("checkouts_by_expiry",) in run_sql(state_location, query)


def _alloc(orders: list[str], status: str = "allocated") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": orders,
            "sku": "TEE",
            "quantity": 2,
            "node_id": "N1" if status == "allocated" else None,
            "service": "ground",
            "ship_date": "2026-01-05",
            "promised_date": "2026-01-08",
            "cost": 9.5,
            "status": status,
            "reason": "",
        }
    )


def test_allocation_batches(store: StateStore) -> None:
    assert store.start_allocation_run("day1", {"engine": "cpsat"}) is None
    assert store.write_allocation_batch(
        "day1", 0, _alloc(["A", "B"]), consume_inventory=True
    )
    assert not store.write_allocation_batch("day1", 0, _alloc(["A", "B"]))  # replay
    assert store.start_allocation_run("day1", {"engine": "cpsat"}) == 0  # resume point
    with pytest.raises(InputError, match=r"different parameters"):
        store.start_allocation_run("day1", {"engine": "greedy"})
    # a deferred line may be decided again later; an allocated one may not
    assert store.write_allocation_batch(
        "day1", 1, _alloc(["C"], "deferred"), stats='{"batch": 1}'
    )
    assert not store.write_allocation_batch(
        "day1", 1, _alloc(["C"], "deferred"), stats='{"batch": 1, "again": 1}'
    )
    assert store.write_allocation_batch("day1", 2, _alloc(["C"]))
    # a batch's figures are kept with it (none given: none kept)
    assert store.allocation_batch_stats("day1") == {1: '{"batch": 1}'}
    assert store.allocation_batch_stats("day2") == {}
    with pytest.raises(InputError, match=r"already allocated"):
        store.write_allocation_batch("day1", 3, _alloc(["A"]))
    with pytest.raises(InputError, match=r"not enough unreserved stock"):
        store.write_allocation_batch(
            "day1", 3, _alloc(["D", "E", "F", "G"]), consume_inventory=True
        )
    assert store.last_committed_batch("day1") == 2
    assert store.decided_order_ids("day1") == {"A", "B", "C"}
    assert store.available("N1", ["TEE"]) == {"TEE": 6}  # A and B took 2 each
    assert store.check_consistency() == []


def test_store_satisfies_the_protocol(store: StateStore) -> None:
    def use(s: StateStore) -> int | None:
        return s.last_committed_batch("none")

    assert use(store) is None


def test_takes_sweep_lapsed_holds_at_most_once_a_second(store: StateStore) -> None:
    """A take sweeps holds past their TTL first when the last sweep of this
    store object is ``SWEEP_EVERY_S`` (1 s) behind, or when a line falls
    short; in between, lapsed holds wait (reads count them free)."""
    assert store.reserve("a", [("TEE", 1)], "N1", ttl_s=0.1, now=0).ok  # swept
    assert store.reserve("b", [("TEE", 1)], "N1", ttl_s=5, now=0.5).ok
    assert store.reservation_status("a") == "active"  # lapsed, not yet swept
    assert store.available("N1", ["TEE"], now=0.5) == {"TEE": 9}
    assert store.reserve("c", [("TEE", 1)], "N1", ttl_s=5, now=1.0).ok  # due
    assert store.reservation_status("a") == "expired"
    assert store.reserve("d", [("TEE", 7)], "N1", ttl_s=0.1, now=1.2).ok
    # 8 free at 1.5 once d lapsed, but d is not swept yet: the short take sweeps
    assert store.reserve("e", [("TEE", 8)], "N1", ttl_s=5, now=1.5).ok
    assert store.reservation_status("d") == "expired"
    assert store.check_consistency() == []


def test_a_migration_says_where_from_which_schema_and_how_long(
    state_location: Path | str, caplog: pytest.LogCaptureFixture
) -> None:
    """One log line for an older store an open migrates (none for a new
    one, nor for a store at the newest schema)."""
    caplog.set_level("INFO", logger="tierflow.store")
    open_store(state_location).close()
    open_store(state_location).close()
    assert [r for r in caplog.records if r.name == "tierflow.store"] == []
    downgrade_store(state_location, 9)
    with open_store(state_location) as s:
        where = s.location
    said = [r.getMessage() for r in caplog.records if r.name == "tierflow.store"]
    assert len(said) == 1, said
    assert re.fullmatch(
        rf"migrating store {re.escape(where)} from schema 9 to {SCHEMA_VERSION}: "
        r"done in \d+\.\d\d s",
        said[0],
    ), said


def test_a_store_says_which_schema_its_open_migrated_it_from(
    state_location: Path | str,
) -> None:
    """``migrated_from``: 0 for a store the open made, the old version for
    one it migrated, None for one already current (``state migrate`` tells
    by it that another process migrated the store while it waited)."""
    with open_store(state_location) as made:
        assert made.migrated_from == 0
    with open_store(state_location) as current:
        assert current.migrated_from is None
    downgrade_store(state_location, 9)
    with open_store(state_location) as migrated:
        assert migrated.migrated_from == 9
        assert migrated.schema_version() == SCHEMA_VERSION


@contextlib.contextmanager
def _migration_lock_held(
    location: Path | str, seconds: float, released: list[float]
) -> Iterator[int | None]:
    """Hold what a migration must take first (SQLite's write lock, the
    PostgreSQL schema lock, by a session named ``qa-report``: its pid
    given) for ``seconds``, released from a timer (``released``: when,
    ``time.monotonic()``)."""
    if is_postgres_url(location):
        import psycopg

        conn: Any = psycopg.connect(
            str(location), autocommit=True, application_name="qa-report"
        )
        conn.execute("SELECT pg_advisory_lock(hashtextextended('tierflow.schema', 0))")
        holder: int | None = conn.info.backend_pid

        def release() -> None:
            conn.execute(
                "SELECT pg_advisory_unlock(hashtextextended('tierflow.schema', 0))"
            )
            released.append(time.monotonic())
    else:
        conn = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        holder = None

        def release() -> None:
            conn.execute("COMMIT")
            released.append(time.monotonic())

    timer = threading.Timer(seconds, release)
    timer.start()
    try:
        yield holder
    finally:
        timer.join()
        conn.close()


def test_a_migration_held_up_says_what_it_waits_for(
    state_location: Path | str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A migration that runs past ``MIGRATION_NOTICE_S`` (here held up by
    the lock it must take) says so while it runs, again every
    ``MIGRATION_NOTICE_EVERY_S``, then its end line; one that ends sooner
    says only its end (the test above). It says it waits, for which lock,
    and on PostgreSQL who holds it (SQLite cannot tell): it said "a
    migration under way; writers wait", as if it were the one migrating,
    and named nobody (on SQLite until 2026-12-06). It goes on as soon as
    the lock is released."""
    open_store(state_location).close()
    downgrade_store(state_location, 13)
    monkeypatch.setattr(store_database, "MIGRATION_NOTICE_S", 0.2)
    monkeypatch.setattr(store_database, "MIGRATION_NOTICE_EVERY_S", 0.5)
    caplog.set_level("INFO", logger="tierflow.store")
    released: list[float] = []
    with (
        _migration_lock_held(state_location, 1.5, released) as holder,
        open_store(state_location) as s,
    ):
        opened = time.monotonic()
        where = s.location
        assert s.schema_version() == SCHEMA_VERSION
    assert opened - released[0] < 0.5, opened - released[0]
    said = [r.getMessage() for r in caplog.records if r.name == "tierflow.store"]
    # at 0.2 s, then 0.7 and 1.2 (a loaded machine may miss the last)
    assert 3 <= len(said) <= 4, said
    notices, end = said[:-1], said[-1]
    store = re.escape(f"store {where}: ")
    if holder is None:  # SQLite: who holds its write lock is not known
        held = re.escape(", for the store's write lock, held by another connection")
    else:
        held = re.escape(
            ", for the schema lock, which another session holds "
            f"(pid {holder}, application_name 'qa-report', idle for "
        )
        held += r"\d s\)"
    # at 0.2 s; a loaded machine says it later (0.3 s seen)
    first = rf"waiting \d\.\d s to migrate to schema {SCHEMA_VERSION}{held}"
    again = rf"still waiting \(\d s\) to migrate to schema {SCHEMA_VERSION}{held}"
    assert re.fullmatch(store + first, notices[0]), said
    for line in notices[1:]:
        assert re.fullmatch(store + again, line), said
    assert end.startswith(
        f"migrating store {where} from schema 13 to {SCHEMA_VERSION}: done in 1."
    ), said


def test_a_long_sqlite_migration_of_this_process_says_it_is_under_way(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once this process holds SQLite's write lock, the migration is its own
    and says so (other writers wait for it), not that it waits: a migration
    whose one statement makes a million rows runs past the notice."""
    monkeypatch.setattr(store_database, "MIGRATION_NOTICE_S", 0.05)
    caplog.set_level("INFO", logger="tierflow.store")
    slow = (
        "CREATE TABLE counted AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
        "SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c"
    )
    path = tmp_path / "slow.db"
    SqliteDatabase(path, [[slow]]).close()
    said = [r.getMessage() for r in caplog.records if r.name == "tierflow.store"]
    assert said, said
    assert re.fullmatch(
        re.escape(f"store {path}: a migration to schema 1 under way for ")
        + r"0\.\d s; writers wait until it is done",
        said[0],
    ), said
