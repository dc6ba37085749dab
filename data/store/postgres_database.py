"""The PostgreSQL connection under :class:`~tierflow.data.store.PostgresStore`:
the one place that knows psycopg (a connection pool, READ COMMITTED
transactions, ``?`` → ``%s``, advisory locks, ``NOTIFY``, the
``schema_version`` table). Design: ``docs/store.md``."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pandas as pd

from tierflow.data.errors import InputError, TierflowError
from tierflow.data.extras import MissingExtraError
from tierflow.data.stop_signals import HELD_WRITE, STOP_NOW

try:  # the one line naming the extra, as `open_store` gives, on a direct import
    import psycopg
    from psycopg import generators, waiting
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:
    raise MissingExtraError("PostgreSQL store", "postgres") from None

from tierflow.data.store import pool_log
from tierflow.data.store.database import (
    Rows,
    Statement,
    StoreBroken,
    StoreConflict,
    StoreUnavailable,
    log_migration,
    migration_failed,
    migration_notice,
    refuse_newer_schema,
    refuse_older_schema,
    refuse_writes_past_schema,
    store_error,
)
from tierflow.data.store.location import password_misread, redact_url, url_parts
from tierflow.data.store.postgres_notices import Notices
from tierflow.data.store.schema import STORE_TABLE
from tierflow.data.wording import counted

#: How a write transaction starts, whatever the server's default isolation.
_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
#: How a read of several statements starts: they all see its first's snapshot.
_BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

#: The advisory lock key that runs migrations one at a time.
_SCHEMA_LOCK = "tierflow.schema"
#: How long a caller waits for one of the pool's connections. Under load a
#: wait is milliseconds (a few threads share a few connections); when the
#: database has gone away the pool cannot reconnect, and every call would
#: otherwise queue for this long before it could answer degraded or 503.
CONNECTION_WAIT_S = 5.0
#: How long a caller waits for a connection once a wait of the full
#: :data:`CONNECTION_WAIT_S` ran out and no call got one since: the database
#: is away, and every read of an answer (a checkout's options make four)
#: would otherwise wait the full time in turn. Long enough for a connection
#: the pool opens meanwhile (the database back) to be handed over.
UNREACHABLE_WAIT_S = 0.2
#: How long the pool retries a connection that failed (psycopg-pool's
#: ``reconnect_timeout``, 300 s by default) before it gives up on it; the
#: next call that finds no connection has it try again at once. Its retries
#: back off exponentially (1, 2, 4, 8 ... s), so after an outage of a minute
#: a pool waited as long again for its next attempt while the database was
#: back, answering degraded and keeping what it answered from the other
#: replicas; with this, calls get a connection within about a second of the
#: database's return.
RECONNECT_S = 2.0

#: How long a call that sent its statements waits for a byte of the
#: server's answer before it asks whether the server is alive (None: for
#: ever, the CLI's batch jobs). ``tierflow serve`` sets one
#: (:data:`tierflow.cli.serve_cmd.STORE_ANSWER_S`): a server that hangs
#: (SIGSTOP, a frozen VM) keeps its sockets open and its kernel acknowledges
#: what is sent, so TCP keepalives and ``tcp_user_timeout`` never fire (a
#: Unix socket has neither), and ``statement_timeout`` is the stopped
#: server's own: a confirm waited for as long as it was stopped, every call
#: behind it for the pool's connections. psycopg's sync API has no per-call
#: timeout; its wait for the socket is wrapped (:class:`_AnswerWaitConnection`).
#: A silence is not a hang: a live server sends nothing while a statement
#: waits on a lock (another replica's transaction) or runs long (seeding a
#: large network, the first read of a long log or of a day's orders), so
#: after the silence the server is probed (:data:`PROBE_WAIT_S`) and, if it
#: answers, waited for on. A deadline for the whole answer (psycopg's
#: ``Connection.wait(timeout=)``) gave every such call up after it and
#: cancelled its statement, and one that always takes longer at every try.
ANSWER_WAIT_S: float | None = None
#: How long the probe of a server silent for the answer wait waits for a
#: new connection to open (a fork, its login and ``ReadyForQuery``:
#: milliseconds for a live server, however busy its statements). None
#: opened: the server is hung or cut off, and the call is given up on
#: (the connection closed) without a cancel, which would have to reach the
#: same postmaster. A probe the server refused (no connection slot left,
#: ``max_connections``) is not a hang: the call's statement is cancelled
#: (:data:`CANCEL_WAIT_S`) and its connection closed, as before.
PROBE_WAIT_S = 0.5
#: How long a call given up on gives the server to cancel its statement
#: (``cancel_safe``: a live server stops it and lets its locks go) before
#: the connection is closed regardless.
CANCEL_WAIT_S = 0.5
#: How often psycopg's wait for the server's answer wakes without one
#: (psycopg's own interval): a stopping process cancels a statement
#: silent that long (:class:`_AnswerWaitConnection`).
_WAIT_TICK_S = 0.1
#: The longest single wait for one of the pool's connections: between two,
#: a call sees that another call found the server hung, and stops waiting.
_POOL_SLICE_S = 0.1

#: How long a connection attempt waits for the server's answer when neither
#: the URL nor ``$PGCONNECT_TIMEOUT`` says (libpq's ``connect_timeout``).
#: psycopg's own default is 130 s: a server that accepts connections and
#: never answers (hung, or a stuck proxy in front of it) held every command
#: 133 s before it failed, and ``serve`` 138 s before it listened.
CONNECT_TIMEOUT_S = 10

#: What a privilege error means for tierflow's role.
_PRIVILEGES = (
    "tierflow's role needs SELECT, INSERT, UPDATE and DELETE on its tables "
    "(and CREATE on the schema to migrate it)"
)
#: How every connection talks: tierflow's text is Python's, any Unicode.
_CONNECT: dict[str, Any] = {"autocommit": True, "client_encoding": "UTF8"}
#: How to make a database that can hold it.
_UTF8 = "CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0"

#: What a read-only transaction means (a standby, default_transaction_read_only).
_READ_ONLY = "tierflow needs a writable primary, not a standby or a read-only role"
#: What a table of the store missing under an open store means: its database
#: was dropped and made again (or restored without the store, or is being
#: restored) since it was opened. Nothing makes the tables again under
#: running processes; a server's capacity follower notices a store restored
#: (or made) there and reloads what it held (``service/feed.py``), a batch
#: command does not.
_TABLES_GONE = (
    "the store's tables are gone: its database was dropped and made again "
    "since this process opened it; restore the store (running tierflow "
    "servers answer from it once restored; restart any other tierflow command)"
)


@functools.lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """The store's ``?`` (qmark) SQL in psycopg's ``%s`` style."""
    return sql.replace("%", "%%").replace("?", "%s")


#: What the server rolled back for a conflict with another transaction, so
#: that running it again normally succeeds: SQLSTATE 40000, 40001 and 40P01.
#: psycopg derives the last two from ``OperationalError``, not from
#: ``TransactionRollback``: catching that class alone let a deadlock through
#: as an unavailable store (a 503), never retried.
_ROLLED_BACK = (
    psycopg.errors.TransactionRollback,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)


@contextlib.contextmanager
def _reachable(location: str | None = None) -> Iterator[None]:
    """psycopg's errors as the store's: constraint violations pass through,
    lost lock conflicts are :class:`StoreConflict`, a server or pool that
    cannot be reached, or a store whose tables are gone, is
    :class:`StoreUnavailable`."""
    try:
        yield
    except psycopg.IntegrityError:
        raise
    except _ROLLED_BACK as exc:
        raise store_error(
            "postgres", StoreConflict(str(exc), location=location)
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise store_error("postgres", _refused(exc, _PRIVILEGES, location)) from exc
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise store_error("postgres", _refused(exc, _READ_ONLY, location)) from exc
    except psycopg.errors.UndefinedTable as exc:
        # a 500 with the driver's traceback at every call, for good
        raise store_error("postgres", _refused(exc, _TABLES_GONE, location)) from exc
    except (
        psycopg.errors.UntranslatableCharacter,
        psycopg.errors.CharacterNotInRepertoire,
    ) as exc:  # the input's text, which a database not in UTF8 cannot hold
        first = str(exc).splitlines()[0]
        raise InputError(
            f"{first} (a store needs a UTF8 database: {_UTF8})", file=location
        ) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise store_error(
            "postgres", StoreUnavailable(_one_line(exc), location=location)
        ) from exc


def _one_line(exc: psycopg.Error) -> str:
    """What went wrong, in one line: the server's own message alone when it
    sent one (a timeout, a terminated session), without the statement's
    ``LINE 1: ... ^`` context, which a 503 showed the API's caller; else
    libpq's, whose lines (a hint on the second) are joined."""
    primary = exc.diag.message_primary
    return primary if primary else " ".join(str(exc).split())


