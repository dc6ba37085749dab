"""The connection under the store: what the concern classes need from a
database (:class:`Database`, :class:`Transaction`), the errors every backend
raises, and the small SQL helpers the concern classes share.

The backends are :mod:`~tierflow.data.store.sqlite_database` and
:mod:`~tierflow.data.store.postgres_database`; ``docs/store.md`` has the
transaction, concurrency and crash-safety design.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import pandas as pd

from tierflow.data.errors import TierflowError
from tierflow.data.store_location import STORE_MAKERS

# moved to tierflow.data.store_location (no heavy import); still importable here
from tierflow.data.store_location import default_state_path as default_state_path


class StoreUnavailable(TierflowError):
    """The store cannot be reached: not opened, closed, gone, or timed out.

    Both backends raise it instead of their driver's errors, so callers that
    degrade when the store is away (the checkout) catch one exception.
    ``reason`` is the message without ``location`` (the store's file or
    masked URL): an HTTP answer says the reason, the operator's log and
    the CLI the whole message.
    """

    def __init__(self, reason: str, *, location: str | None = None) -> None:
        super().__init__(f"{location}: {reason}" if location else reason)
        self.reason = reason
        self.location = location


class SchemaTooNew(TierflowError):
    """The store's schema is newer than this tierflow's: a newer release
    migrated it. Not a :class:`StoreUnavailable`: a database that is down
    comes back, this one never fits until tierflow is upgraded, so a server
    refuses to start on it instead of serving degraded."""


def refuse_newer_schema(version: int, newest: int, where: str) -> None:
    """Refuse a store migrated by a newer tierflow (both backends).

    Raises
    ------
    SchemaTooNew
        ``version`` is above ``newest``, this code's schema version.
    """
    if version > newest:
        raise SchemaTooNew(
            f"{where}: schema version {version} is newer than this "
            f"tierflow's ({newest}); upgrade tierflow"
        )


class SchemaTooOld(TierflowError):
    """The store's schema is older than this tierflow's, and the open was
    asked not to migrate it (a command that only reads: a newer tierflow's
    ``stock show`` migrated a running fleet's store, and its older replicas
    refused it as they restarted). Nothing was changed; ``found`` and
    ``newest`` are the store's and this code's schema versions."""

    def __init__(
        self, found: int, newest: int, where: str, message: str | None = None
    ) -> None:
        super().__init__(
            message
            or f"{where}: schema {found}, this tierflow reads {newest}: migrate "
            f"it first (tierflow state migrate --state {shlex.quote(where)}) "
            "— nothing was changed"
        )
        self.found = found
        self.newest = newest
        self.location = where


class StoreEmpty(SchemaTooOld):
    """An empty file or database opened by a command that only reads: it
    makes no store there (a typo'd PostgreSQL database, an empty file, were
    given every table and shown as an empty store). ``found`` is 0."""

    def __init__(self, newest: int, where: str) -> None:
        super().__init__(
            0,
            newest,
            where,
            f"{where}: no state store there, an empty database ({STORE_MAKERS} "
            "makes one) — nothing was changed",
        )


def refuse_older_schema(
    found: int, newest: int, where: str, *, migrate: bool, make: bool
) -> None:
    """Refuse an open that may not migrate a store older than this code
    (both backends, before any write).

    Parameters
    ----------
    found, newest
        The store's schema version (0: nothing made yet) and this code's.
    migrate
        Whether the open may migrate it: then nothing is refused.
    make
        Whether it may make a new store's tables (``found`` 0) all the same,
        as a reading command always did on an empty file or database.

    Raises
    ------
    SchemaTooOld
        ``found`` is below ``newest`` and may not be migrated.
    StoreEmpty
        ``found`` is 0 and ``make`` False (a :class:`SchemaTooOld`).
    """
    if migrate or found >= newest or (found == 0 and make):
        return
    if found == 0:
        raise StoreEmpty(newest, where)
    raise SchemaTooOld(found, newest, where)


class StoreBroken(StoreUnavailable):
    """The store is there but can never be used as it is: a damaged database
    file (SQLite's "database disk image is malformed"), a migration that
    fails ("table quotes already exists"), a PostgreSQL server that refuses
    the URL's password, role or database. Waiting never mends it, so a
    server refuses to start on it, as on a newer schema, instead of serving
    degraded and retrying every second; it names the store."""


#: The store's own log (a migration's line).
store_log = logging.getLogger("tierflow.store")


#: Seconds a migration runs before it says so (a huge store's copy holds
#: the write lock for a minute; a quick one, or one that fails at once,
#: says nothing until its end).
MIGRATION_NOTICE_S = 5.0
#: Seconds between a migration's later lines while it still runs or waits
#: (a process waiting for another's migration waits as long as that runs).
MIGRATION_NOTICE_EVERY_S = 30.0


@contextlib.contextmanager
def migration_notice(
    location: str, newest: int, waiting: Callable[[], str | None] | None = None
) -> Iterator[None]:
    """Log one line when the migration inside runs past
    :data:`MIGRATION_NOTICE_S`, and one every :data:`MIGRATION_NOTICE_EVERY_S`
    after it: the store, the target schema, and what ``waiting`` says the
    migration waits for ("the schema lock, which another session holds
    (pid …)"; None: it waits for nothing, it is under way and other writers
    wait for it). This process waiting for a lock said "under way; writers
    wait", as if it held it, and never who did. A migration that ends or
    fails sooner says nothing here, so a failed open's error stays the one
    line on stderr."""
    started = time.monotonic()
    done = threading.Event()

    def say(again: bool) -> None:
        what = None if waiting is None else waiting()
        took = time.monotonic() - started
        if done.is_set():  # (ended while ``waiting`` asked: nothing to say)
            return
        if what is not None:
            how = f"still waiting ({took:.0f} s)" if again else f"waiting {took:.1f} s"
            line = f"store {location}: {how} to migrate to schema {newest}, for {what}"
        else:
            how = (
                f"still under way ({took:.0f} s)"
                if again
                else f"under way for {took:.1f} s"
            )
            line = (
                f"store {location}: a migration to schema {newest} {how}; "
                "writers wait until it is done"
            )
        store_log.info("%s", line)

    def watch() -> None:
        if done.wait(MIGRATION_NOTICE_S):
            return
        say(again=False)
        while not done.wait(MIGRATION_NOTICE_EVERY_S):
            say(again=True)

    watcher = threading.Thread(
        target=watch, name="tierflow-migration-notice", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        done.set()


def log_migration(location: str, found: int, newest: int, started: float) -> None:
    """One line for a store an open migrated (not for a new one, which every
    first run of a command makes): where, from which schema to which, and
    how long its tables were locked (``started``: ``time.monotonic()``)."""
    if 0 < found < newest:  # (0: a new store; newest: another process did it)
        store_log.info(
            "migrating store %s from schema %d to %d: done in %.2f s",
            location,
            found,
            newest,
            time.monotonic() - started,
        )


def migration_failed(
    found: int, target: int, newest: int, exc: BaseException, location: str
) -> StoreBroken:
    """A migration the database refused (both backends): one line naming the
    store, the versions and the database's words; nothing of it applied."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreBroken(
        f"cannot migrate the store from schema {found} to {newest}: "
        f"migration {target} failed: {first}",
        location=location,
    )


