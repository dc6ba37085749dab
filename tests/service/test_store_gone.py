"""The PostgreSQL server stops under a running ``tierflow serve``: calls are
answered within the pool's connection wait (degraded options, 503 for a
select) instead of queueing for a minute each, ``/healthz`` says
``degraded``, the pool's warnings are one log line each, and SIGTERM still
stops the server; a failure that repeats is said once a minute."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.postgres import (
    hang_after_notice_login,
    own_postgres,
    run_sql,
    signal_server,
)
from tests.service.replicas import serve_process, stock_up
from tests.service_fixtures import API_KEY, MONDAY_10, live_server, tiny_router
from tierflow.data.store import postgres_database
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.data.store.postgres_database import (
    CONNECTION_WAIT_S,
)
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service import feed
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

#: The router's store wait where a test waits it out in full (the store's
#: default: 5 s)
WAIT_S = 1.0
_CART = {"customer_id": "C5", "dest": "606", "items": [{"sku": "TEE", "quantity": 1}]}


@pytest.fixture(scope="module")
def _cluster() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this module's own (its tests halt it and hang
    it), one ``initdb`` for them all instead of one each (0.6 s of CPU and
    3-6 s of a loaded machine's wall time each)."""
    with own_postgres() as pg:
        yield pg


@pytest.fixture
def pg(_cluster: LocalPostgres) -> Iterator[LocalPostgres]:
    """The module's PostgreSQL server, running and answering: a test may
    halt it or hang it (SIGSTOP); one left so (a test that failed midway)
    is resumed after it. Each test makes a database of its own."""
    yield _cluster
    if (_cluster.socket_dir / "data" / "postmaster.pid").exists():
        signal_server(_cluster, signal.SIGCONT)
    else:
        _cluster.resume()


def test_a_database_gone_away_is_answered_fast_and_said(tmp_path: Path) -> None:
    with own_postgres() as pg:
        state = pg.create_database("gone")
        socket_dir = str(pg.socket_dir)
        stock_up(state, 10)
        # the server's full connection wait (5 s): the bid prices are read
        # again 5 s after the first options' read (StoreBidPrices.refresh_s),
        # and the options below must come to that read: its note named the
        # store's URL (with a 1 s wait they came before it, without the note)
        with serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (
            url,
            proc,
        ):
            with httpx.Client(base_url=url, timeout=60) as client:
                first = client.post("/v1/options", json=_CART).json()
                assert not first["degraded"]
                assert client.get("/healthz").json()["status"] == "ok"
                pg.stop()
                # the pages' store is a pool of its own: its first call waits
                # out the connection wait too (5 s), alongside the options'
                # (one after the other, they were two thirds of the test);
                # both end together
                with ThreadPoolExecutor(1) as pages:
                    allocation = pages.submit(_get, url, "/v1/allocation")
                    rid = _answered_degraded(client, socket_dir)
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
                _said_while_away(client, socket_dir, allocation.result())
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            assert time.monotonic() - t < 3 * CONNECTION_WAIT_S + 5
        # the pool's warnings: one line each, naming the store (libpq's
        # hint came on a line of its own, "\tIs the server running ...")
        log = (tmp_path / "serve.log").read_text().splitlines()
        pool = [line for line in log if " WARNING psycopg.pool" in line]
        assert pool and all(state in line for line in pool), pool
        assert [line for line in log if line.startswith("\t")] == []
        # said once each while it lasted (each pool's every reconnection
        # attempt and each read of the event log came as a line of its own:
        # 35 pool lines in ten seconds away)
        repeated = [
            line.split(" ", 2)[2]  # without the time
            for line in log
            if " WARNING psycopg.pool" in line
            or "capacity event log unreadable" in line
        ]
        assert len(repeated) == len(set(repeated)), repeated


