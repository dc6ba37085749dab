"""A log line that repeats, said once a while with how often it came.

While a database is away, every retry fails the same way: the connection
pool logs each attempt of each pool (a dozen lines a second at first), the
capacity follower each read of the event log, the service each call that
needed the store. :class:`RepeatedLines` lets the first of a kind through,
drops the same line again within ``every_s`` seconds, and gives the next
one after that with the count it stood for, so the log still says how long
and how often without filling with copies. Lines that differ only in an
object's address or a duration (``idle in transaction for 35 s``) are the
same line (:func:`log_key`); a caller whose lines name what each one is
about (a client's address) gives its own ``key``, the kind of line, and the
first line of a kind keeps its detail.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

#: Object addresses (``<psycopg.Connection [BAD] at 0x7f3a...>``): the same
#: failure of another connection is the same line.
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
#: Durations (``for 35 s``, ``waiting 0.1 s``): a session idle in a
#: transaction named in each retry's reason is the same reason a second later.
_DURATION = re.compile(r"\b\d+(?:\.\d+)? s\b")


def log_key(line: str) -> str:
    """What tells ``line`` from another of its kind: the line with object
    addresses and durations masked (its reason, not its moment)."""
    return _DURATION.sub("… s", _ADDRESS.sub("0x…", line))


class RepeatedLines:
    """Which log lines to say, and how (see the module docstring).

    Parameters
    ----------
    every_s
        The same line again within this many seconds of its last saying is
        dropped (and counted).
    kept
        Distinct lines remembered; past it the oldest are forgotten (and
        said again when they come back).
    clock
        Seconds, monotonic (tests give their own).
    """

    def __init__(
        self,
        every_s: float,
        *,
        kept: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_s = every_s
        self._kept = kept
        self._clock = clock
        #: :func:`log_key` of a line -> (when last said, dropped since)
        self._said: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def admit(self, line: str, *, key: str | None = None) -> str | None:
        """``line`` to log now (with how many like it were dropped since it
        was last said, if any), or None to drop it. ``key``: what makes two
        lines alike (default :func:`log_key` of the line)."""
        key = log_key(line) if key is None else key
        now = self._clock()
        with self._lock:
            last = self._said.get(key)
            if last is not None and now - last[0] < self.every_s:
                self._said[key] = (last[0], last[1] + 1)
                return None
            self._said.pop(key, None)
            if len(self._said) >= self._kept:  # the oldest said go first
                del self._said[next(iter(self._said))]
            self._said[key] = (now, 0)
        if last is None or last[1] == 0:
            return line
        return f"{line} ({last[1]} more like it in the last {now - last[0]:.0f} s)"

    def say(
        self,
        logger: logging.Logger,
        level: int,
        line: str,
        *,
        exc_info: BaseException | None = None,
        key: str | None = None,
    ) -> None:
        """Log ``line`` (with ``exc_info``'s traceback) at ``level`` when
        :meth:`admit` (with ``key``) lets it through, in the form it gives."""
        said = self.admit(line, key=key)
        if said is not None:
            logger.log(level, "%s", said, exc_info=exc_info)

    def clear(self) -> None:
        """Forget every line (what they were about has ended: the next is
        said at once)."""
        with self._lock:
            self._said.clear()