#: The SQLSTATEs of a login the server refuses for what the URL says:
#: invalid_password, invalid_authorization_specification (an unknown role,
#: no ``pg_hba.conf`` line for it, a role that may not log in) and
#: invalid_catalog_name (no such database).
_LOGIN_REFUSED_STATES = frozenset({"28P01", "28000", "3D000"})
#: The same refusals in the server's English words (``lc_messages``: C or
#: English): psycopg gives no SQLSTATE for a connection that failed (the
#: server sends one, libpq keeps it to itself; psycopg/psycopg#1188).
_LOGIN_REFUSED_WORDS = re.compile(
    r'authentication failed for user "|role "[^"]*" does not exist'
    r'|role "[^"]*" is not permitted to log in|no pg_hba\.conf entry for '
    r'|pg_hba\.conf rejects connection|database "[^"]*" does not exist'
)
#: What a refused login's error adds.
_LOGIN_FIX = (
    "refused by the server, which waiting will not mend: fix the URL's user, "
    "password or database"
)


def _login_refused(exc: psycopg.OperationalError) -> bool:
    """Whether a connection failed because the server refused the URL's
    user, password or database (which waiting never mends), not because it
    could not be reached, was starting or stopping, or was full (which it
    does).

    By the SQLSTATE when psycopg gives one; else by libpq's own flag that
    the server asked for a password the URL does not hold; else by the
    server's English words. A server that answers in another language is
    taken as unreachable (served degraded, as before): never the other way.
    """
    if exc.sqlstate is not None:
        return exc.sqlstate in _LOGIN_REFUSED_STATES
    if exc.pgconn is not None and exc.pgconn.needs_password:
        return True
    return _LOGIN_REFUSED_WORDS.search(str(exc)) is not None


def _first_connection(
    url: str, connect: dict[str, Any], answer_wait_s: float | None = None
) -> psycopg.Connection[Any]:
    """A store's first connection (the one that migrates), with the store's
    answer wait (:class:`_AnswerWaitConnection`: an open met by a hung
    server, its migration's statements or its wait for another process's
    migration, waited until the server resumed); a login the server refuses
    is :class:`StoreBroken` (a server, or a whole fleet of them, refuses to
    start on it), a server it cannot reach :func:`_reachable`'s
    :class:`StoreUnavailable` (served degraded until it is back).

    Raises
    ------
    StoreBroken
        The server refused the URL's password, role or database.
    """
    try:
        conn = _AnswerWaitConnection.connect(url, **connect)
    except psycopg.OperationalError as exc:
        if not _login_refused(exc):
            raise
        broken = StoreBroken(
            f"{_one_line(exc)} ({_LOGIN_FIX})", location=redact_url(url)
        )
        raise store_error("postgres", broken) from exc
    _set_answer_wait(answer_wait_s, url, conn)
    return conn


def _refused(exc: psycopg.Error, why: str, location: str | None) -> StoreUnavailable:
    """The server refused a statement for a reason of its setup, said in one line."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreUnavailable(f"{first} ({why})", location=location)


def url_params(url: str) -> dict[str, Any]:
    """``url``'s connection parameters as libpq reads them, checked as libpq
    checks them before it connects, without its password in any error.

    Raises
    ------
    InputError
        A password libpq would misread (:func:`password_misread`), an
        unknown parameter, bad percent-encoding, a bad ``connect_timeout``
        or port (:func:`_port_problem`). A token of libpq's message that
        holds a secret of the URL (:meth:`UrlParts.secrets`) is masked.
    """
    if password_misread(url):  # before libpq reads it, or DNS is asked
        raise InputError(
            "its password holds a raw '@' or '/', where libpq ends the "
            "password (or the user part): percent-encode them in the URL "
            "(@ as %40, / as %2F; : as %3A, % as %25), or give the password "
            "in PGPASSWORD or ~/.pgpass"
        )
    try:  # as psycopg.connect reads it
        params = psycopg.conninfo.conninfo_to_dict(url)
        psycopg.conninfo.timeout_from_conninfo(params)
        problem = _port_problem(params)
    except psycopg.ProgrammingError as exc:
        problem = " ".join(str(exc).split())
    if problem is None:
        return params
    parts = url_parts(url)
    secrets = parts.secrets() if parts is not None else []
    reason = re.sub(
        r'"([^"]*)"|\'([^\']*)\'',
        lambda m: '"***"' if any(s in m[0] for s in secrets) else m[0],
        problem,
    )
    if reason != problem and "percent-encoded" in problem:
        # a secret's own '%' (a password "50%off"): say how to write it, as
        # a raw '@' is told (the token is masked, so nothing else shows it)
        reason += (
            ": a '%' of the password is written %25 in a URL (or give the "
            "password in PGPASSWORD or ~/.pgpass)"
        )
    raise InputError(f"not a URL libpq accepts: {reason}")


#: A port as libpq's ``parse_int_param`` reads it (``strtol``, then
#: whitespace only).
_PORT_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")


def _port_problem(params: dict[str, Any]) -> str | None:
    """What libpq would say of the URL's ports before it connects (psycopg
    first looks its hosts up in DNS, and the store took the error for a
    server it cannot reach, which ``serve`` waits out for ever), in its
    words; None: none."""
    ports = str(params.get("port") or "").split(",")
    if ports == [""]:
        return None
    hosts = _given(params, "hostaddr") or _given(params, "host")
    count = hosts.count(",") + 1  # none: libpq's default host
    if len(ports) not in (1, count):
        return f"could not match {len(ports)} port numbers to {count} hosts"
    for port in filter(None, ports):
        if not _PORT_NUMBER.fullmatch(port) or abs(int(port)) >= 2**31:
            return f'invalid integer value "{port}" for connection option "port"'
        if not 1 <= int(port) <= 65535:
            return f'invalid port number: "{port}"'
    return None


def _given(params: dict[str, Any], name: str) -> str:
    """Parameter ``name`` of the URL, else of libpq's environment (``PGHOST``)."""
    return str(params.get(name) or os.environ.get(f"PG{name.upper()}", ""))