class SchemaMovedOn(StoreUnavailable):
    """A write refused because another process (a newer tierflow) migrated
    the store past this code's schema while it ran: the rows it would write
    have the old shape (:func:`note_schema_version`)."""


#: The stores this process found migrated past its own schema while it ran:
#: location -> the refusal's reason.
_schema_moved_on: dict[str, str] = {}


def note_schema_version(location: str, found: int, own: int) -> str:
    """Note the schema version a running process found its store at: above
    ``own`` (this code's), every write of this process to that store is
    refused from now on (:func:`refuse_writes_past_schema`), by whichever of
    its store objects; at ``own`` or below again, writes go on. Returns the
    refusal's reason ("" when the store is not ahead)."""
    if found > own:
        why = (
            f"store schema {found} is newer than this tierflow's {own}: "
            "upgrade tierflow"
        )
        _schema_moved_on[location] = why
        return why
    _schema_moved_on.pop(location, None)
    return ""


def schema_moved_on(location: str) -> str:
    """Why writes to the store at ``location`` are refused ("" when they are
    not): :func:`note_schema_version` found it newer than this code."""
    return _schema_moved_on.get(location, "")


#: The stores whose schema version this process reads before each of its
#: writes (:func:`watch_schema_at_each_write`): location -> this code's version.
_watched_at_each_write: dict[str, int] = {}


