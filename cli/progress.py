"""Progress of the long commands, on stderr (stdout stays the result).

On a terminal: click's progress bar. Otherwise (piped, in CI, under
``make``): log lines on the ``tierflow.progress`` logger — one at the start,
one every :data:`STEP_PCT` % of the work, one whenever nothing was said for
:data:`HEARTBEAT_S` seconds, one at the end — so a long run is never silent.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import click

#: A line each time the work done crosses another multiple of this (%).
STEP_PCT = 10
#: ... and a line whenever nothing was said for this long (seconds).
HEARTBEAT_S = 10.0

_log = logging.getLogger("tierflow.progress")


def _item(label: str | None) -> str | None:
    return label


def on_terminal() -> bool:
    """Whether stderr is a terminal (where a bar can redraw itself)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class LineProgress:
    """Progress as log lines, with the ``update``/``pos``/``length`` of a bar.

    ``length`` None: a stage of unknown size (a line at start, on the
    heartbeat and at the end). ``only_if_slow``: no line until the first
    heartbeat, and none at all for work done before it (so a quick run, or a
    quick one-line error, stays quiet).
    """

    def __init__(
        self,
        label: str,
        length: int | None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        only_if_slow: bool = False,
    ) -> None:
        self.label = label
        self.length = length
        self.pos = 0
        self.item: str | None = None
        self._heartbeat_s = heartbeat_s
        self._quiet = only_if_slow
        self._start = self._last = time.monotonic()
        self._step = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def update(self, n_steps: int, current_item: str | None = None) -> None:
        """``n_steps`` more done (``current_item``: what is being done now)."""
        with self._lock:
            self.pos += n_steps
            if current_item is not None:
                self.item = current_item
            if self.length:
                step = int(100 * self.pos / self.length) // STEP_PCT
                if step > self._step:
                    self._step = step
                    if not self._quiet:
                        self._say("")

    def __enter__(self) -> Self:
        with self._lock:
            if not self._quiet:
                self._say("started")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self._quiet:  # nothing was said: the work was quick
                return
            if exc[0] is not None:
                self._say("failed")
                return
            if self.length:  # finished: all of it is done
                self.pos = max(self.pos, self.length)
            self._say("done")

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s / 4):
            with self._lock:
                if time.monotonic() - self._last >= self._heartbeat_s:
                    self._quiet = False
                    self._say("running")

    def _say(self, state: str) -> None:
        """One line (the caller holds the lock)."""
        self._last = time.monotonic()
        elapsed = self._last - self._start
        parts = [state] if state else []
        pct = None
        if self.length and state != "started":
            pct = min(100.0, 100.0 * self.pos / self.length)
            parts.append(f"{self.pos:,}/{self.length:,} ({pct:.0f} %)")
        if self.item and state != "started":
            parts.append(self.item)
        parts.append(f"{elapsed:.0f} s")
        _log.info(
            "%s: %s",
            self.label,
            ", ".join(parts),
            extra={
                "progress": self.label,
                "state": state or "running",
                "done": self.pos,
                "total": self.length,
                "pct": None if pct is None else round(pct, 1),
                "step": self.item,
                "elapsed_s": round(elapsed, 1),
            },
        )


@contextmanager
def progress_bar(
    label: str, length: int, *, show_pos: bool = True, show_item: bool = False
) -> Iterator[Any]:
    """A click progress bar on a terminal, else :class:`LineProgress`;
    ``show_item`` shows ``update``'s item."""
    if not on_terminal():
        with LineProgress(label, length) as lines:
            yield lines
        return
    bar: Any
    with click.progressbar(
        length=length,
        label=label,
        file=sys.stderr,
        show_pos=show_pos,
        item_show_func=_item if show_item else None,
    ) as bar:
        yield bar


@contextmanager
def progress_stage(label: str, *, only_if_slow: bool = False) -> Iterator[None]:
    """A step with no count (a training run): lines when not on a terminal
    (``only_if_slow``: see :class:`LineProgress`)."""
    if on_terminal():
        yield
        return
    with LineProgress(label, None, only_if_slow=only_if_slow):
        yield
