"""``prune_state``: bounded tables that never lose live state, on both backends."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.data.order_lines import order_line
from tests.postgres import downgrade_store, run_sql
from tierflow.capacity.events import EventIdConflict, parse_event
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import (
    SCHEMA_VERSION,
    ChangeIdPruned,
    StateStore,
    StockChange,
    StockReceipt,
    UpgradeNote,
    open_store,
    retention,
)

DAY_S = 86_400.0
#: The instant every test prunes at (the store's own clock stamps the rows
#: logged now; the old ones are aged behind its back).
NOW = float(int(time.time()))
TODAY = dt.datetime.fromtimestamp(NOW, dt.UTC).date()
KEEP_DAYS = 7
#: What :func:`seed` leaves old enough and no longer needed (deleted), and
#: what it leaves live or young (kept), per table, by ``prune_state(7)``, in
#: the order the report lists them.
DELETED = {
    "cltv_scores": 6,
    "cltv_new_customer": 2,
    "capacity_events": 3,
    "stock_changes": 0,
    "upgrades": 2,
    "online_orders": 4,
    "allocations": 6,
    "allocation_batches": 2,
    "allocation_runs": 2,
}
KEPT = {
    "cltv_scores": 6,
    "cltv_new_customer": 2,
    "capacity_events": 2,
    "stock_changes": 2,
    "upgrades": 2,
    "online_orders": 4,
    "allocations": 2,
    "allocation_batches": 2,
    "allocation_runs": 2,
}
#: The stock change ids the prune keeps without their answers (a replay of
#: one is refused): ``count-old``.
COMPACTED = {"stock_changes": 1}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def event(event_id: str, ts: float, value: float = 80.0) -> dict[str, Any]:
    """A staffing event at WH-EAST of the tiny network."""
    return {"event_id": event_id, "ts": _iso(ts), "node_id": "WH-EAST"} | {
        "type": "staffing",
        "value": value,
    }


def order(
    store: StateStore,
    order_id: str,
    skus: list[str],
    at: float,
    *,
    upgrade: bool = False,
) -> None:
    """A checkout held and confirmed at ``at``: its lines in ``online_orders``
    (``upgrade``: a Platinum upgrade noted, then charged by the confirm)."""
    held = [("N1", [(sku, 1) for sku in skus])]
    lines = [order_line(order_id, "N1", sku, 1) for sku in skus]
    note = UpgradeNote("gold", "C1", 4.0, 100.0) if upgrade else None
    store.hold_checkout(
        order_id, "gold", held, 60, order_lines=lines, now=at, upgrade=note
    )
    store.confirm_checkout(order_id, now=at + 1)


def _decided(lines: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Allocation rows of ``(order_id, sku, status)``."""
    return pd.DataFrame(
        {
            "order_id": [o for o, _, _ in lines],
            "sku": [s for _, s, _ in lines],
            "quantity": 1,
            "node_id": ["N1" if st == "allocated" else None for _, _, st in lines],
            "service": "ground",
            "ship_date": "2026-01-05",
            "promised_date": "2026-01-08",
            "cost": 9.5,
            "status": [st for _, _, st in lines],
            "reason": "",
        }
    )


def _run(
    store: StateStore, run_id: str, lines: list[tuple[str, str, str]], *, finish: bool
) -> None:
    store.start_allocation_run(run_id, {"run": run_id})
    store.write_allocation_batch(run_id, 0, _decided(lines))
    if finish:
        store.finish_allocation_run(run_id)


