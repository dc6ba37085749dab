"""Ctrl-C during a solver's run in C++ that holds the main thread.

Python runs a signal's handler on the main thread between two bytecodes; a
solve that keeps the main thread in C++ (CP-SAT's ``solve``) for its whole
time limit put Ctrl-C off until then: ``tierflow solve --engine
cpsat-plain --time-limit 30`` took 26 s to stop. Python's own C-level
handler also writes the signal's number to the *wakeup fd*
(:func:`signal.set_wakeup_fd`) at once; :func:`stop_on_ctrl_c` reads it on
a thread of its own and asks the solver to stop. The solve then returns,
the main thread's handler runs (``KeyboardInterrupt``) and nothing goes on
with the stopped run's result.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_ctrl_c(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` (from another thread) when SIGINT comes inside the block.

    Only on the main thread while Python handles SIGINT (not where it is
    ignored, ``nohup``) and no wakeup fd is set (an event loop's: it has its
    own way to a signal): elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or not callable(
        signal.getsignal(signal.SIGINT)
    ):
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    if previous != -1:  # someone else's: put it back, leave the block be
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
        yield
        return

    def watch() -> None:
        while data := reader.recv(64):  # b"": the writer closed, the block ended
            if signal.SIGINT in data:
                stop()

    watcher = threading.Thread(target=watch, name="tierflow-ctrl-c", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(-1)
        writer.close()
        watcher.join()
        reader.close()
