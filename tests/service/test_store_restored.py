"""A store restored from a dump (PostgreSQL's ``pg_restore --clean``,
SQLite's ``.restore``) under a running ``tierflow serve``: the server answers from the restored store
within seconds, and events logged after the restore reach its map. Its
capacity follower pulled only a log that moved past the position it knew,
so it answered from the state before the restore for ever, and skipped
the restored log's new events until their ``seq`` passed its old one."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.service.replicas import post_events, serve_process, stock_up
from tierflow.data.store.local_postgres import LocalPostgres

#: The restored store is answered from within this (its follower reads the
#: log every 0.5 s at most; a loaded machine is slower)
WITHIN_S = 5.0


@pytest.mark.parametrize(
    "how", [["--clean"], ["--clean", "--single-transaction"]], ids=["clean", "atomic"]
)
def test_a_store_restored_under_a_server_is_answered_from(
    tmp_path: Path, postgres_server: LocalPostgres, how: list[str]
) -> None:
    pg = postgres_server
    state = pg.create_database(f"restored_{len(how)}")
    dump = tmp_path / "state.dump"
    _restored_under_a_server(
        state,
        tmp_path,
        lambda: _run(pg, "pg_dump", "-Fc", "-f", str(dump), "-d", state),
        lambda: _run(pg, "pg_restore", *how, "-d", state, str(dump)),
    )


def test_a_sqlite_store_restored_in_place_under_a_server_is_answered_from(
    tmp_path: Path,
) -> None:
    """SQLite's ``.restore`` (the backup API) under the server: the file
    stays, its log goes back."""
    state, backup = tmp_path / "state.db", tmp_path / "backup.db"
    _restored_under_a_server(
        state,
        tmp_path,
        lambda: _copy(state, backup),
        lambda: _copy(backup, state),
    )


def _restored_under_a_server(
    state: Path | str,
    tmp_path: Path,
    dump: Callable[[], None],
    restore: Callable[[], None],
) -> None:
    """A server on ``state``; ``dump`` it, log more events, ``restore`` it:
    the server answers the restored map, and an event after it."""
    stock_up(state, 10)
    with serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (url, _):
        post_events(url, _nominal("dumped", "WH-EAST", 50))
        _until_nominal(url, {"WH-EAST": 50})
        dump()
        # the log moves past the dump's end: the follower's position with it
        post_events(url, *(_nominal(f"lost-{k}", "WH-EAST", 20 + k) for k in range(5)))
        _until_nominal(url, {"WH-EAST": 24})
        restore()
        took = _until_nominal(url, {"WH-EAST": 50})
        assert took < WITHIN_S, f"the restored map answered after {took:.1f} s"
        # the restored log's next events (their seq below the old position)
        post_events(url, _nominal("after", "WH-WEST", 30))
        _until_nominal(url, {"WH-EAST": 50, "WH-WEST": 30})
    log = (tmp_path / "serve.log").read_text()
    assert "state store re-made under this server" in log, log
    assert "Traceback" not in log, log


def _nominal(event_id: str, node: str, value: float) -> dict[str, object]:
    """A ``nominal_capacity`` event stamped now."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    return {"event_id": event_id, "ts": now.replace("+00:00", "Z"),
            "node_id": node, "type": "nominal_capacity", "value": value}  # fmt: skip


def _until_nominal(url: str, wanted: dict[str, float]) -> float:
    """Seconds until ``/v1/capacity`` gives ``wanted`` nominal capacities
    (failing after 30 s with what it gave)."""
    t = time.monotonic()
    while True:
        nodes = httpx.get(f"{url}/v1/capacity", timeout=10).json()["nodes"]
        got = {n["node_id"]: n["nominal_capacity"] for n in nodes}
        if all(got[k] == v for k, v in wanted.items()):
            return time.monotonic() - t
        assert time.monotonic() - t < 30, f"nominal {got}, not {wanted}"
        time.sleep(0.05)


def _run(pg: LocalPostgres, program: str, *args: str) -> None:
    """One of the server's programs (``pg_dump``, ``pg_restore``), which
    must succeed. A ``--single-transaction`` restore that PostgreSQL chose
    as a deadlock's victim (its ``--clean`` drops locking the tables a
    writer under it holds, in another order: once in a full run, 2026-12-07)
    was rolled back whole and is run again, as an operator would; the
    store's writers run theirs again the same way."""
    single = program == "pg_restore" and "--single-transaction" in args
    for _ in range(5):
        done = subprocess.run(
            [str(pg.bin / program), *args], capture_output=True, text=True, timeout=120
        )
        if not (single and "deadlock detected" in done.stderr):
            break
    assert done.returncode == 0, done.stderr


def _copy(source: Path, target: Path) -> None:
    """``source`` into ``target`` with SQLite's backup API (the sqlite3
    shell's ``.backup`` and ``.restore``)."""
    with (
        closing(sqlite3.connect(source)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