def seed(location: Path | str, network: Network) -> None:
    """A store of every kind of row the prune judges (see the tests' names)."""
    with open_store(location) as store:
        store.upsert_inventory(
            pd.DataFrame({"node_id": "N1", "sku": ["TEE", "MUG"], "on_hand": 50})
        )
        # stock changes by id: one received 20 days ago, one now (counts
        # that change nothing)
        for change_id, sku in (("count-old", "TEE"), ("count-new", "MUG")):
            store.change_stock_once([("N1", sku, 50)], change_id=change_id)
        # scores: two days older than 7 (3 customers each), two within
        for days in (30, 10, 1, 0):
            scores = pd.DataFrame(
                {
                    "customer_id": ["C1", "C2", "C3"],
                    "predicted_spend": [10.0 + days, 20.0, 30.0],
                    "p_active": 0.5,
                    "segment": "mid",
                }
            )
            day = TODAY - dt.timedelta(days=days)
            store.put_cltv_scores(
                scores, as_of=day, model_version=f"m{days}", new_customer_spend=5.0
            )
        # events: three covered by the newest snapshot, two after it (one old)
        mon = CapacityMonitor.open(network, store)
        mon.ingest(
            [
                parse_event(event(f"e{i}", NOW - 20 * DAY_S + i), network)
                for i in (1, 2, 3)
            ]
        )
        mon.snapshot()
        mon.ingest([parse_event(event("e4", NOW - 20 * DAY_S + 4), network)])
        mon.ingest([parse_event(event("e5", NOW - 60, 90.0), network)])
        # orders, each with a charged upgrade but o-gone and o-open: one old
        # and all allocated; one old, a line deferred by the old run and
        # again by the open run, within the days kept (live); one old, its
        # line unfillable (dead); one old, its line deferred only by a run
        # that crashed 20 days ago (dead: nothing has picked it up since);
        # one old, never allocated; one young and allocated
        old, young = NOW - 20 * DAY_S, NOW - DAY_S
        order(store, "o-done", ["TEE", "MUG"], old, upgrade=True)
        order(store, "o-part", ["TEE", "MUG"], old, upgrade=True)
        order(store, "o-dead", ["TEE"], old, upgrade=True)
        order(store, "o-gone", ["MUG"], old)
        order(store, "o-open", ["TEE"], old)
        order(store, "o-new", ["TEE"], young, upgrade=True)
        done = [("o-done", "TEE", "allocated"), ("o-done", "MUG", "allocated")]
        part = [("o-part", "TEE", "allocated"), ("o-part", "MUG", "deferred")]
        dead = [("o-dead", "TEE", "unfillable")]
        _run(store, "r-old", [*done, *part, *dead], finish=True)
        _run(store, "r-crashed", [("o-gone", "MUG", "deferred")], finish=False)
        _run(store, "r-open", [("o-part", "MUG", "deferred")], finish=False)
        _run(store, "r-last", [("o-new", "TEE", "allocated")], finish=True)
    run_sql(
        location,
        f"UPDATE capacity_events SET received_at = {NOW - 20 * DAY_S} "
        "WHERE event_id IN ('e1', 'e2', 'e3', 'e4')",
        f"UPDATE stock_changes SET received_at = {NOW - 20 * DAY_S} "
        "WHERE change_id = 'count-old'",
        f"UPDATE allocation_runs SET created_at = {NOW - 21 * DAY_S}, "
        f"finished_at = {NOW - 20 * DAY_S} WHERE run_id = 'r-old'",
        # an unfinished run is kept while its last batch is within the days
        # kept (a resume carries on), however old its start
        f"UPDATE allocation_runs SET created_at = {NOW - 20 * DAY_S} "
        "WHERE run_id = 'r-open'",
        f"UPDATE allocation_runs SET created_at = {NOW - 21 * DAY_S} "
        "WHERE run_id = 'r-crashed'",
        f"UPDATE allocation_batches SET committed_at = {NOW - 20 * DAY_S} "
        "WHERE run_id IN ('r-old', 'r-crashed')",
        f"UPDATE allocation_batches SET committed_at = {NOW - 19 * DAY_S} "
        "WHERE run_id = 'r-last'",
        # the latest run is kept however old (the service shows it)
        f"UPDATE allocation_runs SET created_at = {NOW - 19 * DAY_S}, "
        f"finished_at = {NOW - 19 * DAY_S} WHERE run_id = 'r-last'",
    )


@pytest.fixture
def seeded(state_location: Path | str, tiny_network: Network) -> Iterator[StateStore]:
    seed(state_location, tiny_network)
    with open_store(state_location) as store:
        yield store


def _counts(report: Any) -> tuple[dict[str, int], dict[str, int]]:
    return (
        {t.table: t.deleted for t in report.tables},
        {t.table: t.kept for t in report.tables},
    )


def _compacted(report: Any) -> dict[str, int]:
    return {t.table: t.compacted for t in report.tables if t.compacted}