def _check_url(url: str, location: str) -> dict[str, Any]:
    """:func:`url_params`, its error naming ``location``."""
    try:
        return url_params(url)
    except InputError as exc:
        raise InputError(exc.reason, file=location) from None


def _connect_options(params: dict[str, Any]) -> dict[str, Any]:
    """How every connection of a store is made: :data:`_CONNECT`, and
    :data:`CONNECT_TIMEOUT_S` unless the URL or the environment gives one."""
    if "connect_timeout" in params or os.environ.get("PGCONNECT_TIMEOUT"):
        return dict(_CONNECT)
    return {**_CONNECT, "connect_timeout": CONNECT_TIMEOUT_S}


class AnswerTimeout(psycopg.OperationalError):
    """The server did not answer within the connection's answer wait; the
    connection was cancelled and closed. What was sent may yet run when the
    server resumes (a ``COMMIT`` in its socket's buffer): a write's outcome
    is unknown, and the caller's retry with its request id resolves it."""


class StoppedWaiting(psycopg.OperationalError):
    """A statement cancelled because its process is stopping at once
    (:data:`~tierflow.data.stop_signals.STOP_NOW`) while it waited for the
    server's answer: nothing it did was kept."""

    def __init__(self) -> None:
        super().__init__(
            "stopped waiting for the database's answer (a lock another "
            "session holds, or a long statement); the statement was "
            "cancelled and nothing of it kept (this process is stopping)"
        )


class _AnswerWaitConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits for the server's answer check, after
    :attr:`answer_wait_s` without a byte from it (None: never), that the
    server is alive (:func:`_answers`, at most :data:`PROBE_WAIT_S`): a live
    one is waited for on, however long its statement or lock wait takes; a
    hung one is given up on (:class:`AnswerTimeout`) and the connection
    closed, so that the pool opens another once the server answers again.

    Once the process is stopping at once (:data:`STOP_NOW`, a server's
    second stop signal), a wait that has gone :data:`_WAIT_TICK_S` without
    a byte cancels its statement (:attr:`stop_cancelled`; the caller's
    ``QueryCanceled`` is :class:`StoppedWaiting`): a call blocked on a lock
    another session held (``SELECT ... FOR UPDATE`` left open in ``psql``)
    waited until the supervisor killed the worker, 15 s. A call the server
    answers within the tick finishes, as every call under way did.

    The wait is psycopg's own (``Connection.wait``), around the operation's
    generator, which psycopg resumes when the socket is ready and every
    ``interval`` (0.1 s) it was not: the wrapper counts the silence there.
    """

    answer_wait_s: float | None = None
    #: The URL the probe connects to (the pool's ``configure``).
    probe_url: str = ""
    #: Whether a statement of the call holding this connection was cancelled
    #: for :data:`STOP_NOW` (cleared as a call takes it from the pool).
    stop_cancelled = False

    def wait(
        self, gen: Any, interval: float = _WAIT_TICK_S, timeout: float | None = None
    ) -> Any:
        if timeout is not None:
            return super().wait(gen, interval, timeout)  # (a caller's own deadline)
        limit = self.answer_wait_s if self.probe_url else None
        return super().wait(self._watched(gen, limit), interval)

    def _watched(self, gen: Any, limit: float | None) -> Any:
        """``gen``, passed through, given up on after ``limit`` seconds
        (None: never) without a byte from the server if a probe then finds
        it hung; its statement cancelled at a silent tick once
        :data:`STOP_NOW` is set."""
        quiet = time.monotonic()
        cancelled = False
        try:
            waits = next(gen)
            while True:
                ready = yield waits
                now = time.monotonic()
                if ready and ready & waiting.Ready.R:
                    quiet = now
                elif not ready and _stopping() and not cancelled:
                    cancelled = self.stop_cancelled = True
                    with contextlib.suppress(psycopg.Error):  # the kill remains
                        self.cancel_safe(timeout=CANCEL_WAIT_S)
                elif limit is not None and now - quiet >= limit:
                    self._answered_or_give_up(limit)
                    quiet = time.monotonic()  # alive: another ``limit``
                waits = gen.send(ready)
        except StopIteration as done:
            return done.value

    def _answered_or_give_up(self, limit: float) -> None:
        """Nothing if the server answers a probe; else cancel the statement
        (a server that refused the probe: it may be alive) and close.

        Raises
        ------
        AnswerTimeout
            The server did not open the probe's connection.
        """
        probe = _answers(self.probe_url, PROBE_WAIT_S)
        if probe == "answered":
            return
        if probe == "refused":  # a live server out of slots: stop the statement
            with contextlib.suppress(psycopg.Error):
                self.cancel_safe(timeout=CANCEL_WAIT_S)
        self.pgconn.finish()  # close() would hand a pooled connection back
        raise AnswerTimeout(
            f"the database did not answer within {limit:g} s "
            "(hung, or a network partition); the connection was closed and "
            "what it sent may still run: a retry with the same ids finds it"
        )


def _stopping() -> bool:
    """Whether a silent wait is to be given up: the process stops at once
    (:data:`STOP_NOW`), or a one-shot write holds a stop signal
    (:data:`HELD_WRITE`; PostgreSQL holds a cancel off while it commits)."""
    return STOP_NOW.is_set() or HELD_WRITE.is_set()


class _Stopped(Exception):
    """A probe given up on because its store is closing."""


def _answers(url: str, wait_s: float, stop: threading.Event | None = None) -> str:
    """Whether the server at ``url`` opens a new connection within
    ``wait_s`` (``answered``), refuses it (``refused``: no slot left, a
    login it refuses now, no server listening) or says nothing
    (``silent``: hung, or cut off; also once ``stop`` is set, seen within
    0.1 s)."""
    gen = generators.connect(url)
    try:
        pgconn = waiting.wait_conn(
            gen if stop is None else _until(gen, stop), 0.1, timeout=wait_s
        )
    except (psycopg.errors._WaitTimeout, _Stopped):
        return "silent"
    except psycopg.Error:
        return "refused"
    pgconn.finish()
    return "answered"


def _until(gen: Any, stop: threading.Event) -> Any:
    """Connection generator ``gen``, passed through, stopped (:class:`_Stopped`)
    at the first tick of its wait after ``stop`` is set."""
    try:
        waits = next(gen)
        while True:
            ready = yield waits
            if stop.is_set():
                gen.close()  # (its connection freed now, not at collection)
                raise _Stopped
            waits = gen.send(ready)
    except StopIteration as done:
        return done.value


class _HungMark:
    """Why a store's call was given up on as hung, until the server answers
    again: a thread probes it (:func:`_answers`, :data:`PROBE_WAIT_S` each,
    one after another) from the moment it is marked, and clears the mark
    the moment a probe's connection opens. The store's calls fail at once
    meanwhile (:meth:`PostgresDatabase._refuse_if_hung`).

    Calls themselves probed it, 0.5 s after the mark and after each silent
    probe: the first call after the server resumed failed up to 0.5 s after
    it (0.45 s median, measured). A probe's connection made while the
    server is stopped is answered as soon as it runs again.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        #: The hung call's reason, and when it was given up on; None: no
        #: call was since the server last answered.
        self.mark: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def found(self, reason: str) -> None:
        """A call was given up on as hung: mark it, and probe until answered."""
        with self._lock:
            self.mark = (reason, time.monotonic())
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._probe, name="tierflow-hung-probe", daemon=True
                )
                self._thread.start()

    def _probe(self) -> None:
        """Probe until the server answers (the mark cleared) or the store closes."""
        answered = False
        try:
            while not answered and not self._closed.is_set():
                probe = _answers(self._url, PROBE_WAIT_S, self._closed)
                answered = probe != "silent" and not self._closed.is_set()
        finally:  # (an error nobody expected: the calls find out themselves)
            with self._lock:
                if answered or not self._closed.is_set():
                    self.mark = None
                self._thread = None

    def close(self) -> None:
        """Stop the probe, and wait for its thread to end (0.1 s at most:
        it sees the close at its wait's next tick)."""
        with self._lock:
            self._closed.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=1.0)


