"""Writers of one SQLite file take turns on an advisory file lock before
SQLite's own write lock.

SQLite makes a writer that finds the write lock taken sleep and retry
(1, 2, 5, 10, ... ms, up to ``busy_timeout``): two server workers whose
write transactions last a fraction of a millisecond each lose milliseconds
of their event loop at every collision. ``flock`` on a file beside the
database lets the waiter in as soon as the holder lets go. It only orders
tierflow's own writers: SQLite's lock still guards the data (a writer
that does not take this lock, such as the ``sqlite3`` shell, is kept out
by SQLite as before), so correctness never depends on it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from tierflow.data.stop_signals import HELD_WRITE, STOP_NOW
from tierflow.data.store.database import (
    StoreUnavailable,
    store_error,
)

#: How long a waiting writer first sleeps between tries: short, since the
#: transactions it waits for last about as long.
RETRY_S = 0.0001

#: The longest sleep between tries. A writer sleeps a tenth of what it has
#: waited so far (at least :data:`RETRY_S`, at most this): it enters at most
#: about a tenth later than it could, and a long wait (a batch job's
#: transaction, a stalled writer) no longer polls 10,000 times a second:
#: waiting 2.8 s cost the waiter 0.34 s of CPU at a fixed 0.1 ms.
MAX_PAUSE_S = 0.005

#: The lock file's name: the database's and this.
WRITER_SUFFIX = "-writer"


def locked_error(database: Path | str, waited_s: float) -> StoreUnavailable:
    """The error of a write that gave up waiting for the store's write lock.

    SQLite says only "database is locked": a batch job that waited a minute
    for a ``sqlite3`` shell or another job said that much, without naming
    the file or the wait. Both ways a wait ends (this module's turn, SQLite's
    ``busy_timeout``) raise this one message, told to the listeners.
    """
    return store_error(
        "sqlite",
        StoreUnavailable(
            "locked by another process; gave up after waiting "
            f"{waited_s:g} s for its write lock",
            location=str(database),
        ),
    )


def stopped_error(database: Path | str) -> StoreUnavailable:
    """The error of a write that stopped waiting for the store's write lock
    because its process is stopping at once (:data:`STOP_NOW`)."""
    return store_error(
        "sqlite",
        StoreUnavailable(
            "locked by another process; stopped waiting for its write lock "
            "(this process is stopping)",
            location=str(database),
        ),
    )


def retry_pause(waited_s: float) -> float:
    """The sleep before a waiting writer's next try, having waited
    ``waited_s`` seconds: a tenth of it, within [RETRY_S, MAX_PAUSE_S]."""
    return min(MAX_PAUSE_S, max(RETRY_S, waited_s / 10))


_held = threading.local()


class WriterLock:
    """The turn of one connection's writes (a context manager; re-entrant
    within a thread only through the connection's own lock).

    Parameters
    ----------
    database
        The SQLite file; the lock is ``<database>-writer`` beside it.
    timeout_s
        How long a writer waits for its turn before failing, as SQLite's
        ``busy_timeout`` would (:func:`locked_error`, naming ``database``);
        less once the process is stopping at once (:func:`stopped_error`).
    """

    def __init__(self, database: Path, timeout_s: float) -> None:
        self.database = database
        self.path = f"{database}{WRITER_SUFFIX}"
        self.timeout_s = float(timeout_s)
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error("sqlite", StoreUnavailable(str(exc))) from exc

    def __enter__(self) -> None:
        paths: set[str] | None = getattr(_held, "paths", None)
        if paths is None:  # this thread's first write: no set made per write
            paths = _held.paths = set()
        if self.path in paths:  # a second connection of this thread: no turn ever
            raise store_error(
                "sqlite",
                StoreUnavailable(
                    f"{self.path}: a write on a second connection while this "
                    "thread's write on the first is open would wait forever"
                ),
            )
        fd = self._fd
        if fd is None:
            raise store_error("sqlite", StoreUnavailable("closed database"))
        started = None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise store_error("sqlite", StoreUnavailable(str(exc))) from exc
            now = time.monotonic()
            started = started or now
            waited = now - started
            if waited >= self.timeout_s:
                raise locked_error(self.database, self.timeout_s)
            if STOP_NOW.is_set() or HELD_WRITE.is_set():
                raise stopped_error(self.database)
            time.sleep(retry_pause(waited))
        paths.add(self.path)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _held.paths.discard(self.path)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (its lock goes with it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