def _rows(store: StateStore, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store._db.execute(sql).fetchall()]  # type: ignore[attr-defined]


def test_prune_deletes_exactly_the_old_rows_nothing_live_needs(
    seeded: StateStore,
) -> None:
    report = seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    assert _counts(report) == (DELETED, KEPT)
    assert _compacted(report) == COMPACTED
    assert not report.dry_run
    assert report.cutoff == NOW - KEEP_DAYS * DAY_S
    days = _rows(seeded, "SELECT DISTINCT as_of FROM cltv_scores ORDER BY as_of")
    assert days == [((TODAY - dt.timedelta(days=1)).isoformat(),), (TODAY.isoformat(),)]
    assert seeded.cltv_score("C1").model_version == "m0"  # type: ignore[union-attr]
    assert seeded.cltv_new_customer_spend() == 5.0
    events = _rows(seeded, "SELECT event_id FROM capacity_events ORDER BY seq")
    assert events == [("e4",), ("e5",)]
    changes = _rows(
        seeded, "SELECT change_id, result FROM stock_changes ORDER BY change_id"
    )
    assert changes == [
        ("count-new", '{"changes": [["N1", "MUG", 50, 50, 0]], "cuts": []}'),
        ("count-old", ""),
    ]
    orders = seeded.online_orders()
    assert sorted(set(orders.order_id)) == ["o-new", "o-open", "o-part"]
    # a charged upgrade goes with its order, never without it
    charged = seeded.confirmed_upgrades()
    assert sorted(charged.request_id) == ["o-new", "o-part"]
    runs = _rows(seeded, "SELECT run_id FROM allocation_runs ORDER BY run_id")
    assert runs == [("r-last",), ("r-open",)]
    assert seeded.latest_allocation_run().run_id == "r-last"  # type: ignore[union-attr]
    # the same prune again finds nothing more
    again = seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    assert _counts(again) == (dict.fromkeys(DELETED, 0), KEPT)
    assert _compacted(again) == {}
    assert seeded.start_allocation_run("r-open", {"run": "r-open"}) == 0  # resumable
    # a repeat of the crashed run starts again from nothing
    assert seeded.start_allocation_run("r-crashed", {"run": "r-crashed"}) is None


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(
    seeded: StateStore,
) -> None:
    report = seeded.prune_state(
        KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW, dry_run=True
    )
    assert report.dry_run
    assert (_counts(report), _compacted(report)) == ((DELETED, KEPT), COMPACTED)
    done = seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    assert (_counts(done), _compacted(done)) == ((DELETED, KEPT), COMPACTED)


