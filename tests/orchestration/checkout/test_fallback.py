"""Never fail a checkout: a lost store, an unopenable store, a failed bid-price LP."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_NETWORK
from tests.orchestration.checkout.helpers import event, ids
from tests.postgres import run_sql
from tests.service_fixtures import MONDAY_10, put_scores, tiny_router
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.data.store import (
    StateStore,
    StoreUnavailable,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.orchestration import bid_prices as bid_module
from tierflow.orchestration.checkout.router import OnlineRouter


def test_store_failure_falls_back_and_says_so(
    tmp_path: Path, state_location: Path | str
) -> None:
    with tiny_router(tmp_path, state=state_location) as r:
        first = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        assert not first.degraded and first.notes == ()
        assert r.store is not None
        r.store.close()  # the database goes away mid-day
        answer = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        assert answer.degraded and ids(answer) == ids(first)
        text = " ".join(answer.notes)
        for part in ("stock could not be read", "CLTV score could not be read",
                     "capacity events could not be read"):  # fmt: skip
            assert part in text
        assert answer.customer.source.endswith("(last known)")
        assert answer.customer.platinum_eligible  # last known threshold and score
        held = r.select(answer.request_id, "gold")
        assert (held.ok, held.status) == (False, "unavailable")


def test_another_replicas_checkout_is_unavailable_not_unknown_while_the_store_is_away(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A replica that never saw a checkout and cannot read the store does
    not know it is unknown: it answers ``unavailable`` (HTTP 503, retry),
    as confirm always did. Select and the stream answered "unknown request
    id" (404), which tells an integrator to drop a live checkout."""
    with (
        tiny_router(tmp_path, state=state_location) as a,
        tiny_router(tmp_path, state=state_location, scores=False) as b,
    ):
        answer = a.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        rid = answer.request_id
        assert b.store is not None
        b.store.close()  # b's database goes away
        results = [b.select(rid, "gold"), b.cancel(rid), b.confirm(rid)]
        assert [r.status for r in results] == ["unavailable"] * 3, results
        with pytest.raises(StoreUnavailable):
            b.is_open(rid)  # the stream's check: 503
        with pytest.raises(StoreUnavailable):
            b.requote(rid, now=MONDAY_10)
        unknown = "never-made"
        with pytest.raises(StoreUnavailable):  # unknown or not, it cannot tell
            b.is_open(unknown)
        assert a.select(rid, "gold").status == "held"  # the checkout was live


def test_a_deleted_store_file_is_said_without_its_path(tmp_path: Path) -> None:
    """The SQLite file deleted under a live router: a select is
    ``unavailable`` and says why without the server's path (an HTTP 503's
    message said ``the database file /srv/.../state.db is gone``; where the
    store is, is the operator's: the error's ``location``)."""
    state = tmp_path / "state.db"
    with tiny_router(tmp_path, state=state) as r:
        answer = r.generate_fulfillment_options(
            "C10", [("MUG", 1)], "606", now=MONDAY_10
        )
        for gone in tmp_path.glob("state.db*"):
            gone.unlink()
        held = r.select(answer.request_id, "gold")
        assert (held.ok, held.status) == (False, "unavailable")
        assert held.message == (
            "the database file is gone (deleted or replaced since it was opened)"
        )
        assert r.store is not None
        logged: dict[str, Any] = {"event_id": "e1", "ts": "2026-01-05T10:00:00+00:00"}
        logged |= {"node_id": "N1", "type": "backlog", "value": 1.0}
        with pytest.raises(StoreUnavailable) as caught:
            r.store.append_events([logged])
        assert str(caught.value) == f"{state}: {held.message}"  # the operator's


def test_unopenable_store_still_answers(tmp_path: Path) -> None:
    """A database that is down is an outage: the router answers, degraded."""
    (tmp_path / "adir").mkdir()
    state = f"postgresql://tierflow@/tierflow?host={tmp_path / 'adir'}"
    r = OnlineRouter.open(load_network(TINY_NETWORK), state)
    answer = r.generate_fulfillment_options("C1", [("TEE", 1)], "100", now=MONDAY_10)
    assert answer.degraded and answer.options
    assert answer.notes[0].startswith("state store unavailable (")
    assert r.select(answer.request_id, "gold").status == "unavailable"
    # where the store is, is the operator's (serve's banner), not the caller's
    assert "adir" not in " ".join(answer.notes), answer.notes
    assert str(tmp_path / "adir") in r.store_error, r.store_error


