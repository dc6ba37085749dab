"""Output that cannot be written. A reader that stops early
(``tierflow … | head -1``) ends the command as it ends a Unix tool: exit 141
(128 + SIGPIPE), nothing on stderr. It was exit 1, our exit for bad input,
so ``set -o pipefail`` read a closed pipe as an invalid network; before that
an ``Error: : Broken pipe`` line (the group turned every ``OSError`` into a
message naming its file, and a closed pipe has none)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

import click
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, TINY_NETWORK
from tierflow.cli.entry import CLOSED_PIPE_EXIT
from tierflow.cli.main import _output_error, cli

#: ``tierflow`` as the console script runs it.
_TIERFLOW = [sys.executable, "-c", "from tierflow.cli.entry import main; main()"]


def _env(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``PYTHONPATH`` set and ``changes``
    made (``None``: unset)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in changes.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return env


def _to_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """``tierflow ARGS`` printing to a pipe whose reader has gone already."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [*_TIERFLOW, *args], cwd=ROOT, env=_env(), stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)


def _tierflow(*args: str) -> str:
    """``tierflow ARGS``, which must succeed; its stdout."""
    done = subprocess.run(
        [*_TIERFLOW, *args], cwd=ROOT, env=_env(), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


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
    assert proc.stderr == ""
    assert proc.returncode == CLOSED_PIPE_EXIT == 141  # as `yes | head -1`


@pytest.fixture(scope="module")
def _sample_stock(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the sample network's stock (15,345 positions), loaded
    once for the module by ``tierflow stock load``: a test copies it (a load
    is 1.5 s of CPU)."""
    state = tmp_path_factory.mktemp("sample_stock") / "state.db"
    inventory = sample_dir / "inventory.csv"
    _tierflow("stock", "load", "--inventory", str(inventory), "--state", str(state))
    return state


@pytest.mark.parametrize("unbuffered", ["1", None], ids=["unbuffered", "buffered"])
def test_a_long_output_cut_by_its_reader_ends_as_a_closed_pipe(
    tmp_path: Path, _sample_stock: Path, unbuffered: str | None
) -> None:
    """``tierflow stock show | head -c 10``: 15,345 positions (0.7 MB), the
    reader gone after 10 bytes, mid-write. Under ``PYTHONUNBUFFERED`` (as in
    many containers) Python dropped the short write's count: the output was
    cut without an error, exit 0."""
    state = tmp_path / "state.db"
    shutil.copyfile(_sample_stock, state)
    with subprocess.Popen(
        [*_TIERFLOW, "stock", "show", "--state", str(state)],
        cwd=ROOT, env=_env(PYTHONUNBUFFERED=unbuffered),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as show:  # fmt: skip
        assert show.stdout is not None and show.stderr is not None
        assert show.stdout.read(10) == "node_id  s"  # sku's column next
        show.stdout.close()
        stderr = show.stderr.read()
        assert show.wait(timeout=120) == CLOSED_PIPE_EXIT
    assert stderr == ""


def test_a_store_written_before_a_closed_pipe_is_written_whole(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``tierflow stock load … | head -0``: the store is written, then the
    figures printed; the reader's going ends the run 141 with the receipt
    stored, all of it."""
    count, receipt = tmp_path / "count.csv", tmp_path / "receipt.csv"
    count.write_text("node_id,sku,on_hand\nWH-EAST,TEE,50\nWH-WEST,SPRAY,20\n")
    receipt.write_text("node_id,sku,on_hand\nWH-EAST,TEE,7\nWH-WEST,SPRAY,-3\n")
    net = ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    # the count before and the read after in this process (a child each
    # was 1.5 s of CPU): only the receipt's run writes to the closed pipe
    loaded = CliRunner().invoke(cli, ["stock", "load", *net, "--inventory", str(count)])
    assert loaded.exit_code == 0, loaded.output
    proc = _to_closed_pipe("stock", "load", *net, "--inventory", str(receipt),
                           "--mode", "add")  # fmt: skip
    assert (proc.returncode, proc.stderr) == (CLOSED_PIPE_EXIT, "")
    read = CliRunner().invoke(cli, ["stock", "show", *net, "--json"])
    assert read.exit_code == 0, read.output
    shown = json.loads(read.stdout)
    on_hand = {(r["node_id"], r["sku"]): r["on_hand"] for r in shown}
    assert (on_hand[("WH-EAST", "TEE")], on_hand[("WH-WEST", "SPRAY")]) == (57, 17)


@pytest.mark.parametrize("asked", ["--help", "--version", "--example-config"])
def test_the_roots_own_answers_to_a_closed_pipe_end_as_one(asked: str) -> None:
    """``tierflow --help | head -1``: answered before any command runs."""
    proc = _to_closed_pipe(asked)
    assert (proc.returncode, proc.stderr) == (CLOSED_PIPE_EXIT, "")


def test_a_broken_pipe_that_is_not_stdout_is_an_error_line() -> None:
    """An ``EPIPE`` from another pipe (a solver child, a socket) while
    standard output is open is an error, not the quiet exit of ``| head``."""
    error = _output_error(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    assert isinstance(error, click.ClickException)
    assert error.format_message() == "Broken pipe"


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