def test_a_dry_run_only_reads_while_a_writer_holds_the_capacity_log(
    seeded: StateStore, state_location: Path | str
) -> None:
    """``state prune --dry-run`` is a command that only reads (it never
    migrates): it counted in a write transaction under the capacity log's
    lock, so every writer (on SQLite all of them, on PostgreSQL each
    confirm and event) waited for its whole count, 1.56 s at a million
    events and 300,000 orders beside a write every 10 ms, and a writer
    holding the lock held the dry run. It counts in a read snapshot now:
    the same figures, a writer holding the lock 3 s does not delay it."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with (
            open_store(state_location) as writer,
            writer._db.tx() as conn,  # type: ignore[attr-defined]
        ):
            conn.lock("capacity_events")
            conn.execute("SELECT 1").fetchone()  # (PostgreSQL: sent, taken)
            held.set()
            release.wait(3.0)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10.0)
        start = time.monotonic()
        report = seeded.prune_state(
            KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW, dry_run=True
        )
        took = time.monotonic() - start
    finally:
        release.set()
        holder.join()
    assert (_counts(report), _compacted(report)) == ((DELETED, KEPT), COMPACTED)
    assert took < 1.5, took


@pytest.mark.parametrize(
    ("keep_days", "reason"),
    [
        (0, "must be >= 1 (the day's orders, scores and capacity events are live)"),
        (-3, "must be >= 1 (the day's orders, scores and capacity events are live)"),
        # the cutoff of a million days was no date (ValueError: year -711)
        (1_000_000, "must be at most 36500 (a century: further back the cutoff "
                    "is no date; to keep everything, do not prune)"),
    ],
)  # fmt: skip
def test_keep_days_out_of_range_is_refused(
    seeded: StateStore, keep_days: int, reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        seeded.prune_state(
            keep_days, upgrade_period_days=1, give_back_upgrades=True, now=NOW
        )
    assert str(caught.value) == f"field '--keep-days': value {keep_days}: {reason}"
    assert (
        _counts(
            seeded.prune_state(
                KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW, dry_run=True
            )
        )[0]
        == DELETED
    )


@pytest.mark.parametrize("dry_run", [False, True], ids=["prune", "dry-run"])
def test_keep_days_shorter_than_the_upgrade_period_is_refused_by_the_store(
    seeded: StateStore, dry_run: bool
) -> None:
    """The rule is the store's, whoever calls: only ``tierflow state prune``
    refused 7 days under a 30-day upgrade period, and any other caller gave
    the customers of the orders pruned their upgrade allowance back without
    a word. Refused as the command refuses it, nothing deleted; asked for
    (``give_back_upgrades``), or under a period of 7 days, it prunes."""
    with pytest.raises(InputError) as caught:
        seeded.prune_state(7, upgrade_period_days=30, now=NOW, dry_run=dry_run)
    assert str(caught.value) == (
        "field '--keep-days': value 7: shorter than the tier policy's "
        "upgrade_period_days (30): the charged upgrades of the orders it "
        "prunes would give their customers' upgrade allowance back; keep "
        "at least 30 days, or give --give-back-upgrades; nothing deleted"
    )
    # "at least 30": a day short is refused too (a rule one day off passed)
    with pytest.raises(InputError, match=r"^field '--keep-days': value 29: shorter"):
        seeded.prune_state(29, upgrade_period_days=30, now=NOW, dry_run=dry_run)
    asked = seeded.prune_state(
        7, upgrade_period_days=30, give_back_upgrades=True, now=NOW, dry_run=True
    )
    assert _counts(asked) == (DELETED, KEPT)  # the refusal deleted nothing
    done = seeded.prune_state(7, upgrade_period_days=7, now=NOW, dry_run=dry_run)
    assert _counts(done) == (DELETED, KEPT)


def test_the_newest_score_day_is_kept_however_old(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as store:
        frame = pd.DataFrame(
            {"customer_id": ["C1"], "predicted_spend": [1.0], "p_active": 0.5}
            | {"segment": "low"}
        )
        for days in (90, 60):
            day = TODAY - dt.timedelta(days=days)
            store.put_cltv_scores(frame, as_of=day, model_version="m")
        deleted, kept = _counts(
            store.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
        )
        assert (deleted["cltv_scores"], kept["cltv_scores"]) == (1, 1)
        assert store.latest_cltv_as_of() == TODAY - dt.timedelta(days=60)
        assert store.cltv_score("C1") is not None


def test_without_a_snapshot_no_capacity_event_is_pruned(
    state_location: Path | str, tiny_network: Network
) -> None:
    """The map of a store without a snapshot is the whole log replayed."""
    with open_store(state_location) as store:
        CapacityMonitor.open(tiny_network, store).ingest(
            [parse_event(event("e1", NOW - 20 * DAY_S), tiny_network)]
        )
    run_sql(
        state_location, f"UPDATE capacity_events SET received_at = {NOW - 20 * DAY_S}"
    )
    with open_store(state_location) as store:
        deleted, kept = _counts(
            store.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
        )
        assert (deleted["capacity_events"], kept["capacity_events"]) == (0, 1)


def test_a_prune_of_every_event_leaves_the_followers_seq_where_it_was(
    state_location: Path | str, tiny_network: Network
) -> None:
    """A prune that deletes the whole log (every event old and in the newest
    snapshot): the followers' wait still reads the log's last ``seq`` (the
    snapshot's), not 0, which they take for a store restored under them
    (``service/feed.py``) and reload the map for."""
    with open_store(state_location) as store:
        mon = CapacityMonitor.open(tiny_network, store)
        mon.ingest([parse_event(event(f"e{k}", NOW - 20 * DAY_S + k), tiny_network)
                    for k in range(3)])  # fmt: skip
        mon.snapshot()
        last = store.last_event_seq()
        before = store.wait_for_changes(last, 0, timeout_s=0)
    run_sql(
        state_location, f"UPDATE capacity_events SET received_at = {NOW - 20 * DAY_S}"
    )
    with open_store(state_location) as store:
        deleted, kept = _counts(
            store.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
        )
        assert (deleted["capacity_events"], kept["capacity_events"]) == (3, 0)
        assert store.last_event_seq() == 0
        after = store.wait_for_changes(last, 0, timeout_s=0)
        assert after.seq == before.seq == last == 3
        assert after.made == before.made


def test_the_capacity_map_is_the_same_after_a_prune_and_a_pruned_event_replayed_is_refused(
    seeded: StateStore, tiny_network: Network
) -> None:
    before = CapacityMonitor.open(tiny_network, seeded).state()
    seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    mon = CapacityMonitor.open(tiny_network, seeded)
    assert mon.state() == before
    # e2's id went with it: applied again it would count twice, so an event
    # dated at or before the newest pruned one is refused, nothing logged
    replay = parse_event(event("e2", NOW - 20 * DAY_S + 2), tiny_network)
    with pytest.raises(EventIdConflict) as caught:
        mon.ingest([replay])
    newest = _iso(NOW - 20 * DAY_S + 3)
    assert str(caught.value) == (
        "row 1: field 'ts': value "
        f"{_iso(NOW - 20 * DAY_S + 2)!r}: at or before {newest}, the newest "
        "event `tierflow state prune` deleted from the capacity log (with its "
        "id): it may be one applied already, so it is refused"
    )
    assert mon.state() == before
    # a kept event is still a duplicate by its id; a new one is applied
    kept = mon.ingest([parse_event(event("e4", NOW - 20 * DAY_S + 4), tiny_network)])
    assert (kept.applied, kept.duplicates) == (0, 1)
    new = mon.ingest([parse_event(event("e6", NOW - 30, 70.0), tiny_network)])
    assert (new.applied, new.duplicates) == (1, 0)
    assert CapacityMonitor.open(tiny_network, seeded).state() == mon.state()


def test_a_prune_in_one_row_chunks_deletes_exactly_what_one_would(
    seeded: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every table's rows, and a run's rows, over several transactions
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 1)
    report = seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    assert (_counts(report), _compacted(report)) == ((DELETED, KEPT), COMPACTED)
    events = _rows(seeded, "SELECT event_id FROM capacity_events ORDER BY seq")
    assert events == [("e4",), ("e5",)]
    runs = _rows(seeded, "SELECT run_id FROM allocation_runs ORDER BY run_id")
    assert runs == [("r-last",), ("r-open",)]


def _consistent(store: StateStore) -> None:
    """What a prune stopped between two transactions must leave."""
    # no charged upgrade without its order
    assert (
        _rows(
            store,
            "SELECT request_id FROM upgrades WHERE confirmed_at IS NOT NULL AND "
            "request_id NOT IN (SELECT order_id FROM online_orders)",
        )
        == []
    )
    # no allocation without its batch, no batch without its run, and a run's
    # batches from 0 up
    assert (
        _rows(
            store,
            "SELECT run_id FROM allocations a WHERE NOT EXISTS (SELECT 1 FROM "
            "allocation_batches b WHERE b.run_id = a.run_id AND b.batch = a.batch) "
            "UNION SELECT run_id FROM allocation_batches b WHERE run_id NOT IN "
            "(SELECT run_id FROM allocation_runs)",
        )
        == []
    )
    # every event gone is behind the horizon (a replay of it is refused)
    gone = {"e1", "e2", "e3"} - {
        str(r[0]) for r in _rows(store, "SELECT event_id FROM capacity_events")
    }
    horizon = _rows(store, "SELECT horizon FROM prune_horizons")
    if gone:
        newest = max(NOW - 20 * DAY_S + int(e[1]) for e in gone)
        assert float(horizon[0][0]) >= newest


@pytest.mark.parametrize("stop_at", [2, 3, 5, 7])
def test_a_prune_stopped_between_chunks_leaves_a_consistent_store(
    state_location: Path | str,
    tiny_network: Network,
    monkeypatch: pytest.MonkeyPatch,
    stop_at: int,
) -> None:
    seed(state_location, tiny_network)
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 1)
    started = retention._Pruner._tx
    calls = itertools.count(1)

    def crash(self: Any) -> Any:
        if next(calls) == stop_at:
            raise RuntimeError("killed")
        return started(self)

    monkeypatch.setattr(retention._Pruner, "_tx", crash)
    with open_store(state_location) as store:
        with pytest.raises(RuntimeError, match="killed"):
            store.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
        _consistent(store)
        first = _rows(store, "SELECT COUNT(*) FROM online_orders")
        monkeypatch.setattr(retention._Pruner, "_tx", started)
        report = store.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
        _consistent(store)
        # the second prune deletes the rest: the store ends as one prune leaves it
        assert {t.table: t.kept for t in report.tables} == KEPT
        assert first[0][0] >= KEPT["online_orders"]
        assert sorted(set(store.online_orders().order_id)) == [
            "o-new",
            "o-open",
            "o-part",
        ]


def test_writers_take_turns_with_a_prune_of_a_long_log(
    state_location: Path | str, tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune held the capacity log's lock (on SQLite, every writer's) for
    the whole of it: 10.0 s on SQLite, 4.6 s on PostgreSQL for a million old
    events and 300,000 orders, every checkout confirm waiting. Now each of
    its transactions deletes a chunk, and an event logged meanwhile lands
    between two of them."""
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 20)
    old = 2_000
    with open_store(state_location) as store:
        mon = CapacityMonitor.open(tiny_network, store)
        mon.snapshot()
    run_sql(
        state_location,
        *(
            "INSERT INTO capacity_events (event_id, ts, node_id, type, payload, "
            f"received_at) VALUES ('old-{i}', '{_iso(NOW - 20 * DAY_S + i)}', "
            f"'WH-EAST', 'staffing', '{{\"value\": 80.0}}', {NOW - 20 * DAY_S})"
            for i in range(old)
        ),
        "UPDATE capacity_snapshots SET last_seq = (SELECT MAX(seq) FROM "
        "capacity_events)",
    )
    seen: list[int] = []  # old events left as each logged event committed
    done = threading.Event()

    def log_events() -> None:
        with open_store(state_location) as writer:
            k = 0
            while not done.is_set():
                writer.append_events([event(f"new-{k}", NOW - 60 + k / 1e3)])
                left = writer._db.execute(  # type: ignore[attr-defined]
                    "SELECT COUNT(*) FROM capacity_events WHERE event_id LIKE 'old-%'"
                ).fetchone()[0]
                seen.append(int(left))
                k += 1

    thread = threading.Thread(target=log_events)
    thread.start()
    try:
        while not seen:
            time.sleep(0.01)
        with open_store(state_location) as store:
            report = store.prune_state(
                KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW
            )
    finally:
        done.set()
        thread.join()
    assert {t.table: t.deleted for t in report.tables}["capacity_events"] == old
    # writes landed part way through the prune, not only before or after it
    assert any(0 < left < old for left in seen), sorted(set(seen))[:5]
    with open_store(state_location) as store:
        logged = _rows(store, "SELECT COUNT(*) FROM capacity_events")[0][0]
        assert logged == len(seen)  # every new event kept, every old one gone