@pytest.mark.parametrize("where", ["a folder", "a CSV file"])
def test_what_cannot_be_a_store_is_refused(tmp_path: Path, where: str) -> None:
    """A location that cannot be a store is a wrong argument, not an outage
    (``tierflow serve --state orders.csv`` exits 1 naming it)."""
    table = tmp_path / "orders.csv"
    table.write_text("order_id,sku\nA,TEE\n")
    state, why = {
        "a folder": (tmp_path, "is a folder, not a database file"),
        "a CSV file": (table, "not a SQLite database (a tierflow state store is one)"),
    }[where]
    with pytest.raises(InputError) as caught:
        OnlineRouter.open(load_network(TINY_NETWORK), state)
    assert str(caught.value) == f"{state}: {why}"
    assert table.read_text() == "order_id,sku\nA,TEE\n"


def test_lp_failure_means_plain_greedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("solver down")

    monkeypatch.setattr(bid_module, "lp_relaxation", broken)
    with tiny_router(tmp_path) as r:
        for i, node in enumerate(r.network.node_ids):
            event(r, node, "forecast", float(r.network.capacity[i]), i)
        answer = r.generate_fulfillment_options(
            "C5", [("TEE", 1)], "606", now=MONDAY_10
        )
    assert answer.options and answer.degraded
    assert answer.bid_prices.startswith("zero bid prices: the estimate failed")
    assert any(n.startswith("greedy without reliable bid prices") for n in answer.notes)


