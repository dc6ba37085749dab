"""The ``tierflow`` console script: Ctrl-C at any moment is one line, exit 130;
SIGTERM (``kill``, systemd, ``docker stop``) the same clean stop, exit 143.

A command's modules take a second or two to import (pandas, OR-Tools,
scikit-learn; :mod:`tierflow.cli.main` imports only the one that runs); a
Ctrl-C meanwhile raised ``KeyboardInterrupt`` inside an import, before any
handler of ours existed, and printed a traceback. So this module imports
nothing but the standard library before it takes SIGINT, and the commands
(:mod:`tierflow.cli.main`) only after. A Ctrl-C once click runs is carried
past click, which would print "Aborted!" and exit 1, to the same handler
(:class:`Interrupted`). What no program can cover is the interpreter's own
start, before this module runs (a few tens of milliseconds).

SIGTERM ended a command at once, with no clean-up: a CBC child ran on to
its time limit, a staged output folder stayed, ``capacity ingest --follow``
said nothing of what it had applied. It is taken as Ctrl-C is
(:class:`Terminated`, a ``KeyboardInterrupt``), so every clean-up a Ctrl-C
gets runs, and the run ends ``tierflow: terminated``, 128 + 15. ``serve``
takes SIGTERM itself while it serves.

A reader that stops early (``tierflow … | head -1``) ends the run as it
ends a Unix tool: exit 141 (128 + SIGPIPE), nothing on stderr. click exits
1 on a closed pipe, our exit for bad input, so ``set -o pipefail`` read it
as an invalid network (:class:`ClosedPipe`).
"""

from __future__ import annotations

import errno
import io
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

#: Exit status of a run stopped by Ctrl-C: 128 + SIGINT, as shells report it.
INTERRUPTED_EXIT = 130
#: The one line a stopped run prints (stderr).
INTERRUPTED_MESSAGE = "tierflow: interrupted"
#: Exit status of a run stopped by SIGTERM: 128 + SIGTERM.
TERMINATED_EXIT = 143
#: The one line a run stopped by SIGTERM prints (stderr).
TERMINATED_MESSAGE = "tierflow: terminated"
#: Exit status of a run whose reader closed standard output (``| head -1``):
#: 128 + SIGPIPE, what a shell reports of a Unix tool the closed pipe ended.
CLOSED_PIPE_EXIT = 141

#: Set once the run is stopping: a Ctrl-C more is then ignored, not a
#: ``KeyboardInterrupt`` (and its traceback) inside the handler.
_stopping = False
#: Set by SIGTERM's handler: the run ends as terminated, not interrupted.
_terminated = False


class Interrupted(BaseException):
    """A Ctrl-C carried past click's own handling to :func:`main` (click
    turns ``KeyboardInterrupt`` into "Aborted!", exit 1)."""


class ClosedPipe(BaseException):
    """Standard output's reader gone, carried past click (which exits 1 on
    ``EPIPE``) to :func:`main`, which exits :data:`CLOSED_PIPE_EXIT`."""


