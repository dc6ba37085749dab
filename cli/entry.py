"""The ``tierflow`` console script: Ctrl-C at any moment is one line, exit 130.

A command's modules take a second or two to import (pandas, OR-Tools,
scikit-learn; :mod:`tierflow.cli.main` imports only the one that runs); a
Ctrl-C meanwhile raised ``KeyboardInterrupt`` inside an import, before any
handler of ours existed, and printed a traceback. So this module imports
nothing but the standard library before it takes SIGINT, and the commands
(:mod:`tierflow.cli.main`) only after. A Ctrl-C once click runs is carried
past click, which would print "Aborted!" and exit 1, to the same handler
(:class:`Interrupted`). What no program can cover is the interpreter's own
start, before this module runs (a few tens of milliseconds).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType

#: Exit status of a run stopped by Ctrl-C: 128 + SIGINT, as shells report it.
INTERRUPTED_EXIT = 130
#: The one line a stopped run prints (stderr).
INTERRUPTED_MESSAGE = "tierflow: interrupted"

#: Set once the run is stopping: a Ctrl-C more is then ignored, not a
#: ``KeyboardInterrupt`` (and its traceback) inside the handler.
_stopping = False


class Interrupted(BaseException):
    """A Ctrl-C carried past click's own handling to :func:`main` (click
    turns ``KeyboardInterrupt`` into "Aborted!", exit 1)."""


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Python's own Ctrl-C (``KeyboardInterrupt``), until the run is stopping."""
    if not _stopping:
        raise KeyboardInterrupt


def main(commands: Callable[[], None] | None = None) -> None:
    """Console-script entry point: SIGINT taken, then ``commands`` (default:
    :func:`tierflow.cli.main.run`, imported only now) run."""
    global _stopping
    try:
        # taken before any import of tierflow's commands; a SIGINT the parent
        # ignores (``nohup``, a shell's background job) stays ignored
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)
        (commands or _commands)()
    except (KeyboardInterrupt, Interrupted):
        _stopping = True  # first: no bytecode before it lets a signal in
        _stopped()


def _commands() -> None:
    """The commands (the one that runs is imported by click), then click."""
    from tierflow.cli.main import run

    run()


def _stopped() -> None:
    """One line on stderr, after the terminal's ``^C`` echo; exit 130.

    A Ctrl-C more is ignored from here on: the interpreter's shutdown puts
    back the OS default of a Python handler (not of an ignored signal), and
    a Ctrl-C then would end the process as killed by SIGINT, not 130.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
