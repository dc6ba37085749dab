"""``tierflow capacity ingest --events - --follow``: a live feed applies each
event as its line arrives (before the stream ends), skips and reports a bad
line by its number, and never applies an event id twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.conftest import TINY_NETWORK, untimed_lines
from tierflow.capacity.events import CapacityEvent
from tierflow.capacity.feed import FeedTotals, follow_events, pipe_lines
from tierflow.capacity.monitor import CapacityMonitor, IngestResult
from tierflow.cli.state_location import STORE_WAIT_ENV
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import StoreUnavailable, describe_location, open_store
from tierflow.data.store.local_postgres import LocalPostgres, memory_folder

#: How ``ingest --follow`` says a bad line (a warning record, after its time).
SKIPPED = "WARNING tierflow.cli.capacity: skipped: "


def _line(n: int, value: float) -> str:
    return json.dumps({
        "event_id": f"f{n}", "ts": f"2026-01-05T1{n}:00:00Z", "node_id": "ST-CHI",
        "type": "staffing", "value": value,
    }) + "\n"  # fmt: skip


def _seq(state: Path | str) -> int:
    with open_store(state) as store:
        return store.last_event_seq()


def test_a_piped_feed_is_applied_as_it_arrives(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    command = [
        str(Path(sys.executable).with_name("tierflow")), "capacity", "ingest",
        "--network", str(TINY_NETWORK), "--state", str(state), "--events", "-",
        "--follow",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    tick = threading.Event()
    for n, line in enumerate([_line(1, 80), "not json\n", _line(2, 70)], start=1):
        proc.stdin.write(line)
        proc.stdin.flush()
        if n != 2:  # each event is in the store while the feed is still open
            for _ in range(600):
                if state.exists() and _seq(state) == (1 if n == 1 else 2):
                    break
                tick.wait(0.05)
            assert _seq(state) == (1 if n == 1 else 2)
    proc.stdin.write(_line(1, 80))  # a repeat: ignored
    proc.stdin.write(_line(2, 10))  # f2's id with another value: refused
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # lines were skipped
    assert untimed_lines(err) == [
        f"{SKIPPED}<stdin>: row 2: not JSON (Expecting value: column 1)",
        f"{SKIPPED}<stdin>: row 5: field 'event_id': value 'f2': event id already "
        "used by the logged event seq 2 with different content",
    ]
    assert out.startswith("2 events applied, 1 duplicate ignored, 2 bad lines skipped")
    assert out.endswith("(log at seq 2)\n")


def test_follow_batches_and_reports(tiny_network: Network) -> None:
    """Bad lines (blank ones are skipped silently) are reported by line and
    skipped: an invalid event, bytes that are not UTF-8, an event id used
    before with other content (its batch's other events still apply)."""
    mon = CapacityMonitor(tiny_network)
    bad: list[InputError] = []
    reused = _line(1, 60).encode()  # f1 again, another value
    lines = [_line(1, 80).encode(), b"\n", b'{"event_id": "x"}\n', b"\xff\xfe\n",
             _line(2, 70).encode(), reused, _line(3, 50).encode(), _line(1, 80).encode()]  # fmt: skip
    totals = follow_events(lines, tiny_network, mon.ingest, on_bad=bad.append, batch=2)
    assert (totals.lines, totals.applied, totals.duplicates, totals.bad) == (8, 3, 1, 3)
    assert [e.row for e in bad] == [3, 4, 6]
    assert str(bad[0]).startswith("<stdin>: row 3: field 'ts'")
    assert str(bad[1]).startswith("<stdin>: row 4: not UTF-8 text")
    assert str(bad[2]).startswith("<stdin>: row 6: field 'event_id'")
    assert "different content" in str(bad[2])
    assert mon.staffing[tiny_network.node_idx("ST-CHI")] == 0.5


def test_a_line_refused_at_the_apply_is_reported_before_later_bad_lines(
    tiny_network: Network,
) -> None:
    """An event id reused with other content is found when its batch is
    applied, after the batch's later lines were parsed: it was reported after
    a later line's error (row 3, then row 2), and without the file's name."""
    mon = CapacityMonitor(tiny_network)
    bad: list[InputError] = []
    lines = [_line(1, 80), _line(1, 60), "not json\n", _line(2, 70)]
    totals = follow_events(
        lines, tiny_network, mon.ingest, file="feed.jsonl", on_bad=bad.append,
        batch=10, linger_s=5.0,
    )  # fmt: skip
    assert (totals.applied, totals.bad, totals.batches) == (2, 2, 2)
    assert [e.row for e in bad] == [2, 3]
    assert str(bad[0]).startswith("feed.jsonl: row 2: field 'event_id'")
    assert str(bad[1]).startswith("feed.jsonl: row 3: not JSON")


def _wait_for_seq(state: Path | str, seq: int) -> None:
    """Wait (at most 30 s) until the store's log reaches ``seq``."""
    tick = threading.Event()
    for _ in range(600):
        if _seq(state) == seq:
            return
        tick.wait(0.05)
    assert _seq(state) == seq


def _feed_losing_its_store(
    state: Path | str,
    lose: Callable[[], None],
    timeout: float = 60,
    store_wait: str | None = None,
) -> tuple[int, str, str]:
    """``capacity ingest --follow`` on ``state``: one event applied, then the
    store lost (``lose``) while the feed is open (stdin still open, the reader
    waiting for a line), then a second event; its exit code, stdout, stderr
    (the feed given ``timeout`` seconds to end after the second event;
    ``store_wait``: its ``$TIERFLOW_STORE_WAIT_S``, else this process's)."""
    command = [
        str(Path(sys.executable).with_name("tierflow")), "capacity", "ingest",
        "--network", str(TINY_NETWORK), "--state", str(state), "--events", "-",
        "--follow",
    ]  # fmt: skip
    env = None if store_wait is None else {**os.environ, STORE_WAIT_ENV: store_wait}
    with subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout and proc.stderr
        try:
            proc.stdin.write(_line(1, 80))
            proc.stdin.flush()
            _wait_for_seq(state, 1)
            lose()
            proc.stdin.write(_line(2, 70))  # its batch finds the store gone
            proc.stdin.flush()
            code = proc.wait(timeout=timeout)  # stdin is open: the feed goes on
        finally:
            proc.kill()
        return code, proc.stdout.read(), proc.stderr.read()


def test_a_sqlite_file_deleted_mid_feed_ends_it(tmp_path: Path) -> None:
    """The feed's SQLite file is deleted while the feed is open: its next
    batch is refused (exit 1, the store's error on one line), as for a
    PostgreSQL server gone. The connection wrote on to the unlinked file:
    the feed reported every later event applied, stored nowhere (QA)."""
    state = tmp_path / "state.db"

    def delete() -> None:
        for gone in tmp_path.glob("state.db*"):
            gone.unlink()

    code, out, err = _feed_losing_its_store(state, delete)
    assert code == 1, err
    assert err.splitlines()[-1] == (
        f"Error: state store {describe_location(str(state))} failed, feed stopped: "
        "the database file is gone (deleted or replaced since it was opened)"
    ), err
    assert out.startswith("1 event applied, 0 duplicates ignored"), out


def test_a_store_lost_mid_feed_ends_it_cleanly(postgres_server: LocalPostgres) -> None:
    """The feed's PostgreSQL server stops while the feed is open: exit 1,
    the store's error on one line, the summary of what was applied. It was
    a fatal error at exit (SIGABRT, "could not acquire lock for
    <_io.BufferedReader name='<stdin>'>", a daemon thread inside stdin's
    read) and no summary. A server of its own (the session's
    ``postgres_server`` is only there to skip or fail alike)."""
    with LocalPostgres(parent=memory_folder()) as server:
        url = server.create_database("feed")
        # the next batch waits for a connection (5 s by default) in vain
        code, out, err = _feed_losing_its_store(url, server.stop, store_wait="1")
    assert code == 1, err
    assert "Fatal Python error" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    where = f"Error: state store {describe_location(url)} failed, feed stopped: "
    assert errors[0].startswith(where), err
    assert len(errors[0]) > len(where) and errors[0] == err.splitlines()[-1]
    assert out == (
        "1 event applied, 0 duplicates ignored, 0 bad lines skipped, in 1 "
        "batch (log at seq 1)\n"
    )


def test_a_store_hung_mid_feed_ends_it_within_seconds(
    postgres_server: LocalPostgres,
) -> None:
    """The feed's PostgreSQL server hangs (SIGSTOP: its sockets open,
    nothing answered) while the feed is open: the next batch is given up on
    after the answer wait and the probe's (2.5 s), and the feed stops as
    for a server gone (the summary, one line naming the store, exit 1). It
    waited until the server resumed, the feed's lines piling up unapplied."""
    import signal

    from tests.postgres import signal_server
    from tierflow.cli.capacity_cmd import FEED_ANSWER_S

    with LocalPostgres(parent=memory_folder()) as server:
        url = server.create_database("feed_hung")
        took: list[float] = []

        def hang() -> None:
            signal_server(server, signal.SIGSTOP)
            took.append(time.monotonic())

        try:
            code, out, err = _feed_losing_its_store(url, hang, timeout=8)
            took[0] = time.monotonic() - took[0]
        finally:
            signal_server(server, signal.SIGCONT)
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: state store {describe_location(url)} failed, feed stopped: "
        f"the database did not answer within {FEED_ANSWER_S:g} s (hung, or a "
        "network partition); the connection was closed and what it sent may "
        "still run: a retry with the same ids finds it"
    ]
    assert errors[0] == err.splitlines()[-1], err  # (the pool's warnings above)
    assert out == (
        "1 event applied, 0 duplicates ignored, 0 bad lines skipped, in 1 "
        "batch (log at seq 1)\n"
    )
    # 2.5 s: the answer wait and the probe's, and the pool closed within
    # 0.5 s; room for a loaded machine
    assert took[0] < FEED_ANSWER_S + 4, took  # 5.3 s seen at a load average of 10


