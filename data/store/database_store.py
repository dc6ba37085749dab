"""Every concern class over one :class:`~tierflow.data.store.database.Database`:
the body both backends share (their own classes only open the database)."""

from __future__ import annotations

import abc
from typing import Self

from tierflow.data.store.allocation_stock import AllocationStockReads
from tierflow.data.store.allocations import Allocations
from tierflow.data.store.bid_prices import BidPriceLog
from tierflow.data.store.capacity_log import CapacityLog
from tierflow.data.store.checkout_reads import CheckoutReads
from tierflow.data.store.checkouts import Checkouts
from tierflow.data.store.database import (
    note_schema_version,
    schema_moved_on,
    watch_schema_at_each_write,
)
from tierflow.data.store.quotes import Quotes
from tierflow.data.store.reservations import Reservations
from tierflow.data.store.retention import Retention
from tierflow.data.store.schema import SCHEMA_VERSION
from tierflow.data.store.scores import Scores
from tierflow.data.store.stock import Inventory
from tierflow.data.store.stock_news import StockNews
from tierflow.data.store.upgrades import Upgrades


class DatabaseStore(
    Inventory,
    StockNews,
    Reservations,
    Checkouts,
    CheckoutReads,
    AllocationStockReads,
    Quotes,
    CapacityLog,
    Scores,
    Allocations,
    BidPriceLog,
    Upgrades,
    Retention,
    abc.ABC,
):
    """A :class:`~tierflow.data.store.StateStore` over one database: the
    concern classes as mixins sharing ``_db``, plus the store's upkeep."""

    @property
    def location(self) -> str:
        """Where the store lives: a file path, or a URL without its password."""
        return self._db.location

    def follow_schema(self) -> str:
        """Read the store's schema version now and note it for this process:
        once another process (a newer tierflow) has migrated the store past
        this code's schema, every write of this process to it, by any of its
        store objects, is refused (:class:`SchemaMovedOn`, a
        :class:`StoreUnavailable`: rows of the old shape would go in). Why
        writes are refused ("" while the store is not ahead)."""
        return note_schema_version(self.location, self.schema_version(), SCHEMA_VERSION)

    def schema_moved_on(self) -> str:
        """Why this process refuses writes to this store ("": it does not),
        as the last :meth:`follow_schema` found."""
        return schema_moved_on(self.location)

    def watch_schema_at_each_write(self) -> None:
        """From now on this process reads the store's schema version before
        each of its writes to it (:meth:`follow_schema` at every write; a
        command's store, whose writes may be minutes apart)."""
        watch_schema_at_each_write(self.location, SCHEMA_VERSION)

    @abc.abstractmethod
    def reopen(
        self,
        *,
        connection_wait_s: float | None = None,
        answer_wait_s: float | None = None,
    ) -> Self:
        """A second store on the same database, with its own connections
        (``connection_wait_s``: how long its calls wait for a pooled
        connection, ``answer_wait_s`` for the server's answer, None: as this
        store's)."""

    def close(self) -> None:
        """Release the connections."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        """The database's schema version."""
        return self._db.schema_version()

    @property
    def migrated_from(self) -> int | None:
        """The schema version this store's open migrated it from (0: made
        it), None when the open migrated nothing (current already, or
        migrated meanwhile by another process)."""
        return self._db.migrated_from

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database, off the request path
        (SQLite); False when there is never anything to do (PostgreSQL)."""
        return self._db.checkpoint()

    def check_consistency(self) -> list[str]:
        """Invariants a crash must never break; returns what is violated.

        The engine's own integrity check (SQLite's ``integrity_check``);
        ``reserved`` equals the live reservation lines per (node, sku); every
        allocation batch holds exactly its marker's ``n_rows``; the hold
        tally is what a count of the checkouts says.
        """
        return [
            *self._db.integrity_problems(),
            *self._reserved_mismatches(),
            *self._batch_mismatches(),
            *self._tally_mismatches(),
        ]