def test_a_checkout_and_an_allocation_work_after_a_prune(seeded: StateStore) -> None:
    seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    order(seeded, "o-after", ["MUG"], NOW)
    assert "o-after" in set(seeded.online_orders().order_id)
    _run(seeded, "r-after", [("o-after", "MUG", "allocated")], finish=True)
    assert seeded.latest_allocation_run().run_id == "r-after"  # type: ignore[union-attr]
    assert seeded.allocations("r-after").order_id.tolist() == ["o-after"]
    # a repeat of a pruned run starts again from nothing
    assert seeded.start_allocation_run("r-old", {"run": "r-old"}) is None
    # the old run that was the latest is no longer: it goes now
    deleted, _ = _counts(
        seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    )
    runs = {"allocation_runs": 1, "allocation_batches": 1, "allocations": 1}
    assert deleted == dict.fromkeys(DELETED, 0) | runs


def test_a_pruned_stock_change_id_replayed_is_refused_not_applied_again(
    seeded: StateStore,
) -> None:
    """A stock change carries no time of its own (a pruned capacity
    event's replay is refused by its ``ts``): the prune keeps a pruned
    change's id without its answer, so a receipt replayed from a queue
    weeks later is refused, never added twice; a kept id is still a
    retry. Until 2026-12-06 the pruned id was forgotten and the replayed
    receipt written again."""
    seeded.prune_state(KEEP_DAYS, upgrade_period_days=KEEP_DAYS, now=NOW)
    kept = seeded.change_stock_once([("N1", "MUG", 50)], change_id="count-new")
    assert kept._replace(applied_at=None) == StockReceipt(
        [StockChange("N1", "MUG", 50, 50, 0)], True
    )
    seeded.change_stock([("N1", "TEE", 40)])  # a count since
    before = seeded.stock_levels()
    for body in ([("N1", "TEE", 50)], [("N1", "TEE", 7)]):  # the same, another
        with pytest.raises(ChangeIdPruned) as caught:
            seeded.change_stock_once(body, change_id="count-old")
        assert str(caught.value) == (
            f"field 'change_id': value 'count-old': applied on "
            f"{_iso(NOW - 20 * DAY_S)}; `tierflow state prune` dropped its "
            "answer, so a repeat of it is refused, never applied again; "
            "nothing written"
        )
    pd.testing.assert_frame_equal(seeded.stock_levels(), before)
    assert _rows(seeded, "SELECT change_id FROM stock_changes ORDER BY change_id") == [
        ("count-new",),
        ("count-old",),
    ]


