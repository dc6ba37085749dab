"""Another process holds the SQLite store's write lock (a ``sqlite3`` shell,
a long batch commit): a ``tierflow serve`` request waits at most
``STORE_WAIT_S`` for it, then answers 503, instead of holding every request
(``/healthz`` too: SQLite calls run on the event loop) for the store's
default minute."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from tests.service.replicas import serve_process, stock_up

#: The server's ``STORE_WAIT_S`` here (5 s by default): waited out in full
WAIT_S = 1.0
_CART = {"customer_id": "C5", "dest": "606", "items": [{"sku": "TEE", "quantity": 1}]}


def test_a_locked_store_is_a_503_within_the_wait(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    stock_up(state, 10)
    with (
        serve_process(
            state, log_file := tmp_path / "serve.log", store_wait_s=WAIT_S
        ) as (url, _),
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        rid = client.post("/v1/options", json=_CART).json()["request_id"]
        other = sqlite3.connect(state, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            t = time.monotonic()
            held = client.post(
                f"/v1/checkouts/{rid}/select", json={"option_id": "gold"}
            )
            took = time.monotonic() - t
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert held.status_code == 503, held.text
        assert held.json()["status"] == "unavailable"
        assert held.headers["Retry-After"] == "1"  # the store is tried each second
        # the caller gets the reason, the operator's log the file too
        assert "locked by another process" in held.text
        assert str(state) not in held.text
        assert f"{state}: locked by another process" in log_file.read_text()
        assert 0.8 * WAIT_S < took < 2 * WAIT_S, took
        # the lock gone, the same select holds
        again = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert (again.status_code, again.json()["status"]) == (200, "held")
