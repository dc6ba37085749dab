"""Output that cannot be written. A reader that stops early
(``tierflow … | head -1``) ends the command quietly, as click does: no
``Error: : Broken pipe`` line (the group turned every ``OSError`` into a
message naming its file, and a closed pipe has none)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import IO

import pytest

from tests.conftest import ROOT, TINY_NETWORK


def _validate_to(stdout: int | IO[str]) -> subprocess.CompletedProcess[str]:
    """``tierflow network validate`` of the tiny network, printing to ``stdout``."""
    return subprocess.run(
        [sys.executable, "-c", "from tierflow.cli.entry import main; main()",
         "network", "validate", str(TINY_NETWORK)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_a_closed_stdout_is_no_error_line() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the command prints
    try:
        proc = _validate_to(write)
    finally:
        os.close(write)
    assert "Error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1  # click's exit for EPIPE


def test_a_full_stdout_is_one_line_without_an_empty_file_name() -> None:
    """``tierflow … > /dev/full``: the OSError names no file; the line said
    ``Error: : No space left on device``."""
    with open("/dev/full", "w") as full:
        proc = _validate_to(full)
    assert proc.stderr == "Error: No space left on device\n", proc.stderr
    assert proc.returncode == 1


@pytest.mark.parametrize("asked", ["--help", "--version", "--example-config"])
def test_a_full_stdout_for_the_roots_own_answers_is_one_line(asked: str) -> None:
    """``tierflow --example-config > tierflow.toml`` on a full disk: the
    root's eager options answer before any command runs, where the group's
    ``OSError`` handling did not reach; each ended in a traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-c", "from tierflow.cli.entry import main; main()", asked],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert proc.stderr == "Error: No space left on device\n", proc.stderr
    assert proc.returncode == 1
