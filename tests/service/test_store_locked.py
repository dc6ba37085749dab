"""Another process holds the SQLite store's write lock (a ``sqlite3`` shell,
a long batch commit): a ``tierflow serve`` request waits at most
``STORE_WAIT_S`` for it, then answers 503, instead of holding every request
(``/healthz`` too: SQLite calls run on the event loop) for the store's
default minute."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from tests.postgres import new_database, run_sql
from tests.service.replicas import serve_process, stock_up
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres

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


def test_a_second_stop_signal_ends_a_workers_wait_for_another_programs_lock(
    tmp_path: Path,
) -> None:
    """``serve --workers 2`` stopping twice (Ctrl-C twice, a supervisor
    sending SIGTERM again) while selects wait for a lock another program
    holds (a ``sqlite3`` connection in ``BEGIN IMMEDIATE``): each waiting
    select gives up (503) and the server stops within a second. A second
    signal let store calls under way finish, and SQLite calls run on the
    event loop: each worker waited its whole store wait (here 30 s) and
    was killed 15 s after the stop (15.6 s measured, every client's
    connection dropped)."""
    state = tmp_path / "state.db"
    stock_up(state, 10)
    log_file = tmp_path / "serve.log"
    answers: list[str] = []
    with serve_process(state, log_file, "--workers", "2", store_wait_s=30) as (
        url,
        proc,
    ):
        rids = [_options(url) for _ in range(6)]
        other = sqlite3.connect(state, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")

        def release() -> None:
            other.execute("ROLLBACK")
            other.close()

        # the selects sent: a worker waits on each a second later
        code, took = _stopped_twice_while_selects_wait(
            url, proc, rids, answers, lambda: time.sleep(1.0), release
        )
    output = log_file.read_text()
    assert (code, took < 3.0) == (0, True), (took, output[-3000:])
    assert ") killed, " not in output
    assert f"{state}: locked by another process; stopped waiting" in output
    # a worker's waiting select at least; the others, not read yet, dropped
    stopped = [a for a in answers if a.startswith("503 ")]
    assert stopped, answers
    for answer in stopped:
        assert (
            "locked by another process; stopped waiting for its write lock "
            "(this process is stopping)" in answer
        ), answer
        assert str(state) not in answer  # the operator's log has the file
    assert all(a.startswith("dropped ") for a in answers if a not in stopped)
    with open_store(state) as store:
        assert store.check_consistency() == []


def _stopped_twice_while_selects_wait(
    url: str,
    proc: subprocess.Popen[bytes],
    rids: list[str],
    answers: list[str],
    waiting: Callable[[], None],
    release: Callable[[], None],
) -> tuple[int, float]:
    """Gold selected for each of ``rids`` (:func:`_select`, one thread each),
    ``waiting()`` until they wait for the lock, then SIGTERM twice, 0.2 s
    apart; the server's exit status and the seconds from the second signal
    to its exit. ``release()`` lets the lock go before the threads are
    joined (a server that did not stop leaves them waiting on it)."""
    clients = [
        threading.Thread(target=_select, args=(url, rid, answers)) for rid in rids
    ]
    try:
        for thread in clients:
            thread.start()
        waiting()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        again = time.monotonic()
        code = proc.wait(30)
        return code, time.monotonic() - again
    finally:
        release()
        for thread in clients:
            thread.join(60)


def _options(url: str) -> str:
    """A checkout's options for :data:`_CART`: its request id."""
    answer = httpx.post(f"{url}/v1/options", json=_CART, timeout=30)
    return str(answer.json()["request_id"])


def _select(url: str, rid: str, answers: list[str]) -> None:
    """Select gold for checkout ``rid``: its status and body, or how its
    connection was dropped, appended to ``answers``."""
    try:
        answer = httpx.post(
            f"{url}/v1/checkouts/{rid}/select", json={"option_id": "gold"}, timeout=60
        )
        answers.append(f"{answer.status_code} {answer.text}")
    except httpx.TransportError as exc:
        answers.append(f"dropped ({type(exc).__name__})")


def test_a_second_stop_signal_ends_a_workers_wait_for_a_postgres_lock(
    tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    """As above on PostgreSQL: selects wait for inventory rows another
    session holds (``SELECT ... FOR UPDATE``, a ``psql`` left open); the
    second SIGTERM cancels each waiting statement (503) and the server stops
    within seconds. It waited for the rows (no ``lock_timeout`` is set)
    until the supervisor killed the workers 15 s after the stop."""
    state = new_database(postgres_server)
    stock_up(state, 10)
    log_file = tmp_path / "serve.log"
    answers: list[str] = []
    with serve_process(state, log_file, "--workers", "2") as (url, proc):
        rids = [_options(url) for _ in range(6)]
        other = psycopg.connect(state)
        other.execute("SELECT * FROM inventory FOR UPDATE")

        def release() -> None:
            other.rollback()
            other.close()

        code, took = _stopped_twice_while_selects_wait(
            url, proc, rids, answers, lambda: _wait_for_lock_waits(state), release
        )
    output = log_file.read_text()
    assert (code, took < 3.0) == (0, True), (took, output[-3000:])
    assert ") killed, " not in output
    stopped = [a for a in answers if a.startswith("503 ")]
    assert stopped, answers
    for answer in stopped:
        assert "stopped waiting" in answer and "(this process is stopping)" in answer
    assert all(a.startswith("dropped ") for a in answers if a not in stopped)
    with open_store(state) as store:
        assert store.check_consistency() == []


def _wait_for_lock_waits(url: str) -> None:
    """Return once a session of the database at ``url`` waits for a lock."""
    deadline = time.monotonic() + 30
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    while run_sql(url, query) == [(0,)]:
        assert time.monotonic() < deadline, "no session waits for a lock"
        time.sleep(0.05)
