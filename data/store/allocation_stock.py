"""The stock a day's allocation starts from, read as one snapshot.

``tierflow allocate --state`` reads the store's stock levels and the units
the confirms of the orders it plans committed, and counts the latter back
into the former. Read apart, a checkout confirmed between the two reads was
counted wrong: its units gone from ``on_hand`` but not counted back, or
counted back while still in ``on_hand`` (a hold lapsed at the allocation's
``now`` but confirmed by a server whose clock is behind). One read
transaction (:meth:`Database.snapshot
<tierflow.data.store.database.Database.snapshot>`) sees both as of one
instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import pandas as pd

from tierflow.data.store import checkouts, stock
from tierflow.data.store.database import StorePart, clock


class AllocationStock(NamedTuple):
    """What :meth:`~tierflow.data.store.stock.Inventory.stock_levels` and
    :meth:`~tierflow.data.store.checkouts.Checkouts.confirmed_lines` give,
    read at one instant of the store."""

    levels: pd.DataFrame
    confirmed: pd.DataFrame


class AllocationStockReads(StorePart):
    """The reads of an allocation's starting stock, together."""

    def allocation_stock(
        self, order_ids: Iterable[str], *, now: float | None = None
    ) -> AllocationStock:
        """The stock levels at ``now`` (default: the clock) and the confirmed
        lines of ``order_ids``, in one read transaction: no confirm lands
        between them."""
        t = clock(now)
        with self._db.snapshot() as conn:
            levels = stock.stock_levels_in(conn, t)
            confirmed = checkouts.confirmed_lines_in(conn, order_ids)
        return AllocationStock(levels, confirmed)
