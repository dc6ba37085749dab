"""Ctrl-C stops ``tierflow`` with one line and exit 130, whether it comes
while the commands' modules are still being imported (it printed a
``KeyboardInterrupt`` traceback from inside an import) or once a command
runs (click's "Aborted!", exit 1); a ``cltv retrain`` stopped so is finished
by the next run.

The tests run the console script as ``[project.scripts]`` declares it, in a
real process, and send SIGINT at a moment they observe rather than after a
sleep: while importing, once numpy's core is mapped into the process (it is
loaded by tierflow's own imports, about 0.1 s into their 1.6 s, and by
nothing before them); while running, once the command has logged that it
started. SIGINT then goes every 20 ms until the process ends, as a user
pressing Ctrl-C again would. The interpreter's own start (about 20 ms,
before any tierflow code runs, so before any handler of ours can exist) is
not covered: a SIGINT there is Python's ("Fatal Python error:
init_import_site").
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.cli.test_allocate import _write_orders
from tests.cltv.test_registry import _snapshot
from tests.conftest import ROOT, TINY_NETWORK
from tests.locked_store import locked_by_another_process
from tierflow.cli.entry import (
    INTERRUPTED_EXIT,
    INTERRUPTED_MESSAGE,
    TERMINATED_EXIT,
    TERMINATED_MESSAGE,
)
from tierflow.cli.main import cli
from tierflow.cli.state_location import STORE_WAIT_ENV
from tierflow.cltv.features import load_customer_data
from tierflow.cltv.lifecycle import retrain
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)
from tierflow.data.transactions import day_number

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/maps").exists(), reason="watches /proc/PID/maps (Linux)"
)

#: A shared library that only tierflow's imports load (numpy's core).
_IMPORTING = "_multiarray_umath"


def _console_script(*args: str) -> subprocess.Popen[str]:
    """``tierflow ARGS`` as the installed script runs it: the entry point of
    ``pyproject.toml``, imported and called."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        entry = tomllib.load(f)["project"]["scripts"]["tierflow"]
    module, func = entry.split(":")
    code = f"import sys; from {module} import {func}; sys.exit({func}())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _as_module(*args: str) -> subprocess.Popen[str]:
    """``python -m tierflow.cli.entry ARGS``: the console script's module run
    as ``__main__``, as from a checkout without installing the script."""
    return subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.entry", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt_until_it_ends(
    proc: subprocess.Popen[str], signum: int = signal.SIGINT
) -> tuple[str, str]:
    """``signum`` (SIGINT: Ctrl-C) every 20 ms until ``proc`` ends; the rest
    of its stdout and stderr (read from the file objects: a caller may have
    read lines)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None:
        assert time.monotonic() < deadline, (
            f"{signal.Signals(signum).name} did not stop it"
        )
        proc.send_signal(signum)
        time.sleep(0.02)
    assert proc.stdout is not None and proc.stderr is not None
    with proc:
        return proc.stdout.read(), proc.stderr.read()


def _mapped(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_ctrl_c_while_importing_is_one_line_and_130() -> None:
    # a command that runs (``--help`` imports none of the stack any more)
    gap = ROOT / "benchmarks" / "data" / "gap" / "gap1.txt"
    proc = _console_script("solve", str(gap), "--engine", "greedy")
    deadline = time.monotonic() + 60
    while not _mapped(proc.pid, _IMPORTING):
        assert proc.poll() is None, "it ended before its imports could be seen"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    out, err = _interrupt_until_it_ends(proc)
    assert out == ""  # the solve never ran: it would have printed its table
    assert "Traceback" not in err, err
    assert err == f"{INTERRUPTED_MESSAGE}\n"
    assert proc.returncode == INTERRUPTED_EXIT


#: How a stop signal ends a run: its last line on stderr, its exit status.
_ENDS = {
    signal.SIGINT: (INTERRUPTED_MESSAGE, INTERRUPTED_EXIT),
    signal.SIGTERM: (TERMINATED_MESSAGE, TERMINATED_EXIT),
}


@pytest.mark.parametrize(
    ("launch", "signum"),
    [
        (_console_script, signal.SIGINT),
        (_as_module, signal.SIGINT),
        (_console_script, signal.SIGTERM),
    ],
    ids=["script-int", "module-int", "script-term"],
)
def test_ctrl_c_while_a_command_runs_is_the_same_line_and_130(
    tmp_path: Path, launch: Callable[..., subprocess.Popen[str]], signum: int
) -> None:
    """Also run as ``python -m tierflow.cli.entry``: the module is then
    ``__main__``, a copy of ``tierflow.cli.entry`` whose ``Interrupted`` the
    commands do not raise (they raised the package module's, which nothing
    caught: a traceback, exit 1). SIGTERM (``kill``, systemd) ended the run
    at once, killed by the signal, with no clean-up: it is taken as Ctrl-C
    is, "tierflow: terminated", 143."""
    orders = _write_orders(tmp_path / "orders.csv", 400, seed=2)
    out_dir = tmp_path / "out"
    proc = launch(
        "allocate", "--network", str(TINY_NETWORK), "--orders", str(orders),
        "--engine", "cpsat", "--batch-size", "1", "--time-limit", "1",
        "--out", str(out_dir),
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the progress log: the command has started
        seen.append(line)
        if "allocate: started" in line:
            break
    else:
        pytest.fail("no 'allocate: started' line:\n" + "".join(seen))
    out, err = _interrupt_until_it_ends(proc, signum)
    assert "Traceback" not in err and "Aborted!" not in err, err
    assert (err.splitlines()[-1], proc.returncode) == _ENDS[signal.Signals(signum)]
    assert out == ""
    assert not (out_dir / "allocations.csv").exists()  # stopped mid-way


def test_ctrl_c_in_cltv_retrain_leaves_a_version_the_next_run_finishes(
    tmp_path: Path,
) -> None:
    """Ctrl-C once the day's challenger is written (its backtest against the
    champion runs for seconds): 130, one line, the champion and RETRAIN.json
    as they were, the challenger whole and not current; the next run uses it
    as written, promotes it, and the one after says the day is done."""
    tx = tmp_path / "tx.csv"
    write_transactions(generate_transactions(2000, seed=5), tx)
    models = tmp_path / "models"
    args = ["cltv", "retrain", "--transactions", str(tx), "--model-dir", str(models)]
    args += ["--horizon-days", "60", "--json"]
    # the champion of a small model (the retrains train theirs with its
    # config; the command has no option for the model's size): the default
    # one made this test the file's slowest by far. Its backtest still runs
    # for seconds once the challenger is written (calibration and level are
    # the default's)
    data, _ = load_customer_data(tx)
    small = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
    first = retrain(
        data, day_number("2023-06-29"), ModelRegistry(models), horizon_days=60,
        config=small,
    )  # fmt: skip
    assert first.promoted
    champion = first.champion
    before = _snapshot(models)

    proc = _console_script(*args, "--as-of", "2023-06-30")
    deadline = time.monotonic() + 120
    while not (new := ModelRegistry(models).versions()[1:]):
        assert proc.poll() is None, "it ended before its challenger could be seen"
        assert time.monotonic() < deadline
        time.sleep(0.0005)
    out, err = _interrupt_until_it_ends(proc)
    assert proc.returncode == INTERRUPTED_EXIT, err
    assert "Traceback" not in err and err.splitlines()[-1] == INTERRUPTED_MESSAGE
    assert out == ""
    (challenger,) = new
    written = _snapshot(models / challenger)
    left = {k: v for k, v in _snapshot(models).items() if not k.startswith(challenger)}
    assert left == before  # CURRENT, RETRAIN.json, the champion: untouched
    assert not list(models.glob(".tmp-*"))

    again = CliRunner().invoke(cli, [*args, "--as-of", "2023-06-30"])
    assert again.exit_code == 0, again.output
    record = json.loads(again.stdout)
    assert (record["challenger"], record["noop"], record["promoted"]) == (
        challenger, False, True,
    )  # fmt: skip
    assert record["champion_before"] == champion
    assert _snapshot(models / challenger) == written  # used as it was written
    done = CliRunner().invoke(cli, [*args, "--as-of", "2023-06-30"])
    assert json.loads(done.stdout)["noop"] is True


def _follow_feed(state: Path) -> subprocess.Popen[str]:
    """``tierflow capacity ingest --events - --follow`` on ``state`` (the
    tiny network), its stdin a pipe the test writes events to."""
    return subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.entry", "capacity", "ingest",
         "--network", str(TINY_NETWORK), "--state", str(state),
         "--events", "-", "--follow"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _send_event(proc: subprocess.Popen[str], event_id: str) -> None:
    """One event line to the feed."""
    assert proc.stdin is not None
    event = {"event_id": event_id, "ts": "2026-01-05T10:00:00Z",
             "node_id": "WH-EAST", "type": "backlog_delta", "value": 5}  # fmt: skip
    proc.stdin.write(json.dumps(event) + "\n")
    proc.stdin.flush()


def _events_logged(state: Path) -> int:
    """The events in the SQLite store's log (0 before it is made)."""
    import sqlite3

    if not state.exists():
        return 0
    with contextlib.closing(sqlite3.connect(state)) as conn:
        try:
            return int(
                conn.execute("SELECT count(*) FROM capacity_events").fetchone()[0]
            )
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def _until_logged(proc: subprocess.Popen[str], state: Path, n: int) -> None:
    """Wait until the store's log holds ``n`` events."""
    deadline = time.monotonic() + 60
    while _events_logged(state) < n:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_ctrl_c_stops_a_followed_feed_after_saying_what_it_applied(
    tmp_path: Path, signum: int
) -> None:
    """Ctrl-C is how a ``tail -f events | tierflow capacity ingest --events -
    --follow`` ends: it printed only "tierflow: interrupted", not the
    summary of what the feed had applied. A Ctrl-C that comes while a batch
    is applied is held until the batch is counted (one between the batch's
    commit and its count left a stored batch out of the summary). SIGTERM
    (a supervisor stopping the feed) ended it at once, with no summary: the
    same now, "tierflow: terminated", 143."""
    state = tmp_path / "state.db"
    proc = _follow_feed(state)
    for i in (1, 2):  # one batch each: the second sent once the first is in
        _send_event(proc, f"e{i}")
        _until_logged(proc, state, i)
    out, err = _interrupt_until_it_ends(proc, signum)
    assert proc.stdin is not None
    proc.stdin.close()
    assert "Traceback" not in err, err
    assert out == (
        "2 events applied, 0 duplicates ignored, 0 bad lines skipped, "
        "in 2 batches (log at seq 2)\n"
    )
    assert (err.splitlines()[-1], proc.returncode) == _ENDS[signal.Signals(signum)]


