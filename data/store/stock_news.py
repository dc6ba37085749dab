"""Which SKUs' stock changed, for the live hubs of every process: a stock
change (:meth:`~tierflow.data.store.stock.Inventory.change_stock`: ``POST
/v1/stock``, ``tierflow stock load``) moves a counter in ``table_versions``
(row :data:`STOCK_VERSION`) and stamps each SKU it changed with the new
value (rows ``inventory:<sku>``), in its own transaction, and notifies
:data:`STOCK_CHANNEL` with the counter at commit (PostgreSQL). A follower
waits on the capacity log and the counter at once
(:meth:`StockNews.wait_for_changes`: ``LISTEN`` on both channels; on SQLite
one read of both per poll, the read it already made of the log) and reads
the SKUs stamped after the counter it has seen
(:meth:`StockNews.stock_changed_since`): one row per SKU, however many
positions a count held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

from tierflow.data.store.capacity_log import CAPACITY_CHANNEL, LAST_SEQ
from tierflow.data.store.database import StorePart, Transaction
from tierflow.data.store.schema import LIVE_RESERVATION

#: The channel a committed stock change notifies (payload: the counter).
STOCK_CHANNEL = "tierflow_stock_changes"
#: The counter's row in ``table_versions``; a SKU's row is this, ``:``, the SKU.
STOCK_VERSION = "inventory"
_SKU_ROWS = f"{STOCK_VERSION}:%"
#: Longest wait between two reads (a lost notice costs at most this).
_RECHECK_S = 1.0

_BUMP = (
    "INSERT INTO table_versions (name, version) VALUES (?, 1) "
    "ON CONFLICT (name) DO UPDATE SET version = table_versions.version + 1"
)
_STAMP = (
    "INSERT INTO table_versions (name, version) "
    "SELECT ?, version FROM table_versions WHERE name = ? "
    "ON CONFLICT (name) DO UPDATE SET version = excluded.version"
)
_VERSION = f"SELECT version FROM table_versions WHERE name = '{STOCK_VERSION}'"
#: The earliest expiry of the active reservations (``reservations_live``,
#: the index of the live holds by expiry: its first entry).
_LAPSE = f"SELECT MIN(expires_at) FROM reservations WHERE {LIVE_RESERVATION}"


class Changes(NamedTuple):
    """What :meth:`StockNews.wait_for_changes` read, in one statement: the
    capacity log's last ``seq``, the stock counter, and when the first
    active reservation lapses (epoch seconds; None with none), for the
    follower that sweeps lapsed holds on time (``service/feed.py``); and
    ``made``, which changes whenever the store's tables are made again
    (``Database.tables_made``): with a ``seq`` that went back, how the
    follower tells a store restored under it."""

    seq: int
    stock: int
    lapse: float | None
    made: int = 0


def note_stock_changed(conn: Transaction, skus: Iterable[str]) -> None:
    """In a stock change's transaction: move the counter, stamp ``skus``
    with it and notify :data:`STOCK_CHANNEL` at commit (queued writes: no
    round trip of their own on PostgreSQL). The counter's row lock orders
    the changes: a counter read covers every change it counts."""
    names = sorted({f"{STOCK_VERSION}:{sku}" for sku in skus})
    if not names:
        return
    conn.later(_BUMP, (STOCK_VERSION,))
    conn.later_many(_STAMP, [(name, STOCK_VERSION) for name in names])
    conn.notify_query(STOCK_CHANNEL, _VERSION)


def noting_sold_out(ctes: str, skus: str) -> str:
    """PostgreSQL: one statement that runs ``ctes`` (a ``WITH`` list whose
    data-modifying parts give stock back) and notes the SKUs ``skus`` (a
    query over them) as :func:`note_stock_changed` does, only when it names
    any: the counter moved, the SKUs stamped with it, the notice queued. It
    goes queued (no round trip of its own), and nothing is read back.

    Every row ``ctes`` writes is written before the counter's row is locked
    (an aggregate reads all of ``skus`` first), as a hold locks it after the
    rows it took: the counter's lock comes after every stock row's in every
    transaction, and a counter read still covers every change it counts."""
    return (
        f"WITH {ctes}, noted AS (SELECT DISTINCT sku FROM ({skus}) s), "
        "bump AS (INSERT INTO table_versions (name, version) "
        f"SELECT '{STOCK_VERSION}', 1 FROM noted HAVING count(*) > 0 "
        "ON CONFLICT (name) DO UPDATE SET version = table_versions.version + 1 "
        "RETURNING version), "
        "stamp AS (INSERT INTO table_versions (name, version) "
        f"SELECT '{STOCK_VERSION}:' || noted.sku, bump.version FROM noted, bump "
        "ORDER BY 1 ON CONFLICT (name) DO UPDATE SET version = excluded.version) "
        f"SELECT pg_notify('{STOCK_CHANNEL}', version::text) FROM bump"
    )


class StockNews(StorePart):
    """The stock counter's reads, and the follower's wait."""

    def stock_version(self) -> int:
        """The stock counter (0: no change yet)."""
        row = self._db.execute(_VERSION).fetchone()
        return 0 if row is None else int(row[0])

    def stock_changed_since(self, version: int) -> tuple[int, set[str]]:
        """The counter and the SKUs a change after ``version`` stamped (one
        read: the counter is never below a stamp it reads with)."""
        rows = self._db.execute(
            "SELECT name, version FROM table_versions "
            "WHERE name = ? OR (name LIKE ? AND version > ?)",
            (STOCK_VERSION, _SKU_ROWS, int(version)),
        ).fetchall()
        now = max([int(v) for n, v in rows if n == STOCK_VERSION], default=0)
        skus = {str(n)[len(STOCK_VERSION) + 1 :] for n, _ in rows if n != STOCK_VERSION}
        return now, skus

    def wait_for_changes(
        self,
        after_seq: int,
        after_stock: int,
        timeout_s: float,
        stop: threading.Event | None = None,
    ) -> Changes:
        """:meth:`~tierflow.data.store.capacity_log.CapacityLog.wait_for_events`
        that also returns once the stock counter passed ``after_stock``: the
        log's last ``seq``, the counter and the first live reservation's
        expiry (one read of the three: the expiry an index's first entry,
        in the read the wait made already)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._db.listen(CAPACITY_CHANNEL)  # before the read: no notice is missed
        self._db.listen(STOCK_CHANNEL)
        while True:
            row = self._db.execute(
                f"SELECT {LAST_SEQ}, ({_VERSION}), ({_LAPSE}), {self._db.tables_made}"
            ).fetchone()
            last, stock = int(row[0] or 0), int(row[1] or 0)
            lapse = None if row[2] is None else float(row[2])
            left = deadline - time.monotonic()
            if (
                last > after_seq
                or stock > after_stock
                or left <= 0
                or (stop is not None and stop.is_set())
            ):
                return Changes(last, stock, lapse, int(row[3]))
            self._db.wait_notice(
                CAPACITY_CHANNEL,
                after_seq,
                min(left, _RECHECK_S),
                stop,
                also=(STOCK_CHANNEL, after_stock),
            )
