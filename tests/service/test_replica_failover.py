"""``kill -9`` of one of two ``tierflow serve`` replicas on one PostgreSQL
store, mid-load: the other keeps serving, and no hold or order is lost or
doubled (every call that failed on the dead replica is repeated on the
live one; the calls are idempotent)."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.replicas import serve_process, stock_up
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres

pytestmark = pytest.mark.slow

_databases = itertools.count()
CHECKOUTS = 60  # per client
CLIENTS = 4


class _Fleet:
    """Two replica URLs; calls alternate, and go to the live one once the
    other is dead."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.dead: set[str] = set()
        self.failovers = 0
        self.lock = threading.Lock()

    def call(self, client: httpx.Client, k: int, path: str, body: Any = None) -> Any:
        for attempt in range(2):
            url = self.urls[(k + attempt) % 2]
            if url in self.dead and attempt == 0:
                continue
            try:
                r = client.post(url + path, json=body)
            except httpx.TransportError:
                with self.lock:
                    self.dead.add(url)
                    self.failovers += 1
                continue
            return r.status_code, r.json()
        url = next(u for u in self.urls if u not in self.dead)
        r = client.post(url + path, json=body)
        return r.status_code, r.json()


def _client_run(
    fleet: _Fleet, n: int, seed: int, out: dict[str, str], failed: list[str]
) -> None:
    """``n`` checkouts: options, select, confirm (or cancel one in five);
    what went wrong goes to ``failed``."""
    try:
        _checkouts(fleet, n, seed, out)
    except Exception as exc:  # reported by the test, not lost in the thread
        failed.append(f"client {seed}: {type(exc).__name__}: {exc}")


def _checkouts(fleet: _Fleet, n: int, seed: int, out: dict[str, str]) -> None:
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            k = seed + i
            status, answer = fleet.call(client, k, "/v1/options", {
                "customer_id": f"C{k % 7}", "dest": ["606", "100", "900"][k % 3],
                "items": [{"sku": "TEE", "quantity": 1 + k % 2}],
            })  # fmt: skip
            assert status == 200, answer
            rid = answer["request_id"]
            option = answer["options"][0]["option_id"]
            path = f"/v1/checkouts/{rid}"
            status, held = fleet.call(
                client, k + 1, path + "/select", {"option_id": option}
            )
            assert (status, held["status"]) == (200, "held"), held
            action = "cancel" if k % 5 == 0 else "confirm"
            status, done = fleet.call(client, k, f"{path}/{action}")
            assert status == 200, done
            out[rid] = done["status"]


def test_kill_9_of_one_replica_mid_load(
    tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    pg = postgres_server.create_database(f"failover_{os.getpid()}_{next(_databases)}")
    stock_up(pg, 10_000)
    outcomes: dict[str, str] = {}
    failed: list[str] = []
    with (
        serve_process(pg, tmp_path / "a.log") as (url_a, proc_a),
        serve_process(pg, tmp_path / "b.log") as (url_b, proc_b),
    ):
        # a PostgreSQL server's calls run in threads: it runs on one CPU
        first = {min(os.sched_getaffinity(0))}
        assert os.sched_getaffinity(proc_a.pid) == os.sched_getaffinity(proc_b.pid)
        assert os.sched_getaffinity(proc_b.pid) == first
        fleet = _Fleet([url_a, url_b])
        threads = [
            threading.Thread(
                target=_client_run,
                args=(fleet, CHECKOUTS, 1000 * c, outcomes, failed),
            )
            for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(outcomes) < CLIENTS * CHECKOUTS // 4:
            assert not failed and time.monotonic() < deadline, failed
            threading.Event().wait(0.02)
        os.kill(proc_a.pid, signal.SIGKILL)  # mid-load
        for t in threads:
            t.join(120)
        assert failed == []
        assert len(outcomes) == CLIENTS * CHECKOUTS
        assert fleet.failovers >= 1 and url_a in fleet.dead
        assert httpx.get(f"{url_b}/healthz").json()["status"] == "ok"
    confirmed = {r for r, s in outcomes.items() if s == "confirmed"}
    assert set(outcomes.values()) == {"confirmed", "cancelled"}
    with open_store(pg) as store:
        orders = store.online_orders()
        assert set(orders["order_id"]) == confirmed  # none lost
        assert len(orders) == len(confirmed)  # none doubled (one line each)
        assert store.check_consistency() == []
        assert int(store.inventory_frame()["reserved"].sum()) == 0  # no hold left