def stdout_closed() -> bool:
    """Whether standard output is a pipe (or socket) whose reader has gone.

    An ``EPIPE`` may come from another pipe (a solver child, a socket):
    only standard output's own is the quiet exit 141, so it is asked
    directly (``poll`` reports ``POLLERR`` on a pipe with no reader).
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no stdout, or not a file
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's ``KeyboardInterrupt`` would be, so that
    every clean-up written for Ctrl-C runs for it too."""


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Python's own Ctrl-C (``KeyboardInterrupt``), until the run is stopping."""
    if not _stopping:
        raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C (:class:`Terminated`), until the run is stopping."""
    global _terminated
    if not _stopping:
        _terminated = True
        raise Terminated


def _stop_swallowed(unraisable: Any) -> None:
    """``sys.unraisablehook``: a stop that Python swallowed is sent again.

    A signal's handler runs between any two bytecodes, also inside a
    callback whose exception Python only prints ("Exception ignored in",
    a traceback) and drops: an import's module-lock weakref callback, a
    ``__del__``. A SIGTERM 0.7 s into ``tierflow serve`` landed in one
    (1 of 20 tries, QA 2026-12-07): a traceback, and the server started and
    served on. The signal goes again :data:`STOP_AGAIN_S` later (the
    callback has returned), until it lands where it stops the run.
    """
    exc = unraisable.exc_value
    if not isinstance(exc, KeyboardInterrupt):
        _unraisable(unraisable)
        return
    if _stopping:
        return
    signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
    # from a timer: a thread's start waits for it, and a signal it sent at
    # once landed in this hook (which Python drops too)
    again = threading.Timer(STOP_AGAIN_S, os.kill, (os.getpid(), signum))
    again.daemon = True
    again.start()


#: How long after a stop Python swallowed it is sent again.
STOP_AGAIN_S = 0.05
#: The hook :func:`_stop_swallowed` hands every other exception to.
_unraisable = sys.unraisablehook


def main(commands: Callable[[], None] | None = None) -> None:
    """Console-script entry point: SIGINT taken, then ``commands`` (default:
    :func:`tierflow.cli.main.run`, imported only now) run."""
    global _stopping
    sys.unraisablehook = _stop_swallowed
    try:
        # taken before any import of tierflow's commands; a SIGINT the parent
        # ignores (``nohup``, a shell's background job) stays ignored
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        _buffer_stdout()
        try:
            (commands or _commands)()
        except SystemExit as exc:  # click's way to end every run
            _flush_stdout(exc.code)
            raise
        _flush_stdout()
    except (KeyboardInterrupt, Interrupted):
        _stopping = True  # first: no bytecode before it lets a signal in
        _stopped()
    except ClosedPipe:
        _closed_pipe()


def _commands() -> None:
    """The commands (the one that runs is imported by click), then click."""
    from tierflow.cli.main import run

    run()


def _buffer_stdout() -> None:
    """Standard output through a buffer, also under ``PYTHONUNBUFFERED``
    (``python -u``, common in containers), flushed at each line as there.

    Unbuffered, Python hands text straight to the file descriptor and drops
    the count of a short write: output cut by a closed pipe or a full disk
    was lost without an error, exit 0. A buffer writes the rest, and so
    meets the error.
    """
    out = sys.stdout
    if out is None or not isinstance(getattr(out, "buffer", None), io.RawIOBase):
        return
    raw = io.FileIO(out.fileno(), "w", closefd=False)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=out.encoding,
        errors=out.errors,
        line_buffering=True,
    )


def _flush_stdout(status: object = 0) -> None:
    """What is still buffered for standard output written while the run can
    still answer for it (at the interpreter's shutdown a failure is an
    "Exception ignored" line and exit 120).

    A run that ends with an error (``status``) keeps its own; one that was
    to succeed ends as a closed pipe, or with the error in one line.
    """
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        closed = exc.errno == errno.EPIPE and stdout_closed()
        _stdout_to_devnull()  # what stays buffered is not written again
        if status not in (0, None):
            return
        if closed:
            raise ClosedPipe from None
        sys.stderr.write(f"Error: {exc.strerror or exc}\n")
        raise SystemExit(1) from None


def _closed_pipe() -> NoReturn:
    """Exit :data:`CLOSED_PIPE_EXIT`, with nothing more written."""
    _stdout_to_devnull()
    raise SystemExit(CLOSED_PIPE_EXIT)


def _stdout_to_devnull() -> None:
    """Standard output pointed at ``os.devnull`` (Python's docs on SIGPIPE):
    what is still buffered for it goes there at shutdown, not into an
    "Exception ignored … BrokenPipeError" line."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _stopped() -> None:
    """One line on stderr, after the terminal's ``^C`` echo; exit 130 (143
    after SIGTERM).

    A Ctrl-C or SIGTERM more is ignored from here on: the interpreter's
    shutdown puts back the OS default of a Python handler (not of an
    ignored signal), and one then would end the process as killed by the
    signal, not 130.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _terminated:
        sys.stderr.write(f"{TERMINATED_MESSAGE}\n")
        sys.stderr.flush()
        raise SystemExit(TERMINATED_EXIT)
    start = "\n" if sys.stderr.isatty() else ""
    sys.stderr.write(f"{start}{INTERRUPTED_MESSAGE}\n")
    sys.stderr.flush()
    raise SystemExit(INTERRUPTED_EXIT)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m tierflow.cli.entry``: this file runs as ``__main__``, a copy
    # of the module; the commands raise ``tierflow.cli.entry.Interrupted``,
    # which this copy's ``main`` would not catch (a traceback, exit 1), so
    # the module's own ``main`` runs (it imports only the standard library)
    from tierflow.cli.entry import main as _main

    _main()
