"""SQLite writers take turns on a file lock before SQLite's own: a waiter
gets in as soon as the holder commits, a second connection of the writing
thread fails at once instead of waiting forever, and a turn that never
comes fails after the timeout like SQLite's ``busy_timeout``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.locked_store import HOLDERS, locked_by_another_process
from tierflow.data.stop_signals import STOP_NOW
from tierflow.data.store import StoreUnavailable
from tierflow.data.store import sqlite_writer_lock as writer_lock
from tierflow.data.store.schema import STORE_TABLE
from tierflow.data.store.sqlite_database import SqliteDatabase

#: A table to write, beside the one that marks a store as tierflow's (a
#: database without it is another program's, refused untouched).
_SCHEMA = [
    [
        "CREATE TABLE t (k INTEGER PRIMARY KEY, who TEXT NOT NULL)",
        f"CREATE TABLE {STORE_TABLE} (seq INTEGER PRIMARY KEY)",
    ]
]


def _db(path: Path, timeout_s: float = 30.0) -> SqliteDatabase:
    return SqliteDatabase(path, _SCHEMA, timeout_s=timeout_s)


def test_a_waiting_writer_goes_once_the_holder_commits(tmp_path: Path) -> None:
    first, second = _db(tmp_path / "s.db"), _db(tmp_path / "s.db")
    done: list[float] = []

    def write() -> None:
        second.write("INSERT INTO t (who) VALUES ('second')")
        done.append(time.monotonic())

    with first.tx() as conn:
        conn.execute("INSERT INTO t (who) VALUES ('first')")
        waiter = threading.Thread(target=write)
        waiter.start()
        time.sleep(0.2)
        assert not done  # its turn has not come
        committed = time.monotonic()
    waiter.join(timeout=10)
    assert done and done[0] - committed < 0.1
    rows = first.execute("SELECT who FROM t ORDER BY k").fetchall()
    assert [r[0] for r in rows] == ["first", "second"]
    first.close()
    second.close()


def test_a_second_connection_of_the_writing_thread_fails_at_once(
    tmp_path: Path,
) -> None:
    first, second = _db(tmp_path / "s.db"), _db(tmp_path / "s.db")
    with first.tx() as conn:
        conn.execute("INSERT INTO t (who) VALUES ('first')")
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match="would wait forever"):
            second.write("INSERT INTO t (who) VALUES ('second')")
        assert time.monotonic() - start < 1.0
    second.write("INSERT INTO t (who) VALUES ('second')")  # its turn now
    assert first.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    first.close()
    second.close()


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_turn_that_never_comes_times_out_naming_the_file_and_the_wait(
    tmp_path: Path, holder: str
) -> None:
    """Another process holds the lock: this writer gives up after its
    timeout, both when tierflow's turn never comes (another tierflow writer)
    and when SQLite's ``busy_timeout`` runs out (a ``sqlite3`` shell, which
    takes no turn). SQLite's own words were "database is locked": no file,
    no wait."""
    path = tmp_path / "s.db"
    _db(path).close()
    with locked_by_another_process(path, holder):
        waiter = _db(path, timeout_s=0.3)
        start = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            waiter.write("INSERT INTO t (who) VALUES ('waiter')")
        assert 0.3 <= time.monotonic() - start < 2.0
        waiter.close()
    assert str(caught.value) == (
        f"{path}: locked by another process; gave up after waiting 0.3 s for "
        "its write lock"
    )
    again = _db(path, timeout_s=0.3)  # the lock gone, the write goes
    again.write("INSERT INTO t (who) VALUES ('waiter')")
    assert again.execute("SELECT who FROM t").fetchall() == [("waiter",)]
    again.close()


def test_a_long_wait_polls_the_lock_less_and_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter sleeps a tenth of what it has waited between tries (0.1 ms
    to 5 ms): a short wait is as quick as before, and 0.5 s behind another
    tierflow writer is ~150 tries, not the ~3,000 of a fixed 0.1 ms (waiting
    2.8 s cost 0.34 s of CPU then, 0.03 s now)."""
    assert writer_lock.retry_pause(0.0) == writer_lock.RETRY_S
    assert writer_lock.retry_pause(0.01) == pytest.approx(0.001)
    assert writer_lock.retry_pause(60.0) == writer_lock.MAX_PAUSE_S
    path = tmp_path / "s.db"
    _db(path).close()
    pauses: list[float] = []
    sleep = time.sleep

    def counted(seconds: float) -> None:
        pauses.append(seconds)
        sleep(seconds)

    with locked_by_another_process(path, "tierflow"):
        waiter = _db(path, timeout_s=0.5)
        monkeypatch.setattr(time, "sleep", counted)
        with pytest.raises(StoreUnavailable):
            waiter.write("INSERT INTO t (who) VALUES ('waiter')")
        monkeypatch.undo()
        waiter.close()
    # the pauses grew to their ceiling within the wait, and slept no longer
    # than it; how much of the wait was sleep depends on the machine's load
    # (a bound of 0.4 s of sleep failed at a load average of 10: 0.24 s)
    assert max(pauses) == writer_lock.MAX_PAUSE_S
    assert sum(pauses) <= 0.5 + writer_lock.MAX_PAUSE_S
    assert len(pauses) < 400, len(pauses)
    assert pauses == sorted(pauses)  # never shorter than the try before


@pytest.fixture
def stop_now() -> Iterator[threading.Event]:
    """The process-wide ``STOP_NOW``, cleared after the test."""
    try:
        yield STOP_NOW
    finally:
        STOP_NOW.clear()


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_process_stopping_at_once_gives_up_its_wait_for_the_lock(
    tmp_path: Path, holder: str, stop_now: threading.Event
) -> None:
    """A server's second stop signal (``STOP_NOW``) ends a write's wait for
    another process's lock, SQLite's (a ``sqlite3`` shell's) as tierflow's
    turn: the write waited out the store's wait, and a stopping worker
    with it (killed by its supervisor 15 s later)."""
    db = _db(tmp_path / "s.db", timeout_s=5.0)
    stopping = threading.Timer(0.3, stop_now.set)
    try:
        with locked_by_another_process(db.path, holder):
            stopping.start()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                db.write("INSERT INTO t (who) VALUES ('stopping')")
            took = time.monotonic() - started
        assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        stopping.join()
        db.close()
    assert 0.25 <= took < 1.5, took
    assert str(caught.value) == (
        f"{db.path}: locked by another process; stopped waiting for its write "
        "lock (this process is stopping)"
    )
