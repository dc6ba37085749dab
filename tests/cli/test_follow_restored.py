"""A store restored from a backup (PostgreSQL's ``pg_restore --clean``,
SQLite's ``.restore``) under a running ``tierflow capacity ingest --events -
--follow``: the feed reloads its map from the restored store before its
next batch and says so. It logged the next events into the restored store
but kept applying them to the map from before the restore (below the
position that map held, so not at all), then snapshotted that map with its
old position into the restored store: every process's next open read the
map from before the restore and skipped the restored log's new events."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_NETWORK
from tests.postgres import NewState, run_sql
from tests.service.test_store_restored import _copy, _run
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data import limits
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres


def _nominal(event_id: str, node: str, value: float) -> str:
    """A ``nominal_capacity`` event line stamped now (``$TIERFLOW_NOW``)."""
    now = limits.now().astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return json.dumps({"event_id": event_id, "ts": now.replace("+00:00", "Z"),
                       "node_id": node, "type": "nominal_capacity",
                       "value": value}) + "\n"  # fmt: skip


def _logged(state: Path | str) -> list[str]:
    """The ids in the store's log, in order (none before it is made)."""
    try:
        rows = run_sql(state, "SELECT event_id FROM capacity_events ORDER BY seq")
    except Exception:  # the feed has not made the store yet
        return []
    return [str(r[0]) for r in rows]


def _send(feed: subprocess.Popen[str], state: Path | str, *lines: str) -> None:
    """``lines`` to the feed, once their events are in the store's log."""
    assert feed.stdin is not None
    feed.stdin.write("".join(lines))
    feed.stdin.flush()
    ids = [json.loads(line)["event_id"] for line in lines]
    deadline = time.monotonic() + 60
    while _logged(state)[-len(ids) :] != ids:
        assert feed.poll() is None, feed.communicate()
        assert time.monotonic() < deadline, _logged(state)
        time.sleep(0.02)


def _backup_and_restore(
    backend: str, state: Path | str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Back ``state`` up, and restore it in place from that backup:
    ``pg_dump -Fc`` and ``pg_restore --clean --single-transaction``, or
    SQLite's backup API (the shell's ``.backup`` and ``.restore``)."""
    if backend == "postgres":
        pg: LocalPostgres = request.getfixturevalue("postgres_server")
        dump = tmp_path / "state.dump"

        def backup() -> None:
            _run(pg, "pg_dump", "-Fc", "-f", str(dump), "-d", str(state))

        def restore() -> None:
            args = ["--clean", "--single-transaction", "-d", str(state), str(dump)]
            _run(pg, "pg_restore", *args)
    else:
        copy = tmp_path / "backup.db"

        def backup() -> None:
            _copy(Path(state), copy)

        def restore() -> None:
            _copy(copy, Path(state))

    return backup, restore


def test_a_store_restored_under_a_followed_feed_is_reloaded_not_overwritten(
    backend: str, new_state: NewState, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    state = new_state()
    backup, restore = _backup_and_restore(backend, state, tmp_path, request)
    feed = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.entry", "capacity", "ingest",
         "--network", str(TINY_NETWORK), "--state", str(state),
         "--events", "-", "--follow"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _send(feed, state, _nominal("dumped", "WH-EAST", 50))
        backup()
        # the log and the feed's map move past the backup
        _send(
            feed, state, *(_nominal(f"lost-{k}", "WH-EAST", 20 + k) for k in range(5))
        )
        restore()
        assert _logged(state) == ["dumped"]
        _send(feed, state, _nominal("after", "WH-WEST", 30))
        out, err = feed.communicate(timeout=60)
    finally:
        if feed.poll() is None:  # failed before the feed ended
            feed.kill()
            feed.communicate()
    assert feed.returncode == 0, err
    assert "Traceback" not in err, err
    # every snapshot within the restored log, and any process's map the
    # restored one with the event after it
    snapshots = run_sql(state, "SELECT last_seq FROM capacity_snapshots")
    assert snapshots and all(int(str(s)) <= 2 for (s,) in snapshots), snapshots
    with open_store(state) as store:
        table = CapacityMonitor.open(load_network(TINY_NETWORK), store).table()
    nominal = dict(zip(table["node_id"], table["nominal_capacity"], strict=True))
    assert (nominal["WH-EAST"], nominal["WH-WEST"]) == (50, 30)
    said = [line for line in err.splitlines() if "restored under this feed" in line]
    assert len(said) == 1, err
    assert said[0].endswith(
        "(capacity log at seq 1, was 6): capacity map reloaded from it"
    ), said
    assert out.endswith("in 3 batches (log at seq 2)\n"), out