def watch_schema_at_each_write(location: str, own: int) -> None:
    """Read the schema version of the store at ``location`` before each
    write of this process to it (a command's: an allocation's batches, a
    feed's, a publish after a long training): a newer tierflow that migrated
    it since is seen at the next write, not never. A server follows it once
    a second instead, off its requests' path."""
    _watched_at_each_write[location] = own


def refuse_writes_past_schema(location: str, version: Callable[[], int]) -> None:
    """Refuse a write to a store migrated past this code's schema while the
    process ran (both backends call it before every write, with their
    ``version`` reader, read first for a watched store).

    Raises
    ------
    SchemaMovedOn
        :func:`note_schema_version` found the store newer than this code.
    """
    own = _watched_at_each_write.get(location)
    if own is not None:
        note_schema_version(location, version(), own)
    if _schema_moved_on:  # (an empty dict: one test on the write path)
        why = _schema_moved_on.get(location)
        if why is not None:
            raise SchemaMovedOn(why, location=location)


class StoreConflict(StoreUnavailable):
    """A write transaction lost a lock conflict (a PostgreSQL deadlock) and
    was rolled back; running it again normally succeeds (:func:`retried`)."""


#: Told of every store error a backend raises: ``(backend, error)``.
StoreErrorListener = Callable[[str, StoreUnavailable], None]
_error_listeners: list[StoreErrorListener] = []


def on_store_error(listener: StoreErrorListener) -> None:
    """Tell ``listener`` of every store error any backend raises in this
    process (the service counts them on ``/metrics``); added once."""
    if listener not in _error_listeners:
        _error_listeners.append(listener)


def off_store_error(listener: StoreErrorListener) -> None:
    """Stop telling ``listener`` (a server that stops takes its own off)."""
    with contextlib.suppress(ValueError):
        _error_listeners.remove(listener)


def store_error(backend: str, error: StoreUnavailable) -> StoreUnavailable:
    """``error``, after telling the listeners (backends raise what it returns)."""
    for listener in _error_listeners:
        listener(backend, error)
    return error


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


#: A statement and its parameters.
Statement = tuple[str, Sequence[Any]]