def _bytes_read(pid: int) -> int:
    """What process ``pid`` has read so far (``rchar`` of /proc/PID/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


@contextlib.contextmanager
def _writer_turn_taken(state: Path) -> Iterator[None]:
    """Another tierflow writer's turn (data/store/sqlite_writer_lock.py)
    held for the block."""
    import fcntl

    lock = os.open(f"{state}-writer", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


@pytest.mark.parametrize("holder", ["tierflow", "sqlite3"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_second_stop_signal_ends_a_feed_whose_batch_waits_for_the_store(
    tmp_path: Path, signum: int, holder: str
) -> None:
    """A stop signal is held while a batch is applied, and a batch waits
    for the store's write lock as long as another writer holds it (SQLite:
    up to ``$TIERFLOW_STORE_WAIT_S``, 60 s; PostgreSQL: for ever): Ctrl-C
    after Ctrl-C did nothing for all that time. A second signal
    ``INSIST_S`` after the first now stops the feed at once: the waiting
    batch (one transaction) is not stored, the summary says what was. So
    it does behind a lock of a program that is not tierflow (a ``sqlite3``
    shell's ``BEGIN IMMEDIATE``), which docs/cli.md said no signal cut (QA,
    2026-12-07: 1.65 s after the first SIGTERM, where one alone waited 58 s)."""
    from tierflow.cli.capacity_cmd import INSIST_S

    state = tmp_path / "state.db"
    proc = _follow_feed(state)
    _send_event(proc, "e1")
    _until_logged(proc, state, 1)
    with (
        _writer_turn_taken(state)
        if holder == "tierflow"
        else locked_by_another_process(state)
    ):
        read = _bytes_read(proc.pid)
        _send_event(proc, "e2")
        deadline = time.monotonic() + 30
        while _bytes_read(proc.pid) == read:  # the line taken off the pipe
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)  # its batch is waiting for the lock
        proc.send_signal(signum)
        time.sleep(INSIST_S + 0.3)
        assert proc.poll() is None  # held: the batch may be committing
        proc.send_signal(signum)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("a second stop signal left the feed waiting for the lock")
    out, err = _interrupt_until_it_ends(proc, signum)
    assert "Traceback" not in err, err
    assert out == (
        "1 event applied, 0 duplicates ignored, 0 bad lines skipped, "
        "in 1 batch (log at seq 1)\n"
    )
    assert (err.splitlines()[-1], proc.returncode) == _ENDS[signal.Signals(signum)]
    assert _events_logged(state) == 1  # the cut batch: not stored


@pytest.mark.parametrize("signum", [signal.SIGTERM], ids=["term"])
def test_a_stop_signal_ends_a_cpsat_solve_within_seconds(signum: int) -> None:
    """``tierflow solve --engine cpsat-plain --time-limit 60`` on a problem it
    cannot prove in that time: CP-SAT's search held the main thread in C++,
    so Ctrl-C waited for the time limit (26 s of 30, QA); the signal now
    stops the search. The signal goes once, 2 s after OR-Tools is loaded.
    (Ctrl-C in the same search, without the console script:
    ``test_a_stop_signal_stops_a_solver_run_within_seconds[cpsat]``.)"""
    proc = _console_script(
        "solve", str(ROOT / "benchmarks" / "data" / "gap" / "c10200.txt"),
        "--engine", "cpsat-plain", "--time-limit", "60", "--json",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _mapped(proc.pid, "ortools"):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(2.0)
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert "Traceback" not in err, err
    assert out == ""  # no result of the stopped search
    assert (err.splitlines()[-1], proc.returncode) == _ENDS[signal.Signals(signum)]
    assert waited < 10.0, waited


def test_bench_gap_that_fails_while_writing_leaves_the_last_run_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bench gap`` wrote results.csv and summary.md straight into OUT, then
    the plot: a stop in between left the new results beside the last run's
    plot. It writes through a staging folder now, as ``bench allocation``."""
    import tierflow.benchmarks.gap_bench as gap_bench

    gap = ROOT / "benchmarks" / "data" / "gap" / "gap1.txt"
    out = tmp_path / "gap"
    args = ["bench", "gap", str(gap), "--engines", "greedy", "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"results.csv", "summary.md", "gap_vs_time.png"}

    def stopped(*_: object) -> None:
        raise RuntimeError("stopped while writing")

    monkeypatch.setattr(gap_bench, "plot_gap_vs_time", stopped)
    assert CliRunner().invoke(cli, args).exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


#: A command whose stop signal lands inside a weakref callback (as in an
#: import's module-lock callback), where Python prints and drops what the
#: handler raises; then it would run on for 20 s.
_SWALLOWED = """
import os, signal, sys, time, weakref
from tierflow.cli.entry import main

def commands():
    class Lock:
        pass

    def landed(ref):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs in here

    lock = Lock()
    ref = weakref.ref(lock, landed)
    del lock
    time.sleep(20)
    print("ran on")

main(commands)
"""


def test_a_stop_signal_python_swallowed_still_stops_the_run() -> None:
    """SIGTERM 0.7 s into ``tierflow serve`` (1 of 20 tries, QA 2026-12-07)
    landed in an import's weakref callback: Python printed "Exception
    ignored in ... Terminated" with a traceback, dropped it, and the server
    started and served on. The signal is sent again; the run ends as any
    stopped run does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SWALLOWED],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert (out, err) == ("", f"{TERMINATED_MESSAGE}\n")
    assert proc.returncode == TERMINATED_EXIT


@contextlib.contextmanager
def _ingest_behind_a_foreign_lock(
    tmp_path: Path, wait_s: str
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``capacity ingest`` into a store whose write lock a ``sqlite3`` shell
    holds (SQLite's lock, not tierflow's turn), once it has opened the store
    (its ``-writer`` file) and 0.5 s more: waiting for the lock."""
    events = tmp_path / "events.jsonl"
    line = '{{"event_id": "{}", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", '
    line += '"type": "backlog", "value": 10}}\n'
    state = tmp_path / "state.db"
    args = ["capacity", "ingest", "--events", str(events), "--state", str(state)]
    args += ["--network", str(TINY_NETWORK)]
    events.write_text(line.format("e1"))
    assert CliRunner().invoke(cli, args).exit_code == 0
    events.write_text(line.format("e2"))
    with (
        locked_by_another_process(state),
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv(STORE_WAIT_ENV, wait_s)
        proc = _console_script(*args)
        try:
            writer = f"{state}-writer"
            deadline = time.monotonic() + 60
            while writer not in _open_files(proc.pid):
                # the store open: its write comes next
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.5)
            assert proc.poll() is None
            yield proc, state
        finally:
            if proc.poll() is None:  # a test that failed: no process left
                proc.kill()
                proc.communicate()


def _open_files(pid: int) -> list[str]:
    """The files ``pid`` has open. A descriptor closed between the listing
    and its read is skipped: reading it raised FileNotFoundError, failed the
    test, and left the process running (a fresh clone's CI, 2026-12-07)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return []
    files = []
    for fd in fds:
        try:
            files.append(os.path.realpath(fd, strict=True))
        except OSError:  # closed since it was listed
            continue
    return files


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_stop_signal_ends_a_wait_for_another_programs_lock_at_once(
    tmp_path: Path, signum: int
) -> None:
    """A write behind a lock another program holds (a ``sqlite3`` shell in
    ``BEGIN IMMEDIATE``, which takes no tierflow turn) was waited out in
    SQLite's busy handler, in C: Ctrl-C or SIGTERM was acted on only when
    the store's wait ran out (8.6 s after SIGINT in a 10 s wait). SQLite now
    waits 0.1 s at a time (``ATTEMPT_S``) and Python the rest."""
    with _ingest_behind_a_foreign_lock(tmp_path, "30") as (proc, state):
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    assert waited < 1.0, waited
    assert "Traceback" not in err, err
    assert out == ""
    assert (err, proc.returncode) == (
        f"{_ENDS[signal.Signals(signum)][0]}\n",
        _ENDS[signal.Signals(signum)][1],
    )
    assert _events_logged(state) == 1  # nothing written


def test_a_wait_for_another_programs_lock_still_runs_its_length(
    tmp_path: Path,
) -> None:
    """Uninterrupted, the wait runs the whole ``$TIERFLOW_STORE_WAIT_S``
    (many of SQLite's 0.1 s attempts) and says so, as before."""
    with _ingest_behind_a_foreign_lock(tmp_path, "1.5") as (proc, state):
        opened = time.monotonic() - 0.5
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - opened
    assert 1.5 <= took < 5.0, took
    assert (out, proc.returncode) == ("", 1)
    assert err == (
        f"Error: {state}: locked by another process; gave up after waiting "
        "1.5 s for its write lock\n"
    )
    assert _events_logged(state) == 1


def _rows(state: Path | str, table: str) -> int:
    """The rows of ``table`` in the store at ``state`` (SQLite file or
    PostgreSQL URL) as another process reads them: committed rows only; 0
    before the store or its table is made."""
    if isinstance(state, str):
        import psycopg

        with psycopg.connect(state, autocommit=True) as conn:
            try:
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
            return int(row[0]) if row else 0
    import sqlite3

    if not state.exists():
        return 0
    with contextlib.closing(sqlite3.connect(state)) as conn:
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def _stop_once_committed(
    proc: subprocess.Popen[str], state: Path | str, table: str, n: int, signum: int
) -> tuple[str, str, bool]:
    """``signum`` to ``proc`` as soon as ``table`` holds ``n`` committed rows
    (the command's write is stored, its summary not yet printed); its stdout,
    stderr, and whether it still ran when the signal went."""
    deadline = time.monotonic() + 120
    while _rows(state, table) < n and proc.poll() is None:
        assert time.monotonic() < deadline
    running = proc.poll() is None
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return out, err, running


def _said_and_stopped(
    out: str, err: str, returncode: int, signum: int, running: bool
) -> dict[str, Any]:
    """The command's JSON summary, checked: printed whether or not the
    signal (sent after the commit) stopped it, and then its usual end."""
    assert "Traceback" not in err, err
    assert out, f"stored, but no summary: {err!r} (exit {returncode})"
    if returncode != 0:
        assert (err.splitlines()[-1], returncode) == _ENDS[signal.Signals(signum)]
    else:
        assert not running or err == "", err
    summary: dict[str, Any] = json.loads(out)
    return summary


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_stock_load_stopped_after_its_commit_still_prints_its_summary(
    tmp_path: Path,
    sample_network: Any,
    state_location: Path | str,
    signum: int,
) -> None:
    """A stop signal after ``stock load`` committed said "interrupted" alone
    (exit 130/143, no summary; about 30 ms of a 15k-row load): a user re-ran
    the receipt (``--mode add``, no ``--change-id``) and it was added twice.
    Once written, the load prints its summary, then stops with the signal."""
    inventory = tmp_path / "big.csv"
    positions = [
        (node, sku) for node in sorted(sample_network.node_ids)
        for sku in sorted(sample_network.sku_ids)
    ][:15_000]  # fmt: skip
    inventory.write_text(
        "node_id,sku,on_hand\n" + "".join(f"{n},{s},3\n" for n, s in positions)
    )
    proc = _console_script(
        "stock", "load", "--inventory", str(inventory), "--mode", "add",
        "--state", str(state_location), "--json",
    )  # fmt: skip
    out, err, running = _stop_once_committed(
        proc, state_location, "inventory", len(positions), signum
    )
    assert _rows(state_location, "inventory") == len(positions)
    summary = _said_and_stopped(out, err, proc.returncode, signum, running)
    assert summary["file"] == "big.csv", summary


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_capacity_ingest_stopped_after_its_commit_still_prints_its_summary(
    tmp_path: Path,
    sample_network: Any,
    state_location: Path | str,
    signum: int,
) -> None:
    """As a stock load: ``capacity ingest`` (not ``--follow``) stopped after
    its commit printed no summary, its events stored. Now the summary, then
    the stop, as ``--follow`` does for a batch."""
    events = tmp_path / "big.jsonl"
    nodes = sorted(sample_network.node_ids)
    n = 20_000
    event = {"ts": "2026-01-05T10:00:00Z", "type": "backlog_delta", "value": 1}
    lines = (
        json.dumps({"event_id": f"e{i}", "node_id": nodes[i % len(nodes)], **event})
        for i in range(n)
    )
    events.write_text("".join(f"{line}\n" for line in lines))
    proc = _console_script(
        "capacity", "ingest", "--events", str(events),
        "--state", str(state_location), "--json",
    )  # fmt: skip
    out, err, running = _stop_once_committed(
        proc, state_location, "capacity_events", n, signum
    )
    assert _rows(state_location, "capacity_events") == n
    summary = _said_and_stopped(out, err, proc.returncode, signum, running)
    assert summary["applied"] == n, summary


@contextlib.contextmanager
def _locked_inventory(state: Path | str) -> Iterator[Callable[[], bool]]:
    """The store's stock locked by another process for the block (SQLite: a
    ``sqlite3`` shell's write lock; PostgreSQL: a session's ``LOCK TABLE``
    in a transaction left open); yields whether a session now waits for it
    (PostgreSQL; SQLite: always, the caller watches the process)."""
    if not isinstance(state, str):
        with locked_by_another_process(state):
            yield lambda: True
        return
    import psycopg

    with psycopg.connect(state) as holder, psycopg.connect(state) as watch:
        watch.autocommit = True
        holder.execute("LOCK TABLE inventory IN ACCESS EXCLUSIVE MODE")

        def waited_for() -> bool:
            row = watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            found = row.fetchone()
            return bool(found and found[0])

        try:
            yield waited_for
        finally:
            holder.rollback()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_stock_load_waiting_for_another_programs_lock_stops_at_once(
    tmp_path: Path, state_location: Path | str, signum: int
) -> None:
    """The signal a stock load holds until its summary must not hold a wait
    for a lock another program has (the store's wait, or PostgreSQL's with
    no limit): the wait ends at once, nothing written, no summary."""
    inventory = tmp_path / "receipt.csv"
    inventory.write_text("node_id,sku,on_hand\nWH-EAST,MUG,5\n")
    args = ["stock", "load", "--inventory", str(inventory), "--mode", "add"]
    args += ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    with (
        _locked_inventory(state_location) as waited_for,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv(STORE_WAIT_ENV, "30")
        proc = _console_script(*args)
        try:
            deadline = time.monotonic() + 60
            opened = f"{state_location}-writer"
            while not (
                waited_for()
                if isinstance(state_location, str)
                else opened in _open_files(proc.pid)
            ):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.5)
            assert proc.poll() is None
            sent = time.monotonic()
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=30)
            waited = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert waited < 1.0, waited
    assert "Traceback" not in err, err
    assert out == ""
    assert (err, proc.returncode) == (
        f"{_ENDS[signal.Signals(signum)][0]}\n",
        _ENDS[signal.Signals(signum)][1],
    )
    assert _rows(state_location, "inventory") == 1  # the first load alone
