"""The stock a day's allocation starts from: the state store's live stock
where it holds the position, the network's ``inventory.csv`` elsewhere.

Both are read in one snapshot of the store
(:meth:`~tierflow.data.store.StateStore.allocation_stock`): a checkout
confirmed between two reads was counted wrong. The store's ``inventory``
table is the live stock (``tierflow stock load``,
``POST /v1/stock``, checkouts' holds and confirms). A confirmed checkout's
units left ``on_hand`` when it was confirmed (its order owns them), so the
units of the orders being allocated that their confirms committed are
counted back once: otherwise the allocator would find their stock gone and
count those units twice. Units open checkouts hold (live holds of orders
not yet confirmed) are promised to shoppers still at checkout and are left
out. A store holding no position of the network gives the network's stock,
as before the store's stock was read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.store import StateStore

#: Where the starting stock came from (``summary.json``'s ``stock.source``).
STORE = "store"
NETWORK = "network"


@dataclass(frozen=True, slots=True)
class StartingStock:
    """Stock per (node, SKU) at the start of a day's allocation, and its origin.

    Attributes
    ----------
    units
        ``(n_nodes, n_skus)`` units a line may ship from.
    source
        :data:`STORE` when the store held a position of the network, else
        :data:`NETWORK` (``units`` is then ``network.inventory``).
    store_positions
        Positions read from the store (the others are ``inventory.csv``'s).
    units_held
        Units of those positions open checkouts hold, left out.
    units_added_back
        Units the confirms of the orders being allocated committed, counted
        back (they left ``on_hand`` and are these orders' own).
    differs
        Whether ``units`` differs from ``network.inventory`` (the run's
        identity then counts it: a count starts another run).
    """

    units: NDArray[np.int64]
    source: str
    store_positions: int = 0
    units_held: int = 0
    units_added_back: int = 0
    differs: bool = False

    @classmethod
    def of_network(cls, network: Network) -> StartingStock:
        """The network's ``inventory.csv``, as a store without stock gives."""
        return cls(np.asarray(network.inventory, dtype=np.int64).copy(), NETWORK)

    @property
    def from_store(self) -> bool:
        """Whether the store gave some of it (else it is ``inventory.csv``'s)."""
        return self.source == STORE

    def identity(self) -> str | None:
        """A digest of ``units`` when it differs from the network's stock
        (``None``: the run's identity is as before the store's stock was read,
        so a store whose stock is the network's resumes earlier runs)."""
        if not self.differs:
            return None
        shape = ",".join(map(str, self.units.shape)).encode()
        return hashlib.sha256(shape + self.units.astype("<i8").tobytes()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """``summary.json``'s ``stock``: where the starting stock came from."""
        return {
            "source": self.source,
            "store_positions": self.store_positions,
            "units_held": self.units_held,
            "units_added_back": self.units_added_back,
            "differs_from_network": self.differs,
        }

    def describe(self) -> str:
        """One log line's words for it."""
        if not self.from_store:
            return "the network's inventory.csv (the store holds no stock of it)"
        return (
            f"the store's for {self.store_positions} positions "
            f"({self.units_held} units open checkouts hold left out, "
            f"{self.units_added_back} units these orders' confirmed checkouts "
            "committed counted back), inventory.csv's for the others"
        )


def starting_stock(
    store: StateStore, network: Network, orders: Orders, *, now: float | None = None
) -> StartingStock:
    """The stock ``orders`` are allocated from, read from ``store`` at ``now``
    (default: the clock), per position as the store seeds it: the store's
    available units (``on_hand`` less live holds) where it holds the
    position, plus the units the confirms of these orders committed there;
    ``inventory.csv``'s where it does not."""
    read = store.allocation_stock(orders.order_ids, now=now)  # one snapshot
    levels = read.levels
    node = levels["node_id"].astype(str).map(network.node_index)
    sku = levels["sku"].astype(str).map(network.sku_index)
    known = node.notna() & sku.notna()
    if not known.any():
        return StartingStock.of_network(network)
    ni = node[known].to_numpy(dtype=np.intp)
    si = sku[known].to_numpy(dtype=np.intp)
    available = levels.loc[known, "available"].to_numpy(dtype=np.int64)
    on_hand = levels.loc[known, "on_hand"].to_numpy(dtype=np.int64)
    units = np.asarray(network.inventory, dtype=np.int64).copy()
    units[ni, si] = available
    held_by_store = np.zeros(units.shape, dtype=bool)
    held_by_store[ni, si] = True
    added = _committed_to(read.confirmed, network, orders, held_by_store)
    units += added
    return StartingStock(
        units,
        STORE,
        store_positions=int(ni.size),
        units_held=int((on_hand - available).sum()),
        units_added_back=int(added.sum()),
        differs=not np.array_equal(units, network.inventory),
    )


def _committed_to(
    lines: pd.DataFrame,
    network: Network,
    orders: Orders,
    positions: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """Per (node, SKU), the units confirmed checkouts committed to the lines
    of ``orders`` at the store's ``positions`` (``lines``: the store's
    confirmed lines of them; an order line the file does not have, or a
    node or SKU the network lacks, counts none)."""
    added = np.zeros(positions.shape, dtype=np.int64)
    if lines.empty:
        return added
    ordered = pd.DataFrame(
        {
            "order_id": np.asarray(orders.order_ids, dtype=object)[orders.line_order],
            "sku": orders.line_sku_id,
        }
    )
    confirmed = lines.astype({"order_id": str, "sku": str, "node_id": str})
    mine = confirmed.merge(ordered, on=["order_id", "sku"])  # the file's lines only
    node = mine["node_id"].map(network.node_index)
    sku = mine["sku"].map(network.sku_index)
    known = (node.notna() & sku.notna()).to_numpy()
    i = node[known].to_numpy(dtype=np.intp)
    k = sku[known].to_numpy(dtype=np.intp)
    units = mine["quantity"].to_numpy(dtype=np.int64)[known]
    at = positions[i, k]
    np.add.at(added, (i[at], k[at]), units[at])
    return added