class Rows:
    """A read's rows, all fetched before its connection was free for another
    statement (PostgreSQL: back to the pool; SQLite: another thread's turn)."""

    __slots__ = ("_next", "_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def arrived(self, rows: list[Any], rowcount: int) -> None:
        """The rows of a read sent ahead (:meth:`Transaction.read_at_commit`)."""
        self._rows, self._next, self.rowcount = rows, 0, rowcount


class Connection(Protocol):
    """Runs SQL written with ``?`` parameters (DB-API ``qmark`` style)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """Run one statement per parameter row."""
        ...

    @property
    def byte_order(self) -> str:
        """:attr:`Database.byte_order`: text ``ORDER BY``'d in the order of
        its bytes, on both backends. Rows locked so are locked in the order
        every take sorts its cells in (a database's locale put ``Mug``
        before ``MUG``: two writers then locked two rows in opposite
        orders), and rows read so come in SQLite's order (an orders export's
        lines, an allocation's rows, the position a cut names)."""
        ...


class Transaction(Connection, Protocol):
    """An open write transaction, with the dialect details of locking."""

    @property
    def for_update(self) -> str:
        """`` FOR UPDATE`` where a row read must stay locked until commit;
        ``""`` where the engine runs one writer at a time."""
        ...

    def execute_each(self, sql: str, rows: Sequence[Sequence[Any]], /) -> list[int]:
        """Run one statement per parameter row, in order; the rows each
        changed. PostgreSQL sends them all (and what is queued) in one round
        trip."""
        ...

    def execute_all(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Run several statements in order (after the queued ones), each
        statement's rows fetched: PostgreSQL sends them in one round trip,
        SQLite runs them one after the other."""
        ...

    def later(self, sql: str, parameters: Sequence[Any] = ..., /) -> None:
        """A write whose result nobody reads: run before the transaction's
        next statement or its commit, in order. PostgreSQL sends the queued
        ones with that statement in one round trip; SQLite runs it at once.
        An error it raises surfaces there (and the transaction rolls back)."""
        ...

    def later_many(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        """:meth:`later`, once per parameter row."""
        ...

    def lock(self, key: str) -> None:
        """Wait until no other transaction holds ``key``; hold it to the end
        (what the transaction runs after it runs under it)."""
        ...

    def read_at_commit(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows:
        """A read run as the transaction's last statement (call it last),
        after everything before it, with the locks held: PostgreSQL sends it
        with the ``COMMIT`` in one round trip and its rows are there once the
        transaction has committed; SQLite runs it at once."""
        ...

    def notify(self, channel: str, payload: int) -> None:
        """Tell the listeners of ``channel`` about ``payload`` at commit."""
        ...

    def notify_query(self, channel: str, sql: str) -> None:
        """:meth:`notify` with the number ``sql`` (one value) gives when the
        transaction reaches this point: nothing has to be read back first."""
        ...


class Database(Connection, Protocol):
    """What the store's concern classes need from a database.

    Reads run on the database itself (:meth:`execute`, :meth:`frame`); every
    write runs inside :meth:`tx`, which lands all of it or nothing. Errors
    that mean "cannot reach the store" are :class:`StoreUnavailable`.
    """

    @property
    def location(self) -> str:
        """Where the database lives (a path, or a URL without its password)."""
        ...

    @property
    def integrity_error(self) -> type[Exception]:
        """The driver's exception for a violated constraint."""
        ...

    @property
    def migrated_from(self) -> int | None:
        """The schema version this object's open migrated the store from
        (0: it made the store); None when it migrated nothing: the store was
        current, or another process migrated it while this one waited for
        the lock."""
        ...

    @property
    def byte_order(self) -> str:
        """SQL ``COLLATE`` clause that orders text by its bytes (UTF-8's
        byte order is its code points'), whatever the database's locale: a
        comparison of fixed-width ISO 8601 text in time order."""
        ...

    @property
    def tables_made(self) -> str:
        """SQL of one number that changes whenever the store's tables are
        made again under a running process (a restore with ``--clean``, a
        database dropped and made again): what a follower compares to tell
        a store restored under it from one that moved on."""
        ...

    def tx(self) -> AbstractContextManager[Transaction]:
        """One write transaction."""
        ...

    def read_many(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Several reads, each statement's rows in order: on PostgreSQL in
        one round trip (one pipeline on one connection), on SQLite one after
        the other under the connection's lock."""
        ...

    def snapshot(self) -> AbstractContextManager[Connection]:
        """One read transaction: every statement run in it sees the store as
        its first did (PostgreSQL: ``REPEATABLE READ``; SQLite: one
        transaction on its connection), so reads that belong together see
        no write land between them (a confirm counted twice, or never)."""
        ...

    def write(self, sql: str, parameters: Sequence[Any] = ..., /) -> int:
        """One write statement, its own transaction (one round trip);
        returns the rows it changed."""
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

    def listen(self, channel: str) -> None:
        """Start receiving ``channel``'s notices (before reading what they cover)."""
        ...

    def wait_notice(
        self,
        channel: str,
        after: int,
        timeout_s: float,
        stop: threading.Event | None = None,
        *,
        also: tuple[str, int] | None = None,
    ) -> None:
        """Return once a notice on ``channel`` carries more than ``after``
        (or one on ``also``'s channel more than its number), or after at most
        ``timeout_s``, or soon after ``stop`` is set (it may return early:
        read, then wait again)."""
        ...

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database where the engine leaves
        that to its clients (SQLite), so that a background thread does it
        instead of the next committing request; False when the engine does it
        itself (PostgreSQL): never worth calling again."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


#: A hold or reservation sweeps the holds past their TTL (in a transaction
#: of its own, before its own) at most this often per store object (in
#: transaction time; one that falls short sweeps at once, then takes again).
#: Reads count lapsed holds as free already: the sweep keeps their number,
#: and the reads' extra query for them, small.
SWEEP_EVERY_S = 1.0


class Cadence:
    """Upkeep due at most every ``every_s`` seconds of the caller's clock."""

    __slots__ = ("_at", "every_s")

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._at = -math.inf

    def due(self, now: float) -> bool:
        """Whether the upkeep runs at ``now`` (then it counts as done); a
        clock that went back makes it due."""
        if self._at <= now < self._at + self.every_s:
            return False
        self._at = now
        return True


class StorePart:
    """A concern of the store: its SQL, run on one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: When a take last swept lapsed holds (:func:`~.ledger.taking`).
        self._sweeps = Cadence(SWEEP_EVERY_S)


_Part = TypeVar("_Part", bound=StorePart)
_P = ParamSpec("_P")
_R = TypeVar("_R")
_ATTEMPTS = 6


def retried(
    method: Callable[Concatenate[_Part, _P], _R],
) -> Callable[Concatenate[_Part, _P], _R]:
    """Run a write method again when its transaction lost a lock conflict.

    Only PostgreSQL raises :class:`StoreConflict` (a deadlock between two
    workers taking the same rows in different orders); the rolled-back
    transaction left nothing behind, so the method simply runs again.
    """

    @functools.wraps(method)
    def run(self: _Part, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(_ATTEMPTS - 1):
            try:
                return method(self, *args, **kwargs)
            except StoreConflict:
                time.sleep(random.uniform(0.0, 0.005 * 2**attempt))
        return method(self, *args, **kwargs)

    return run


def clock(now: float | None = None) -> float:
    """``now`` (epoch seconds) when given, else the wall clock."""
    return time.time() if now is None else float(now)


def marks(n: int) -> str:
    """``n`` parameter placeholders for an ``IN (...)`` list."""
    return ", ".join("?" * n)


#: The most parameters one multi-row statement binds (:func:`later_rows`):
#: SQLite before 3.32 allowed 999.
ROW_PARAMETERS = 999


def later_rows(
    conn: Transaction,
    insert: str,
    rows: Sequence[Sequence[Any]],
    conflict: str = "",
) -> None:
    """``insert`` (``INSERT INTO t (a, b)``, without ``VALUES``) of every
    row, as one multi-row statement queued with :meth:`Transaction.later`
    (one per :data:`ROW_PARAMETERS` parameters), ``conflict`` (an ``ON
    CONFLICT ...`` clause, applied per row; the rows must not conflict with
    each other) after it. The rows land in their order, as
    :meth:`Transaction.later_many` would land them, but as one statement on
    PostgreSQL instead of one per row: each is parsed, sent and answered."""
    if not rows:
        return
    width = len(rows[0])
    mark = f"({marks(width)})"
    per = max(1, ROW_PARAMETERS // max(1, width))
    for i in range(0, len(rows), per):
        part = rows[i : i + per]
        conn.later(
            f"{insert} VALUES {', '.join([mark] * len(part))}{conflict}",
            [v for row in part for v in row],
        )


def chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in slices of at most ``size`` (SQLite caps parameters)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
