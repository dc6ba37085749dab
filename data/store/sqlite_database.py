"""The SQLite connection under :class:`~tierflow.data.store.SqliteStore`: the
one place that knows SQLite (pragmas, WAL, ``BEGIN IMMEDIATE``,
``PRAGMA user_version``). Design: ``docs/store.md``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pandas as pd

from tierflow.data.errors import InputError, TierflowError
from tierflow.data.output_folder import file_in_the_way
from tierflow.data.stop_signals import HELD_WRITE, STOP_NOW
from tierflow.data.store.database import (
    Rows,
    SchemaTooOld,
    Statement,
    StoreBroken,
    StoreEmpty,
    StoreUnavailable,
    log_migration,
    migration_failed,
    migration_notice,
    refuse_newer_schema,
    refuse_older_schema,
    refuse_writes_past_schema,
    store_error,
)
from tierflow.data.store.schema import STORE_TABLE
from tierflow.data.store.sqlite_writer_lock import (
    WRITER_SUFFIX,
    WriterLock,
    locked_error,
    retry_pause,
    stopped_error,
)

_T = TypeVar("_T")

#: How often a waiter re-reads the capacity log (SQLite has no notices).
POLL_S = 0.05
#: A commit that finds the write-ahead log this long (pages; SQLite's
#: default is 1,000) checkpoints it on the committing thread. A server's
#: capacity follower checkpoints in the background several times a second
#: (:meth:`SqliteDatabase.checkpoint`); at 1,000 pages a busy server's
#: commits still got there first, stalling the event loop for the copy and
#: its ``fsync``, so the backstop sits at about 40 MB of log (7 % more
#: checkout calls a second with one worker, 5 % with two: ``docs/service.md``).
AUTOCHECKPOINT_PAGES = 10_000
#: The files of a SQLite store: the database, its write-ahead log and shared
#: memory (WAL mode), a rollback journal (had it ever been in that mode) and
#: the writers' turn (:class:`WriterLock`).
FILE_SUFFIXES = ("", "-wal", "-shm", "-journal", WRITER_SUFFIX)
#: The longest SQLite waits in its own busy handler (``busy_timeout``) for a
#: lock another process holds before Python tries again: a wait in C does not
#: act on Ctrl-C or SIGTERM, so a command behind a ``sqlite3`` shell's
#: ``BEGIN IMMEDIATE`` ignored them for its whole wait (up to 60 s). The
#: store's wait runs on in :meth:`SqliteDatabase._wait_out`.
ATTEMPT_S = 0.1


def _busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is a wait for another process's lock that ran out:
    ``SQLITE_BUSY`` and its extended codes that a wait mends
    (``SQLITE_BUSY_RECOVERY``, another connection recovering a crashed
    writer's log; ``SQLITE_BUSY_TIMEOUT``). Only plain ``SQLITE_BUSY`` was
    taken: those two failed after one :data:`ATTEMPT_S`, not the store's
    wait. ``SQLITE_BUSY_SNAPSHOT`` is refused at once: waiting would not
    mend it."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code == sqlite3.SQLITE_BUSY_SNAPSHOT:
        return False
    return bool(code & 0xFF == sqlite3.SQLITE_BUSY)


class _SnapshotReads:
    """The reads of :meth:`SqliteDatabase.snapshot`, each tried again while
    another process's lock keeps it out (a read changes nothing)."""

    __slots__ = ("_conn", "_waiting")
    byte_order = " COLLATE BINARY"

    def __init__(self, conn: sqlite3.Connection, waiting: Callable[..., Any]) -> None:
        self._conn = conn
        self._waiting = waiting

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one read, its rows fetched."""
        cur = self._waiting(self._conn.execute, sql, parameters)
        return Rows(cur.fetchall(), cur.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows:
        """Run one read per parameter row (the last one's rows)."""
        cur = self._waiting(self._conn.executemany, sql, parameters)
        return Rows(cur.fetchall(), cur.rowcount)


class SqliteTransaction:
    """A ``BEGIN IMMEDIATE`` transaction: SQLite runs one writer at a time,
    so rows need no locks and keys are held already."""

    __slots__ = ("_conn",)
    for_update = ""
    byte_order = " COLLATE BINARY"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> sqlite3.Cursor:
        """Run one statement."""
        return self._conn.execute(sql, parameters)

    def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any]], /
    ) -> sqlite3.Cursor:
        """Run one statement per parameter row."""
        return self._conn.executemany(sql, parameters)

    def execute_each(self, sql: str, rows: Sequence[Sequence[Any]], /) -> list[int]:
        """Run one statement per parameter row; the rows each changed."""
        return [self._conn.execute(sql, row).rowcount for row in rows]

    def execute_all(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Run the statements one after the other; each one's rows."""
        out = []
        for sql, parameters in statements:
            cur = self._conn.execute(sql, parameters)
            out.append(Rows(cur.fetchall(), cur.rowcount))
        return out

    def later(self, sql: str, parameters: Sequence[Any] = (), /) -> None:
        """Run a write now (nothing to save: no round trips)."""
        self._conn.execute(sql, parameters)

    def later_many(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        """Run a write per parameter row now."""
        self._conn.executemany(sql, parameters)

    def lock(self, key: str) -> None:
        """Nothing to do: the write lock is the database's."""

    def read_at_commit(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run a read now, under the write lock (no round trips to save)."""
        cur = self._conn.execute(sql, parameters)
        return Rows(cur.fetchall(), cur.rowcount)

    def notify(self, channel: str, payload: int) -> None:
        """Nothing to do: waiters poll (:meth:`SqliteDatabase.wait_notice`)."""

    def notify_query(self, channel: str, sql: str) -> None:
        """Nothing to do: waiters poll."""


class _Reachable:
    """SQLite's errors as :class:`StoreUnavailable`, except constraint
    violations; a write that waited out the store's wait for another
    process's lock (:func:`_busy`) as :func:`locked_error`, naming the file
    and the wait (a plain context manager: a generator-based one costs each
    statement a few microseconds more).

    A write refused at once (``SQLITE_BUSY_SNAPSHOT``, a stale read
    transaction) is no wait that ran out: it stays SQLite's own words.
    """

    __slots__ = ("_database", "_wait_s")

    def __init__(self, database: Path, wait_s: float) -> None:
        self._database = database
        self._wait_s = wait_s

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, sqlite3.Error) and not isinstance(
            exc, sqlite3.IntegrityError
        ):
            if _busy(exc):
                raise locked_error(self._database, self._wait_s) from exc
            if _damaged(exc):  # never mended by waiting: named, not an outage
                broken = StoreBroken(str(exc), location=str(self._database))
                raise store_error("sqlite", broken) from exc
            reason = str(exc)
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_IOERR_SHMSIZE:
                reason = _SHM_FULL
            unavailable = StoreUnavailable(reason, location=str(self._database))
            raise store_error("sqlite", unavailable) from exc


#: A ``-shm`` file that could not grow (``SQLITE_IOERR_SHMSIZE``: no space
#: left, a quota or a file size limit), said as a full disk: SQLite says
#: "disk I/O error", and every open of a store on a full disk said only that.
_SHM_FULL = "database or disk is full (its -shm file could not grow)"


#: SQLite's primary result codes of a damaged file (``SQLITE_CORRUPT``:
#: "database disk image is malformed"; ``SQLITE_NOTADB``).
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _damaged(exc: sqlite3.Error) -> bool:
    """Whether SQLite found the database file damaged (extended codes too)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGED


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (device, inode), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _refuse_another_file(path: Path, opened: tuple[int, int] | None) -> None:
    """:class:`StoreUnavailable` when ``path`` is no longer the file
    ``opened`` (deleted or replaced since)."""
    if _identity(path) != opened:
        gone = StoreUnavailable(
            "the database file is gone (deleted or replaced since it was opened)",
            location=str(path),
        )
        raise store_error("sqlite", gone)


#: What SQLite says of a file that is not one of its databases.
_NOT_A_DATABASE = "file is not a database"


#: The tables of another program's database named in its refusal, at most.
_FOREIGN_NAMED = 5


def _foreign_tables(conn: sqlite3.Connection) -> str | None:
    """Why a database is another program's, naming its tables (at most
    :data:`_FOREIGN_NAMED`), or None for an empty file or a store. A file
    with tables is a store only with a schema version and
    :data:`~tierflow.data.store.schema.STORE_TABLE` (a store has its version
    from the transaction that made its first table; many programs set a
    ``user_version`` of their own). Read before anything is written: a
    ``--state`` naming another program's file was switched to WAL and given
    tierflow's tables beside its own."""
    rows = conn.execute(  # one statement, one snapshot: a store being made
        # by another process has its tables and its version in one commit
        "SELECT v.user_version, m.name FROM pragma_user_version AS v "
        "LEFT JOIN sqlite_master AS m ON m.type = 'table' "
        "AND m.name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY m.name"
    ).fetchall()
    version = int(rows[0][0])
    names = [str(name) for _, name in rows if name is not None]
    if not names or (version != 0 and STORE_TABLE in names):
        return None
    if len(names) > _FOREIGN_NAMED:
        names = [*names[:_FOREIGN_NAMED], "..."]
    return f"it holds another program's tables ({', '.join(names)}) and " + (
        f"schema version {version}, none of tierflow's"
        if version
        else "no tierflow schema version"
    )


def _check_database_path(path: Path) -> None:
    """Refuse, naming the path, what cannot be a database file: a folder, a
    path under a file, a file this user cannot read; SQLite itself would only
    say "unable to open database file". (A file that is not SQLite, a CSV
    given as ``--state``, is named when the connection first reads it.)

    The file is never opened here: closing any descriptor of a database file
    drops every POSIX lock the process holds on it, its open connections'
    too, and another process that then closes its connection takes itself
    for the last one and deletes the write-ahead log under them (the store
    corrupted). Only ``os.stat`` and ``os.access`` are used.
    """
    if path.is_dir():
        raise InputError("is a folder, not a database file", file=str(path))
    if not path.exists():
        folder = file_in_the_way(path)
        if folder is not None:
            raise InputError(
                f"cannot be created: {folder} is a file, not a folder", file=str(path)
            )
        above = next((p for p in path.parents if p.exists()), None)
        if above is not None:
            _check_folder_writable(path, above, "created")
        return
    if not os.access(path, os.R_OK):
        raise InputError("cannot be read: Permission denied", file=str(path))
    _check_folder_writable(path, path.parent, "opened")


def _check_folder_writable(path: Path, folder: Path, verb: str) -> None:
    """Refuse, naming it, a store whose folder (the nearest existing one for
    a store to be made) this process cannot write: SQLite makes the -wal and
    -shm files beside the database and tierflow the -writer lock, so it can
    neither open nor make a store there, and said only "unable to open
    database file" (a read-only mount, another user's folder)."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    why = "on a read-only file system" if read_only else "not writable by this user"
    raise InputError(
        f"cannot be {verb}: its folder {folder} is {why} (a store writes its "
        "-wal, -shm and -writer files beside the database)",
        file=str(path),
    )


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
        How long a writer waits for the write lock before failing with a
        :class:`StoreUnavailable` that names the file and the wait.
    synchronous
        ``NORMAL`` (crash-safe) or ``FULL`` (also power-loss-safe).
    migrate, make
        False: an older store is refused, not migrated (a command that only
        reads); ``make`` False refuses an empty file too
        (:func:`~tierflow.data.store.database.refuse_older_schema`).
    same_file
        The file (device, inode) another connection opened: this one opens
        that file or none (:class:`StoreUnavailable`), never makes one at
        the path (a second connection of a server, :meth:`SqliteStore.reopen`).
    """

    integrity_error: type[Exception] = sqlite3.IntegrityError
    #: Nothing to compare: a file replaced under the connection is refused
    #: (:meth:`wait_notice`), and one restored in place (``.restore``) is
    #: told by its log going back.
    tables_made = "0"
    #: SQLite's own default (``memcmp``), said.
    byte_order = " COLLATE BINARY"

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Sequence[str]],
        *,
        timeout_s: float = 60.0,
        synchronous: str = "NORMAL",
        migrate: bool = True,
        make: bool = True,
        same_file: tuple[int, int] | None = None,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InputError(
                "must be NORMAL or FULL", field="synchronous", value=synchronous
            )
        self.path = path
        _check_database_path(path)
        if not make and not migrate and not path.exists():
            raise StoreEmpty(len(migrations), str(path))  # made nothing
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per store object; the lock keeps threads (a web
        # server's workers) from interleaving statements of two transactions.
        self._lock = threading.RLock()
        self._reachable = _Reachable(path, timeout_s)
        with self._reachable:
            if same_file is not None:
                _refuse_another_file(path, same_file)
            self._conn = sqlite3.connect(
                # read-write, never created: a file deleted since is an error
                path.absolute().as_uri() + "?mode=rw"
                if same_file is not None
                else self.path,
                timeout=timeout_s,
                isolation_level=None,
                check_same_thread=False,
                uri=same_file is not None,
            )
            #: The file opened (device, inode): a write checks the path is it.
            self._file = _identity(self.path)
            if same_file is not None and self._file != same_file:
                self._conn.close()
                _refuse_another_file(path, same_file)
            #: The store's wait for another process's lock, SQLite's part
            #: of it at most :data:`ATTEMPT_S` at a time (:meth:`_wait_out`).
            self._timeout_s = float(timeout_s)
            attempt_ms = int(min(timeout_s, ATTEMPT_S) * 1000)
            self._conn.execute(f"PRAGMA busy_timeout = {attempt_ms}")
            try:
                foreign = self._waiting(_foreign_tables, self._conn)
                if not foreign:  # a reader refuses before its first write
                    self._refuse_older(len(migrations), migrate=migrate, make=make)
                mode = "" if foreign else self._waiting(self._journal_mode_wal)
            except sqlite3.DatabaseError as exc:
                if _NOT_A_DATABASE not in str(exc):
                    raise
                self._conn.close()
                raise InputError(
                    "not a SQLite database (a tierflow state store is one)",
                    file=str(self.path),
                ) from None
            if foreign:
                self._conn.close()
                raise InputError(
                    f"not a tierflow state store: {foreign}", file=str(self.path)
                )
            if str(mode).lower() != "wal":
                raise TierflowError(f"{self.path}: cannot enable WAL mode (got {mode})")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            #: Writers of this file, in every process, take turns on it first.
            self._writer = WriterLock(self.path, timeout_s)
            #: The schema this open migrated the store from (0: it made the
            #: store), None: it migrated nothing.
            self.migrated_from = self._migrate(migrations)

    def _refuse_older(self, newest: int, *, migrate: bool, make: bool) -> None:
        """:func:`refuse_older_schema`, read before the open writes anything
        (WAL mode, the writers' lock file): a reader refused leaves an empty
        file empty."""
        try:
            version = self._waiting(self._conn.execute, "PRAGMA user_version")
            refuse_older_schema(
                int(version.fetchone()[0]),
                newest,
                str(self.path),
                migrate=migrate,
                make=make,
            )
        except SchemaTooOld:
            self._conn.close()
            raise

    def _waiting(self, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)``, tried again while another process's lock keeps
        it out, up to the store's wait (:meth:`_wait_out`)."""
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            return self._wait_out(exc, call, *args)

    def _wait_out(
        self, busy: sqlite3.OperationalError, call: Callable[..., _T], *args: Any
    ) -> _T:
        """Try ``call(*args)`` again, after :func:`retry_pause`, until it no
        longer meets another process's lock or the store's wait has run out
        (then ``busy``, which :class:`_Reachable` words as
        :func:`locked_error`). Only what changed nothing when refused is
        tried again: a statement outside a transaction, ``BEGIN IMMEDIATE``.

        SQLite waits :data:`ATTEMPT_S` of it at a time, Python the rest: a
        signal waits for the attempt under way at most (a wait of SQLite's
        alone ran out before Ctrl-C or SIGTERM was acted on), and a process
        stopping at once (:data:`~tierflow.data.stop_signals.STOP_NOW`: a
        server's second stop signal, whose handler raises nothing) gives up
        the wait (:func:`stopped_error`). The first attempt, which raised
        ``busy``, waited its full ``busy_timeout``.
        """
        if not _busy(busy):
            raise busy
        attempt_s = min(self._timeout_s, ATTEMPT_S)
        started = time.monotonic() - attempt_s
        while True:
            waited = time.monotonic() - started
            if waited >= self._timeout_s:
                raise busy
            if STOP_NOW.is_set() or HELD_WRITE.is_set():
                raise stopped_error(self.path) from busy
            time.sleep(retry_pause(waited))
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                busy = exc

    def _journal_mode_wal(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])

    @property
    def location(self) -> str:
        """The database file."""
        return str(self.path)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one statement outside a transaction (a read: WAL never blocks
        it), its rows fetched under the connection's lock.

        The connection is shared by threads (a server's capacity follower
        reads the event log while requests write). A read left open on it
        would put another thread's ``BEGIN IMMEDIATE`` inside a stale read
        transaction, which SQLite refuses at once ("database is locked",
        without waiting); a read inside another thread's transaction would
        see its uncommitted rows.
        """
        with self._lock, self._reachable:
            try:
                cur = self._conn.execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                cur = self._wait_out(exc, self._conn.execute, sql, parameters)
            return Rows(cur.fetchall(), cur.rowcount)

    def read_many(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Several reads, one after the other under the connection's lock."""
        with self._lock, self._reachable:
            out = []
            for sql, parameters in statements:
                cur = self._waiting(self._conn.execute, sql, parameters)
                out.append(Rows(cur.fetchall(), cur.rowcount))
            return out

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[_SnapshotReads]:
        """One read transaction on this connection, under its lock (no other
        thread's statement runs inside it): a deferred ``BEGIN``, whose first
        read fixes what every later one sees (WAL: writers of other
        connections go on and are not seen)."""
        with self._lock, self._reachable:
            self._waiting(self._conn.execute, "BEGIN")
            try:
                yield _SnapshotReads(self._conn, self._waiting)
            finally:
                self._roll_back()  # (it wrote nothing: ending it is enough)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows:
        """Run one statement per parameter row, in one transaction (as on
        PostgreSQL): in autocommit a lock taken between two rows left the rows
        before it written, and trying the call again would write them twice."""
        with self.tx() as conn:
            return Rows([], conn.executemany(sql, parameters).rowcount)

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A query's rows as a data frame (pandas' own SQLite reader)."""
        with self._lock, self._reachable:
            return self._waiting(self._read_frame, sql, params)

    def _read_frame(self, sql: str, params: Sequence[Any] | None) -> pd.DataFrame:
        """pandas' reader, a wait for a lock that ran out raised as SQLite's
        error (pandas words every error as its own ``DatabaseError``)."""
        try:
            return pd.read_sql_query(sql, self._conn, params=params)
        except pd.errors.DatabaseError as exc:
            cause = exc.__cause__
            if isinstance(cause, sqlite3.OperationalError) and _busy(cause):
                raise cause from None
            raise

    def write(self, sql: str, parameters: Sequence[Any] = (), /) -> int:
        """One write statement in its own (implicit) transaction, never inside
        another thread's open transaction on this connection."""
        refuse_writes_past_schema(self.location, self.schema_version)
        with self._lock, self._writer, self._reachable:
            try:
                cur = self._conn.execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                cur = self._wait_out(exc, self._conn.execute, sql, parameters)
            return int(cur.rowcount)

    @contextlib.contextmanager
    def tx(self) -> Iterator[SqliteTransaction]:
        """One write transaction: everything in it lands, or nothing does
        (refused once the store was migrated past this code's schema)."""
        refuse_writes_past_schema(self.location, self.schema_version)
        with self._lock, self._writer, self._reachable:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                self._wait_out(exc, self._conn.execute, "BEGIN IMMEDIATE")
            try:
                self._check_file()
                yield SqliteTransaction(self._conn)
            except BaseException:
                self._roll_back()
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise

    def _roll_back(self) -> None:
        """End a failed transaction, unless SQLite ended it already: a page
        it could not write (a full disk, an I/O error) rolls the whole
        transaction back itself, and a ROLLBACK then raised 'cannot rollback
        - no transaction is active' in place of the failure. A COMMIT that
        failed and left the transaction open is ended too, so the
        connection's next ``BEGIN`` is not refused."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @property
    def opened(self) -> tuple[int, int] | None:
        """The file this connection opened (device, inode)."""
        return self._file

    def _check_file(self) -> None:
        """Refuse to write once the path is no longer the file opened (it was
        deleted or replaced): the connection kept writing to the unlinked
        file, and a feed reported events applied that were stored nowhere.
        The path is the error's ``location``, not its reason: an HTTP answer
        gives the reason, and where the store is is the operator's."""
        _refuse_another_file(self.path, self._file)

    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return int(self.execute("PRAGMA user_version").fetchone()[0])

    def integrity_problems(self) -> list[str]:
        """SQLite's ``integrity_check``, when it finds anything."""
        (ok,) = self.execute("PRAGMA integrity_check").fetchone()
        return [] if ok == "ok" else [f"integrity_check: {ok}"]

    def listen(self, channel: str) -> None:
        """Nothing to do: SQLite has no notices, waiters poll."""

    def wait_notice(
        self,
        channel: str,
        after: int,
        timeout_s: float,
        stop: threading.Event | None = None,
        *,
        also: tuple[str, int] | None = None,
    ) -> None:
        """Sleep one poll interval (at most ``timeout_s``, less once ``stop``
        is set); the caller re-reads. A file deleted or replaced since it was
        opened is refused first, as a write is: the connection would read on
        from the unlinked file, where no other process's event ever comes,
        and a server's follower never said the store was lost (``/healthz``
        said ok while every write failed). ``also``: polled alike."""
        self._check_file()
        pause = max(0.0, min(timeout_s, POLL_S))
        if stop is None:
            time.sleep(pause)
        else:
            stop.wait(pause)

    def checkpoint(self) -> bool:
        """A PASSIVE checkpoint of the WAL on this connection: it copies what
        no reader still needs into the database file without waiting for
        readers or blocking writers, and SQLite releases the GIL meanwhile.

        Whatever commit first finds the WAL at :data:`AUTOCHECKPOINT_PAGES`
        checkpoints it otherwise, on the committing thread: in a server that
        is the event loop, stalled for the copy and its ``fsync``. A
        server's capacity follower calls this on its own connection several
        times a second, so the WAL rarely gets that far (the automatic
        checkpoint stays as the backstop; figures in ``docs/service.md``).
        """
        with self._lock, self._reachable:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return True

    def close(self) -> None:
        """Close the connection, under its lock: closing it while another
        thread runs a statement on it crashes the process (a segmentation
        fault in ``sqlite3``, seen when a test closed a live server's store)."""
        with self._lock:
            self._conn.close()
            self._writer.close()

    def _migrate(self, migrations: Sequence[Sequence[str]]) -> int | None:
        """Migrate to the newest schema under the write lock. A wait for the
        lock says it waits (SQLite cannot tell who holds it: another
        process's migration, a batch job, a ``sqlite3`` shell); only once
        it is taken is the migration under way. The wait said "a migration
        under way; writers wait", as if this process held the lock. Returns
        the version migrated from, None when this call migrated nothing
        (already current, or another process migrated it while this one
        waited for the lock)."""
        newest = len(migrations)
        if self.schema_version() == newest:
            return None
        started = time.monotonic()
        locked = threading.Event()

        def waiting() -> str | None:
            if locked.is_set():
                return None
            return "the store's write lock, held by another connection"

        with migration_notice(self.location, newest, waiting), self.tx() as conn:
            locked.set()
            version = self.schema_version()  # re-read under the write lock
            refuse_newer_schema(version, newest, str(self.path))
            for target in range(version + 1, newest + 1):
                try:
                    for statement in migrations[target - 1]:
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    if _damaged(exc):
                        raise
                    raise migration_failed(
                        version, target, newest, exc, self.location
                    ) from exc
                conn.execute(f"PRAGMA user_version = {target}")
        log_migration(self.location, version, newest, started)
        return version if version < newest else None
