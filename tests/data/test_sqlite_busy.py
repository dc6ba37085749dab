"""Which of SQLite's "busy" results the store's wait for another process's
lock waits out (``SqliteDatabase._wait_out``) and how a wait that ran out
is worded. SQLite waits 0.1 s of it at a time (``ATTEMPT_S``) and Python
tries again for the rest, so every code SQLite's own busy handler waited
out must be tried again: ``SQLITE_BUSY_RECOVERY`` (another connection
recovering a crashed writer's log) and ``SQLITE_BUSY_TIMEOUT`` failed after
0.1 s. Those codes need a crash or a build with blocking locks to happen,
so the error is SQLite's own class given the code."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierflow.data.store.database import StoreUnavailable
from tierflow.data.store.sqlite_database import SqliteDatabase

#: ``SQLITE_BUSY`` and its extended codes that a wait mends.
WAITED = {
    "busy": sqlite3.SQLITE_BUSY,
    "recovery": sqlite3.SQLITE_BUSY_RECOVERY,
    "timeout": sqlite3.SQLITE_BUSY_TIMEOUT,
}


def _busy_error(code: int) -> sqlite3.OperationalError:
    """The error SQLite raises with result code ``code``."""
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = code
    return exc


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A store whose wait is 1 s."""
    db = SqliteDatabase(tmp_path / "state.db", [["CREATE TABLE t (x)"]], timeout_s=1)
    try:
        yield db
    finally:
        db.close()


@pytest.mark.parametrize("code", WAITED.values(), ids=WAITED.keys())
def test_a_busy_result_a_wait_mends_is_tried_again_until_it_succeeds(
    database: SqliteDatabase, code: int
) -> None:
    tries = 0

    def read() -> sqlite3.Cursor:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise _busy_error(code)
        return database._conn.execute("SELECT 7")

    cursor = database._wait_out(_busy_error(code), read)
    assert (cursor.fetchall(), tries) == ([(7,)], 3)


@pytest.mark.parametrize("code", WAITED.values(), ids=WAITED.keys())
def test_a_busy_result_is_waited_out_then_said_locked_with_the_wait(
    database: SqliteDatabase, code: int
) -> None:
    tries = 0

    def read() -> None:
        nonlocal tries
        tries += 1
        raise _busy_error(code)

    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught, database._reachable:
        database._wait_out(_busy_error(code), read)
    waited = time.monotonic() - started
    # the first attempt (0.1 s, in SQLite) counts as waited already
    assert 0.85 <= waited < 3.0, waited
    assert tries > 10  # tried again all along, not given up on
    assert str(caught.value) == (
        f"{database.path}: locked by another process; gave up after waiting "
        "1 s for its write lock"
    )


def test_a_stale_snapshot_is_refused_at_once_in_sqlites_words(
    database: SqliteDatabase,
) -> None:
    """``SQLITE_BUSY_SNAPSHOT``: a write in a read transaction that another
    connection's commit made stale; waiting would not mend it."""
    tries = 0

    def read() -> None:
        nonlocal tries
        tries += 1

    stale = _busy_error(sqlite3.SQLITE_BUSY_SNAPSHOT)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught, database._reachable:
        database._wait_out(stale, read)
    assert time.monotonic() - started < 0.05
    assert tries == 0
    assert caught.value.__cause__ is stale
    assert "locked by another process" not in str(caught.value)
    assert "database is locked" in str(caught.value)