def test_options_answered_while_the_store_failed_reach_it_when_it_is_back(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An option set answered while its write failed was kept in that
    process only, for good: after the outage another replica answered its
    select "unknown request id" (a server that started without its store
    wrote them when it opened it; one that lost it mid-run never did). It is
    written at the next answer written, or when the follower reads the log
    again (``save_unsaved``); meanwhile another replica answers it
    "unavailable" (retry)."""
    with (
        tiny_router(tmp_path, state=state_location) as a,
        tiny_router(tmp_path, state=state_location, scores=False) as b,
    ):
        assert a.store is not None
        store_type = type(a.store)

        def down(*_: object, **__: object) -> None:
            raise StoreUnavailable("the database is away")

        with monkeypatch.context() as outage:  # the store refuses writes
            outage.setattr(a.store, "put_quote", down)
            first = a.generate_fulfillment_options(
                "C10", [("MUG", 1)], "606", now=MONDAY_10
            )
            second = a.generate_fulfillment_options(
                "C10", [("TEE", 1)], "606", now=MONDAY_10
            )
        assert "put_quote" not in vars(a.store) and type(a.store) is store_type
        # not written yet: another replica says "retry" (its id says so)
        assert b.select(first.request_id, "gold").status == "unavailable"
        assert a.save_unsaved() == 2 and a.save_unsaved() == 0
        assert b.select(first.request_id, "gold").status == "held"
        assert b.select(second.request_id, "gold").status == "held"
        # written with the next answer that reaches the store, too
        with monkeypatch.context() as outage:
            outage.setattr(a.store, "put_quote", down)
            third = a.generate_fulfillment_options(
                "C10", [("MUG", 1)], "606", now=MONDAY_10
            )
        a.generate_fulfillment_options("C10", [("TEE", 1)], "606", now=MONDAY_10)
        assert b.select(third.request_id, "gold").status == "held"


@contextmanager
def _store_away(location: Path | str, request: pytest.FixtureRequest) -> Iterator[None]:
    """The store cannot be written (SQLite: another process holds its write
    lock) or reached at all (PostgreSQL: its database takes no connections
    and its sessions are ended; the session's other databases go on)."""
    if not is_postgres_url(location):
        other = sqlite3.connect(location, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = str(location).split("?", 1)[0].rsplit("/", 1)[1]
    run_sql(
        server.url("postgres"),
        f"ALTER DATABASE {name} ALLOW_CONNECTIONS false",
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
    )
    try:
        yield
    finally:
        run_sql(server.url("postgres"), f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def _until_reachable(store: StateStore) -> None:
    """Wait until a read of ``store`` succeeds (its pool has reconnected)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            store.get_quote("probe")
            return
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store never came back"
            time.sleep(0.05)


def test_another_replicas_checkout_answered_in_an_outage_is_unavailable_until_written(
    tmp_path: Path,
    state_location: Path | str,
    request: pytest.FixtureRequest,
) -> None:
    """Replica ``a`` answered options while the store was away and keeps
    them in memory until it writes them; ``b`` got its connection back
    first and answered their select 404 "unknown request id" (a checkout
    that worked a few seconds later). The id of an option set the store
    did not take carries its expiry (``<token>_<epoch s>``): every replica
    answers it ``unavailable`` (503, retry) until ``a`` has written it,
    however long ``a`` takes: select, confirm, cancel, the stream and a
    requote alike. An id nobody made is unknown (404) at once, outage or
    not (it was 503 for 10 s after one), and so is a marked id past its
    expiry or with one further ahead than a quote lives."""
    network = load_network(TINY_NETWORK)
    with open_store(state_location) as seeded:
        put_scores(seeded)
    a, b = (
        OnlineRouter.open(
            network,
            open_store(state_location, timeout_s=0.3),
            capacity_refresh_s=0.0,
            cltv_refresh_s=0.0,
        )
        for _ in range(2)
    )
    try:
        assert a.store is not None and b.store is not None
        with _store_away(state_location, request):
            kept = a.generate_fulfillment_options(
                "C10", [("MUG", 1)], "606", now=MONDAY_10
            )
        _until_reachable(b.store)  # b has its connection back
        rid = kept.request_id
        token, until = rid[:22], rid[23:]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}_[0-9]+", rid), rid
        assert 0 < int(until) - time.time() <= 1800 + 1  # the default quote TTL
        results = [b.select(rid, "gold"), b.confirm(rid), b.cancel(rid)]
        assert [r.status for r in results] == ["unavailable"] * 3, results
        said = (
            "request id not found yet: another server answered it while the "
            "store could not be written and keeps it until it can: retry"
        )
        for result in results:
            assert result.message == said, result.message
        with pytest.raises(StoreUnavailable, match=f"^{said}$"):
            b.is_open(rid)  # the stream's check: 503
        with pytest.raises(StoreUnavailable, match=f"^{said}$"):
            b.requote(rid, now=MONDAY_10)
        # right after the outage, an id nobody made is unknown: no window
        with pytest.raises(InputError) as unknown:
            b.select("never-made", "gold")
        assert unknown.value.reason == (
            "unknown request id (no options were generated for it, or they "
            "were dropped)"
        )
        with pytest.raises(InputError) as unknown:
            b.cancel("never-made")
        assert unknown.value.reason == "unknown request id"
        now = int(time.time())
        for made_up in (
            f"{token}_{now - 1}",  # expired
            f"{token}_{now + 1800 + 3600}",  # lives longer than a quote
            f"{token}_12e9",
            f"{token[1:]}_{now + 60}",  # not an id's 22 characters
        ):
            with pytest.raises(InputError):
                b.select(made_up, "gold")
        _until_reachable(a.store)  # a has its connection back too
        assert a.is_open(rid)  # its next read of the store writes what it kept
        assert b.select(rid, "gold").status == "held"
        assert b.confirm(rid).status == "confirmed"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("step", ["seed", "router"])
def test_a_ctrl_c_while_the_router_opens_closes_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A Ctrl-C while :meth:`OnlineRouter.open` seeds the store it opened,
    or while it makes the router over it: that store is closed before the
    interrupt goes on (only the store errors closed it: the process ended
    with a SQLite ``-wal`` left, QA 2026-12-07)."""
    from tierflow.data.store.database_store import DatabaseStore

    closes: list[int] = []
    close = DatabaseStore.close

    def counted(self: DatabaseStore) -> None:
        closes.append(1)
        close(self)

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(DatabaseStore, "close", counted)
    if step == "seed":
        monkeypatch.setattr(DatabaseStore, "seed_network_inventory", interrupted)
    else:
        monkeypatch.setattr(OnlineRouter, "__init__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        OnlineRouter.open(load_network(TINY_NETWORK), tmp_path / "state.db")
    assert closes == [1]