#: The first capacity event seq past a 32-bit integer's range.
PAST_INT32 = 2**31 + 5


def test_a_snapshot_of_a_log_past_two_billion_events_is_written_and_read(
    state_location: Path | str, tiny_network: Network
) -> None:
    """The log's seq is a 64-bit identity (PostgreSQL's BIGINT, SQLite's
    INTEGER), and a snapshot records the last one it covers: PostgreSQL's
    ``last_seq`` was a 32-bit INTEGER until migration 18, so once a store's
    log passed seq 2,147,483,647 (the identity never goes back, prunes or
    not) every snapshot failed, `capacity ingest` with a traceback
    (``integer out of range``) after committing its events. A store of
    schema 17 is migrated to the wide column."""
    open_store(state_location).close()
    if isinstance(state_location, str):
        run_sql(
            state_location,
            "ALTER TABLE capacity_snapshots ALTER COLUMN last_seq TYPE INTEGER",
            f"ALTER TABLE capacity_events ALTER COLUMN seq RESTART WITH {PAST_INT32}",
        )
    else:
        run_sql(
            state_location,
            "INSERT INTO sqlite_sequence (name, seq) "
            f"VALUES ('capacity_events', {PAST_INT32 - 1})",
        )
    downgrade_store(state_location, 17)
    with open_store(state_location) as store:
        assert store.schema_version() == SCHEMA_VERSION
        mon = CapacityMonitor.open(tiny_network, store)
        mon.ingest([parse_event(event("e1", NOW - 60), tiny_network)])
        mon.snapshot()
    with open_store(state_location) as store:
        snapshot = store.latest_capacity_snapshot()
        assert snapshot is not None
        assert snapshot[0] == PAST_INT32
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0
        assert back.staffing[tiny_network.node_idx("WH-EAST")] == 0.8


def test_the_stock_news_counter_goes_past_two_billion(
    state_location: Path | str,
) -> None:
    """The stock news counter (``table_versions``) moves at every sold-out
    position, taken or given back, and never goes back: PostgreSQL's
    32-bit ``version`` of schema 17 refused the move past 2,147,483,647
    (``integer out of range``), and with it the hold that took the last
    units. Migration 18 widens it."""
    with open_store(state_location) as store:
        store.change_stock([("N1", "A", 2)])
    if isinstance(state_location, str):
        run_sql(
            state_location,
            "ALTER TABLE table_versions ALTER COLUMN version TYPE INTEGER",
        )
    run_sql(
        state_location,
        f"UPDATE table_versions SET version = {2**31 - 1} WHERE name = 'inventory'",
    )
    downgrade_store(state_location, 17)
    with open_store(state_location) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.reserve("r1", [("A", 2)], "N1", 60).ok  # the last two
        assert store.stock_changed_since(2**31 - 1) == (2**31, {"A"})
