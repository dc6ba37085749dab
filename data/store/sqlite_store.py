"""The SQLite state store: every concern class over one WAL connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from tierflow.data.store.allocations import Allocations
from tierflow.data.store.bid_prices import BidPriceLog
from tierflow.data.store.capacity_log import CapacityLog
from tierflow.data.store.checkouts import Checkouts
from tierflow.data.store.database import SqliteDatabase, default_state_path
from tierflow.data.store.reservations import Reservations
from tierflow.data.store.schema import MIGRATIONS
from tierflow.data.store.scores import Scores
from tierflow.data.store.stock import Inventory
from tierflow.data.store.upgrades import Upgrades


class SqliteStore(
    Inventory,
    Reservations,
    Checkouts,
    CapacityLog,
    Scores,
    Allocations,
    BidPriceLog,
    Upgrades,
):
    """The SQLite implementation of :class:`~tierflow.data.store.StateStore`.

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
    Design: ``docs/store.md``.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        timeout_s: float = 60.0,
        synchronous: str = "NORMAL",
    ) -> None:
        db = SqliteDatabase(
            Path(path) if path is not None else default_state_path(),
            MIGRATIONS,
            timeout_s=timeout_s,
            synchronous=synchronous,
        )
        super().__init__(db)
        self.path = db.path

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return self._db.schema_version()

    def check_consistency(self) -> list[str]:
        """Invariants a crash must never break; returns what is violated.

        SQLite's ``integrity_check``; ``reserved`` equals the live reservation
        lines per (node, sku); every allocation batch holds exactly its
        marker's ``n_rows``.
        """
        return [
            *self._db.integrity_problems(),
            *self._reserved_mismatches(),
            *self._batch_mismatches(),
        ]


def open_store(path: Path | str | None = None, **kwargs: Any) -> SqliteStore:
    """Open (creating and migrating) the state store at ``path`` or the default."""
    return SqliteStore(path, **kwargs)
