"""The PostgreSQL server stops under a running ``tierflow serve``: calls are
answered within the pool's connection wait (degraded options, 503 for a
select) instead of queueing for a minute each, ``/healthz`` says
``degraded``, and SIGTERM still stops the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.service.replicas import serve_process, stock_up
from tierflow.data.store.local_postgres import LocalPostgres, memory_folder
from tierflow.data.store.postgres_database import CONNECTION_WAIT_S

_CART = {"customer_id": "C5", "dest": "606", "items": [{"sku": "TEE", "quantity": 1}]}


def test_a_database_gone_away_is_answered_fast_and_said(tmp_path: Path) -> None:
    if os.environ.get("TIERFLOW_TEST_POSTGRES") == "0":
        pytest.skip("PostgreSQL store tests switched off (TIERFLOW_TEST_POSTGRES=0)")
    pg = LocalPostgres(parent=memory_folder()).start()
    try:
        state = pg.create_database("gone")
        stock_up(state, 10)
        with serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (
            url,
            proc,
        ):
            with httpx.Client(base_url=url, timeout=60) as client:
                first = client.post("/v1/options", json=_CART).json()
                assert not first["degraded"]
                assert client.get("/healthz").json()["status"] == "ok"
                pg.stop()
                t = time.monotonic()
                answer = client.post("/v1/options", json=_CART)
                took = time.monotonic() - t
                assert answer.status_code == 200 and answer.json()["degraded"]
                assert took < 3 * CONNECTION_WAIT_S, took
                rid = answer.json()["request_id"]
                t = time.monotonic()
                held = client.post(
                    f"/v1/checkouts/{rid}/select", json={"option_id": "gold"}
                )
                assert held.status_code == 503, held.text
                assert time.monotonic() - t < 3 * CONNECTION_WAIT_S
                deadline = time.monotonic() + 10
                while client.get("/healthz").json()["status"] != "degraded":
                    assert time.monotonic() < deadline, "healthz still says ok"
                    time.sleep(0.2)
                assert client.get("/healthz").json()["store"] is False
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            assert time.monotonic() - t < 3 * CONNECTION_WAIT_S + 5
    finally:
        pg.stop()
