"""The state store: inventory and reservations, capacity events and snapshots,
CLTV scores and allocations, in SQLite (WAL mode) behind a small interface.

Guarantees (each has a test that can fail, ``tests/test_store.py``):

* **No oversell.** :meth:`SqliteStore.reserve` runs in one write transaction
  (``BEGIN IMMEDIATE``) and takes stock with a *conditional update*,
  ``UPDATE inventory SET reserved = reserved + q WHERE ... AND on_hand -
  reserved >= q``; a line that does not fit rolls the whole request back. A
  ``CHECK (reserved <= on_hand)`` constraint backs it up in the schema.
* **Crash safety.** Every multi-row write (a reservation with its lines, an
  allocation batch with its marker, a day of CLTV scores, a snapshot) is one
  transaction; SQLite's WAL makes a killed process leave either all of it or
  none. ``synchronous=NORMAL`` (the default here) survives process crashes;
  pass ``synchronous="FULL"`` to survive power loss too, at an fsync per
  commit.
* **Idempotency.** Reservations, capacity events and allocation batches
  carry caller ids (``request_id``, ``event_id``, ``(run_id, batch)``);
  repeating one returns the recorded outcome and writes nothing.

Reservation life cycle: ``active`` (holds stock until ``expires_at``) →
``committed`` (stock leaves ``on_hand``), ``released`` or ``expired``.
Expired reservations stop counting at once (reads subtract only live ones)
and are swept inside the next write. A rejected request (not enough stock)
is not recorded, so a retry after stock is freed may succeed.

Towards PostgreSQL (several online workers): the SQL is deliberately
portable — conditional ``UPDATE``s instead of read-then-write,
``INSERT ... ON CONFLICT DO NOTHING RETURNING``, no SQLite-only types — so a
``PostgresStore`` implementing :class:`StateStore` with psycopg needs only
``BEGIN`` (READ COMMITTED is enough, the conditional update re-checks the
row under its row lock), ``BIGSERIAL`` for the event sequence, the same
migrations as a list of DDL scripts, and a connection pool per worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError, TierflowError

#: Statements of each schema migration; version ``i + 1`` applies ``MIGRATIONS[i]``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE inventory (
            node_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
            reserved INTEGER NOT NULL DEFAULT 0
                CHECK (reserved >= 0 AND reserved <= on_hand),
            PRIMARY KEY (node_id, sku)
        )""",
        """CREATE TABLE reservations (
            request_id TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('active', 'committed', 'released', 'expired')),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX reservations_live ON reservations (status, expires_at)",
        """CREATE TABLE reservation_lines (
            request_id TEXT NOT NULL REFERENCES reservations (request_id),
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            PRIMARY KEY (request_id, sku)
        )""",
        """CREATE TABLE capacity_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            ts TEXT NOT NULL,
            node_id TEXT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            received_at REAL NOT NULL
        )""",
        """CREATE TABLE capacity_snapshots (
            snapshot_id INTEGER PRIMARY KEY AUTOINCREMENT,
            last_seq INTEGER NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL
        )""",
        """CREATE TABLE cltv_scores (
            as_of TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            predicted_spend REAL NOT NULL,
            p_active REAL NOT NULL,
            segment TEXT NOT NULL,
            model_version TEXT NOT NULL,
            PRIMARY KEY (as_of, customer_id)
        )""",
        "CREATE INDEX cltv_by_spend ON cltv_scores (as_of, predicted_spend)",
        """CREATE TABLE allocation_runs (
            run_id TEXT PRIMARY KEY,
            params TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL
        )""",
        """CREATE TABLE allocation_batches (
            run_id TEXT NOT NULL REFERENCES allocation_runs (run_id),
            batch INTEGER NOT NULL,
            n_rows INTEGER NOT NULL,
            committed_at REAL NOT NULL,
            PRIMARY KEY (run_id, batch)
        )""",
        """CREATE TABLE allocations (
            run_id TEXT NOT NULL,
            batch INTEGER NOT NULL,
            order_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            node_id TEXT,
            service TEXT,
            ship_date TEXT,
            promised_date TEXT,
            cost REAL,
            status TEXT NOT NULL
                CHECK (status IN ('allocated', 'deferred', 'unfillable')),
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, batch, order_id, sku),
            FOREIGN KEY (run_id, batch) REFERENCES allocation_batches (run_id, batch)
        )""",
        # An order line is allocated at most once per run; a deferred line
        # may be decided again in a later batch.
        """CREATE UNIQUE INDEX allocations_once ON allocations (run_id, order_id, sku)
            WHERE status = 'allocated'""",
    ),
    # 2: delivery date and cost parts per line; 'rerouted' marks an allocation
    # a later batch replaced (kept for the record, never counted as shipped).
    (
        """CREATE TABLE allocations_v2 (
            run_id TEXT NOT NULL,
            batch INTEGER NOT NULL,
            order_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            node_id TEXT,
            service TEXT,
            ship_date TEXT,
            promised_date TEXT,
            cost REAL,
            status TEXT NOT NULL
                CHECK (status IN ('allocated', 'deferred', 'unfillable', 'rerouted')),
            reason TEXT NOT NULL DEFAULT '',
            delivery_date TEXT,
            shipping REAL,
            handling REAL,
            penalty REAL,
            PRIMARY KEY (run_id, batch, order_id, sku),
            FOREIGN KEY (run_id, batch) REFERENCES allocation_batches (run_id, batch)
        )""",
        """INSERT INTO allocations_v2 (run_id, batch, order_id, sku, quantity, node_id,
            service, ship_date, promised_date, cost, status, reason)
           SELECT run_id, batch, order_id, sku, quantity, node_id, service, ship_date,
            promised_date, cost, status, reason FROM allocations""",
        "DROP TABLE allocations",
        "ALTER TABLE allocations_v2 RENAME TO allocations",
        """CREATE UNIQUE INDEX allocations_once ON allocations (run_id, order_id, sku)
            WHERE status = 'allocated'""",
    ),
    # 3: online checkouts (issue 7): per-SKU stock reads, bid prices, checkout
    # holds and the confirmed orders the next allocation batch reads.
    (
        # covering: a checkout reads every node's stock of a SKU from the index
        "CREATE INDEX inventory_by_sku ON inventory (sku, node_id, on_hand, reserved)",
        """CREATE TABLE bid_prices (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            as_of TEXT NOT NULL,
            source TEXT NOT NULL,
            prices TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE checkouts (
            request_id TEXT PRIMARY KEY,
            option_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled')),
            attempt INTEGER NOT NULL,
            reservation_ids TEXT NOT NULL,
            order_lines TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE online_orders (
            order_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            dest TEXT NOT NULL,
            tier TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            node_id TEXT NOT NULL,
            service TEXT NOT NULL,
            ship_date TEXT NOT NULL,
            delivery_date TEXT NOT NULL,
            confirmed_at REAL NOT NULL,
            PRIMARY KEY (order_id, sku)
        )""",
        "CREATE INDEX online_orders_by_time ON online_orders (confirmed_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Columns of an allocation batch (issue 6's ``allocations.csv`` minus ``batch``).
ALLOCATION_COLUMNS = (
    "order_id",
    "sku",
    "quantity",
    "node_id",
    "service",
    "ship_date",
    "promised_date",
    "cost",
    "status",
    "reason",
)
#: Optional per-line columns (schema 2): when the delivery is due and what the
#: line's cost is made of.
ALLOCATION_EXTRA_COLUMNS = ("delivery_date", "shipping", "handling", "penalty")
CLTV_COLUMNS = ("customer_id", "predicted_spend", "p_active", "segment")
_KEEP_SNAPSHOTS = 20


def default_state_path() -> Path:
    """``$TIERFLOW_STATE``, else ``$XDG_DATA_HOME/tierflow/state.db``
    (``~/.local/share/tierflow/state.db``)."""
    env = os.environ.get("TIERFLOW_STATE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tierflow" / "state.db"


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of :meth:`StateStore.reserve` / ``commit`` / ``release``.

    Attributes
    ----------
    ok
        The reservation holds (``active``) or was ``committed``.
    status
        ``active``, ``committed``, ``released``, ``expired`` or ``rejected``.
    replayed
        The request id was already known: nothing was written.
    shortfall
        For a rejection, ``(sku, requested, available)`` per short line.
    """

    request_id: str
    node_id: str
    ok: bool
    status: str
    expires_at: float | None
    replayed: bool = False
    shortfall: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CltvScore:
    """One customer's latest CLTV score."""

    customer_id: str
    predicted_spend: float
    p_active: float
    segment: str
    as_of: dt.date
    model_version: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A capacity event as logged: ``seq`` orders application."""

    seq: int
    event_id: str
    ts: str
    node_id: str
    type: str
    payload: dict[str, Any]


class StateStore(Protocol):
    """What tierflow needs from a state store (SQLite now, PostgreSQL later)."""

    def reserve(
        self,
        request_id: str,
        lines: Iterable[tuple[str, int]],
        node_id: str,
        ttl_s: float,
        *,
        now: float | None = None,
    ) -> ReserveResult:
        """Atomically hold stock for every line at ``node_id``, or nothing."""
        ...

    def commit(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Turn an active reservation into shipped stock."""
        ...

    def release(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Give an active reservation's stock back."""
        ...

    def expire_stale(self, *, now: float | None = None) -> int:
        """Expire reservations past their TTL; returns how many."""
        ...

    def available(
        self, node_id: str, skus: Sequence[str], *, now: float | None = None
    ) -> dict[str, int]:
        """On hand minus live reservations, per SKU."""
        ...

    def available_matrix(
        self,
        node_ids: Sequence[str],
        sku_ids: Sequence[str],
        *,
        now: float | None = None,
    ) -> NDArray[np.int64]:
        """Dense available units, nodes × SKUs."""
        ...

    def upsert_inventory(self, rows: pd.DataFrame) -> int:
        """Set ``on_hand`` of ``node_id, sku`` rows."""
        ...

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> list[int | None]:
        """Log capacity events; the new ones get a sequence number."""
        ...

    def events_after(self, seq: int) -> list[StoredEvent]:
        """Logged events with ``seq`` greater than the given one, in order."""
        ...

    def save_capacity_snapshot(self, last_seq: int, state: Mapping[str, Any]) -> None:
        """Persist the monitor state that includes every event up to ``last_seq``."""
        ...

    def latest_capacity_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot, or None."""
        ...

    def put_cltv_scores(
        self, scores: pd.DataFrame, *, as_of: dt.date, model_version: str
    ) -> int:
        """Replace one day's CLTV scores atomically; returns the row count."""
        ...

    def cltv_score(self, customer_id: str) -> CltvScore | None:
        """The customer's score from the latest day, or None."""
        ...

    def cltv_scores(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Latest scores of many customers."""
        ...

    def cltv_threshold(self, percentile: float) -> float | None:
        """Latest day's ``predicted_spend`` at a percentile."""
        ...

    def start_allocation_run(
        self, run_id: str, params: Mapping[str, Any]
    ) -> int | None:
        """Create or resume a run; returns its last committed batch."""
        ...

    def write_allocation_batch(
        self,
        run_id: str,
        batch: int,
        rows: pd.DataFrame,
        *,
        consume_inventory: bool = False,
        supersede: Sequence[str] = (),
    ) -> bool:
        """One batch's allocations in one transaction (False if already there)."""
        ...

    def last_committed_batch(self, run_id: str) -> int | None:
        """Highest committed batch of a run."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class _Rejected(Exception):
    def __init__(self, shortfall: tuple[tuple[str, int, int], ...]) -> None:
        self.shortfall = shortfall


def _normalize_lines(lines: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for i, item in enumerate(lines):
        try:
            sku, qty = item
        except (TypeError, ValueError):
            raise InputError(
                "expected (sku, quantity)", field="lines", index=i
            ) from None
        if not isinstance(sku, str) or not sku:
            raise InputError("empty SKU", field="sku", index=i, value=sku)
        if isinstance(qty, bool) or not isinstance(qty, int | np.integer) or qty < 1:
            raise InputError(
                "must be an integer >= 1", field="quantity", index=i, value=qty
            )
        merged[sku] = merged.get(sku, 0) + int(qty)
    if not merged:
        raise InputError("no lines", field="lines")
    return sorted(merged.items())


class SqliteStore:
    """The SQLite implementation of :class:`StateStore` (see the module docstring).

    Parameters
    ----------
    path
        Database file (created with its folder if missing); ``None`` uses
        :func:`default_state_path`.
    timeout_s
        How long a writer waits for the write lock before failing.
    synchronous
        ``NORMAL`` (crash-safe) or ``FULL`` (also power-loss-safe).

    Notes
    -----
    Write transactions on one store object are serialized by a lock, so a
    few threads may share it; for parallel readers and writers open one store
    per process (or thread) on the same file, as the contention test does.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        timeout_s: float = 60.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InputError(
                "must be NORMAL or FULL", field="synchronous", value=synchronous
            )
        self.path = Path(path) if path is not None else default_state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per store object; the lock keeps threads (a web
        # server's workers) from interleaving statements of two transactions.
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise TierflowError(f"{self.path}: cannot enable WAL mode (got {mode})")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it lands, or nothing does."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self._tx() as conn:
            version = self.schema_version()  # re-read under the write lock
            if version > SCHEMA_VERSION:
                raise TierflowError(
                    f"{self.path}: schema version {version} is newer than this "
                    f"tierflow's ({SCHEMA_VERSION}); upgrade tierflow"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    @staticmethod
    def _now(now: float | None) -> float:
        return time.time() if now is None else float(now)

    # ----------------------------------------------------------- inventory
    def upsert_inventory(self, rows: pd.DataFrame) -> int:
        """Set ``on_hand`` for ``node_id, sku`` rows (reservations are kept).

        Raises
        ------
        InputError
            A row would put ``on_hand`` below what is reserved; nothing is
            written then.
        """
        data = [
            (str(n), str(s), int(q))
            for n, s, q in zip(
                rows["node_id"], rows["sku"], rows["on_hand"], strict=True
            )
        ]
        try:
            with self._tx() as conn:
                conn.executemany(
                    "INSERT INTO inventory (node_id, sku, on_hand) VALUES (?, ?, ?) "
                    "ON CONFLICT (node_id, sku) DO UPDATE SET on_hand = excluded.on_hand",
                    data,
                )
        except sqlite3.IntegrityError as exc:
            raise InputError(f"on_hand below reserved or negative ({exc})") from None
        return len(data)

    def load_network_inventory(self, network: Any) -> int:
        """Seed the inventory table from a :class:`tierflow.data.network.Network`."""
        ni, si = np.nonzero(np.asarray(network.inventory) >= 0)
        frame = pd.DataFrame(
            {
                "node_id": np.asarray(network.node_ids, dtype=object)[ni],
                "sku": np.asarray(network.sku_ids, dtype=object)[si],
                "on_hand": np.asarray(network.inventory)[ni, si],
            }
        )
        return self.upsert_inventory(frame[frame["on_hand"] > 0])

    def available(
        self, node_id: str, skus: Sequence[str], *, now: float | None = None
    ) -> dict[str, int]:
        """On hand minus live (unexpired, active) reservations, per SKU (0 if none)."""
        t = self._now(now)
        out = dict.fromkeys(skus, 0)
        for chunk in _chunks(list(skus), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"""SELECT i.sku, i.on_hand - i.reserved + COALESCE((
                        SELECT SUM(l.quantity) FROM reservation_lines l
                        JOIN reservations r ON r.request_id = l.request_id
                        WHERE r.status = 'active' AND r.expires_at <= ?
                          AND r.node_id = i.node_id AND l.sku = i.sku), 0)
                    FROM inventory i WHERE i.node_id = ? AND i.sku IN ({marks})""",
                (t, node_id, *chunk),
            ).fetchall()
            out.update({str(s): int(a) for s, a in rows})
        return out

    def available_matrix(
        self,
        node_ids: Sequence[str],
        sku_ids: Sequence[str],
        *,
        now: float | None = None,
    ) -> NDArray[np.int64]:
        """Dense ``(len(node_ids), len(sku_ids))`` available units (one query)."""
        t = self._now(now)
        node_pos = {n: i for i, n in enumerate(node_ids)}
        sku_pos = {s: j for j, s in enumerate(sku_ids)}
        out = np.zeros((len(node_ids), len(sku_ids)), dtype=np.int64)
        rows = self._conn.execute(
            "SELECT node_id, sku, on_hand - reserved FROM inventory"
        ).fetchall()
        stale = self._conn.execute(
            """SELECT r.node_id, l.sku, SUM(l.quantity) FROM reservation_lines l
               JOIN reservations r ON r.request_id = l.request_id
               WHERE r.status = 'active' AND r.expires_at <= ?
               GROUP BY r.node_id, l.sku""",
            (t,),
        ).fetchall()
        for n, s, a in [*rows, *stale]:
            i, j = node_pos.get(n), sku_pos.get(s)
            if i is not None and j is not None:
                out[i, j] += int(a)
        return out

    def inventory_frame(self) -> pd.DataFrame:
        """The inventory table: ``node_id, sku, on_hand, reserved``."""
        return pd.read_sql_query(
            "SELECT node_id, sku, on_hand, reserved FROM inventory ORDER BY node_id, sku",
            self._conn,
        )

    # -------------------------------------------------------- reservations
    def reserve(
        self,
        request_id: str,
        lines: Iterable[tuple[str, int]],
        node_id: str,
        ttl_s: float,
        *,
        now: float | None = None,
    ) -> ReserveResult:
        """Hold every line at ``node_id`` for ``ttl_s`` seconds, atomically.

        Returns
        -------
        ReserveResult
            ``ok`` with status ``active``; or status ``rejected`` with the
            shortfall (nothing written); or, for a known ``request_id``, the
            recorded state with ``replayed=True``.

        Raises
        ------
        InputError
            Bad lines or TTL, or a known ``request_id`` with different lines
            or node.
        """
        if not request_id:
            raise InputError("empty request id", field="request_id", value=request_id)
        if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
            raise InputError("must be > 0 seconds", field="ttl_s", value=ttl_s)
        wanted = _normalize_lines(lines)
        t = self._now(now)
        try:
            with self._tx() as conn:
                known = self._replay(conn, request_id, wanted, node_id, t)
                if known is not None:
                    return known
                self._expire(conn, t)
                short: list[tuple[str, int, int]] = []
                for sku, qty in wanted:
                    cur = conn.execute(
                        "UPDATE inventory SET reserved = reserved + ? WHERE node_id = ? "
                        "AND sku = ? AND on_hand - reserved >= ?",
                        (qty, node_id, sku, qty),
                    )
                    if cur.rowcount == 0:
                        row = conn.execute(
                            "SELECT on_hand - reserved FROM inventory "
                            "WHERE node_id = ? AND sku = ?",
                            (node_id, sku),
                        ).fetchone()
                        short.append((sku, qty, int(row[0]) if row else 0))
                if short:
                    raise _Rejected(tuple(short))
                conn.execute(
                    "INSERT INTO reservations (request_id, node_id, status, created_at, "
                    "expires_at, updated_at) VALUES (?, ?, 'active', ?, ?, ?)",
                    (request_id, node_id, t, t + ttl_s, t),
                )
                conn.executemany(
                    "INSERT INTO reservation_lines (request_id, sku, quantity) "
                    "VALUES (?, ?, ?)",
                    [(request_id, s, q) for s, q in wanted],
                )
        except _Rejected as rej:
            return ReserveResult(
                request_id, node_id, False, "rejected", None, shortfall=rej.shortfall
            )
        return ReserveResult(request_id, node_id, True, "active", t + ttl_s)

    def _replay(
        self,
        conn: sqlite3.Connection,
        request_id: str,
        wanted: list[tuple[str, int]],
        node_id: str,
        t: float,
    ) -> ReserveResult | None:
        row = conn.execute(
            "SELECT node_id, status, expires_at FROM reservations WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        stored = conn.execute(
            "SELECT sku, quantity FROM reservation_lines WHERE request_id = ? ORDER BY sku",
            (request_id,),
        ).fetchall()
        if row[0] != node_id or [(s, int(q)) for s, q in stored] != wanted:
            raise InputError(
                "request id already used with different lines or node",
                field="request_id",
                value=request_id,
            )
        status = str(row[1])
        if status == "active" and float(row[2]) <= t:
            self._expire(conn, t)
            status = "expired"
        return ReserveResult(
            request_id,
            node_id,
            status in ("active", "committed"),
            status,
            float(row[2]),
            replayed=True,
        )

    def _expire(self, conn: sqlite3.Connection, t: float) -> int:
        stale = conn.execute(
            "SELECT request_id, node_id FROM reservations "
            "WHERE status = 'active' AND expires_at <= ?",
            (t,),
        ).fetchall()
        for request_id, node_id in stale:
            self._unreserve(conn, request_id, node_id, consume=False)
            conn.execute(
                "UPDATE reservations SET status = 'expired', updated_at = ? "
                "WHERE request_id = ?",
                (t, request_id),
            )
        return len(stale)

    @staticmethod
    def _unreserve(
        conn: sqlite3.Connection, request_id: str, node_id: str, *, consume: bool
    ) -> None:
        lines = conn.execute(
            "SELECT sku, quantity FROM reservation_lines WHERE request_id = ?",
            (request_id,),
        ).fetchall()
        sql = (
            "UPDATE inventory SET reserved = reserved - ?, on_hand = on_hand - ? "
            "WHERE node_id = ? AND sku = ?"
        )
        conn.executemany(sql, [(q, q if consume else 0, node_id, s) for s, q in lines])

    def _finish(self, request_id: str, target: str, now: float | None) -> ReserveResult:
        t = self._now(now)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT node_id, status, expires_at FROM reservations WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is None:
                raise InputError(
                    "unknown reservation", field="request_id", value=request_id
                )
            node_id, status, expires = str(row[0]), str(row[1]), float(row[2])
            if status == "active" and expires <= t:
                self._expire(conn, t)
                status = "expired"
            if status == target:
                return ReserveResult(
                    request_id, node_id, target == "committed", status, expires, True
                )
            if status != "active":
                if target == "released" and status == "expired":
                    return ReserveResult(
                        request_id, node_id, False, status, expires, True
                    )
                raise InputError(
                    f"reservation is {status}, cannot be {target}",
                    field="request_id",
                    value=request_id,
                )
            self._unreserve(conn, request_id, node_id, consume=target == "committed")
            conn.execute(
                "UPDATE reservations SET status = ?, updated_at = ? WHERE request_id = ?",
                (target, t, request_id),
            )
        return ReserveResult(
            request_id, node_id, target == "committed", target, expires
        )

    def commit(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Ship an active reservation: its units leave ``on_hand``.

        Idempotent for an already committed id; ``InputError`` for an
        unknown, expired or released one.
        """
        return self._finish(request_id, "committed", now)

    def release(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Cancel an active reservation (idempotent; expired ones stay expired).

        ``InputError`` for an unknown or committed id.
        """
        return self._finish(request_id, "released", now)

    def expire_stale(self, *, now: float | None = None) -> int:
        """Expire every active reservation past its TTL; returns the count."""
        with self._tx() as conn:
            return self._expire(conn, self._now(now))

    def reservation_status(self, request_id: str) -> str | None:
        """Stored status of a request id, or None when unknown."""
        row = self._conn.execute(
            "SELECT status FROM reservations WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    # ------------------------------------------------------ capacity events
    def append_events(self, events: Sequence[Mapping[str, Any]]) -> list[int | None]:
        """Log events (``event_id, ts, node_id, type`` + payload) in one transaction.

        Returns
        -------
        list
            Per event, its new sequence number, or None for an ``event_id``
            already logged (the duplicate is ignored).
        """
        received = time.time()
        out: list[int | None] = []
        with self._tx() as conn:
            for ev in events:
                payload = {
                    k: v
                    for k, v in ev.items()
                    if k not in ("event_id", "ts", "node_id", "type")
                }
                row = conn.execute(
                    "INSERT INTO capacity_events (event_id, ts, node_id, type, payload, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (event_id) DO NOTHING RETURNING seq",
                    (
                        str(ev["event_id"]),
                        str(ev["ts"]),
                        str(ev["node_id"]),
                        str(ev["type"]),
                        json.dumps(payload, sort_keys=True),
                        received,
                    ),
                ).fetchone()
                out.append(None if row is None else int(row[0]))
        return out

    def events_after(self, seq: int) -> list[StoredEvent]:
        """Logged events after ``seq``, in sequence order."""
        rows = self._conn.execute(
            "SELECT seq, event_id, ts, node_id, type, payload FROM capacity_events "
            "WHERE seq > ? ORDER BY seq",
            (seq,),
        ).fetchall()
        return [
            StoredEvent(int(s), str(e), str(t), str(n), str(k), json.loads(p))
            for s, e, t, n, k, p in rows
        ]

    def last_event_seq(self) -> int:
        """Highest logged sequence number (0 when empty)."""
        row = self._conn.execute("SELECT MAX(seq) FROM capacity_events").fetchone()
        return int(row[0] or 0)

    def save_capacity_snapshot(self, last_seq: int, state: Mapping[str, Any]) -> None:
        """Persist a monitor state covering events up to ``last_seq`` (keeps 20)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO capacity_snapshots (last_seq, created_at, state) "
                "VALUES (?, ?, ?)",
                (int(last_seq), time.time(), json.dumps(state)),
            )
            conn.execute(
                "DELETE FROM capacity_snapshots WHERE snapshot_id NOT IN ("
                "SELECT snapshot_id FROM capacity_snapshots "
                "ORDER BY snapshot_id DESC LIMIT ?)",
                (_KEEP_SNAPSHOTS,),
            )

    def latest_capacity_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """``(last_seq, state)`` of the newest snapshot, or None."""
        row = self._conn.execute(
            "SELECT last_seq, state FROM capacity_snapshots "
            "ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    # ---------------------------------------------------------- CLTV scores
    def put_cltv_scores(
        self, scores: pd.DataFrame, *, as_of: dt.date, model_version: str
    ) -> int:
        """Replace the scores of day ``as_of`` in one transaction.

        Parameters
        ----------
        scores
            Columns ``customer_id, predicted_spend, p_active, segment``;
            ``predicted_spend`` finite, ``p_active`` in [0, 1], ids unique.
        as_of, model_version
            Day the scores are for, and the model that made them.

        Returns
        -------
        int
            Rows written.

        Raises
        ------
        InputError
            A missing column or a bad value (``index`` is the 0-based row of
            the frame); nothing is written.
        """
        for col in CLTV_COLUMNS:
            if col not in scores.columns:
                raise InputError("missing column", field=col)
        ids = scores["customer_id"].astype(str)
        spend = pd.to_numeric(scores["predicted_spend"], errors="coerce").to_numpy(
            float
        )
        p_active = pd.to_numeric(scores["p_active"], errors="coerce").to_numpy(float)
        checks = [
            ("customer_id", (ids.str.len() == 0).to_numpy(), "empty id"),
            ("customer_id", ids.duplicated().to_numpy(), "duplicate id"),
            ("predicted_spend", ~np.isfinite(spend), "not a finite number"),
            (
                "p_active",
                ~(np.isfinite(p_active) & (p_active >= 0) & (p_active <= 1)),
                "must be in [0, 1]",
            ),
        ]
        for col, bad, message in checks:
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                value = scores[col].iloc[pos]
                if isinstance(value, np.generic):
                    value = value.item()
                raise InputError(message, field=col, index=pos, value=value)
        day = as_of.isoformat()
        rows = list(
            zip(
                [day] * len(ids),
                ids,
                spend.tolist(),
                p_active.tolist(),
                scores["segment"].astype(str),
                [model_version] * len(ids),
                strict=True,
            )
        )
        with self._tx() as conn:
            conn.execute("DELETE FROM cltv_scores WHERE as_of = ?", (day,))
            conn.executemany(
                "INSERT INTO cltv_scores (as_of, customer_id, predicted_spend, p_active, "
                "segment, model_version) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def latest_cltv_as_of(self) -> dt.date | None:
        """Day of the latest stored scores, or None."""
        row = self._conn.execute("SELECT MAX(as_of) FROM cltv_scores").fetchone()
        return None if row[0] is None else dt.date.fromisoformat(row[0])

    def cltv_score(self, customer_id: str) -> CltvScore | None:
        """The customer's score from the latest day (None if not scored that day)."""
        row = self._conn.execute(
            "SELECT customer_id, predicted_spend, p_active, segment, as_of, model_version "
            "FROM cltv_scores WHERE as_of = (SELECT MAX(as_of) FROM cltv_scores) "
            "AND customer_id = ?",
            (customer_id,),
        ).fetchone()
        if row is None:
            return None
        return CltvScore(
            str(row[0]),
            float(row[1]),
            float(row[2]),
            str(row[3]),
            dt.date.fromisoformat(row[4]),
            str(row[5]),
        )

    def cltv_scores(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Latest scores of many customers (absent ids are left out).

        Returns ``customer_id, predicted_spend, p_active, segment``.
        """
        day = self.latest_cltv_as_of()
        frames = []
        if day is not None:
            for chunk in _chunks(list(dict.fromkeys(customer_ids)), 500):
                marks = ",".join("?" * len(chunk))
                frames.append(
                    pd.read_sql_query(
                        "SELECT customer_id, predicted_spend, p_active, segment "
                        f"FROM cltv_scores WHERE as_of = ? AND customer_id IN ({marks})",
                        self._conn,
                        params=(day.isoformat(), *chunk),
                    )
                )
        if not frames:
            return pd.DataFrame(columns=list(CLTV_COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def cltv_threshold(self, percentile: float) -> float | None:
        """``predicted_spend`` at ``percentile`` (0–100) of the latest day's scores.

        The value at position ``floor(percentile / 100 * (n - 1))`` of the
        sorted scores (numpy's ``method="lower"``): customers at or above it
        are the top ``100 - percentile`` %. None when no scores are stored.
        """
        if not (0.0 <= percentile <= 100.0):
            raise InputError(
                "must be in [0, 100]", field="percentile", value=percentile
            )
        day = self.latest_cltv_as_of()
        if day is None:
            return None
        (n,) = self._conn.execute(
            "SELECT COUNT(*) FROM cltv_scores WHERE as_of = ?", (day.isoformat(),)
        ).fetchone()
        k = math.floor(percentile / 100.0 * (int(n) - 1))
        row = self._conn.execute(
            "SELECT predicted_spend FROM cltv_scores WHERE as_of = ? "
            "ORDER BY predicted_spend LIMIT 1 OFFSET ?",
            (day.isoformat(), k),
        ).fetchone()
        return float(row[0])

    # ---------------------------------------------------------- allocations
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
        with self._tx() as conn:
            row = conn.execute(
                "SELECT params FROM allocation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO allocation_runs (run_id, params, created_at) "
                    "VALUES (?, ?, ?)",
                    (run_id, text, time.time()),
                )
            elif row[0] != text:
                raise InputError(
                    "run exists with different parameters", field="run_id", value=run_id
                )
        return self.last_committed_batch(run_id)

    def last_committed_batch(self, run_id: str) -> int | None:
        """Highest committed batch number of a run, or None."""
        row = self._conn.execute(
            "SELECT MAX(batch) FROM allocation_batches WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def write_allocation_batch(
        self,
        run_id: str,
        batch: int,
        rows: pd.DataFrame,
        *,
        consume_inventory: bool = False,
        supersede: Sequence[str] = (),
    ) -> bool:
        """Write one batch's allocations and its marker in one transaction.

        Parameters
        ----------
        run_id, batch
            The run (see :meth:`start_allocation_run`) and batch number.
        rows
            Columns :data:`ALLOCATION_COLUMNS`; ``node_id``/``service``/dates/
            ``cost`` may be empty for deferred or unfillable lines.
        consume_inventory
            Also take allocated quantities out of ``on_hand`` (fails the
            whole batch if a node lacks the unreserved stock).
        supersede
            Orders whose earlier allocated lines this batch replaces (a
            reroute): they become ``rerouted`` in the same transaction.

        Returns
        -------
        bool
            False when the batch was already committed (nothing written).

        Raises
        ------
        InputError
            Missing columns, an order line already allocated in this run, or
            not enough stock; nothing is written.
        """
        missing = [c for c in ALLOCATION_COLUMNS if c not in rows.columns]
        if missing:
            raise InputError(f"missing columns {missing}", field="rows")

        def opt(v: Any) -> Any:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        data = [
            (
                run_id,
                int(batch),
                str(r.order_id),
                str(r.sku),
                int(r.quantity),
                opt(r.node_id),
                opt(r.service),
                None if opt(r.ship_date) is None else str(r.ship_date),
                None if opt(r.promised_date) is None else str(r.promised_date),
                None if opt(r.cost) is None else float(r.cost),
                str(r.status),
                "" if opt(r.reason) is None else str(r.reason),
                *(opt(getattr(r, c, None)) for c in ALLOCATION_EXTRA_COLUMNS),
            )
            for r in rows.reindex(
                columns=[*ALLOCATION_COLUMNS, *ALLOCATION_EXTRA_COLUMNS]
            ).itertuples(index=False)
        ]
        data = [
            (*d[:12], None if d[12] in (None, "") else str(d[12]), *d[13:])
            for d in data
        ]
        try:
            with self._tx() as conn:
                done = conn.execute(
                    "SELECT 1 FROM allocation_batches WHERE run_id = ? AND batch = ?",
                    (run_id, int(batch)),
                ).fetchone()
                if done:
                    return False
                conn.execute(
                    "INSERT INTO allocation_batches (run_id, batch, n_rows, committed_at) "
                    "VALUES (?, ?, ?, ?)",
                    (run_id, int(batch), len(data), time.time()),
                )
                for chunk in _chunks(list(supersede), 500):
                    marks = ", ".join("?" * len(chunk))
                    conn.execute(
                        "UPDATE allocations SET status = 'rerouted' WHERE run_id = ? "
                        f"AND status = 'allocated' AND order_id IN ({marks})",
                        (run_id, *chunk),
                    )
                conn.executemany(
                    "INSERT INTO allocations (run_id, batch, order_id, sku, quantity, "
                    "node_id, service, ship_date, promised_date, cost, status, reason, "
                    "delivery_date, shipping, handling, penalty) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    data,
                )
                if consume_inventory:
                    for d in data:
                        if d[10] != "allocated":
                            continue
                        cur = conn.execute(
                            "UPDATE inventory SET on_hand = on_hand - ? WHERE node_id = ? "
                            "AND sku = ? AND on_hand - reserved >= ?",
                            (d[4], d[5], d[3], d[4]),
                        )
                        if cur.rowcount == 0:
                            raise InputError(
                                "not enough unreserved stock",
                                field="sku",
                                value=f"{d[5]}/{d[3]}",
                            )
        except sqlite3.IntegrityError as exc:
            raise InputError(
                f"batch rejected ({exc}): an order line already allocated, or a bad "
                "status",
                field="batch",
                value=batch,
            ) from None
        return True

    def finish_allocation_run(self, run_id: str) -> None:
        """Mark a run finished."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE allocation_runs SET finished_at = ? WHERE run_id = ?",
                (time.time(), run_id),
            )

    def allocations(
        self, run_id: str, *, include_rerouted: bool = False
    ) -> pd.DataFrame:
        """The allocation rows of a run, with ``batch``, in batch order.

        Rows a later batch rerouted are left out unless ``include_rerouted``.
        """
        columns = ", ".join([*ALLOCATION_COLUMNS, *ALLOCATION_EXTRA_COLUMNS])
        where = "" if include_rerouted else " AND status != 'rerouted'"
        return pd.read_sql_query(
            f"SELECT batch, {columns} FROM allocations WHERE run_id = ?{where} "
            "ORDER BY batch, order_id, sku",
            self._conn,
            params=(run_id,),
        )

    def decided_order_ids(self, run_id: str) -> set[str]:
        """Orders with a line allocated or found unfillable in the run.

        On resume these are done; orders only ever deferred are not.
        """
        rows = self._conn.execute(
            "SELECT DISTINCT order_id FROM allocations WHERE run_id = ? "
            "AND status IN ('allocated', 'unfillable')",
            (run_id,),
        ).fetchall()
        return {str(r[0]) for r in rows}

    # ------------------------------------------------------------- checks
    def check_consistency(self) -> list[str]:
        """Invariants a crash must never break; returns what is violated.

        SQLite's ``integrity_check``; ``reserved`` equals the live reservation
        lines per (node, sku); every allocation batch holds exactly its
        marker's ``n_rows``.
        """
        problems = []
        (ok,) = self._conn.execute("PRAGMA integrity_check").fetchone()
        if ok != "ok":
            problems.append(f"integrity_check: {ok}")
        bad = self._conn.execute(
            """SELECT i.node_id, i.sku, i.reserved, COALESCE(x.q, 0) FROM inventory i
               LEFT JOIN (SELECT r.node_id, l.sku, SUM(l.quantity) AS q
                          FROM reservation_lines l JOIN reservations r
                          ON r.request_id = l.request_id WHERE r.status = 'active'
                          GROUP BY r.node_id, l.sku) x
               ON x.node_id = i.node_id AND x.sku = i.sku
               WHERE i.reserved != COALESCE(x.q, 0)"""
        ).fetchall()
        problems += [f"reserved mismatch {n}/{s}: {r} != {q}" for n, s, r, q in bad]
        bad = self._conn.execute(
            """SELECT b.run_id, b.batch, b.n_rows, COUNT(a.order_id)
               FROM allocation_batches b LEFT JOIN allocations a
               ON a.run_id = b.run_id AND a.batch = b.batch
               GROUP BY b.run_id, b.batch HAVING COUNT(a.order_id) != b.n_rows"""
        ).fetchall()
        problems += [f"batch {r}/{b}: {c} rows, marker says {n}" for r, b, n, c in bad]
        return problems

    # ------------------------------------------- online checkouts (issue 7)
    def seed_network_inventory(self, network: Any) -> int:
        """Load a network's ``on_hand`` once: only when the inventory table is empty.

        The check and the insert are one transaction, so routers opening a
        fresh store concurrently seed it exactly once. Returns rows written.
        """
        ni, si = np.nonzero(np.asarray(network.inventory) > 0)
        rows = [
            (str(network.node_ids[i]), str(network.sku_ids[k]), int(q))
            for i, k, q in zip(
                ni.tolist(),
                si.tolist(),
                np.asarray(network.inventory)[ni, si].tolist(),
                strict=True,
            )
        ]
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM inventory LIMIT 1").fetchone():
                return 0
            conn.executemany(
                "INSERT INTO inventory (node_id, sku, on_hand) VALUES (?, ?, ?)", rows
            )
        return len(rows)

    def available_by_sku(
        self, skus: Sequence[str], *, now: float | None = None
    ) -> list[tuple[str, str, int]]:
        """``(node_id, sku, available)`` of every node holding one of ``skus``.

        Available = on hand − live reservations (holds past their TTL count
        as free even before a write sweeps them). A read, never blocked by
        writers (WAL); one indexed query however many nodes.
        """
        t = self._now(now)
        marks = ",".join("?" * len(skus))
        rows = self._conn.execute(
            f"SELECT node_id, sku, on_hand - reserved FROM inventory "
            f"WHERE sku IN ({marks}) AND on_hand > 0",
            tuple(skus),
        ).fetchall()
        stale = self._conn.execute(
            "SELECT 1 FROM reservations WHERE status = 'active' AND expires_at <= ? "
            "LIMIT 1",
            (t,),
        ).fetchone()
        if stale is None:
            return rows
        freed = {
            (str(n), str(s)): int(q)
            for n, s, q in self._conn.execute(
                f"""SELECT r.node_id, l.sku, SUM(l.quantity)
                    FROM reservations r JOIN reservation_lines l
                      ON l.request_id = r.request_id
                    WHERE r.status = 'active' AND r.expires_at <= ?
                      AND l.sku IN ({marks})
                    GROUP BY r.node_id, l.sku""",
                (t, *skus),
            ).fetchall()
        }
        return [(n, s, a + freed.get((n, s), 0)) for n, s, a in rows]

    def hold_checkout(
        self,
        request_id: str,
        option_id: str,
        holds: Sequence[tuple[str, Iterable[tuple[str, int]]]],
        ttl_s: float,
        *,
        order_lines: Sequence[Mapping[str, Any]],
        now: float | None = None,
    ) -> CheckoutState:
        """Reserve every shipment of a checkout option atomically, or nothing.

        One write transaction takes stock for every ``(node_id, lines)`` hold
        with the same conditional updates as :meth:`reserve` (no oversell).
        Selecting another option of a held checkout — or the same option with
        other holds (a requote moved it) — swaps the holds in that transaction
        (if the new one does not fit, the old hold stays). Repeating the held
        option with the same holds replays it; a hold past its TTL may be
        selected again. ``order_lines`` (rows of :data:`ONLINE_ORDER_COLUMNS`
        but ``confirmed_at``) are kept for :meth:`confirm_checkout`.

        Raises
        ------
        InputError
            Bad holds or TTL, or a confirmed or cancelled checkout.
        """
        if not request_id:
            raise InputError("empty request id", field="request_id", value=request_id)
        if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
            raise InputError("must be > 0 seconds", field="ttl_s", value=ttl_s)
        wanted = [(str(node), _normalize_lines(lines)) for node, lines in holds]
        if not wanted or any(not node for node, _ in wanted):
            raise InputError("needs one node per hold", field="holds")
        missing = [
            c
            for c in ONLINE_ORDER_COLUMNS[:-1]
            if order_lines and c not in order_lines[0]
        ]
        if not order_lines or missing:
            raise InputError(f"order lines need {missing}", field="order_lines")
        t = self._now(now)
        try:
            with self._tx() as conn:
                row = conn.execute(
                    "SELECT option_id, status, attempt, reservation_ids, expires_at "
                    "FROM checkouts WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                attempt = 1
                if row is not None:
                    old_option, status, attempt = str(row[0]), str(row[1]), int(row[2])
                    old_ids = json.loads(row[3])
                    if status != "held":
                        raise InputError(
                            f"checkout already {status}",
                            field="request_id",
                            value=request_id,
                        )
                    live = float(row[4]) > t
                    if (
                        live
                        and old_option == option_id
                        and self._held_lines(conn, old_ids) == wanted
                    ):
                        return CheckoutState(
                            request_id,
                            option_id,
                            "held",
                            float(row[4]),
                            tuple(old_ids),
                            replayed=True,
                        )
                    if live:
                        self._release_ids(conn, old_ids, t)
                    attempt += 1
                self._expire(conn, t)
                short: list[tuple[str, str, int, int]] = []
                for node, lines in wanted:
                    for sku, qty in lines:
                        cur = conn.execute(
                            "UPDATE inventory SET reserved = reserved + ? "
                            "WHERE node_id = ? AND sku = ? AND on_hand - reserved >= ?",
                            (qty, node, sku, qty),
                        )
                        if cur.rowcount == 0:
                            have = conn.execute(
                                "SELECT on_hand - reserved FROM inventory "
                                "WHERE node_id = ? AND sku = ?",
                                (node, sku),
                            ).fetchone()
                            short.append((node, sku, qty, int(have[0]) if have else 0))
                if short:
                    raise _HoldRejected(tuple(short))
                ids = [f"{request_id}#{attempt}.{k}" for k in range(len(wanted))]
                expires = t + ttl_s
                conn.executemany(
                    "INSERT INTO reservations (request_id, node_id, status, created_at, "
                    "expires_at, updated_at) VALUES (?, ?, 'active', ?, ?, ?)",
                    [
                        (rid, node, t, expires, t)
                        for rid, (node, _) in zip(ids, wanted, strict=True)
                    ],
                )
                conn.executemany(
                    "INSERT INTO reservation_lines (request_id, sku, quantity) "
                    "VALUES (?, ?, ?)",
                    [
                        (rid, sku, qty)
                        for rid, (_, lines) in zip(ids, wanted, strict=True)
                        for sku, qty in lines
                    ],
                )
                conn.execute(
                    "INSERT INTO checkouts (request_id, option_id, status, attempt, "
                    "reservation_ids, order_lines, created_at, expires_at, updated_at) "
                    "VALUES (?, ?, 'held', ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) "
                    "DO UPDATE SET option_id = excluded.option_id, status = 'held', "
                    "attempt = excluded.attempt, reservation_ids = "
                    "excluded.reservation_ids, order_lines = excluded.order_lines, "
                    "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                    (
                        request_id,
                        option_id,
                        attempt,
                        json.dumps(ids),
                        json.dumps([dict(r) for r in order_lines], default=str),
                        t,
                        expires,
                        t,
                    ),
                )
        except _HoldRejected as rej:
            return CheckoutState(
                request_id, option_id, "rejected", None, shortfall=rej.shortfall
            )
        return CheckoutState(request_id, option_id, "held", expires, tuple(ids))

    @staticmethod
    def _held_lines(
        conn: sqlite3.Connection, ids: list[str]
    ) -> list[tuple[str, list[tuple[str, int]]]]:
        """The ``(node_id, lines)`` held under reservation ``ids``, in order."""
        out = []
        for rid in ids:
            node = conn.execute(
                "SELECT node_id FROM reservations WHERE request_id = ?", (rid,)
            ).fetchone()
            lines = conn.execute(
                "SELECT sku, quantity FROM reservation_lines WHERE request_id = ? "
                "ORDER BY sku",
                (rid,),
            ).fetchall()
            out.append(
                (
                    "" if node is None else str(node[0]),
                    [(str(a), int(b)) for a, b in lines],
                )
            )
        return out

    def _release_ids(self, conn: sqlite3.Connection, ids: list[str], t: float) -> None:
        for rid in ids:
            row = conn.execute(
                "SELECT node_id FROM reservations WHERE request_id = ? "
                "AND status = 'active'",
                (rid,),
            ).fetchone()
            if row is None:
                continue
            self._unreserve(conn, rid, str(row[0]), consume=False)
            conn.execute(
                "UPDATE reservations SET status = 'released', updated_at = ? "
                "WHERE request_id = ?",
                (t, rid),
            )

    def _checkout_row(
        self, conn: sqlite3.Connection, request_id: str
    ) -> tuple[str, str, list[str], str, float]:
        row = conn.execute(
            "SELECT option_id, status, reservation_ids, order_lines, expires_at "
            "FROM checkouts WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            raise InputError(
                "unknown checkout (no option selected for it)",
                field="request_id",
                value=request_id,
            )
        return str(row[0]), str(row[1]), json.loads(row[2]), str(row[3]), float(row[4])

    def confirm_checkout(
        self, request_id: str, *, now: float | None = None
    ) -> CheckoutState:
        """Turn a held checkout into an order, in one transaction.

        The holds are committed (their units leave ``on_hand``: the order owns
        them at the promised nodes) and the order's lines are written to
        ``online_orders`` for the next allocation batch (:meth:`online_orders`).
        Idempotent for a confirmed id.

        Raises
        ------
        InputError
            Unknown or cancelled checkout, or a hold past its TTL (its stock
            may be gone: select again).
        """
        t = self._now(now)
        with self._tx() as conn:
            option_id, status, ids, lines, expires = self._checkout_row(
                conn, request_id
            )
            if status == "confirmed":
                return CheckoutState(
                    request_id, option_id, status, expires, tuple(ids), replayed=True
                )
            if status == "cancelled":
                raise InputError(
                    "checkout was cancelled", field="request_id", value=request_id
                )
            stamp = dt.datetime.fromtimestamp(expires, dt.UTC).isoformat()
            marks = ",".join("?" * len(ids))
            live = conn.execute(
                f"SELECT request_id, node_id FROM reservations WHERE request_id IN "
                f"({marks}) AND status = 'active' AND expires_at > ?",
                (*ids, t),
            ).fetchall()
            if expires <= t or len(live) != len(ids):
                raise InputError(
                    f"hold expired at {stamp}; select an option again",
                    field="request_id",
                    value=request_id,
                )
            for rid, node in live:
                self._unreserve(conn, str(rid), str(node), consume=True)
            conn.execute(
                f"UPDATE reservations SET status = 'committed', updated_at = ? "
                f"WHERE request_id IN ({marks})",
                (t, *ids),
            )
            conn.executemany(
                "INSERT INTO online_orders (" + ", ".join(ONLINE_ORDER_COLUMNS) + ") "
                "VALUES (" + ", ".join("?" * len(ONLINE_ORDER_COLUMNS)) + ")",
                [
                    (*(r[c] for c in ONLINE_ORDER_COLUMNS[:-1]), t)
                    for r in json.loads(lines)
                ],
            )
            conn.execute(
                "UPDATE checkouts SET status = 'confirmed', updated_at = ? "
                "WHERE request_id = ?",
                (t, request_id),
            )
        return CheckoutState(request_id, option_id, "confirmed", expires, tuple(ids))

    def cancel_checkout(
        self, request_id: str, *, now: float | None = None
    ) -> CheckoutState:
        """Release a checkout's holds (idempotent); ``expired`` if already lapsed.

        Raises
        ------
        InputError
            Unknown or confirmed checkout.
        """
        t = self._now(now)
        with self._tx() as conn:
            option_id, status, ids, _, expires = self._checkout_row(conn, request_id)
            if status == "cancelled":
                return CheckoutState(
                    request_id, option_id, status, expires, tuple(ids), replayed=True
                )
            if status == "confirmed":
                raise InputError(
                    "checkout already confirmed, cannot cancel",
                    field="request_id",
                    value=request_id,
                )
            self._expire(conn, t)
            self._release_ids(conn, ids, t)
            conn.execute(
                "UPDATE checkouts SET status = 'cancelled', updated_at = ? "
                "WHERE request_id = ?",
                (t, request_id),
            )
        lapsed = expires <= t
        return CheckoutState(
            request_id,
            option_id,
            "expired" if lapsed else "cancelled",
            expires,
            tuple(ids),
        )

    def checkout_state(
        self, request_id: str, *, now: float | None = None
    ) -> CheckoutState | None:
        """Stored state of a checkout (a lapsed hold reads ``expired``), or None."""
        row = self._conn.execute(
            "SELECT option_id, status, reservation_ids, expires_at FROM checkouts "
            "WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        status, expires = str(row[1]), float(row[3])
        if status == "held" and expires <= self._now(now):
            status = "expired"
        return CheckoutState(
            request_id, str(row[0]), status, expires, tuple(json.loads(row[2]))
        )

    def online_orders(self, *, since: float | None = None) -> pd.DataFrame:
        """Confirmed checkout orders (:data:`ONLINE_ORDER_COLUMNS`), oldest first.

        The first seven columns are ``orders.csv``'s, so
        ``data.orders.write_orders(store.online_orders(), path)`` is an orders
        file the allocator reads; ``since`` (epoch seconds) keeps orders
        confirmed after it (the next batch's).
        """
        return pd.read_sql_query(
            "SELECT " + ", ".join(ONLINE_ORDER_COLUMNS) + " FROM online_orders "
            "WHERE confirmed_at > ? ORDER BY confirmed_at, order_id, sku",
            self._conn,
            params=(-math.inf if since is None else float(since),),
        )

    def put_bid_prices(
        self, prices: Mapping[str, float], *, as_of: dt.datetime, source: str
    ) -> None:
        """Store the latest bid prices ($ per capacity unit, per node id).

        Raises
        ------
        InputError
            An empty node id, a price that is not a finite number >= 0, or a
            naive ``as_of``; nothing is written.
        """
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise InputError("no timezone offset", field="as_of", value=str(as_of))
        clean: dict[str, float] = {}
        for node, value in prices.items():
            if not isinstance(node, str) or not node:
                raise InputError("empty node id", field="prices", value=node)
            if isinstance(value, bool) or not isinstance(
                value, int | float | np.number
            ):
                raise InputError(
                    "not a number", field="prices", index=node, value=value
                )
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise InputError(
                    "must be a finite number >= 0",
                    field="prices",
                    index=node,
                    value=value,
                )
            clean[node] = float(value)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO bid_prices (as_of, source, prices, created_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    as_of.astimezone(dt.UTC).isoformat(),
                    source,
                    json.dumps(clean),
                    time.time(),
                ),
            )
            conn.execute(
                "DELETE FROM bid_prices WHERE seq NOT IN (SELECT seq FROM bid_prices "
                "ORDER BY seq DESC LIMIT ?)",
                (_KEEP_BID_PRICES,),
            )

    def latest_bid_price_run(self) -> BidPriceRun | None:
        """The newest stored bid prices with their ``as_of`` and source, or None."""
        row = self._conn.execute(
            "SELECT as_of, source, prices FROM bid_prices ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return BidPriceRun(
            dt.datetime.fromisoformat(str(row[0])), str(row[1]), json.loads(row[2])
        )

    def latest_bid_prices(self) -> dict[str, float] | None:
        """The newest stored bid prices per node id, or None."""
        run = self.latest_bid_price_run()
        return None if run is None else run.prices

    # ------------------------------------------- checkout service (issue 8)
    def cltv_segment_examples(self) -> list[CltvScore]:
        """One customer per segment of the latest scores: the segment's median.

        The customer at rank ``ceil(n / 2)`` by ``predicted_spend`` (ties by
        id) within each segment, highest spend first — sample customers
        that span the segments (the checkout page's picker). Empty when no
        scores are stored.
        """
        rows = self._conn.execute(
            """SELECT customer_id, predicted_spend, p_active, segment, as_of,
                      model_version
               FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY segment
                              ORDER BY predicted_spend, customer_id) AS rank,
                            COUNT(*) OVER (PARTITION BY segment) AS n
                     FROM cltv_scores
                     WHERE as_of = (SELECT MAX(as_of) FROM cltv_scores))
               WHERE rank = (n + 1) / 2
               ORDER BY predicted_spend DESC, customer_id"""
        ).fetchall()
        return [
            CltvScore(
                str(r[0]),
                float(r[1]),
                float(r[2]),
                str(r[3]),
                dt.date.fromisoformat(r[4]),
                str(r[5]),
            )
            for r in rows
        ]

    def latest_allocation_run(self) -> AllocationRun | None:
        """The most recently started allocation run (None when there is none)."""
        row = self._conn.execute(
            "SELECT run_id, params, created_at, finished_at FROM allocation_runs "
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


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def open_store(path: Path | str | None = None, **kwargs: Any) -> SqliteStore:
    """Open (creating and migrating) the state store at ``path`` or the default."""
    return SqliteStore(path, **kwargs)


# ------------------------------------------- online checkouts (issue 7)
# A checkout option is *held* by :meth:`SqliteStore.hold_checkout`: one
# reservation per shipment (ids ``<request_id>#<attempt>.<k>``), all taken in
# one transaction, plus a ``checkouts`` row. ``confirm_checkout`` commits the
# reservations and writes the order's lines to ``online_orders`` (the orders
# the next allocation batch reads); ``cancel_checkout`` releases them; a hold
# past its TTL expires like any reservation (its stock is free at once).
#: Columns of ``online_orders``: ``orders.csv``'s, plus where the checkout
#: promised to ship from, how, and when it confirmed.
ONLINE_ORDER_COLUMNS = (
    "order_id",
    "created_at",
    "customer_id",
    "dest",
    "tier",
    "sku",
    "quantity",
    "node_id",
    "service",
    "ship_date",
    "delivery_date",
    "confirmed_at",
)
_KEEP_BID_PRICES = 100


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """A checkout hold as stored (:meth:`SqliteStore.hold_checkout` and after).

    Attributes
    ----------
    status
        ``held`` (stock reserved until ``expires_at``), ``expired`` (a hold
        past its TTL: its stock is free again), ``confirmed``, ``cancelled``,
        or ``rejected`` (not enough stock; nothing written).
    replayed
        The same call was already recorded: nothing was written.
    shortfall
        For a rejection, ``(node_id, sku, requested, available)`` per short line.
    """

    request_id: str
    option_id: str
    status: str
    expires_at: float | None
    reservation_ids: tuple[str, ...] = ()
    replayed: bool = False
    shortfall: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the stock is held or the order confirmed."""
        return self.status in ("held", "confirmed")


@dataclass(frozen=True, slots=True)
class BidPriceRun:
    """One stored set of bid prices (``$`` per capacity unit, per node)."""

    as_of: dt.datetime
    source: str
    prices: dict[str, float]


@dataclass(frozen=True, slots=True)
class AllocationRun:
    """One allocation run as stored: its id, parameters and timestamps."""

    run_id: str
    params: dict[str, Any]
    created_at: float
    finished_at: float | None


class _HoldRejected(Exception):
    def __init__(self, shortfall: tuple[tuple[str, str, int, int], ...]) -> None:
        self.shortfall = shortfall
