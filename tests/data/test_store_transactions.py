"""Writes queued in a transaction (``Transaction.later``): PostgreSQL sends
them with the next statement or the commit in one round trip, SQLite runs
them at once; on both, a later read sees them and a failing one takes the
whole transaction with it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.postgres import run_sql
from tierflow.data.store import open_store
from tierflow.data.store.database import Database
from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.local_postgres import LocalPostgres

_ADD = "INSERT INTO table_versions (name, version) VALUES (?, ?)"
_NAMES = "SELECT name FROM table_versions WHERE name LIKE 'probe%' ORDER BY name"


def _db(store: object) -> Database:
    assert isinstance(store, DatabaseStore)
    return store._db


def test_a_read_sees_the_writes_queued_before_it(state_location: Path | str) -> None:
    with open_store(state_location) as store:
        db = _db(store)
        with db.tx() as tx:
            tx.lock("probe")
            tx.later(_ADD, ("probe-1", 1))
            tx.later_many(_ADD, [("probe-2", 2), ("probe-3", 3)])
            seen = [r[0] for r in tx.execute(_NAMES).fetchall()]
            tx.later(
                "UPDATE table_versions SET version = ? WHERE name = ?", (9, "probe-1")
            )
        assert seen == ["probe-1", "probe-2", "probe-3"]
        # the write queued last, with nothing read after it, landed at commit
        assert db.execute(
            "SELECT version FROM table_versions WHERE name = 'probe-1'"
        ).fetchone() == (9,)


def test_a_failing_queued_write_rolls_back_the_transaction(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as store:
        db = _db(store)
        with pytest.raises(db.integrity_error), db.tx() as tx:
            tx.execute(_ADD, ("probe-0", 1))
            tx.later(_ADD, ("probe-bad", -1))  # CHECK (version >= 0)
            tx.later(_ADD, ("probe-after", 2))
        assert db.execute(_NAMES).fetchall() == []  # nothing of it landed
        with db.tx() as tx:  # and the connection is usable again
            tx.later(_ADD, ("probe-next", 1))
        assert [r[0] for r in db.execute(_NAMES).fetchall()] == ["probe-next"]


def test_each_statement_says_how_many_rows_it_changed(
    state_location: Path | str,
) -> None:
    """``execute_each``: one count per parameter row, in order, after the
    writes queued before it (PostgreSQL: all in one round trip)."""
    with open_store(state_location) as store:
        db = _db(store)
        with db.tx() as tx:
            tx.later_many(_ADD, [("probe-1", 1), ("probe-2", 5)])
            changed = tx.execute_each(
                "UPDATE table_versions SET version = version + 1 "
                "WHERE name LIKE ? AND version < ?",
                [("probe-%", 3), ("probe-9", 10), ("probe-%", 10)],
            )
        assert changed == [1, 0, 2]
        assert db.execute(
            "SELECT version FROM table_versions WHERE name LIKE 'probe%' ORDER BY name"
        ).fetchall() == [(3,), (6,)]


def test_a_transaction_that_raises_leaves_nothing_and_the_connection_idle(
    state_location: Path | str, caplog: pytest.LogCaptureFixture
) -> None:
    """Raising after a statement (PostgreSQL: after its ``BEGIN`` went with
    it) or before any: nothing lands, the connection goes back to the pool
    idle (the pool has nothing to roll back), and the next transactions on
    the pool's connections start clean."""
    caplog.set_level(logging.WARNING, logger="psycopg")
    with open_store(state_location) as store:
        db = _db(store)
        for read_first in (True, False):
            with pytest.raises(LookupError), db.tx() as tx:
                tx.later(_ADD, ("probe-0", 1))
                if read_first:
                    tx.execute(_NAMES).fetchall()
                raise LookupError("the caller gave up")
        assert db.execute(_NAMES).fetchall() == []
        for k in range(8):  # more than the pool's connections
            with db.tx() as tx:
                tx.execute(_ADD, (f"probe-{k}", k))
        assert len(db.execute(_NAMES).fetchall()) == 8
    assert [r.getMessage() for r in caplog.records] == []


def test_a_transaction_is_read_committed_whatever_the_server_default(
    postgres_server: LocalPostgres,
) -> None:
    """(PostgreSQL: SQLite runs one writer at a time.)"""
    state_location = postgres_server.create_database("serializable_default")
    run_sql(
        state_location,
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
        "default_transaction_isolation = serializable', current_database()); END $$",
    )
    assert run_sql(state_location, "SHOW default_transaction_isolation") == [
        ("serializable",)
    ]
    with open_store(state_location) as store, _db(store).tx() as tx:
        level = tx.execute("SHOW transaction_isolation").fetchone()
    assert level == ("read committed",)