def test_readiness_flips_within_a_second_of_the_database_stopping(
    tmp_path: Path, pg: LocalPostgres
) -> None:
    """``/readyz`` says 503 within about a second of PostgreSQL stopping
    (0.1-0.6 s measured): the capacity follower's reads wait for a
    connection of their own pool for 0.5 s, and its wait on the log ends
    when the notice connection is lost. They waited the checkouts' 5 s:
    a balancer kept sending a replica checkouts for 5.1 s after its
    database went. Back to 200 once the database is."""
    state = pg.create_database("ready")
    with (
        serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (url, _),
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        for _ in range(2):  # the second time, after an outage
            _until_ready(client, 200)
            time.sleep(0.7)  # not just after a read of the log
            t = time.monotonic()
            pg.halt()
            _until_ready(client, 503)
            took = time.monotonic() - t
            assert took < 2.0, f"/readyz still 200 {took:.2f} s after the stop"
            pg.resume()


def _until_ready(client: httpx.Client, status: int) -> None:
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != status:
        assert time.monotonic() < deadline, f"/readyz never said {status}"
        time.sleep(0.02)


def _answered_degraded(client: httpx.Client, socket_dir: str) -> str:
    """Options with the database away: degraded, within the connection
    wait, saying why and never where (the bid prices' note named the
    store's URL with its socket folder); the answer's request id."""
    t = time.monotonic()
    answer = client.post("/v1/options", json=_CART)
    took = time.monotonic() - t
    assert answer.status_code == 200 and answer.json()["degraded"]
    assert took < 3 * CONNECTION_WAIT_S, took
    notes = " ".join(answer.json()["notes"])
    assert "reliable bid prices" in notes, notes
    assert socket_dir not in notes and "postgresql:" not in notes
    return str(answer.json()["request_id"])


def _get(url: str, path: str) -> httpx.Response:
    """``GET url/path`` on a client of its own."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.get(path)


def _said_while_away(
    client: httpx.Client, socket_dir: str, allocation: httpx.Response
) -> None:
    """What the server says with its database away, beyond the checkout:
    the map is degraded, calls that need the store are 503 (``allocation``:
    ``GET /v1/allocation``, asked as the database went), never where."""
    # the map (and /ops) says it as every answer does: it said
    # healthy, notes [], while the store was away
    capacity = client.get("/v1/capacity").json()
    assert capacity["degraded"], capacity["notes"]
    assert capacity["notes"][-1].startswith("capacity events could not be read ("), (
        capacity["notes"]
    )
    assert socket_dir not in " ".join(capacity["notes"])
    # calls that need the store answer 503, not 500 (a traceback)
    event = {"event_id": "gone-1", "ts": "2026-01-05T14:00:00Z",
             "node_id": "WH-EAST", "type": "staffing", "value": 80}  # fmt: skip
    posted = client.post(
        "/v1/capacity/events",
        json={"events": [event]},
        headers={"X-API-Key": API_KEY},
    )
    # stock, the operator's write and read, alike
    stock_posted = client.post(
        "/v1/stock",
        json={
            "mode": "add",
            "changes": [{"node_id": "WH-EAST", "sku": "TEE", "on_hand": 1}],
        },
        headers={"X-API-Key": API_KEY},
    )
    for refused in (posted, allocation, stock_posted, client.get("/v1/stock")):
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["error"] == "unavailable"
        assert body["message"].startswith("state store unavailable (")
        assert socket_dir not in body["message"]
        assert refused.headers["Retry-After"] == "1"


def test_a_server_starts_while_its_database_goes_away(
    tmp_path: Path, pg: LocalPostgres
) -> None:
    """The router opened its store, then the database went away (or ran
    out of connections) before the pages' and the follower's own stores
    were opened: the server starts degraded instead of failing, and reads
    the store once it is back."""
    router = tiny_router(
        tmp_path, state=pg.create_database("starting"), store_timeout_s=WAIT_S
    )
    try:
        pg.halt()
        app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
        with (
            serve_in_thread(app) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            assert client.get("/v1/samples").status_code == 200
            _wait_for_health(client, "degraded")
            pg.resume()
            _wait_for_health(client, "ok")
            samples = client.get("/v1/samples").json()
            assert {c["customer_id"] for c in samples["customers"]} & {"C9", "C10"}
    finally:
        router.close()


def _wait_for_health(client: httpx.Client, status: str) -> None:
    deadline = time.monotonic() + 30
    while client.get("/healthz").json()["status"] != status:
        assert time.monotonic() < deadline, f"/healthz never said {status}"
        time.sleep(0.05)


def test_a_sqlite_file_deleted_under_a_server_is_said_on_healthz(
    tmp_path: Path,
) -> None:
    """The server's SQLite file is deleted (a clean-up of old files, a
    backup restored with ``mv``): every select is 503, and ``/healthz`` says
    ``degraded`` within a second. It said ``ok`` for as long as the server
    ran: its capacity follower read on from the unlinked file, where no
    other process's events ever came."""
    with (
        live_server(tmp_path) as (server, _router),
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        rid = client.post("/v1/options", json=_CART).json()["request_id"]
        _wait_for_health(client, "ok")
        for gone in tmp_path.glob("state.db*"):
            gone.unlink()
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.status_code == 503, held.text
        t = time.monotonic()
        _wait_for_health(client, "degraded")
        assert time.monotonic() - t < 2
        assert client.get("/healthz").json()["store"] is False


def test_a_database_made_again_empty_under_a_server_is_said(
    tmp_path: Path, pg: LocalPostgres
) -> None:
    """The server's database is dropped and created again, empty, under a
    running ``tierflow serve``: a select is 503 ``unavailable`` saying the
    store's tables are gone, options are answered degraded, ``/healthz``
    says ``degraded``, and nothing makes the tables again. Every call was a
    500 with ``UndefinedTable``'s traceback in the log, for good, and
    ``/healthz`` said ``ok``."""
    state = pg.create_database("remade")
    stock_up(state, 10)
    with (
        serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        rid = client.post("/v1/options", json=_CART).json()["request_id"]
        _wait_for_health(client, "ok")
        run_sql(pg.url("postgres"), "DROP DATABASE remade WITH (FORCE)",
                "CREATE DATABASE remade")  # fmt: skip
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.status_code == 503, held.text
        assert held.json()["status"] == "unavailable"
        assert "the store's tables are gone" in held.json()["message"]
        assert str(pg.socket_dir) not in held.json()["message"]
        answer = client.post("/v1/options", json=_CART)
        assert answer.status_code == 200 and answer.json()["degraded"], answer.text
        _wait_for_health(client, "degraded")
    assert run_sql(
        state, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
    ) == [(0,)]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_a_hung_database_is_answered_503_within_seconds(
    tmp_path: Path, pg: LocalPostgres
) -> None:
    """PostgreSQL hangs (SIGSTOP: its sockets stay open, nothing answers)
    under a running ``tierflow serve``: a confirm sent meanwhile answers 503
    ``unavailable`` within the store's answer wait, ``/readyz`` says 503
    within seconds, and after SIGCONT the server answers again without a
    restart; the confirm sent again with its request id is one order. Both
    waited until SIGCONT (a confirm, and every call behind it for the
    pool's connections), ``/readyz`` saying 200 all along."""
    state = pg.create_database("hung")
    stock_up(state, 10)
    with (
        serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        rid = client.post("/v1/options", json=_CART).json()["request_id"]
        picked = {"option_id": "gold"}
        held = client.post(f"/v1/checkouts/{rid}/select", json=picked)
        assert held.status_code == 200, held.text
        _until_ready(client, 200)
        signal_server(pg, signal.SIGSTOP)
        try:
            t = time.monotonic()
            with ThreadPoolExecutor(1) as ready:
                # bounds with room for a loaded CI machine (the figures,
                # 2.5 s and 1.0-1.5 s, are measured in docs/store.md):
                # before, both waited until SIGCONT
                flipped = ready.submit(_until_ready_within, url, 503, 6.0)
                confirmed = client.post(f"/v1/checkouts/{rid}/confirm", json={})
                took = time.monotonic() - t
                assert confirmed.status_code == 503, confirmed.text
                body = confirmed.json()
                assert body["status"] == "unavailable", body
                assert body["message"] == (
                    "the database did not answer within 2 s (hung, or a network "
                    "partition); the connection was closed and what it sent may "
                    "still run: a retry with the same ids finds it"
                )
                assert confirmed.headers["Retry-After"] == "1"
                assert took < 8.0, f"the confirm answered after {took:.2f} s"
                assert flipped.result() < 6.0
        finally:
            signal_server(pg, signal.SIGCONT)
        _until_ready(client, 200)
        again = client.post(f"/v1/checkouts/{rid}/confirm", json={})
        assert again.status_code == 200, again.text
        other = client.post("/v1/options", json=_CART).json()
        assert not other["degraded"], other["notes"]
    _one_order(state, rid, again)


def _until_ready_within(url: str, status: int, limit: float) -> float:
    """Seconds until ``/readyz`` said ``status`` (asked every 20 ms), failing
    after ``limit`` seconds."""
    t = time.monotonic()
    with httpx.Client(base_url=url, timeout=limit) as client:
        while True:
            try:
                if client.get("/readyz").status_code == status:
                    return time.monotonic() - t
            except httpx.TimeoutException:
                pass
            took = time.monotonic() - t
            assert took < limit, f"/readyz not {status} after {took:.2f} s"
            time.sleep(0.02)


def _one_order(state: str, rid: str, confirmed: httpx.Response) -> None:
    """Checkout ``rid`` confirmed once: one order, its line once (the first
    confirm's commit may have run as the server resumed: the second found
    it), and no hold left behind (the confirm's became the order)."""
    assert confirmed.json()["status"] == "confirmed", confirmed.text
    lines = run_sql(state, "SELECT order_id, sku, quantity FROM online_orders")
    assert lines == [(rid, "TEE", 1)]
    assert run_sql(state, "SELECT SUM(reserved) FROM inventory") == [(0,)]


def test_options_in_a_hung_database_are_answered_within_the_answer_wait(
    tmp_path: Path, pg: LocalPostgres
) -> None:
    """PostgreSQL hangs (SIGSTOP) under a running ``tierflow serve``:
    options asked meanwhile are answered degraded within the store's answer
    wait and the probe's (2.5 s), as a confirm's 503 is, and not degraded
    again soon after SIGCONT. They took 7.5 s: the answer wait for their
    first read, then the pool's 5 s connection wait for the next one."""
    state = pg.create_database("hung_options")
    stock_up(state, 10)
    with (
        serve_process(state, tmp_path / "serve.log", "--no-pin-cpus") as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        assert not client.post("/v1/options", json=_CART).json()["degraded"]
        _until_ready(client, 200)
        signal_server(pg, signal.SIGSTOP)
        try:
            t = time.monotonic()
            answer = client.post("/v1/options", json=_CART)
            took = time.monotonic() - t
        finally:
            signal_server(pg, signal.SIGCONT)
        assert answer.status_code == 200, answer.text
        assert answer.json()["degraded"]
        assert answer.json()["notes"] == [
            "stock could not be read (the database did not answer within 2 s "
            "(hung, or a network partition); the connection was closed and "
            "what it sent may still run: a retry with the same ids finds "
            "it): last known stock"
        ]
        # 2.52 s measured (2 s of silence, the probe's 0.5 s); room for
        # a loaded machine, under the 7.5 s of before
        assert took < 4.0, f"options answered after {took:.2f} s"
        time.sleep(0.05)  # the store's probe answered since SIGCONT
        again = client.post("/v1/options", json=_CART).json()
        assert not again["degraded"], again["notes"]


def test_a_follower_whose_listen_meets_a_hang_says_so_and_follows_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: LocalPostgres
) -> None:
    """PostgreSQL hangs (SIGSTOP) between the login of the capacity
    follower's notice connection and its ``LISTEN``: the follower gives its
    read of the log up within its answer wait and the probe's and says the
    store is away (``/healthz`` degraded, ``/readyz`` 503), as for any other
    hang, and follows the log again after SIGCONT. It said so 5.8 s after
    the hang (a 5 s wait for the ``LISTEN``, then its read's answer wait),
    and waited the 5 s again at every retry."""
    router = tiny_router(tmp_path, state=pg.create_database("listen_hung"))
    # (the router's store was opened before: the follower's is hung)
    stopped = hang_after_notice_login(pg, monkeypatch)
    follower = feed.CapacityFollower(router, lambda: None)
    try:
        follower.start()
        try:
            deadline = time.monotonic() + 10
            while not stopped:
                assert time.monotonic() < deadline, "no notice connection made"
                time.sleep(0.01)
            limit = feed.ANSWER_WAIT_S + postgres_database.PROBE_WAIT_S + 0.7
            while not follower.store_unreachable:
                took = time.monotonic() - stopped[0]
                assert took < limit, f"still reachable {took:.2f} s after the hang"
                time.sleep(0.02)
        finally:
            signal_server(pg, signal.SIGCONT)
        _followed_again(router, follower, time.monotonic())
    finally:
        follower.stop()
        router.close()


def _followed_again(
    router: OnlineRouter, follower: feed.CapacityFollower, resumed: float
) -> None:
    """``follower`` pulls an event another store logs into ``router``'s map
    and says the store is back, within its retry's pause (``RETRY_S``, after
    its failed read) and a second of ``resumed``."""
    store = router.store
    assert store is not None
    seq = router.monitor.last_seq
    with store.reopen() as other:
        other.append_events(
            [{"event_id": "after", "ts": "2026-01-05T10:00:00Z",
              "node_id": router.network.node_ids[0], "type": "staffing",
              "value": 50}]
        )  # fmt: skip
    while router.monitor.last_seq == seq or follower.store_unreachable:
        took = time.monotonic() - resumed
        assert took < feed.RETRY_S + 1.0, f"not followed {took:.2f} s on"
        time.sleep(0.02)