class _SnapshotReads:
    """The reads of :meth:`PostgresDatabase.snapshot`: its ``BEGIN`` is sent
    with the first one, in one round trip."""

    __slots__ = ("_begun", "_conn")
    byte_order = ' COLLATE "C"'

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._begun = False

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one read, its rows fetched."""
        if self._begun:
            cur = self._conn.execute(pg_sql(sql), parameters)
        else:
            with self._conn.pipeline():  # its results are read as the block ends
                self._conn.execute(_BEGIN_SNAPSHOT)
                cur = self._conn.execute(pg_sql(sql), parameters)
            self._begun = True
        return Rows(cur.fetchall() if cur.description else [], cur.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows:
        """Run one read per parameter row (none of their rows)."""
        for row in parameters:
            self.execute(sql, row)
        return Rows([], -1)


class PostgresTransaction:
    """A READ COMMITTED transaction on one pooled connection.

    Writes whose results nobody reads (:meth:`later`, locks, notices, the
    ``BEGIN``) are queued and sent in one pipeline with the next statement,
    or with the ``COMMIT`` (:meth:`PostgresDatabase.tx`): a round trip each
    would otherwise be spent waiting for an answer nobody reads, holding
    the transaction's row locks meanwhile.
    """

    __slots__ = ("_conn", "_queued", "last_read")
    for_update = " FOR UPDATE"
    byte_order = ' COLLATE "C"'

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._queued: list[tuple[str, Any, bool]] = []
        #: The read sent with the commit, and where its rows go.
        self.last_read: tuple[str, Sequence[Any], Rows] | None = None

    def execute(
        self, sql: str, parameters: Sequence[Any] = (), /
    ) -> psycopg.Cursor[Any]:
        """Run one statement (after the queued ones, in the same round trip)."""
        if not self._queued:
            return self._conn.execute(pg_sql(sql), parameters)
        with self._conn.pipeline():  # its results are read as the block ends
            self.send_queued()
            return self._conn.execute(pg_sql(sql), parameters)

    def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any]], /
    ) -> psycopg.Cursor[Any]:
        """Run one statement per parameter row (pipelined, after the queued ones)."""
        cur = self._conn.cursor()
        if not self._queued:
            cur.executemany(pg_sql(sql), parameters)
            return cur
        with self._conn.pipeline():
            self.send_queued()
            cur.executemany(pg_sql(sql), parameters)
        return cur

    def execute_each(self, sql: str, rows: Sequence[Sequence[Any]], /) -> list[int]:
        """Run one statement per parameter row (after the queued ones), all
        in one round trip; the rows each changed."""
        query = pg_sql(sql)
        with self._conn.pipeline():  # the results are read as the block ends
            self.send_queued()
            cursors = [self._conn.execute(query, row) for row in rows]
        return [cur.rowcount for cur in cursors]

    def execute_all(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Run the statements in order (after the queued ones), all in one
        round trip; each one's rows."""
        if not statements:  # nothing to send: the queued writes wait
            return []
        with self._conn.pipeline():  # the results are read as the block ends
            self.send_queued()
            cursors = [self._conn.execute(pg_sql(sql), p) for sql, p in statements]
        return [
            Rows(cur.fetchall() if cur.description is not None else [], cur.rowcount)
            for cur in cursors
        ]

    def later(self, sql: str, parameters: Sequence[Any] = (), /) -> None:
        """Queue a write whose result nobody reads."""
        self._queued.append((pg_sql(sql), parameters, False))

    def later_many(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        """Queue a write per parameter row."""
        rows = list(parameters)
        if rows:
            self._queued.append((pg_sql(sql), rows, True))

    def lock(self, key: str) -> None:
        """A transaction-level advisory lock on ``key`` (released at commit),
        taken before anything queued after it runs."""
        self._queued.append(
            ("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,), False)
        )

    def read_at_commit(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """A read sent with the ``COMMIT`` (after the queued writes): its rows
        are there once the transaction has committed."""
        rows = Rows([], -1)
        self.last_read = (pg_sql(sql), parameters, rows)
        return rows

    def notify(self, channel: str, payload: int) -> None:
        """``NOTIFY channel, payload``, delivered when the transaction commits."""
        self._queued.append(
            ("SELECT pg_notify(%s, %s)", (channel, str(payload)), False)
        )

    def notify_query(self, channel: str, sql: str) -> None:
        """``NOTIFY channel`` with what ``sql`` gives, evaluated in order."""
        self._queued.append(
            (f"SELECT pg_notify(%s, ({pg_sql(sql)})::text)", (channel,), False)
        )

    def send_queued(self) -> None:
        """Send the queued writes into the connection's open pipeline."""
        queued, self._queued = self._queued, []
        for sql, parameters, many in queued:
            if many:
                self._conn.cursor().executemany(sql, parameters)
            else:
                self._conn.execute(sql, parameters)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, migrated to the newest schema.

    Parameters
    ----------
    url
        libpq URL, e.g. ``postgresql://USER@/DB?host=/socket/dir``.
    migrations
        Statements of each schema version; version ``i + 1`` applies
        ``migrations[i]``.
    timeout_s
        How long a caller waits for a free connection before failing, and
        the migration of an older store for each lock another session holds
        (:func:`_migrate`).
    pool_size
        Most connections this object opens at once (one more listens for
        notices once :meth:`listen` is called).
    answer_wait_s
        How long a call waits without a byte of the server's answer before
        it probes the server, and gives up if it is hung
        (:data:`ANSWER_WAIT_S`; None: for ever).
    migrate, make
        False: an older store is refused, not migrated (a command that only
        reads); ``make`` False refuses an empty database too
        (:func:`~tierflow.data.store.database.refuse_older_schema`).
    lock_wait_s
        The migration's wait for each lock another session holds, if not
        ``timeout_s``: a replica that retries every second waits briefly,
        as its request queues every other user of the table behind it.
    """

    integrity_error: type[Exception] = psycopg.IntegrityError
    #: The capacity log table's oid: every ``CREATE TABLE`` gives another
    #: (``pg_restore --clean``, a database made again); ``VACUUM FULL`` and
    #: ``TRUNCATE`` keep it.
    tables_made = "'capacity_events'::regclass::oid::bigint"
    #: The database's collation may be a locale's, which orders punctuation
    #: apart from the digits ("C" is byte order).
    byte_order = ' COLLATE "C"'

    def __init__(
        self,
        url: str,
        migrations: Sequence[Sequence[str]],
        *,
        timeout_s: float = CONNECTION_WAIT_S,
        pool_size: int = 4,
        answer_wait_s: float | None = ANSWER_WAIT_S,
        migrate: bool = True,
        make: bool = True,
        lock_wait_s: float | None = None,
    ) -> None:
        self.location = redact_url(url)
        connect = _connect_options(_check_url(url, self.location))
        with (
            _reachable(self.location),
            _first_connection(url, connect, answer_wait_s) as conn,
        ):
            #: The schema this open migrated the store from (0: it made the
            #: store), None: it migrated nothing.
            self.migrated_from = _migrate(
                conn,
                migrations,
                self.location,
                migrate=migrate,
                make=make,
                lock_wait_s=timeout_s if lock_wait_s is None else lock_wait_s,
                onlooker=functools.partial(psycopg.connect, url, **connect),
            )
        pool_log.install()
        with _reachable(self.location):
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, pool_size),
                kwargs=connect,
                connection_class=_AnswerWaitConnection,
                configure=functools.partial(_set_answer_wait, answer_wait_s, url),
                timeout=timeout_s,
                reconnect_timeout=RECONNECT_S,
                num_workers=2,
                name=self.location,
                open=True,
            )
        self._timeout_s = timeout_s
        #: Why the last wait for a connection ran out, while no call got one since.
        self._unreachable: str | None = None
        self._url = url
        self._hung = _HungMark(url)
        self._notices = Notices(
            url,
            connect_timeout=connect.get("connect_timeout"),
            opener=functools.partial(_notice_connection, url, connect, answer_wait_s),
            on_lost=self._notice_lost,
        )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """One of the pool's connections that the server still holds, for the block.

        Once a wait for one ran out (the database away), the next calls wait
        only :data:`UNREACHABLE_WAIT_S` and fail with the first one's reason,
        until a call gets a connection again. Once a call was given up on as
        hung, the next ones fail at once (:meth:`_refuse_if_hung`).
        """
        hung = self._hung.mark  # (a call marking it since is seen)
        self._refuse_if_hung()
        down = self._unreachable
        wait = self._timeout_s if down is None else UNREACHABLE_WAIT_S
        with pool_log.using(self.location):  # what the pool logs meanwhile
            try:
                conn = self._live_connection(wait, hung)
            except PoolTimeout as exc:
                if down is None:
                    self._unreachable = " ".join(str(exc).split())
                    raise
                # the first wait's reason, and this call's own short wait: a
                # 503 in 0.2 s said only "after 5.00 sec"
                raise PoolTimeout(
                    f"{down}; still none after another {wait:.2f} sec"
                ) from exc
            self._unreachable = None
            if isinstance(conn, _AnswerWaitConnection):
                conn.stop_cancelled = False
            try:
                with conn:  # an error rolls back (as the pool's own block does)
                    yield conn
            except AnswerTimeout as exc:  # the others wait on the same server
                self._hung.found(str(exc))
                raise
            except psycopg.errors.QueryCanceled as exc:
                if getattr(conn, "stop_cancelled", False):
                    raise StoppedWaiting from exc
                raise
            finally:
                self._pool.putconn(conn)

    def _refuse_if_hung(self) -> None:
        """Fail at once while the server is marked hung (:class:`_HungMark`:
        a call was given up on, and no probe has been answered since).

        Raises
        ------
        AnswerTimeout
            The hung call's reason: the server has not answered since.
        """
        mark = self._hung.mark
        if mark is not None:
            raise AnswerTimeout(mark[0])

    def _notice_lost(self, exc: psycopg.Error) -> None:
        """The notice connection was lost: a ``LISTEN`` given up on as hung
        marks the store hung, as a call given up on does."""
        if isinstance(exc, AnswerTimeout):
            self._hung.found(str(exc))

    def _live_connection(
        self, wait: float, hung: tuple[str, float] | None = None
    ) -> psycopg.Connection[Any]:
        """A pooled connection the server has not ended, within ``wait`` seconds.

        The server ends idle sessions (``idle_session_timeout``, a restart,
        a proxy's idle limit) while they sit in the pool; handed out, such a
        connection failed the call though the database was there. The wait
        ends early when another call finds the server hung (``hung``: what
        was known of that as it began): the connections it waits for are
        held by calls to that server.

        Raises
        ------
        AnswerTimeout
            Another call was given up on as hung meanwhile.
        """
        gave_up = f"couldn't get a connection after {wait:.2f} sec"
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PoolTimeout(gave_up)
            now = self._hung.mark
            if now is not None and now is not hung:
                raise AnswerTimeout(now[0])
            try:
                conn = self._pool.getconn(timeout=min(left, _POOL_SLICE_S))
            except PoolTimeout as exc:  # the pool's message names what was left
                if left > _POOL_SLICE_S:
                    continue
                raise PoolTimeout(gave_up) from exc
            if _alive(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)  # closed: the pool opens another

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one statement in its own transaction (a read)."""
        with _reachable(self.location), self._connection() as conn:
            cur = conn.execute(pg_sql(sql), parameters)
            rows = cur.fetchall() if cur.description is not None else []
            return Rows(rows, cur.rowcount)

    def read_many(self, statements: Sequence[Statement], /) -> list[Rows]:
        """Several reads in one round trip: one pipeline on one connection."""
        with _reachable(self.location), self._connection() as conn:
            with conn.pipeline():  # the results are read as the block ends
                cursors = [conn.execute(pg_sql(sql), p) for sql, p in statements]
            return [Rows(c.fetchall(), c.rowcount) for c in cursors]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[_SnapshotReads]:
        """One ``REPEATABLE READ, READ ONLY`` transaction on one pooled
        connection: every read in it sees the snapshot its first took (its
        ``BEGIN`` goes with that read); an error rolls it back."""
        with _reachable(self.location), self._connection() as conn:
            yield _SnapshotReads(conn)
            conn.execute("COMMIT")

    def write(self, sql: str, parameters: Sequence[Any] = (), /) -> int:
        """One write statement in autocommit: one round trip, no ``BEGIN``."""
        refuse_writes_past_schema(self.location, self.schema_version)
        with _reachable(self.location), self._connection() as conn:
            return int(conn.execute(pg_sql(sql), parameters).rowcount)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows:
        """Run one statement per parameter row, in one transaction."""
        with self.tx() as conn:
            return Rows([], conn.executemany(sql, parameters).rowcount)

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A query's rows as a data frame (built as pandas' SQL reader does)."""
        with _reachable(self.location), self._connection() as conn:
            cur = conn.execute(pg_sql(sql), params or ())
            columns = [c.name for c in cur.description or ()]
            return pd.DataFrame.from_records(
                cur.fetchall(), columns=columns, coerce_float=True
            )

    @contextlib.contextmanager
    def tx(self) -> Iterator[PostgresTransaction]:
        """One write transaction: everything in it lands, or nothing does.

        Its ``BEGIN`` goes with its first statement, and its queued writes
        (and a :meth:`~PostgresTransaction.read_at_commit`) with its
        ``COMMIT``: a transaction waits on one round trip per statement whose
        answer it reads before the end, and one to commit. Refused once the
        store was migrated past this code's schema.
        """
        refuse_writes_past_schema(self.location, self.schema_version)
        with _reachable(self.location), self._connection() as conn:
            # an error rolls back as the pool's connection block ends
            tx = PostgresTransaction(conn)
            tx.later(_BEGIN)
            yield tx
            last = tx.last_read
            with conn.pipeline():  # its results are read as the block ends
                tx.send_queued()
                read = None if last is None else conn.execute(last[0], last[1])
                conn.execute("COMMIT")
            if last is not None and read is not None:
                last[2].arrived(read.fetchall(), read.rowcount)

    def schema_version(self) -> int:
        """The version in the ``schema_version`` table."""
        with _reachable(self.location), self._connection() as conn:
            return _version(conn)

    def integrity_problems(self) -> list[str]:
        """Nothing to add: PostgreSQL checks its pages itself."""
        return []

    def listen(self, channel: str) -> None:
        """``LISTEN`` to ``channel`` on this object's notice connection."""
        self._notices.listen(channel)

    def wait_notice(
        self,
        channel: str,
        after: int,
        timeout_s: float,
        stop: threading.Event | None = None,
        *,
        also: tuple[str, int] | None = None,
    ) -> None:
        """Return once a notice on ``channel`` carried more than ``after``
        (or one on ``also``'s channel more than its number), after
        ``timeout_s``, or soon after ``stop`` is set."""
        self._notices.wait(channel, after, timeout_s, stop, also=also)

    def checkpoint(self) -> bool:
        """Nothing to do: PostgreSQL's own checkpointer process does it."""
        return False

    def close(self) -> None:
        """Stop listening and close every connection: without waiting for
        the pool's threads more than :data:`PROBE_WAIT_S` once the server
        was found hung (they are connecting to it: a feed given up on
        exited 5 s later, the pool's default wait)."""
        hung = self._hung.mark is not None
        self._hung.close()
        self._notices.close()
        self._pool.close(timeout=PROBE_WAIT_S if hung else 5.0)


def _set_answer_wait(wait: float | None, url: str, conn: _AnswerWaitConnection) -> None:
    """A new pooled connection's answer wait and the URL its probe
    connects to (the pool's ``configure``)."""
    conn.answer_wait_s = wait
    conn.probe_url = url


def _notice_connection(
    url: str, connect: dict[str, Any], wait: float | None
) -> psycopg.Connection[Any]:
    """The notice connection, with the store's answer wait: its ``LISTEN``
    (sent again on every connection made after a lost one) waited on a hung
    server until it resumed. Its waits for notices have their own timeout,
    which the answer wait leaves alone."""
    conn = _AnswerWaitConnection.connect(url, **connect)
    _set_answer_wait(wait, url, conn)
    return conn


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server still holds idle ``conn``, without a round trip.

    An idle connection has nothing to read: anything on its socket is what
    the server sent as it ended the session (a FATAL, then the close), or
    seldom a notice, which costs only a new connection.
    """
    if conn.closed:
        return False
    try:
        poll = select.poll()
        poll.register(conn.pgconn.socket, select.POLLIN)
        return not poll.poll(0)
    except (OSError, psycopg.Error):
        return False


def _version(conn: psycopg.Connection[Any]) -> int:
    """The applied schema version (0 for an empty database)."""
    exists = conn.execute("SELECT to_regclass('schema_version')").fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _opened_version(conn: psycopg.Connection[Any], where: str) -> int:
    """:func:`_version`, once the ``schema_version`` table found is
    tierflow's: an integer ``version`` beside
    :data:`~tierflow.data.store.schema.STORE_TABLE` (or alone, empty: a
    store about to be made). Another program's (Flyway's before 5.0, a
    hand-rolled one) was read as tierflow's: a traceback
    (``UndefinedColumn``, ``int('1.2.3')``), or a migration of its
    database "from schema 7" that failed on a missing table.

    Raises
    ------
    InputError
        The table is another program's (:func:`_refuse_foreign_schema`).
    """
    found = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod), "
        "to_regclass(%s) IS NOT NULL FROM (SELECT to_regclass('schema_version') "
        "AS oid) AS t LEFT JOIN pg_attribute AS a ON a.attrelid = t.oid "
        "AND a.attname = 'version' AND NOT a.attisdropped WHERE t.oid IS NOT NULL",
        (STORE_TABLE,),
    ).fetchone()
    if found is None:
        return 0
    kind, marked = found
    version = None
    if kind == "integer":
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        version = 0 if row is None or row[0] is None else int(row[0])
    if version is None or (version != 0 and not marked):
        _refuse_foreign_schema(conn, where, own_version=False)
    return version or 0


def _migrate(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Sequence[str]],
    where: str,
    *,
    migrate: bool = True,
    make: bool = True,
    lock_wait_s: float = CONNECTION_WAIT_S,
    onlooker: Callable[[], psycopg.Connection[Any]] | None = None,
) -> int | None:
    """Bring the database to the newest version, one migrating process at a
    time (``migrate`` False: refuse an older one instead,
    :func:`~tierflow.data.store.database.refuse_older_schema`). Returns the
    version this call migrated from, None when it migrated nothing (already
    current, or another process migrated it while this one waited for the
    schema lock: ``state migrate`` said "migrated" in both processes).

    Each lock the migration waits for once it holds the schema lock is
    waited for ``lock_wait_s`` at most (:func:`_bound_lock_waits`): a
    session idle in a transaction on a table it alters held it for ever, and
    every writer of that table queued behind its lock request. A migration
    that runs or waits long says so (``migration_notice``), naming the
    session it waits for as a second connection (``onlooker``) sees it.

    Raises
    ------
    StoreUnavailable
        A lock wait ran out (:func:`_lock_wait_ran_out`); nothing was changed.
    """
    newest = len(migrations)
    found = _opened_version(conn, where)
    if found == newest:
        return None
    refuse_newer_schema(found, newest, where)  # before a write a role may not make
    if found == 0:
        _refuse_foreign_before_lock(conn, where)
    refuse_older_schema(found, newest, where, migrate=migrate, make=make)
    if found == 0:
        _refuse_encoding(conn, where)
    pending = [sql for step in migrations[found:] for sql in step]
    named = {word for sql in pending for word in re.findall(r"\w+", sql)}
    waiting = None
    if onlooker is not None:
        waiting = functools.partial(_waited_for, onlooker, conn.info.backend_pid)
    started = time.monotonic()
    waited_ms: int | None = None  # (None: still waiting for the schema lock)
    try:
        with migration_notice(where, newest, waiting), conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (_SCHEMA_LOCK,),
            )
            waited_ms = _bound_lock_waits(conn, lock_wait_s)
            _refuse_missing_schema(conn, where)
            # (its lock also brings this session's view of the catalog up to
            # date: to_regclass alone still missed a table another process
            # had committed while this one waited for the lock)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            version = _version(conn)  # re-read under the lock
            if version == 0:  # nothing made yet, by anyone: what else is there?
                _refuse_foreign_schema(conn, where)
            refuse_newer_schema(version, newest, where)
            if version == newest:  # another process migrated it meanwhile
                return None
            for target in range(version + 1, newest + 1):
                _apply(conn, migrations, version, target, where)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (newest,))
        log_migration(where, version, newest, started)
        return version
    except psycopg.errors.LockNotAvailable as exc:  # rolled back: nothing changed
        raise _lock_wait_ran_out(conn, where, found, newest, waited_ms, named) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreUnavailable(
            f"schema version {found} must be migrated to {newest}, which "
            f"this role may not do ({str(exc).splitlines()[0]}): open the store "
            "once as a role that may create tables (the database's owner)",
            location=where,
        ) from exc


def _bound_lock_waits(conn: psycopg.Connection[Any], wait_s: float) -> int:
    """Give up each lock wait of the open transaction after ``wait_s`` (a
    ``SET LOCAL lock_timeout``; a shorter one the role or the URL set is
    kept, and 0 s waits 1 ms, since 0 is PostgreSQL's "for ever"); the
    wait set, in milliseconds."""
    wanted = max(1, round(wait_s * 1000))
    row = conn.execute(
        "SELECT t.ms, set_config('lock_timeout', t.ms || 'ms', true) FROM "
        "(SELECT LEAST(NULLIF(setting::bigint, 0), %s) AS ms FROM pg_settings "
        "WHERE name = 'lock_timeout') AS t",
        (wanted,),
    ).fetchone()
    return wanted if row is None else int(row[0])


#: The session that holds a lock, the oldest transaction first, as
#: ``pg_locks`` and ``pg_stat_activity`` tell it (the server's own words name
#: neither): pid, application_name, state, seconds in it, the tables of its
#: locks (NULL: the schema lock) and how many other sessions hold one.
#: ``{held}``: which of its granted locks count; ``%(pid)s``: the migrating
#: session, never one of them.
_HOLDER = (
    "SELECT a.pid, a.application_name, a.state, "
    "floor(extract(epoch FROM now() - a.state_change))::bigint, "
    "string_agg(DISTINCT c.relname, ', '), count(*) OVER () - 1 "
    "FROM pg_locks AS l LEFT JOIN pg_class AS c ON c.oid = l.relation "
    "JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.granted "
    "AND l.pid <> %(pid)s AND l.database = (SELECT oid FROM pg_database "
    "WHERE datname = current_database()) AND ({held}) "
    "GROUP BY a.pid, a.application_name, a.state, a.state_change, "
    "a.xact_start ORDER BY a.xact_start NULLS LAST, a.pid LIMIT 1"
)
#: A lock on a table of the store's schema named ``%(tables)s``.
_ON_TABLES = (
    "c.relkind IN ('r', 'p') AND c.relname = ANY(%(tables)s) "
    "AND c.relnamespace = to_regnamespace(current_schema())"
)
#: The schema lock (``pg_advisory_xact_lock`` of a bigint key: its high and
#: low 32 bits in ``classid`` and ``objid``).
_ON_SCHEMA_LOCK = (
    "l.locktype = 'advisory' AND l.objsubid = 1 AND "
    "((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%(key)s, 0)"
)
#: The lock session ``%(pid)s`` waits for, held by a session it waits for.
_WAITED_FOR = (
    "l.pid = ANY(pg_blocking_pids(%(pid)s)) AND EXISTS (SELECT FROM pg_locks "
    "AS w WHERE w.pid = %(pid)s AND NOT w.granted AND (w.locktype, w.database, "
    "w.relation, w.classid, w.objid, w.objsubid) IS NOT DISTINCT FROM "
    "(l.locktype, l.database, l.relation, l.classid, l.objid, l.objsubid))"
)


def _holder(
    conn: psycopg.Connection[Any], held: str, params: dict[str, Any]
) -> str | None:
    """Who holds what the migrating session ``params["pid"]`` needs (one of
    :data:`_ON_TABLES`, :data:`_ON_SCHEMA_LOCK`, :data:`_WAITED_FOR`), in
    the words of its refusal and its notice: "a lock on capacity_snapshots,
    which another session holds (pid 4242, application_name 'report', idle
    in transaction for 35 s)"; None when no session does (it ended
    meanwhile) or the catalog could not be read."""
    row = None
    with contextlib.suppress(psycopg.Error):  # (the caller says its part regardless)
        row = conn.execute(
            _HOLDER.format(held=held), {"key": _SCHEMA_LOCK, **params}
        ).fetchone()
    if row is None:
        return None
    pid, app, state, for_s, tables, others = row
    said = [f"pid {pid}"]
    if app:
        said.append(f"application_name {app!r}")
    if state:
        said.append(state if for_s is None else f"{state} for {for_s} s")
    more = f", and {counted(others, 'more session')}" if others else ""
    what = "the schema lock" if tables is None else f"a lock on {tables}"
    return f"{what}, which another session holds ({', '.join(said)}{more})"


def _waited_for(
    onlooker: Callable[[], psycopg.Connection[Any]], pid: int
) -> str | None:
    """What the migrating session ``pid`` waits for and who holds it
    (:func:`_holder`), asked on a connection of its own (the migrating one
    is blocked); None when it waits for nothing, or the server does not
    answer or has no connection to spare (the notice says "under way")."""
    with contextlib.suppress(psycopg.Error), onlooker() as conn:
        return _holder(conn, _WAITED_FOR, {"pid": pid})
    return None


def _lock_wait_ran_out(
    conn: psycopg.Connection[Any],
    where: str,
    found: int,
    newest: int,
    waited_ms: int | None,
    named: set[str],
) -> StoreUnavailable:
    """The error of a migration that gave up waiting for a lock, after its
    transaction rolled back: the store, the wait, and the session that
    holds a lock on the tables the migration names (``named``: the words of
    its statements) since before the wait began, or the schema lock
    (``waited_ms`` None: the wait was for it, under a ``lock_timeout`` of
    the role or the URL), as :func:`_holder` finds it. (Every session that
    read the table since was counted "and N more", a count that changed
    from one retry to the next.)"""
    head = f"cannot migrate the store from schema {found} to {newest}: "
    pid = {"pid": conn.info.backend_pid}
    if waited_ms is None:
        held = _holder(conn, _ON_SCHEMA_LOCK, pid)
        holder = "" if held is None else f": {held}"
        error = StoreUnavailable(
            f"{head}gave up waiting for another process's migration (the "
            f"server's lock_timeout){holder}; nothing was changed",
            location=where,
        )
        return store_error("postgres", error)
    tables = sorted(named | {"schema_version"})
    # (a lock taken after the wait began queued behind it: not a holder)
    before = f"{_ON_TABLES} AND a.xact_start <= now() - %(waited_ms)s * interval '1 ms'"
    held = _holder(conn, before, {**pid, "tables": tables, "waited_ms": waited_ms})
    if held is None:  # ended meanwhile, or a lock on no table it names
        held = "a lock on its tables, which another session held"
    error = StoreUnavailable(
        f"{head}gave up after waiting {waited_ms / 1000:g} s for {held}; nothing "
        "was changed: end that session or let it finish, then migrate again",
        location=where,
    )
    return store_error("postgres", error)


#: The relations of another program's schema named in its refusal, at most.
_FOREIGN_NAMED = 5
#: How to give tierflow a schema of its own in a shared database.
_OWN_SCHEMA = "options=-csearch_path=SCHEMA"


def _refuse_missing_schema(conn: psycopg.Connection[Any], where: str) -> None:
    """Refuse a search path naming no schema that exists, before anything is made.

    Raises
    ------
    StoreBroken
        The migration's first ``CREATE`` failed with a traceback
        (``InvalidSchemaName``).
    """
    row = conn.execute("SELECT current_schema(), current_setting('search_path')")
    schema, path = row.fetchone() or (None, "")
    if schema is None:
        raise StoreBroken(
            f"no schema of its search_path ({path}) exists to create the store "
            f"in: create it, or name one in the URL ({_OWN_SCHEMA})",
            location=where,
        )


def _refuse_foreign_before_lock(conn: psycopg.Connection[Any], where: str) -> None:
    """:func:`_refuse_foreign_schema` for an open that found no store, before
    it may refuse one as empty (a reading command) or take the schema lock:
    another program's database was said to be "an empty database (... serve
    makes one)", and to a role that may not create tables, "open the store
    once as ... the database's owner", where both are refused.

    Raises
    ------
    InputError
        Another program's tables, and still no store (tables found with a
        schema version by then are another open's migration, committed
        meanwhile: that open's).
    """
    try:
        _refuse_foreign_schema(conn, where)
    except InputError:
        if _version(conn) == 0:
            raise


def _refuse_foreign_schema(
    conn: psycopg.Connection[Any], where: str, *, own_version: bool = True
) -> None:
    """Refuse to make a store beside another program's tables
    (``own_version`` False: its ``schema_version`` is one of them, and
    none of tierflow's is there).

    Raises
    ------
    InputError
        The schema the store would be created in holds another program's
        tables, views or the like (any relation but an empty
        ``schema_version``): a ``--state`` naming another program's
        database was given tierflow's tables beside its own, as a SQLite
        file was.
    """
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND (c.relname <> 'schema_version' OR NOT %s) ORDER BY c.relname "
        "LIMIT %s",
        (own_version, _FOREIGN_NAMED + 1),
    ).fetchall()
    if rows:
        names = [str(name) for _, name in rows[:_FOREIGN_NAMED]]
        if len(rows) > _FOREIGN_NAMED:
            names.append("...")
        lacks = "no tierflow schema version" if own_version else "none of tierflow's"
        raise InputError(
            f"not a tierflow state store: its schema {rows[0][0]} holds another "
            f"program's tables ({', '.join(names)}) and {lacks}; give tierflow a "
            f"database of its own, or a schema ({_OWN_SCHEMA})",
            file=where,
        )


def _apply(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Sequence[str]],
    found: int,
    target: int,
    where: str,
) -> None:
    """Run migration ``target``; one the database refuses for what it holds
    ("relation "quotes" already exists": never mended by waiting) is a
    :class:`StoreBroken` naming the store, not the driver's error (which
    ended a command with a traceback). The server's being away and a role's
    privileges stay what :func:`_reachable` makes of them."""
    try:
        for statement in migrations[target - 1]:
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        raise
    except (
        psycopg.ProgrammingError,
        psycopg.DataError,
        psycopg.IntegrityError,
        psycopg.NotSupportedError,
    ) as exc:
        raise migration_failed(found, target, len(migrations), exc, where) from exc


def _refuse_encoding(conn: psycopg.Connection[Any], where: str) -> None:
    """Refuse to create a store in a database that cannot hold any text (a
    store made before keeps working: only text its encoding lacks fails)."""
    row = conn.execute("SHOW server_encoding").fetchone()
    encoding = "" if row is None else str(row[0])
    if encoding.upper() != "UTF8":
        raise TierflowError(
            f"{where}: the database's encoding is {encoding}, which cannot hold "
            f"every customer's, SKU's or event's text; create it in UTF8: {_UTF8}"
        )