def test_a_failing_apply_ends_the_feed_with_its_totals(tiny_network: Network) -> None:
    """Not an ``InputError``: the feed stops at once, the error goes to the
    caller, and the caller's totals hold what was applied before."""
    mon = CapacityMonitor(tiny_network)
    calls: list[int] = []

    def apply(events: Sequence[CapacityEvent]) -> IngestResult:
        calls.append(len(events))
        if len(calls) == 2:
            raise StoreUnavailable("gone")
        return mon.ingest(events)

    lines = [_line(n, 50 + n) for n in range(1, 8)]
    totals = FeedTotals()
    with pytest.raises(StoreUnavailable, match=r"^gone$"):
        follow_events(lines, tiny_network, apply, batch=2, totals=totals)
    assert calls == [2, 2]
    assert (totals.applied, totals.batches, totals.last_seq) == (2, 1, 0)


def test_pipe_lines_reads_the_descriptor() -> None:
    """Lines split across reads come out whole; a last line without its
    newline is kept."""
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"a": 1}\n{"b"')
    os.write(write_end, b": 2}\n\ntail")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        assert list(pipe_lines(stream)) == [
            b'{"a": 1}\n',
            b'{"b": 2}\n',
            b"\n",
            b"tail",
        ]


def test_pipe_lines_reads_a_long_line_in_linear_time() -> None:
    """A line of 40 MB arriving in pipe-sized reads is read in well under a
    second: each read was added to the line so far and the whole of it split
    again (quadratic; a 50 MB line stalled a followed feed 27 s, every event
    behind it waiting, and a 200 MB one for minutes). Past the limit of a
    line only its length is kept (:class:`LongLine`)."""
    from tierflow.capacity.feed import LongLine

    size = 40_000_000
    read_end, write_end = os.pipe()

    def write() -> None:
        block = b"a" * (1 << 16)
        for _ in range(size // len(block)):
            os.write(write_end, block)
        os.write(write_end, b"\n{}\n")
        os.close(write_end)

    writer = threading.Thread(target=write, daemon=True)
    start = time.monotonic()
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        lines = list(pipe_lines(stream))
    elapsed = time.monotonic() - start
    writer.join()
    assert lines == [LongLine(size // (1 << 16) * (1 << 16)), b"{}\n"]
    assert elapsed < 3.0


def test_an_event_id_no_store_can_hold_is_skipped_and_the_feed_goes_on(
    tmp_path: Path,
) -> None:
    """A lone surrogate (JSON's ``\\ud800``) in an id ended the feed with a
    traceback at the store's insert (a NUL did on PostgreSQL): it is a bad
    line like any other, reported by its number and skipped."""
    from click.testing import CliRunner

    from tierflow.cli.main import cli

    state = tmp_path / "state.db"
    bad = _line(2, 70).replace('"f2"', '"f\\ud8002"')
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state",
         str(state), "--events", "-", "--follow"],
        input=_line(1, 80) + bad + _line(3, 60),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert untimed_lines(result.stderr) == [
        f"{SKIPPED}<stdin>: row 2: field 'event_id': value 'f\\ud8002': has a "
        "character no store can hold (U+D800, a lone surrogate)"
    ]
    assert result.stdout.startswith("2 events applied, 0 duplicates ignored, 1 bad")
    assert _seq(state) == 2


def test_a_staffing_fraction_is_skipped_and_the_feed_goes_on(
    tmp_path: Path, tiny_network: Network
) -> None:
    """0.5 meant half the staff and was applied as 0.5 %: a bad line of the
    feed, said as ``capacity ingest`` of a file says it, the others applied."""
    from click.testing import CliRunner

    from tierflow.cli.main import cli

    state = tmp_path / "state.db"
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state",
         str(state), "--events", "-", "--follow"],
        input=_line(1, 80) + _line(2, 0.5) + _line(3, 0),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert untimed_lines(result.stderr) == [
        f"{SKIPPED}<stdin>: row 2: field 'value': value 0.5: staffing is a percent "
        "of planned staff (0-300): 0.5 means 0.5 %; for 50 % of the staff send 50"
    ]
    assert result.stdout.startswith("2 events applied, 0 duplicates ignored, 1 bad")
    assert _seq(state) == 2
    with open_store(state) as store:
        mon = CapacityMonitor.open(tiny_network, store)
    assert mon.staffing[tiny_network.node_idx("ST-CHI")] == 0.0  # f3's: no staff


def test_an_over_long_line_is_skipped_and_the_feed_goes_on(tmp_path: Path) -> None:
    """A line over :data:`MAX_EVENT_LINE_BYTES` (64 KiB: an event the HTTP
    API takes in one request fits) is a bad line, reported by its number and
    its length and skipped, and the feed goes on; only its length is kept
    while it arrives (a feed queued up to 2,000 lines of any length, and one
    endless line, no newline, grew the process without bound). A line of
    the limit exactly (an event padded with spaces) is read."""
    from click.testing import CliRunner

    from tierflow.cli.main import cli
    from tierflow.data.limits import MAX_EVENT_LINE_BYTES

    assert MAX_EVENT_LINE_BYTES == 65_536
    state = tmp_path / "state.db"
    edge = _line(3, 60).rstrip("\n").ljust(MAX_EVENT_LINE_BYTES) + "\n"
    long = "x" * (MAX_EVENT_LINE_BYTES + 1) + "\n"
    endless = '{"event_id": "' + "y" * 3 * MAX_EVENT_LINE_BYTES  # no newline, ever
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state",
         str(state), "--events", "-", "--follow", "--json"],
        input=_line(1, 80) + long + edge + _line(4, 50) + endless,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert untimed_lines(result.stderr) == [
        f"{SKIPPED}<stdin>: row 2: a line of 65,537 bytes, over the limit of "
        "65,536 bytes of one event",
        f"{SKIPPED}<stdin>: row 5: a line of 196,622 bytes, over the limit of "
        "65,536 bytes of one event",
    ]
    summary = json.loads(result.stdout)
    assert (summary["applied"], summary["bad"], summary["last_seq"]) == (3, 2, 3)


def test_pipe_lines_keeps_only_the_length_of_an_over_long_line() -> None:
    """Read from a descriptor, a line past the limit is a :class:`LongLine`
    of its length (without the newline), however it is split across reads."""
    from tierflow.capacity.feed import LongLine
    from tierflow.data.limits import MAX_EVENT_LINE_BYTES

    read_end, write_end = os.pipe()

    def write() -> None:
        os.write(write_end, b"a" * MAX_EVENT_LINE_BYTES + b"\n")
        os.write(write_end, b"b" * MAX_EVENT_LINE_BYTES)
        os.write(write_end, b"b\n{}\n" + b"c" * (MAX_EVENT_LINE_BYTES + 5))
        os.close(write_end)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        got = [
            item if isinstance(item, LongLine) else len(item)
            for item in pipe_lines(stream)
        ]
    writer.join()
    assert got == [
        MAX_EVENT_LINE_BYTES + 1,
        LongLine(MAX_EVENT_LINE_BYTES + 1),
        3,
        LongLine(MAX_EVENT_LINE_BYTES + 5),
    ]


def test_a_crlf_line_end_is_not_counted_in_the_line_limit(tmp_path: Path) -> None:
    """A line's limit is without its line end, CRLF as LF (docs/data.md: CRLF
    line ends are read as any other): an event of 65,536 bytes ended CRLF
    was refused as 'a line of 65,537 bytes' (QA, 2026-12-07), where the same
    line ended LF, and in a file, was applied."""
    from click.testing import CliRunner

    from tierflow.cli.main import cli
    from tierflow.data.limits import MAX_EVENT_LINE_BYTES

    edge = _line(3, 60).rstrip("\n").ljust(MAX_EVENT_LINE_BYTES)
    long = "x" * (MAX_EVENT_LINE_BYTES + 1)
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state",
         str(tmp_path / "state.db"), "--events", "-", "--follow", "--json"],
        input=(edge + "\r\n" + long + "\r\n").encode(),
    )  # fmt: skip
    assert untimed_lines(result.stderr) == [
        f"{SKIPPED}<stdin>: row 2: a line of 65,537 bytes, over the limit of "
        "65,536 bytes of one event",
    ]
    assert json.loads(result.stdout)["applied"] == 1


def test_pipe_lines_counts_a_line_without_its_crlf() -> None:
    """The CR of a CRLF is no byte of the line, wherever the reads split it
    (a line of the limit then CR, the LF in the next read, is kept; one byte
    more is a :class:`LongLine` of its length); a CR that ends the stream
    ends its last line as the text reader does (it strips it)."""
    from tierflow.capacity.feed import LongLine

    read_end, write_end = os.pipe()

    def write() -> None:
        os.write(write_end, b"12345678\r")
        os.write(write_end, b"\n123456789\r\n")
        os.write(write_end, b"123456789")
        os.write(write_end, b"\r\n12345678\r")
        os.close(write_end)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        got = list(pipe_lines(stream, limit=8))
    writer.join()
    assert got == [b"12345678\r\n", LongLine(9), LongLine(9), b"12345678\r"]
