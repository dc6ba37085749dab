"""The connection under the store: what the concern classes need from it
(:class:`Database`) and its SQLite implementation, the one place that knows
SQLite (pragmas, WAL, ``BEGIN IMMEDIATE``, ``PRAGMA user_version``).

See ``docs/store.md`` for the transaction and crash-safety design.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tierflow.data.errors import InputError, TierflowError


class Cursor(Protocol):
    """The part of a DB-API cursor the store reads."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...


class Connection(Protocol):
    """Runs SQL written with ``?`` parameters (DB-API ``qmark`` style)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement per parameter row."""
        ...


class Database(Connection, Protocol):
    """What the store's concern classes need from a database.

    Reads run on the database itself (:meth:`execute`, :meth:`frame`); every
    write runs inside :meth:`tx`, which lands all of it or nothing.
    """

    @property
    def integrity_error(self) -> type[Exception]:
        """The driver's exception for a violated constraint."""
        ...

    def tx(self) -> AbstractContextManager[Connection]:
        """One write transaction (serialized against other writers)."""
        ...

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A query's rows as a data frame."""
        ...

    def schema_version(self) -> int:
        """The applied schema version."""
        ...

    def integrity_problems(self) -> list[str]:
        """The engine's own integrity check (empty when healthy)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class StorePart:
    """A concern of the store: its SQL, run on one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db


def clock(now: float | None = None) -> float:
    """``now`` (epoch seconds) when given, else the wall clock."""
    return time.time() if now is None else float(now)


def marks(n: int) -> str:
    """``n`` parameter placeholders for an ``IN (...)`` list."""
    return ", ".join("?" * n)


def chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in slices of at most ``size`` (SQLite caps parameters)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def default_state_path() -> Path:
    """``$TIERFLOW_STATE``, else ``$XDG_DATA_HOME/tierflow/state.db``
    (``~/.local/share/tierflow/state.db``)."""
    env = os.environ.get("TIERFLOW_STATE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tierflow" / "state.db"


class SqliteDatabase:
    """One SQLite connection in WAL mode, migrated to the newest schema.

    Parameters
    ----------
    path
        Database file (created with its folder if missing).
    migrations
        Statements of each schema version; version ``i + 1`` applies
        ``migrations[i]``.
    timeout_s
        How long a writer waits for the write lock before failing.
    synchronous
        ``NORMAL`` (crash-safe) or ``FULL`` (also power-loss-safe).
    """

    integrity_error: type[Exception] = sqlite3.IntegrityError

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Sequence[str]],
        *,
        timeout_s: float = 60.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InputError(
                "must be NORMAL or FULL", field="synchronous", value=synchronous
            )
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per store object; the lock keeps threads (a web
        # server's workers) from interleaving statements of two transactions.
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise TierflowError(f"{self.path}: cannot enable WAL mode (got {mode})")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate(migrations)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> sqlite3.Cursor:
        """Run one statement outside a transaction (a read: WAL never blocks it)."""
        return self._conn.execute(sql, parameters)

    def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any]], /
    ) -> sqlite3.Cursor:
        """Run one statement per parameter row (in autocommit mode)."""
        return self._conn.executemany(sql, parameters)

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A query's rows as a data frame (pandas' own SQLite reader)."""
        return pd.read_sql_query(sql, self._conn, params=params)

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it lands, or nothing does."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_problems(self) -> list[str]:
        """SQLite's ``integrity_check``, when it finds anything."""
        (ok,) = self._conn.execute("PRAGMA integrity_check").fetchone()
        return [] if ok == "ok" else [f"integrity_check: {ok}"]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _migrate(self, migrations: Sequence[Sequence[str]]) -> None:
        newest = len(migrations)
        if self.schema_version() == newest:
            return
        with self.tx() as conn:
            version = self.schema_version()  # re-read under the write lock
            if version > newest:
                raise TierflowError(
                    f"{self.path}: schema version {version} is newer than this "
                    f"tierflow's ({newest}); upgrade tierflow"
                )
            for target in range(version + 1, newest + 1):
                for statement in migrations[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
