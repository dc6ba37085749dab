"""Allocation runs: resumable runs of batches, each batch one transaction.

A run is keyed by its id and parameters (resume only the same job); a batch
is written with its marker ``(run_id, batch)`` or not at all, so a repeated
batch writes nothing. Writers of one run take the run's lock, so two
workers never start a run or write a batch twice. Columns come from :mod:`tierflow.data.allocation_rows`.
A batch also moves the work of the confirmed orders it decides where it
decided them, in its transaction (:mod:`~tierflow.data.store.allocation_work`).
A run's writer holds its position (:func:`run_position`): a store restored
under it (:meth:`LogPosition.remade_since`) refuses its next write
(:class:`~tierflow.data.errors.StoreRestored`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tierflow.data.allocation_rows import (
    ALLOCATION_COLUMNS,
    ALLOCATION_EXTRA_COLUMNS,
    AllocationRow,
    allocation_rows,
)
from tierflow.data.errors import InputError, StoreRestored
from tierflow.data.store.allocation_work import LineKey, work_moves
from tierflow.data.store.capacity_log import LogPosition, log_events_later
from tierflow.data.store.database import (
    Connection,
    StorePart,
    Transaction,
    chunks,
    clock,
    marks,
    retried,
)
from tierflow.data.vocabulary import AllocationStatus

_ALLOCATED = AllocationStatus.ALLOCATED
_DEFERRED = AllocationStatus.DEFERRED
_REROUTED = AllocationStatus.REROUTED
_LINE_COLUMNS = (*ALLOCATION_COLUMNS, *ALLOCATION_EXTRA_COLUMNS)
#: A run's position in the store (parameters: its id twice), what
#: :func:`run_position` counts: only a store restored under the run brings
#: it back (batches commit in order, none is ever deleted).
_RUN_POSITION = (
    "COALESCE((SELECT MAX(batch) + 2 FROM allocation_batches WHERE run_id = ?), "
    "(SELECT 1 FROM allocation_runs WHERE run_id = ?), 0)"
)


def run_position(last_batch: int | None, made: int) -> LogPosition:
    """The position of a run whose last committed batch is ``last_batch``
    (None: none yet, its row made) in the making ``made`` of the store's
    tables: 0 without the run's row, 1 with it, the last batch + 2 after
    one (a restored store that lost the row, or batches, is below it)."""
    return LogPosition(1 if last_batch is None else last_batch + 2, made)


@dataclass(frozen=True, slots=True)
class AllocationRun:
    """One allocation run as stored: its id, parameters and timestamps."""

    run_id: str
    params: dict[str, Any]
    created_at: float
    finished_at: float | None


class Allocations(StorePart):
    """Allocation runs, their committed batches and the rows of each."""

    def allocation_run_position(self, run_id: str) -> LogPosition:
        """Where run ``run_id`` stands in the store (:func:`run_position`)
        and the making of the store's tables."""
        return self._run_position(self._db, run_id)

    def refuse_restored_run(self, run_id: str, held: LogPosition) -> None:
        """Raise :class:`StoreRestored` when the store was restored under
        run ``run_id``, whose writer holds ``held`` (:func:`run_position`).

        Its test is :meth:`LogPosition.remade_since`, the one every holder
        of a capacity map makes: another making of the tables, or the run's
        position gone back (a backup from before some of its batches).
        """
        self._refuse_restored(self._db, run_id, held)

    def _run_position(self, db: Connection, run_id: str) -> LogPosition:
        row = db.execute(
            f"SELECT {_RUN_POSITION}, {self._db.tables_made}", (run_id, run_id)
        ).fetchone()
        return LogPosition(int(row[0]), int(row[1]))

    def _refuse_restored(
        self, db: Connection, run_id: str, held: LogPosition | None
    ) -> None:
        """:meth:`refuse_restored_run` read by ``db`` (inside a write, under
        the run's lock: nothing of the run goes into a restored store);
        nothing when ``held`` is None (a writer that holds no position)."""
        if held is None:
            return
        found = self._run_position(db, run_id)
        if found.remade_since(held.made, held.seq):
            raise StoreRestored(
                run_id, held.seq - 2, found.seq - 2, location=self._db.location
            )

    def start_allocation_run(
        self, run_id: str, params: Mapping[str, Any]
    ) -> int | None:
        """Create run ``run_id`` or resume it; returns its last committed batch.

        Raises
        ------
        InputError
            The run exists with different ``params`` (resume only the same job).
        """
        text = json.dumps(dict(params), sort_keys=True, default=str)
        with self._db.tx() as conn:
            conn.lock(f"allocation_run:{run_id}")
            row = conn.execute(
                "SELECT params FROM allocation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO allocation_runs (run_id, params, created_at) "
                    "VALUES (?, ?, ?)",
                    (run_id, text, clock()),
                )
            elif row[0] != text:
                raise InputError(
                    "run exists with different parameters", field="run_id", value=run_id
                )
        return self.last_committed_batch(run_id)

    def last_committed_batch(self, run_id: str) -> int | None:
        """Highest committed batch number of a run, or None."""
        row = self._db.execute(
            "SELECT MAX(batch) FROM allocation_batches WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def work_placed_after(self, run_id: str) -> str | None:
        """The run whose batch placed confirmed orders' work latest, when
        that is another run than ``run_id`` and later than every batch of
        ``run_id`` that placed some (None otherwise, and when ``run_id``
        placed none): the live backlog follows that run's decisions, not
        ``run_id``'s, and resuming ``run_id`` moves nothing back."""
        row = self._db.execute(
            "SELECT run_id FROM allocation_batches WHERE work_seq = "
            "(SELECT MAX(work_seq) FROM allocation_batches) AND work_seq > "
            "(SELECT MAX(work_seq) FROM allocation_batches WHERE run_id = ?)",
            (run_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    @retried
    def write_allocation_batch(
        self,
        run_id: str,
        batch: int,
        rows: pd.DataFrame,
        *,
        consume_inventory: bool = False,
        supersede: Sequence[str] = (),
        stats: str | None = None,
        line_work: Mapping[LineKey, float] | None = None,
        now: float | None = None,
        held: LogPosition | None = None,
    ) -> bool:
        """Write one batch's allocations and its marker in one transaction.

        Parameters
        ----------
        run_id, batch
            The run (see :meth:`start_allocation_run`) and batch number.
        rows
            Columns of :mod:`~tierflow.data.allocation_rows` (node, service,
            dates and cost may be empty for lines not allocated).
        consume_inventory
            Also take allocated quantities out of ``on_hand`` (fails the
            whole batch if a node lacks the unreserved stock).
        supersede
            Orders whose earlier allocated and waiting lines this batch
            replaces (a reroute): they become ``rerouted`` in the same
            transaction (an unfillable line keeps its row).
        stats
            The batch's figures (a JSON text the caller reads back with
            :meth:`allocation_batch_stats`), kept on its marker: a resumed
            run counts what the batches before it did from the store alone.
        line_work
            Each line's complexity-weighted work by ``(order_id, sku)``: how
            a confirmed order's logged work at a node is shared among its
            lines there (without it, by quantity). The work of each line the
            batch ships from another node than the one it is counted at, or
            leaves waiting, moves in the same transaction, as
            ``backlog_delta`` capacity events dated ``now`` (default: the
            clock): :func:`~tierflow.data.store.allocation_work.work_moves`.
        held
            The run's position as its writer holds it (:func:`run_position`):
            a store restored under it is refused (None: not checked).

        Returns
        -------
        bool
            False when the batch was already committed (nothing written).

        Raises
        ------
        InputError
            Missing columns, an order line already allocated in this run, or
            not enough stock; nothing is written.
        StoreRestored
            The store was restored under the run (:meth:`refuse_restored_run`);
            nothing is written.
        """
        missing = [c for c in ALLOCATION_COLUMNS if c not in rows.columns]
        if missing:
            raise InputError(f"missing columns {missing}", field="rows")
        lines = allocation_rows(rows)
        try:
            with self._db.tx() as conn:
                conn.lock(f"allocation_run:{run_id}")
                self._refuse_restored(conn, run_id, held)
                if not _add_batch_marker(conn, run_id, int(batch), len(lines), stats):
                    return False
                _reroute(conn, run_id, supersede)
                conn.executemany(
                    f"INSERT INTO allocations (run_id, batch, {', '.join(_LINE_COLUMNS)}) "
                    f"VALUES ({marks(2 + len(_LINE_COLUMNS))})",
                    [(run_id, int(batch), *line) for line in lines],
                )
                if consume_inventory:
                    _consume_stock(conn, lines)
                moves = work_moves(
                    conn, run_id, int(batch), lines, line_work, clock(now)
                )
                if moves:  # last: the log's lock is held until the commit
                    log_events_later(conn, moves)
        except self._db.integrity_error as exc:
            raise InputError(
                f"batch rejected ({exc}): an order line already allocated, or a bad "
                "status",
                field="batch",
                value=batch,
            ) from None
        return True

    def allocation_batch_stats(self, run_id: str) -> dict[int, str]:
        """The figures committed with each batch of a run (batches committed
        without any are left out), by batch number."""
        rows = self._db.execute(
            "SELECT batch, stats FROM allocation_batches "
            "WHERE run_id = ? AND stats IS NOT NULL ORDER BY batch",
            (run_id,),
        ).fetchall()
        return {int(r[0]): str(r[1]) for r in rows}

    def finish_allocation_run(
        self, run_id: str, held: LogPosition | None = None
    ) -> None:
        """Mark a run finished, not in a store restored under it since its
        writer's position ``held`` (:meth:`refuse_restored_run`: it lacks
        batches of the run, or the run)."""
        with self._db.tx() as conn:
            conn.lock(f"allocation_run:{run_id}")
            self._refuse_restored(conn, run_id, held)
            conn.execute(
                "UPDATE allocation_runs SET finished_at = ? WHERE run_id = ?",
                (clock(), run_id),
            )

    def allocations(
        self, run_id: str, *, include_rerouted: bool = False
    ) -> pd.DataFrame:
        """The allocation rows of a run, with ``batch``, in batch order.

        Rows a later batch rerouted are left out unless ``include_rerouted``.
        """
        where = "" if include_rerouted else " AND status != ?"
        return self._db.frame(
            f"SELECT batch, {', '.join(_LINE_COLUMNS)} FROM allocations "
            f"WHERE run_id = ?{where} ORDER BY batch, "
            f"order_id{self._db.byte_order}, sku{self._db.byte_order}",
            (run_id,) if include_rerouted else (run_id, _REROUTED),
        )

    def decided_order_ids(self, run_id: str) -> set[str]:
        """Orders with a line allocated or found unfillable in the run.

        On resume these are done; orders only ever deferred are not.
        """
        rows = self._db.execute(
            "SELECT DISTINCT order_id FROM allocations WHERE run_id = ? "
            "AND status IN (?, ?)",
            (run_id, _ALLOCATED, AllocationStatus.UNFILLABLE),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def latest_allocation_run(self) -> AllocationRun | None:
        """The most recently started allocation run (None when there is none)."""
        row = self._db.execute(
            "SELECT run_id, params, created_at, finished_at FROM allocation_runs "
            # PostgreSQL's schema gives the table a ``rowid`` identity column
            "ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return AllocationRun(
            str(row[0]),
            json.loads(row[1]),
            float(row[2]),
            None if row[3] is None else float(row[3]),
        )

    def _batch_mismatches(self) -> list[str]:
        """Batches whose rows differ in number from their marker's ``n_rows``."""
        bad = self._db.execute(
            """SELECT b.run_id, b.batch, b.n_rows, COUNT(a.order_id)
               FROM allocation_batches b LEFT JOIN allocations a
               ON a.run_id = b.run_id AND a.batch = b.batch
               GROUP BY b.run_id, b.batch HAVING COUNT(a.order_id) != b.n_rows"""
        ).fetchall()
        return [f"batch {r}/{b}: {c} rows, marker says {n}" for r, b, n, c in bad]


def _add_batch_marker(
    conn: Transaction, run_id: str, batch: int, n_rows: int, stats: str | None
) -> bool:
    """Record batch ``(run_id, batch)`` with its figures under the run's
    lock; False when it is already committed."""
    conn.lock(f"allocation_run:{run_id}")
    done = conn.execute(
        "SELECT 1 FROM allocation_batches WHERE run_id = ? AND batch = ?",
        (run_id, batch),
    ).fetchone()
    if done:
        return False
    conn.execute(
        "INSERT INTO allocation_batches (run_id, batch, n_rows, committed_at, "
        "stats) VALUES (?, ?, ?, ?, ?)",
        (run_id, batch, n_rows, clock(), stats),
    )
    return True


def _reroute(conn: Connection, run_id: str, orders: Sequence[str]) -> None:
    """Mark the allocated and waiting lines of ``orders`` rerouted (a later
    batch decides them again: a split order pulled back is solved again
    with its waiting lines; an unfillable line keeps its row)."""
    for chunk in chunks(list(orders)):
        conn.execute(
            f"UPDATE allocations SET status = ? WHERE run_id = ? "
            f"AND status IN (?, ?) AND order_id IN ({marks(len(chunk))})",
            (_REROUTED, run_id, _ALLOCATED, _DEFERRED, *chunk),
        )


def _consume_stock(conn: Connection, lines: Sequence[AllocationRow]) -> None:
    """Take allocated quantities out of ``on_hand`` (unreserved stock only),
    the stock rows in the ``(node, sku)`` order every hold locks them in
    (in the batch's order, a batch and a concurrent hold could each wait on
    a row the other had: a deadlock PostgreSQL breaks after a second)."""
    allocated = [line for line in lines if line.status == _ALLOCATED]
    for line in sorted(allocated, key=lambda line: (line.node_id, line.sku)):
        cur = conn.execute(
            "UPDATE inventory SET on_hand = on_hand - ? WHERE node_id = ? "
            "AND sku = ? AND on_hand - reserved >= ?",
            (line.quantity, line.node_id, line.sku, line.quantity),
        )
        if cur.rowcount == 0:
            raise InputError(
                "not enough unreserved stock",
                field="sku",
                value=f"{line.node_id}/{line.sku}",
            )
