"""psycopg-pool's and psycopg's log records as one line each, naming the store.

The pool logs libpq's errors as they come, and libpq puts its hint on a
line of its own (``... failed: No such file or directory`` then
``\tIs the server running locally ...``): the second line of a text log
has no time, level or logger, and a line-based collector files it as a
record of its own. Records about one connection name it by its
representation (``discarding closed connection: <psycopg.Connection [BAD]
at 0x7f...>``), which does not say which store it belonged to.
psycopg itself logs the errors it ignores while it cleans up after a lost
connection (``error ignored terminating <psycopg.Pipeline [BAD] at
0x7f...>: flush request failed: ...``, ``error ignored in rollback on
<psycopg.Connection [BAD] at 0x7f...>: ...``), with libpq's message over
several lines (``server closed the connection unexpectedly``, then
``\tThis probably means ...``) and no store at all.
:class:`PoolRecords` rewrites each record of the ``psycopg.pool`` logger
and of psycopg's own (:data:`PSYCOPG_LOGGERS`) into one line that names the
store by its location without a password
(:func:`~tierflow.data.store.location.redact_url`, the pool's name), and
says a line that repeats (every pool's every reconnection attempt while the
database is away) once a minute with how often it came
(:class:`~tierflow.data.log_repeats.RepeatedLines`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from contextvars import ContextVar

from tierflow.data.log_repeats import RepeatedLines

#: The logger psycopg-pool writes to.
POOL_LOGGER = "psycopg.pool"
#: The loggers psycopg writes its warnings to (a filter on a logger sees
#: only its own records, not its children's: each is named).
PSYCOPG_LOGGERS = ("psycopg", "psycopg.transaction", "psycopg.pq", "psycopg.waiting")
#: The store (its redacted location) whose pool the current call is using:
#: the pool logs a returned connection's troubles in the caller's thread.
_STORE: ContextVar[str | None] = ContextVar("tierflow_pool_store", default=None)
#: The pool's own threads are named after it (``<name>-worker-0``,
#: ``<name>-scheduler``).
_POOL_THREAD = re.compile(r"(.+)-(?:worker-\d+|scheduler)")
_installed = threading.Lock()
#: The same pool line again within this many seconds is dropped (counted).
REPEAT_EVERY_S = 60.0


class PoolRecords(logging.Filter):
    """Rewrites a ``psycopg.pool`` or psycopg record into one line naming
    its store, or drops it when the same line was said within
    :data:`REPEAT_EVERY_S`."""

    def __init__(self) -> None:
        super().__init__()
        self.repeats = RepeatedLines(REPEAT_EVERY_S)

    def filter(self, record: logging.LogRecord) -> bool:
        text = " ".join(record.getMessage().split())
        store = _STORE.get()
        if store is None:
            thread = _POOL_THREAD.fullmatch(record.threadName or "")
            store = None if thread is None else thread[1]
        if store is not None and store not in text:
            text = f"{store}: {text}"
        said = self.repeats.admit(text)
        if said is None:
            return False
        record.msg, record.args = said, None
        return True


def install() -> None:
    """Put :class:`PoolRecords` on the pool's logger and psycopg's (once each)."""
    with _installed:
        for name in (POOL_LOGGER, *PSYCOPG_LOGGERS):
            logger = logging.getLogger(name)
            if not any(isinstance(f, PoolRecords) for f in logger.filters):
                logger.addFilter(PoolRecords())


@contextlib.contextmanager
def using(store: str) -> Iterator[None]:
    """The pool's and psycopg's records written in this block are about
    ``store``."""
    token = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(token)
