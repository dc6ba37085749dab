"""PostgreSQL notices for waiters in this process: one connection that
``LISTEN``s, read by a daemon thread; each waiter blocks on a condition
until a notice carries a number past the one it has seen.

A notice's payload is a number that only grows (the capacity log's last
``seq``, the stock counter). A lost connection is opened again; meanwhile waiters time out
and re-read the table, so a notice lost then costs latency, never an event.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from tierflow.data.extras import MissingExtraError

try:  # the one line naming the extra on a direct import (as in postgres_database)
    import psycopg
    from psycopg import sql
except ImportError:
    raise MissingExtraError("PostgreSQL store", "postgres") from None

#: How long the reader waits for notices before it looks for new channels
#: or a close.
_TICK_S = 0.2
#: How soon a waiter sees its ``stop`` set (a server stopping waits this long).
_STOP_S = 0.02
#: Wait before opening a lost notice connection again.
_RECONNECT_S = 0.5
#: How long :meth:`Notices.listen` waits for the ``LISTEN`` to be in place.
_READY_S = 5.0


class Notices:
    """The notices of one database, for the threads of this process.

    Parameters
    ----------
    url
        libpq URL of the database.
    connect_timeout
        Seconds a connection attempt waits for the server (None: the URL's).
    opener
        Opens the notice connection (default: ``psycopg.connect`` of ``url``
        with ``connect_timeout``): the store's opens one with its answer
        wait, so that a ``LISTEN`` sent to a hung server is given up on (and
        the connection made again) instead of waited on until it resumes.
    on_lost
        Told why the notice connection was lost, before its waiters are
        woken: the store marks itself hung when its ``LISTEN`` met a hung
        server, so that the waiter's next read fails at once, as after a
        read given up on.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int | None = None,
        opener: Callable[[], psycopg.Connection[Any]] | None = None,
        on_lost: Callable[[psycopg.Error], None] | None = None,
    ) -> None:
        self._url = url
        self._connect: dict[str, Any] = {"autocommit": True}
        if connect_timeout is not None:
            self._connect["connect_timeout"] = connect_timeout
        self._opener = opener or (lambda: psycopg.connect(self._url, **self._connect))
        self._on_lost = on_lost
        self._cond = threading.Condition()
        self._wanted: set[str] = set()
        self._listening: set[str] = set()
        #: Channels listened to once, or whose first ``LISTEN`` a lost
        #: connection failed: their waiters do not wait for the ``LISTEN``
        #: again (see :meth:`listen`).
        self._listened: set[str] = set()
        self._latest: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Notice connections lost so far: a waiter returns at a loss (the
        #: server may have gone: its caller's next read says so at once,
        #: not at the end of its wait).
        self._lost = 0

    def listen(self, channel: str) -> None:
        """Receive ``channel``'s notices from now on (returns once ``LISTEN``
        is in place, once the notice connection is lost (the server away or
        hung: the caller's next read says so), or after a few seconds).

        Only the first time: once the channel was listened to, or its first
        ``LISTEN`` was lost, the connection is made again by the reader
        meanwhile, unwaited. A ``LISTEN`` that met a hung server between
        the connection's login and the statement held the first wait on the
        log for the whole :data:`_READY_S` (the reader given up on it after
        the answer wait), and every wait after it again (the reader in its
        next connection attempt): ``/readyz`` said 503 6 s late. A waiter
        (the capacity follower, before each read of the log) waited
        :data:`_READY_S` for it at every turn while the server was away or
        hung, its read (and ``/readyz``'s 503) coming 5 s late; a notice
        missed then costs the waiter its next timeout, never an event.
        """
        with self._cond:
            if channel in self._listening or channel in self._listened or self._closed:
                return
            self._wanted.add(channel)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tierflow-notices", daemon=True
                )
                self._thread.start()
            if self._lost and not self._listening:
                # the connection is down (lost, not made again yet): the
                # reader listens to it when it is back; a second channel's
                # first ``LISTEN`` (the stock changes') waited for the hung
                # server again, and the follower said it was away late
                return
            lost = self._lost
            self._cond.wait_for(
                lambda: (
                    channel in self._listening or self._closed or self._lost != lost
                ),
                _READY_S,
            )

    def wait(
        self,
        channel: str,
        after: int,
        timeout_s: float,
        stop: threading.Event | None = None,
        *,
        also: tuple[str, int] | None = None,
    ) -> None:
        """Block until a notice on ``channel`` carried more than ``after``
        (or one on ``also``'s channel more than its number: a waiter on two
        channels), ``timeout_s`` passed, ``stop`` is set (seen within
        :data:`_STOP_S`) or the notice connection was lost."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        other, past = also or (channel, after)
        with self._cond:
            lost = self._lost
            while not (
                self._latest.get(channel, 0) > after
                or self._latest.get(other, 0) > past
                or self._closed
                or self._lost != lost
            ):
                left = deadline - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    return
                self._cond.wait(left if stop is None else min(left, _STOP_S))

    def close(self) -> None:
        """Stop the reader: it closes its connection at its next tick (within
        :data:`_TICK_S`), unwaited: a stopping server's replicas and
        followers each paid the tick."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._closed:
            try:
                with self._opener() as conn:
                    self._serve(conn)
            except psycopg.Error as exc:
                if self._on_lost is not None:
                    self._on_lost(exc)
                with self._cond:
                    self._listening.clear()
                    self._listened |= self._wanted
                    self._lost += 1
                    self._cond.notify_all()
                time.sleep(_RECONNECT_S)

    def _serve(self, conn: psycopg.Connection[Any]) -> None:
        """Listen on every wanted channel and pass notices on, until closed."""
        while not self._closed:
            with self._cond:
                new = self._wanted - self._listening
            for channel in sorted(new):
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            with self._cond:
                self._listening |= new
                self._listened |= new
                self._cond.notify_all()
            for notice in conn.notifies(timeout=_TICK_S):
                with contextlib.suppress(ValueError), self._cond:
                    seen = int(notice.payload)
                    old = self._latest.get(notice.channel, 0)
                    self._latest[notice.channel] = max(old, seen)
                    self._cond.notify_all()
