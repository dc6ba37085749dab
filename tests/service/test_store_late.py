"""A replica started while its store could not be opened (the database not
there yet, the SQLite file locked by another process) answers degraded, then
from the store once it opens, without a restart: reservations, orders, the
capacity log and ``/healthz`` as if it had started with it."""

from __future__ import annotations

import itertools
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_NETWORK
from tests.postgres import (
    NewState,
    downgrade_store,
    new_database,
    run_sql,
    set_schema_version,
)
from tests.service.helpers import OUTAGE
from tests.service_fixtures import API_KEY, MONDAY_10, TEE_TO_CHICAGO
from tierflow.data.network import load_network
from tierflow.data.store import (
    SchemaTooNew,
    StoreUnavailable,
    is_postgres_url,
    off_store_error,
    on_store_error,
    open_store,
)
from tierflow.data.store.local_postgres import LocalPostgres, memory_folder
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service import feed
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

_OUTAGE = {**OUTAGE, "event_id": "late-1"}


@contextmanager
def _unavailable(
    backend: str, new_state: NewState, request: pytest.FixtureRequest
) -> Iterator[tuple[Path | str, Callable[[], object]]]:
    """A store location that cannot be opened yet, and what opens it."""
    if backend == "sqlite":
        state = new_state()
        open_store(state).close()
        other = sqlite3.connect(state, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # the seeding's write waits, then fails
        try:
            yield state, lambda: other.execute("ROLLBACK")
        finally:
            other.close()
        return
    request.getfixturevalue("postgres_server")  # (skipped as it is)
    # a server not up yet, which is waited for (a database that does not
    # exist is refused at the start, as a wrong password is)
    server = LocalPostgres(parent=memory_folder()).start()
    try:
        url = server.create_database("late")
        server.halt()
        yield url, server.resume
    finally:
        server.stop()


def _until(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_store_that_opens_later_is_served_without_a_restart(
    backend: str,
    new_state: NewState,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="tierflow.service")
    with _unavailable(backend, new_state, request) as (state, make_available):
        router = OnlineRouter.open(
            load_network(TINY_NETWORK), state, store_wait_s=0.3,
            capacity_refresh_s=0.0, cltv_refresh_s=0.0,
        )  # fmt: skip
        app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
        try:
            with (
                serve_in_thread(app) as server,
                httpx.Client(base_url=server.url, timeout=30) as client,
            ):
                _degraded_then_served(client, router, make_available)
        finally:
            router.close()
    # the log says why it started without its store (the banner did alone)
    said = [r.getMessage() for r in caplog.records if r.name == "tierflow.service"]
    backend = "postgres" if is_postgres_url(router.location or "") else "sqlite"
    why = f"state store unavailable ({router.location}: "
    assert said[0].startswith(f"without the store ({backend}): {why}"), said
    assert said[0].endswith("no CLTV scores, no reservations"), said
    assert "state store open: answers no longer degraded by its absence" in said


def _degraded_then_served(
    client: httpx.Client, router: OnlineRouter, make_available: Callable[[], object]
) -> None:
    key = {"X-API-Key": API_KEY}
    assert client.get("/healthz").json()["status"] == "degraded"
    # alive (200), not ready (503): a balancer sends checkouts elsewhere
    assert client.get("/healthz").status_code == 200
    not_ready = client.get("/readyz")
    assert (not_ready.status_code, not_ready.json()) == (
        503,
        {"status": "degraded", "store": False, "subscribers": 0},
    )
    body = {"customer_id": "C1", **TEE_TO_CHICAGO}
    early = client.post("/v1/options", json=body).json()
    assert early["degraded"] is True
    assert any("state store unavailable" in n for n in early["notes"]), early
    events = client.post("/v1/capacity/events", json={"events": [_OUTAGE]}, headers=key)
    assert events.status_code == 503, events.text  # nowhere to log it yet
    assert events.headers["Retry-After"] == "1"  # it tries to open it each second

    make_available()
    _until(
        lambda: client.get("/healthz").json()["status"] == "ok",
        "the server never opened its store",
    )
    assert router.store is not None and router.unavailable_store == ()
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")
    # the checkout answered meanwhile is in the store: any worker takes it
    with OnlineRouter.open(router.network, router.location) as other:
        chosen = early["options"][0]["option_id"]
        taken = other.select(early["request_id"], chosen, now=MONDAY_10)
        assert taken.status == "held", taken
    answer: dict[str, Any] = client.post("/v1/options", json=body).json()
    assert answer["degraded"] is False, answer
    assert not any("state store" in n for n in answer["notes"]), answer
    rid = answer["request_id"]
    option = answer["options"][0]["option_id"]
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": option})
    assert held.json()["status"] == "held", held.text
    done = client.post(f"/v1/checkouts/{rid}/confirm", json={})
    assert done.json()["status"] == "confirmed", done.text
    orders = router.store.online_orders()
    assert (set(orders["customer_id"]), len(orders)) == ({"C1"}, 1), orders
    # the capacity log is the store's: an event is logged, applied and shown
    events = client.post("/v1/capacity/events", json={"events": [_OUTAGE]}, headers=key)
    assert (events.status_code, events.json()["applied"]) == (200, 1), events.text
    nodes = {n["node_id"]: n for n in client.get("/v1/capacity").json()["nodes"]}
    assert nodes["ST-CHI"]["outage"] is True
    assert router.store.last_event_seq() == router.monitor.last_seq > 0


def test_a_store_back_with_a_newer_schema_is_said_and_not_served(
    postgres_server: LocalPostgres,
) -> None:
    """The answers said the reason of the first failed open (the server
    away) while the database was back with a schema newer than the code's.
    Now they say the schema."""
    server = LocalPostgres(parent=memory_folder()).start()
    try:
        url = server.create_database("newer")
        open_store(url).close()
        run_sql(url, "UPDATE schema_version SET version = 99")
        server.halt()
        router = OnlineRouter.open(
            load_network(TINY_NETWORK), url, store_wait_s=0.3, capacity_refresh_s=0.0
        )
        app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
        body = {"customer_id": "C1", **TEE_TO_CHICAGO}
        try:
            with (
                serve_in_thread(app) as http,
                httpx.Client(base_url=http.url, timeout=30) as client,
            ):
                first = client.post("/v1/options", json=body).json()["notes"]
                assert any("state store unavailable (" in n for n in first), first
                server.resume()

                def said() -> bool:
                    notes = client.post("/v1/options", json=body).json()["notes"]
                    return any("newer than this tierflow's" in n for n in notes)

                _until(said, "the answers never said the newer schema")
                assert client.get("/healthz").json()["status"] == "degraded"
        finally:
            router.close()
    finally:
        server.stop()


def test_a_worker_serves_a_newer_schema_degraded(state_location: Path | str) -> None:
    """A worker that found a newer schema at its start exited, and its
    supervisor started it again and again (the supervisor itself refuses
    such a store at its start, as before)."""
    network = load_network(TINY_NETWORK)
    open_store(state_location).close()
    set_schema_version(state_location, 99)
    with pytest.raises(SchemaTooNew):
        OnlineRouter.open(network, state_location)
    with OnlineRouter.open(network, state_location, serve_newer_schema=True) as worker:
        assert worker.store is None and worker.reconnectable
        assert "newer than this tierflow's" in worker.unavailable_store[0]
        assert worker.reconnect() is False  # tried again: still said
        assert "newer than this tierflow's" in worker.unavailable_store[0]


def test_a_replica_behind_an_idle_session_names_it_and_holds_no_one_up(
    postgres_server: LocalPostgres,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica whose migration meets a session idle in a transaction on a
    table it alters (migration 18: ``capacity_snapshots``) serves degraded
    and opens its store again each second. Its log names the session once,
    then only every ``STILL_WAITING_EVERY_S`` ("N more like it"): the
    session's idle time in the reason made each retry's reason new, three
    lines every 6 s. Each retry waits for the table's lock 0.1 s
    (``RECONNECT_LOCK_WAIT_S``), not the open's wait, so the table's
    readers, queued behind its request, are not held that long at every
    retry; and the store opens at the first retry after the session ends."""
    import psycopg

    monkeypatch.setattr(feed, "STILL_WAITING_EVERY_S", 1.5)
    caplog.set_level("WARNING", logger="tierflow.service")
    url = new_database(postgres_server)
    open_store(url).close()
    downgrade_store(url, 17)  # migration 18 alters capacity_snapshots
    failures: list[StoreUnavailable] = []

    def count(backend: str, error: StoreUnavailable) -> None:
        failures.append(error)

    with psycopg.connect(url, autocommit=True, application_name="qa-report") as held:
        held.execute("BEGIN")
        held.execute("SELECT count(*) FROM capacity_snapshots")
        holder = held.info.backend_pid
        router = OnlineRouter.open(
            load_network(TINY_NETWORK), url, store_wait_s=2.0,
            capacity_refresh_s=0.0, cltv_refresh_s=0.0,
        )  # fmt: skip
        assert router.store is None
        on_store_error(count)
        try:
            waits, opened_after = _retrying_until_released(router, url, held)
        finally:
            off_store_error(count)
            router.close()
    assert len(failures) >= 3, failures  # it retried all along
    assert max(waits) < 1.0, max(waits)  # (each retry held them 2 s before)
    assert opened_after < 2.5, opened_after  # a retry each second
    records = [r for r in caplog.records if r.name == "tierflow.service"]
    said = [r.getMessage() for r in records]
    # one line per failure: the app's listener said each again
    # ("state store (postgres): …"), two lines every 30 s of an outage
    first, *still, opened = said
    without = (
        f"without the store (postgres): state store unavailable ({router.location}: "
    )
    assert first.startswith(without), said
    assert "gave up after waiting 2 s for a lock on capacity_snapshots" in first
    assert opened == "state store open: answers no longer degraded by its absence"
    assert still, said
    # every 1.5 s at most, however long the retries went on (a loaded
    # machine stretches the window: four lines in 7 s, not one a second)
    times = [r.created for r in records if r.getMessage() in still]
    assert all(b - a > 1.4 for a, b in itertools.pairwise(times)), times
    named = f"(pid {holder}, application_name 'qa-report', idle in transaction for "
    for line in [first, *still]:
        assert named in line, line
    for line in still:
        assert line.startswith(without) and "waiting 0.1 s for a lock on" in line
        assert re.search(r" \(\d+ more like it in the last \d s\)$", line), line


def _retrying_until_released(
    router: OnlineRouter, url: str, held: Any
) -> tuple[list[float], float]:
    """Serve ``router`` while it retries its store for 4.5 s, reading the
    table ``held`` (a session in a transaction) holds on another
    connection to ``url`` all along, then end that transaction: how long each read
    waited, and how long after the end the router opened its store."""
    import psycopg

    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
    with (
        serve_in_thread(app),
        psycopg.connect(url, autocommit=True) as reader,
    ):
        waits = []
        until = time.monotonic() + 4.5
        while time.monotonic() < until:
            started = time.monotonic()
            reader.execute("SELECT count(*) FROM capacity_snapshots")
            waits.append(time.monotonic() - started)
            time.sleep(0.02)
        assert router.store is None
        held.execute("ROLLBACK")
        ended = time.monotonic()
        _until(lambda: router.store is not None, "never opened", 10)
        return waits, time.monotonic() - ended
