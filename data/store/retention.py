"""Retention: ``tierflow state prune`` deletes the rows of the tables that
grow every day once they are older than the days kept and nothing live
reads them, in short transactions that writers take turns with. The rule
of each table and why it is safe: ``docs/store.md``, "Pruning old state"."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.limits import require_number
from tierflow.data.store.database import (
    Connection,
    Database,
    StorePart,
    Transaction,
    chunks,
    clock,
    marks,
)
from tierflow.data.vocabulary import AllocationStatus

#: ``stock_changes.result`` of a change id compacted by the prune: the id
#: kept, its answer dropped (``stock.py`` refuses a repeat of it).
PRUNED_RESULT = ""
#: ``prune_horizons``' row of the capacity log (``capacity_log.py`` reads it).
EVENTS_HORIZON = "capacity_events"
_DAY_S = 86_400.0
#: The most rows one of a prune's transactions deletes (or compacts): each
#: holds every writer of the store (SQLite's, and the capacity log's on
#: PostgreSQL) for a few tens of milliseconds, never for the whole prune.
PRUNE_CHUNK = 10_000
#: The pause between two of a prune's transactions: a writer waiting for
#: the store takes its turn in it (SQLite's poll for theirs every 0.1 ms).
_TURN_S = 0.002
#: The most days a prune keeps: a century. Counted back further the cutoff
#: is no date (``--keep-days 999999`` ended in a traceback, year -711);
#: a store that keeps everything is simply not pruned.
MAX_KEEP_DAYS = 36_500
#: How far ahead of the clock a prune's ``now`` may be (the caller's clock
#: and this one's read a moment apart); further is refused.
_AHEAD_S = 60.0
#: The newest score day: the checkout reads it, whatever its age.
_NEWEST_DAY = "(SELECT MAX(as_of) FROM cltv_scores)"
#: The events every open of the capacity map replays (those after the
#: newest snapshot's ``last_seq``; none is prunable without a snapshot).
_SNAPSHOT_SEQ = (
    "(SELECT last_seq FROM capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1)"
)
_OLD_EVENTS = f"received_at < ? AND seq <= {_SNAPSHOT_SEQ}"
#: The order lines done with: allocated in some run, or decided (deferred,
#: unfillable) and deferred by no batch committed since the cutoff (one
#: the allocator still carries is deferred again by each run that reads
#: it; an unfillable line no node could fill, nor a deferred one no run
#: took up since, ships). Compounds read left to right on both backends:
#: (decided EXCEPT deferred lately) UNION allocated.
_DONE_LINES = (
    "SELECT order_id, sku FROM allocations WHERE status IN "
    f"('{AllocationStatus.DEFERRED.value}', '{AllocationStatus.UNFILLABLE.value}') "
    "EXCEPT SELECT a.order_id, a.sku FROM allocations a JOIN allocation_batches b "
    "ON b.run_id = a.run_id AND b.batch = a.batch "
    f"WHERE a.status = '{AllocationStatus.DEFERRED.value}' AND b.committed_at >= ? "
    "UNION SELECT order_id, sku FROM allocations "
    f"WHERE status = '{AllocationStatus.ALLOCATED.value}'"
)
#: An order goes whole, once each of its lines is done with (a join on
#: those lines, which SQLite indexes for the statement and PostgreSQL
#: hashes: a correlated ``NOT IN`` of row values scanned every allocation
#: for every line). Parameters: the cutoff, three times.
_OLD_ORDERS = (
    "confirmed_at < ? AND order_id NOT IN (SELECT o.order_id FROM online_orders o "
    f"LEFT JOIN ({_DONE_LINES}) a "
    "ON a.order_id = o.order_id AND a.sku = o.sku "
    "WHERE o.confirmed_at >= ? OR a.order_id IS NULL)"
)
#: The charged upgrades of the orders that go (financial records: never
#: without their order; an uncharged note is the checkouts' prune's).
_OLD_UPGRADES = (
    "confirmed_at IS NOT NULL AND request_id IN "
    f"(SELECT order_id FROM online_orders WHERE {_OLD_ORDERS})"
)
#: Runs finished before the cutoff, and runs never finished (a crash) whose
#: last batch (or start, before any) is before it, but the latest run (the
#: service's allocation view shows it). A run written to within the days
#: kept is resumed by ``tierflow allocate``.
_OLD_RUN_WHERE = (
    "(CASE WHEN finished_at IS NOT "
    "NULL THEN finished_at ELSE COALESCE((SELECT MAX(b.committed_at) FROM "
    "allocation_batches b WHERE b.run_id = r.run_id), created_at) END) < ? "
    "AND run_id != (SELECT run_id FROM allocation_runs "
    # PostgreSQL's schema gives the table a ``rowid`` identity column
    "ORDER BY created_at DESC, rowid DESC LIMIT 1)"
)
_OLD_RUNS = (
    f"SELECT run_id FROM allocation_runs r WHERE {_OLD_RUN_WHERE} ORDER BY run_id"
)
#: One run, still old (parameters: the cutoff, the run's id).
_OLD_RUN = f"SELECT 1 FROM allocation_runs r WHERE {_OLD_RUN_WHERE} AND run_id = ?"
#: Stock change ids received before the cutoff keep their row, without
#: their answer (``stock.PRUNED_RESULT``): a replay of one is refused.
_OLD_CHANGES = f"received_at < ? AND result != '{PRUNED_RESULT}'"
#: The tables pruned, in the order they are reported (and deleted from:
#: orders before the allocations that say they were allocated, a run's
#: rows before its batches before the run).
PRUNED_TABLES = (
    "cltv_scores",
    "cltv_new_customer",
    "capacity_events",
    "stock_changes",
    "upgrades",
    "online_orders",
    "allocations",
    "allocation_batches",
    "allocation_runs",
)


@dataclass(frozen=True, slots=True)
class TableCount:
    """One table's rows deleted (a dry run: that would be) and kept, and of
    those kept the rows compacted (``stock_changes``' ids whose answers
    went; 0 elsewhere)."""

    table: str
    deleted: int
    kept: int
    compacted: int = 0


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What :meth:`Retention.prune_state` deleted, per table.

    ``cutoff``: the instant (epoch seconds) rows older than which may go;
    ``dry_run``: nothing was deleted, ``deleted`` is what would have been.
    """

    cutoff: float
    dry_run: bool
    tables: tuple[TableCount, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able values (``state prune --json``)."""
        return {
            "cutoff": utc_text(self.cutoff),
            "dry_run": self.dry_run,
            "tables": {
                t.table: {"deleted": t.deleted, "kept": t.kept}
                | ({"compacted": t.compacted} if t.table == "stock_changes" else {})
                for t in self.tables
            },
        }


def check_keep_days(
    keep_days: int, *, upgrade_period_days: int, give_back_upgrades: bool = False
) -> None:
    """Refuse (``InputError`` on ``--keep-days``) ``keep_days`` below 1 (the
    day's orders, scores and events are live) or above
    :data:`MAX_KEEP_DAYS`, or shorter than
    ``upgrade_period_days`` unless ``give_back_upgrades``: the charged
    upgrades of the orders pruned count against their customers'
    allowance over that period, which a prune gives back. The rule of
    :meth:`Retention.prune_state`, which checks it; ``tierflow state
    prune`` asks it first too, before it opens (or migrates) the store."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
        raise InputError(
            "must be >= 1 (the day's orders, scores and capacity events are live)",
            field="--keep-days",
            value=keep_days,
        )
    if keep_days > MAX_KEEP_DAYS:
        raise InputError(
            f"must be at most {MAX_KEEP_DAYS} (a century: further back the "
            "cutoff is no date; to keep everything, do not prune)",
            field="--keep-days",
            value=keep_days,
        )
    # the policy bounds it (``formulations/tiers.py``); here: a whole number
    period = int(
        require_number(
            upgrade_period_days, "upgrade_period_days", 1, math.inf, integer=True
        )
    )
    if keep_days < period and not give_back_upgrades:
        raise InputError(
            f"shorter than the tier policy's upgrade_period_days ({period}): the "
            "charged upgrades of the orders it prunes would give their "
            f"customers' upgrade allowance back; keep at least {period} days, "
            "or give --give-back-upgrades; nothing deleted",
            field="--keep-days",
            value=keep_days,
        )


class Retention(StorePart):
    """Deletes what old rows nothing live reads any more."""

    def prune_state(
        self,
        keep_days: int,
        *,
        upgrade_period_days: int,
        give_back_upgrades: bool = False,
        now: float | None = None,
        dry_run: bool = False,
    ) -> PruneReport:
        """Delete the rows older than ``keep_days`` days before ``now`` that
        nothing live needs (``docs/store.md``), in transactions of at most
        :data:`PRUNE_CHUNK` rows, each leaving a consistent store (writers
        take their turns between them); a dry run counts in one.

        Parameters
        ----------
        keep_days
            Days kept, >= 1 (the day's orders, scores and events are live).
        upgrade_period_days
            The tier policy's ``upgrade_period_days``, over which a
            customer's charged upgrades count against their allowance
            (:func:`check_keep_days`).
        give_back_upgrades
            Prune although ``keep_days`` is shorter than the period.
        now
            Epoch seconds (None: the wall clock).
        dry_run
            Count only; delete nothing.

        Raises
        ------
        InputError
            As :func:`check_keep_days`, or ``now`` ahead of the clock (the
            days kept counted back from a later instant prune rows still
            live: the answer of a stock change id received a minute ago,
            whose retry would then be refused); nothing is deleted.
        """
        check_keep_days(
            keep_days,
            upgrade_period_days=upgrade_period_days,
            give_back_upgrades=give_back_upgrades,
        )
        if now is not None and now > time.time() + _AHEAD_S:
            raise InputError(
                "ahead of the clock: a prune dated later than now deletes rows "
                "still live (the stock change ids a client's retry needs, "
                "today's orders and events) — nothing deleted",
                field="--now",
                value=utc_text(now),
            )
        cutoff = clock(now) - keep_days * _DAY_S
        day = dt.datetime.fromtimestamp(cutoff, dt.UTC).date().isoformat()
        if dry_run:
            counted, compacted, totals = self._count_prunable(cutoff, day)
            kept = {t: totals[t] - counted[t] for t in PRUNED_TABLES}
        else:
            counted, compacted = _Pruner(self._db, cutoff, day).run()
            kept = self._totals()
        return PruneReport(
            cutoff,
            dry_run,
            tuple(
                TableCount(
                    t, counted[t], kept[t], compacted if t == "stock_changes" else 0
                )
                for t in PRUNED_TABLES
            ),
        )

    def _totals(self) -> dict[str, int]:
        """Each pruned table's rows, as the prune left them."""
        return {t: _count(self._db, t) for t in PRUNED_TABLES}

    def _count_prunable(
        self, cutoff: float, day: str
    ) -> tuple[dict[str, int], int, dict[str, int]]:
        """A dry run: per table the rows a prune would delete, the stock
        change ids it would compact, and the rows there are (the same
        rules), read in one snapshot. It only reads (``tierflow state prune
        --dry-run`` never migrates a store either), so it takes no lock: in
        a write transaction under the capacity log's lock, as it was, every
        writer (on SQLite all of them) waited for its whole count, 1.56 s
        at a million events and 300,000 orders (2026-12-08)."""
        with self._db.snapshot() as conn:
            totals = {t: _count(conn, t) for t in PRUNED_TABLES}
            runs = [str(r[0]) for r in conn.execute(_OLD_RUNS, (cutoff,)).fetchall()]
            compacted = _count(conn, "stock_changes", _OLD_CHANGES, (cutoff,))
            wheres: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
                "cltv_scores": [(f"as_of < ? AND as_of < {_NEWEST_DAY}", (day,))],
                "cltv_new_customer": [(f"as_of < ? AND as_of < {_NEWEST_DAY}", (day,))],
                "capacity_events": [(_OLD_EVENTS, (cutoff,))],
                "stock_changes": [],  # compacted, never deleted
                "upgrades": [(_OLD_UPGRADES, (cutoff,) * 3)],
                "online_orders": [(_OLD_ORDERS, (cutoff,) * 3)],
                **{
                    table: [
                        (f"run_id IN ({marks(len(c))})", tuple(c)) for c in chunks(runs)
                    ]
                    for table in (
                        "allocations",
                        "allocation_batches",
                        "allocation_runs",
                    )
                },
            }
            counted = {
                table: sum(_count(conn, table, w, p) for w, p in wheres[table])
                for table in PRUNED_TABLES
            }
        return counted, compacted, totals


class _Pruner:
    """A prune in short transactions of at most :data:`PRUNE_CHUNK` rows each,
    every one a consistent store on its own (``docs/store.md``, "Pruning old
    state"): one transaction for a whole store held every writer (checkouts,
    capacity events) for the whole prune, 10.0 s on SQLite and 4.6 s on
    PostgreSQL for a million events and 300,000 order lines (2026-12-06)."""

    def __init__(self, db: Database, cutoff: float, day: str) -> None:
        self._db = db
        self.cutoff = cutoff
        self.day = day
        self.deleted = dict.fromkeys(PRUNED_TABLES, 0)
        self._first = True

    def run(self) -> tuple[dict[str, int], int]:
        """Prune every table (the report's order); the rows deleted per
        table and the stock change ids compacted."""
        for table in ("cltv_scores", "cltv_new_customer"):
            self.deleted[table] = self._repeat(
                f"DELETE FROM {table} WHERE as_of IN (SELECT as_of FROM {table} "
                f"WHERE as_of < ? AND as_of < {_NEWEST_DAY})"
                if table == "cltv_new_customer"
                else f"DELETE FROM {table} WHERE (as_of, customer_id) IN "
                f"(SELECT as_of, customer_id FROM {table} WHERE as_of < ? "
                f"AND as_of < {_NEWEST_DAY} LIMIT {PRUNE_CHUNK})",
                (self.day,),
            )
        self.deleted["capacity_events"] = self._repeat_tx(self._events_chunk)
        compacted = self._repeat(
            f"UPDATE stock_changes SET result = '{PRUNED_RESULT}' WHERE change_id "
            f"IN (SELECT change_id FROM stock_changes WHERE {_OLD_CHANGES} "
            f"LIMIT {PRUNE_CHUNK})",
            (self.cutoff,),
        )
        self._orders()
        for run_id in [
            str(r[0]) for r in self._db.execute(_OLD_RUNS, (self.cutoff,)).fetchall()
        ]:
            self._run(run_id)
        return self.deleted, compacted

    def _tx(self) -> AbstractContextManager[Transaction]:
        """The next transaction, after a pause that lets a waiting writer in
        (SQLite's take their turn polling: one started at once won it
        again)."""
        if not self._first:
            time.sleep(_TURN_S)
        self._first = False
        return self._db.tx()

    def _repeat(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run ``sql`` (a chunk's statement) in transactions until it
        changes nothing; the rows it changed."""

        def once(conn: Transaction) -> int:
            return int(conn.execute(sql, params).rowcount)

        return self._repeat_tx(once)

    def _repeat_tx(self, chunk: Callable[[Transaction], int]) -> int:
        total = 0
        while True:
            with self._tx() as conn:
                done = chunk(conn)
            total += done
            if done == 0:
                return total

    def _events_chunk(self, conn: Transaction) -> int:
        """The oldest prunable events, under the log's lock with the horizon
        moved past them (no event is logged between the read and the delete)."""
        conn.lock("capacity_events")
        rows = conn.execute(
            f"SELECT seq, ts FROM capacity_events WHERE {_OLD_EVENTS} "
            f"ORDER BY seq LIMIT {PRUNE_CHUNK}",
            (self.cutoff,),
        ).fetchall()
        if not rows:
            return 0
        _move_horizon(conn, max(event_epoch(str(r[1])) for r in rows))
        seqs = [int(r[0]) for r in rows]
        return int(
            conn.execute(
                "DELETE FROM capacity_events WHERE seq >= ? AND seq <= ? AND "
                f"{_OLD_EVENTS}",
                (seqs[0], seqs[-1], self.cutoff),
            ).rowcount
        )

    def _orders(self) -> None:
        """The old orders done with, whole, with their charged upgrades, a
        chunk of orders a transaction. Which orders is read once, outside
        any (a join over every allocation); a chunk deletes them only while
        no allocation batch was written since that read (one that defers a
        line again keeps its order), else they are read again."""
        while True:
            seen = self._batches()
            orders = [
                str(r[0])
                for r in self._db.execute(
                    f"SELECT DISTINCT order_id FROM online_orders WHERE {_OLD_ORDERS} "
                    "ORDER BY order_id",
                    (self.cutoff,) * 3,
                ).fetchall()
            ]
            if not orders:
                return
            for chunk in chunks(orders, PRUNE_CHUNK):
                with self._tx() as conn:
                    if self._batches(conn) != seen:
                        break  # read again: the batch may defer one of them
                    for part in chunks(chunk):  # (a long IN list: a scan)
                        self._orders_chunk(conn, part)
            else:
                return

    def _orders_chunk(self, conn: Transaction, orders: list[str]) -> None:
        """Delete ``orders``, after their charged upgrades."""
        ids = f"({marks(len(orders))})"
        self.deleted["upgrades"] += int(
            conn.execute(
                "DELETE FROM upgrades WHERE confirmed_at IS NOT NULL "
                f"AND request_id IN {ids}",
                tuple(orders),
            ).rowcount
        )
        self.deleted["online_orders"] += int(
            conn.execute(
                f"DELETE FROM online_orders WHERE order_id IN {ids}", tuple(orders)
            ).rowcount
        )

    def _batches(self, db: Connection | None = None) -> tuple[Any, ...]:
        """What changes when an allocation batch is written (or pruned)."""
        row = (
            (db or self._db)
            .execute("SELECT COUNT(*), MAX(committed_at) FROM allocation_batches")
            .fetchone()
        )
        return tuple(row)

    def _run(self, run_id: str) -> None:
        """An old run, its rows a chunk a transaction from its last batch
        down, each batch with its last rows: a prune stopped half way leaves
        it as a run stopped after its first batches (``tierflow allocate``
        resumes such a run; the next prune deletes it). The run goes with
        its first batch, once it is still old then (under its lock: no
        resume writes meanwhile)."""
        key = (self.cutoff, run_id)
        while True:
            with self._tx() as conn:
                conn.lock(f"allocation_run:{run_id}")
                if conn.execute(_OLD_RUN, key).fetchone() is None:
                    return  # resumed since it was read, or gone
                # the chunk's last key, the run's rows read from their end
                last = conn.execute(
                    "SELECT batch, order_id, sku FROM allocations WHERE run_id = ? "
                    "ORDER BY batch DESC, order_id DESC, sku DESC "
                    f"LIMIT 1 OFFSET {PRUNE_CHUNK - 1}",
                    (run_id,),
                ).fetchone()
                rows = int(
                    conn.execute(
                        "DELETE FROM allocations WHERE run_id = ?"
                        + (
                            ""
                            if last is None
                            else " AND (batch, order_id, sku) >= (?, ?, ?)"
                        ),
                        (run_id,) + (() if last is None else tuple(last)),
                    ).rowcount
                )
                batches = int(
                    conn.execute(
                        "DELETE FROM allocation_batches WHERE run_id = ? AND batch > "
                        "COALESCE((SELECT MAX(batch) FROM allocations WHERE "
                        "run_id = ?), -1)",
                        (run_id, run_id),
                    ).rowcount
                )
                self.deleted["allocations"] += rows
                self.deleted["allocation_batches"] += batches
                if last is None:  # its rows and batches are all gone
                    self.deleted["allocation_runs"] += int(
                        conn.execute(
                            "DELETE FROM allocation_runs WHERE run_id = ?", (run_id,)
                        ).rowcount
                    )
                    return


def _count(
    conn: Connection, table: str, where: str = "1 = 1", params: tuple[Any, ...] = ()
) -> int:
    row = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()
    return int(row[0])


def _move_horizon(conn: Transaction, newest: float) -> None:
    """Record ``newest``, the newest ``ts`` of the events about to go with
    their ids (``capacity_log.py`` refuses an event not logged dated at or
    before it), unless a prune recorded a later one."""
    row = conn.execute(
        "SELECT horizon FROM prune_horizons WHERE name = ?", (EVENTS_HORIZON,)
    ).fetchone()
    if row is not None:
        newest = max(newest, float(row[0]))
    conn.execute(
        "INSERT INTO prune_horizons (name, horizon, pruned_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET horizon = excluded.horizon, "
        "pruned_at = excluded.pruned_at",
        (EVENTS_HORIZON, newest, clock()),
    )


def event_epoch(ts: str) -> float:
    """Epoch seconds of a logged event's ``ts`` (ISO 8601 with an offset)."""
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def utc_text(epoch: float) -> str:
    """An instant as ISO 8601 in UTC (how a horizon and a cutoff are shown)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()
