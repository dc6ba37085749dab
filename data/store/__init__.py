"""The state store: inventory and reservations, checkout holds, capacity
events and snapshots, CLTV scores, allocations, bid prices and the upgrade
allowance ledger.

One class per concern (``stock``, ``reservations``, ``checkouts``,
``capacity_log``, ``scores``, ``allocations``, ``bid_prices``, ``upgrades``)
over one :class:`~tierflow.data.store.database.Database`; callers are typed against
the protocols in :mod:`~tierflow.data.store.protocols`. Design, guarantees
and the PostgreSQL plan: ``docs/store.md``.
"""

from tierflow.data.allocation_rows import ALLOCATION_COLUMNS, ALLOCATION_EXTRA_COLUMNS
from tierflow.data.store.allocations import AllocationRun
from tierflow.data.store.bid_prices import BidPriceRun
from tierflow.data.store.capacity_log import StoredEvent
from tierflow.data.store.checkouts import (
    CHECKOUT_LINE_COLUMNS,
    ONLINE_ORDER_COLUMNS,
    CheckoutState,
)
from tierflow.data.store.database import default_state_path
from tierflow.data.store.protocols import (
    AllocationStore,
    BidPriceStore,
    CapacityEventLog,
    CheckoutStore,
    ScoreStore,
    StateStore,
    StockStore,
    UpgradeStore,
)
from tierflow.data.store.reservations import ReserveResult
from tierflow.data.store.schema import MIGRATIONS, SCHEMA_VERSION
from tierflow.data.store.scores import CLTV_COLUMNS, CltvScore
from tierflow.data.store.sqlite_store import SqliteStore, open_store
from tierflow.data.store.upgrades import UPGRADE_COLUMNS

__all__ = [
    "ALLOCATION_COLUMNS",
    "ALLOCATION_EXTRA_COLUMNS",
    "CHECKOUT_LINE_COLUMNS",
    "CLTV_COLUMNS",
    "MIGRATIONS",
    "ONLINE_ORDER_COLUMNS",
    "SCHEMA_VERSION",
    "UPGRADE_COLUMNS",
    "AllocationRun",
    "AllocationStore",
    "BidPriceRun",
    "BidPriceStore",
    "CapacityEventLog",
    "CheckoutState",
    "CheckoutStore",
    "CltvScore",
    "ReserveResult",
    "ScoreStore",
    "SqliteStore",
    "StateStore",
    "StockStore",
    "StoredEvent",
    "UpgradeStore",
    "default_state_path",
    "open_store",
]
