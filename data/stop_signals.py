"""The signals that stop a run (Ctrl-C's SIGINT; SIGTERM from ``kill``,
systemd, ``docker stop``) while a step must not be cut or cannot hear them.

Python runs a signal's handler on the main thread between two bytecodes.
Two kinds of step need more than that:

- a step that must finish once begun (a feed's batch applied and counted,
  a HiGHS run stopped at its own next check): :func:`held_stop_signals`
  takes the signal, the step ends, and the handler it was taken from gets
  it then (``KeyboardInterrupt``, or the console script's ``Terminated``);
- a solve that keeps the main thread in C++ for its whole time limit
  (CP-SAT's ``solve``: ``tierflow solve --engine cpsat-plain --time-limit
  30`` took 26 s to stop on Ctrl-C): Python's C-level handler writes the
  signal's number to the *wakeup fd* at once (:func:`signal.set_wakeup_fd`),
  and :func:`stop_on_signal` reads it on a thread of its own and asks the
  solver to stop; the handler runs as the solve returns.

Both act only on the main thread and only for a signal whose handler is
Python's (not one ignored, ``nohup``): elsewhere the step runs as it is.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: The signals that stop a run.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Set once this process is to stop at once (a server's second stop signal,
#: ``tierflow serve``'s or a ``--workers`` worker's): a store call waiting
#: for another process's lock gives up at its next try, as
#: :class:`~tierflow.data.store.StoreUnavailable`, where it waited out the
#: store's wait (a worker held until its supervisor killed it 15 s later).
#: Never cleared: the process ends.
STOP_NOW = threading.Event()

#: Set while :func:`held_write_stop` holds a stop signal: a store call
#: waiting for another process's lock gives up at its next try, as for
#: :data:`STOP_NOW` (nothing is committed while a call waits), and the
#: command then stops with the held signal; a write under way is finished
#: and said first. Cleared as the block ends.
HELD_WRITE = threading.Event()


class HeldStop:
    """A stop signal taken by :func:`held_stop_signals`, for the handler it
    was taken from.

    ``holding`` False gives a signal on at once (outside a step that must
    finish); ``then_ignore`` leaves every stop signal ignored once one is
    given on (a second Ctrl-C must not cut a summary being printed);
    ``insist_s`` set, a second signal at least that long after the first
    held one is given on at once, holding or not: a step that should take
    milliseconds but waits on another process (a lock the store's other
    session holds) could not be stopped at all while it waited.
    """

    def __init__(self) -> None:
        self.handlers: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self.taken: int | None = None
        self.frame: FrameType | None = None
        self.holding = True
        self.then_ignore = False
        self.insist_s: float | None = None
        self.ends_waits = False
        self._taken_at = 0.0

    def take(self, signum: int, frame: FrameType | None) -> None:
        """The handler while held: the first signal is kept."""
        if self.taken is None:
            self.taken, self.frame = signum, frame
            self._taken_at = time.monotonic()
            if self.ends_waits and self.holding:
                HELD_WRITE.set()
        elif self.insist_s is not None and (
            time.monotonic() - self._taken_at >= self.insist_s
        ):
            self.holding = False
        if not self.holding:
            self.deliver()

    def deliver(self) -> None:
        """Give the taken signal (if any) to its handler, which raises."""
        if self.taken is None:
            return
        if self.then_ignore:
            for signum in self.handlers:
                signal.signal(signum, signal.SIG_IGN)
        else:
            self.restore()
        self.handlers[self.taken](self.taken, self.frame)

    def restore(self) -> None:
        """The handlers taken from, back where this one still stands."""
        for signum, handler in self.handlers.items():
            if signal.getsignal(signum) == self.take:
                signal.signal(signum, handler)


@contextmanager
def held_stop_signals() -> Iterator[HeldStop]:
    """Take the stop signals inside the block (:class:`HeldStop`); their
    handlers are put back at its end. ``held.handlers`` is empty where none
    was taken (another thread, signals ignored or at the OS default)."""
    held = HeldStop()
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                held.handlers[signum] = handler
                signal.signal(signum, held.take)
    try:
        yield held
    finally:
        held.restore()


@contextmanager
def held_write_stop() -> Iterator[None]:
    """A one-shot write and its summary, not cut between its commit and the
    summary: a Ctrl-C or SIGTERM inside the block is given on at its end
    (``tierflow stock load`` and ``capacity ingest`` stopped after their
    commit said "interrupted" with no summary, and a receipt re-run without
    ``--change-id`` was added twice).

    A wait for another process's lock inside the block still ends at once
    (:data:`HELD_WRITE`): the store's call gives up, and the held signal
    is given on in place of its error, nothing written. A second signal
    cannot cut the summary short.
    """
    with held_stop_signals() as held:
        if not held.handlers:  # another thread, ignored (nohup), OS default
            yield
            return
        held.then_ignore = True
        held.ends_waits = True
        try:
            yield
        finally:
            held.holding = False
            HELD_WRITE.clear()
            held.deliver()  # (raising here replaces a wait's error)


@contextmanager
def stop_on_signal(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` (from another thread) when a stop signal comes inside
    the block; its handler then runs as the block's C call returns.

    Not where a wakeup fd is set already (an event loop's: it has its own
    way to a signal).
    """
    python_handled = [s for s in STOP_SIGNALS if callable(signal.getsignal(s))]
    if threading.current_thread() is not threading.main_thread() or not (
        python_handled
    ):
        yield
        return
    reader, writer = socket.socketpair()

    def watch() -> None:
        with reader:  # closed here: the block's end may not wait for it
            while data := reader.recv(64):  # b"": the writer closed
                if any(signum in data for signum in python_handled):
                    stop()

    watcher = threading.Thread(target=watch, name="tierflow-stop-signal", daemon=True)
    # Everything from here on is inside ``try``: a signal that lands while
    # the watcher starts, or as ``set_wakeup_fd`` returns (its result then
    # never stored), raises there, and the fd must not stay set
    previous = -1
    try:
        writer.setblocking(False)
        watcher.start()
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        if previous != -1:  # someone else's: put back, the block left be
            signal.set_wakeup_fd(previous)
        yield
    finally:
        signal.set_wakeup_fd(previous)  # -1, or someone else's (again)
        writer.close()  # the watcher reads b"" and ends
        if watcher.is_alive():
            watcher.join()
