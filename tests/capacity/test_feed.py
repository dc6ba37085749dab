"""``tierflow capacity ingest --events - --follow``: a live feed applies each
event as its line arrives (before the stream ends), skips and reports a bad
line by its number, and never applies an event id twice."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import TINY_NETWORK
from tierflow.capacity.feed import follow_events
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import open_store


def _line(n: int, value: float) -> str:
    return json.dumps({
        "event_id": f"f{n}", "ts": f"2026-01-05T1{n}:00:00Z", "node_id": "ST-CHI",
        "type": "staffing", "value": value,
    }) + "\n"  # fmt: skip


def _seq(state: Path) -> int:
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
    assert err.splitlines() == [
        "skipped: <stdin>: row 2: not JSON (Expecting value)",
        "skipped: <stdin>: row 5: field 'event_id': value 'f2': event id already "
        "used by the logged event seq 2 with different content",
    ]
    assert out.startswith("2 events applied, 1 duplicates ignored, 2 bad lines skipped")
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
    assert str(bad[2]).startswith("row 6: field 'event_id'")
    assert "different content" in str(bad[2])
    assert mon.staffing[tiny_network.node_idx("ST-CHI")] == 0.5
