"""``tierflow`` commands run in the test's process, for the tests that
check how a command refuses (no new interpreter's imports per run)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence

from click.testing import CliRunner, Result

from tierflow.cli.main import cli
from tierflow.cli.serve_cmd import API_KEY_ENV

#: The API key a ``serve`` run in a test reads from its environment.
TEST_API_KEY = "cli-test-key-0123456789"


def invoke_stopped_after(args: Sequence[str], seconds: float) -> Result:
    """``tierflow *args`` through click's CliRunner, with the test API key.
    Should the command not end (a server that serves instead of refusing),
    a Ctrl-C to this process after ``seconds`` stops it, with its workers,
    and its exit code and output fail the test."""
    watchdog = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    watchdog.start()
    try:
        return CliRunner().invoke(
            cli, list(args), prog_name="tierflow", env={API_KEY_ENV: TEST_API_KEY}
        )
    finally:
        watchdog.cancel()
