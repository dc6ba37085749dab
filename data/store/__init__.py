"""The state store: inventory and reservations, checkout holds, capacity
events and snapshots, CLTV scores, allocations, bid prices and the upgrade
allowance ledger.

One class per concern (``stock``, ``reservations``, ``checkouts``,
``checkout_reads``, ``quotes``, ``capacity_log``, ``scores``, ``allocations``, ``bid_prices``, ``upgrades``, ``retention``)
over one :class:`~tierflow.data.store.database.Database`; callers are typed
against the protocols in :mod:`~tierflow.data.store.protocols`. Two backends:
:class:`SqliteStore` (embedded, the default) and :class:`PostgresStore`
(shared by processes and hosts), chosen by :func:`open_store` from a path
or a URL. Design and guarantees: ``docs/store.md``.
"""

from typing import TYPE_CHECKING

from tierflow.data.allocation_rows import ALLOCATION_COLUMNS, ALLOCATION_EXTRA_COLUMNS
from tierflow.data.lazy_names import lazy_names
from tierflow.data.store.allocation_stock import AllocationStock
from tierflow.data.store.allocation_work import is_work_move
from tierflow.data.store.allocations import AllocationRun, run_position
from tierflow.data.store.bid_prices import BidPriceRun
from tierflow.data.store.capacity_log import (
    CAPACITY_CHANNEL,
    LogColumns,
    LoggedCheck,
    LogPosition,
    PrunedEvent,
    StoredEvent,
)
from tierflow.data.store.checkout_reads import CheckoutFacts
from tierflow.data.store.checkouts import (
    CHECKOUT_LINE_COLUMNS,
    ONLINE_ORDER_COLUMNS,
    ORDER_WORK,
    CheckoutState,
    CustomerMismatch,
    HeldAtClosedNode,
    HeldAtUnknownNode,
    HoldRecounted,
    QuoteChanged,
    UnknownCheckout,
    check_customer,
    recount_words,
)
from tierflow.data.store.database import (
    SchemaMovedOn,
    SchemaTooNew,
    SchemaTooOld,
    StoreBroken,
    StoreConflict,
    StoreEmpty,
    StoreUnavailable,
    off_store_error,
    on_store_error,
)
from tierflow.data.store.location import (
    default_state_location,
    default_state_path,
    describe_location,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.protocols import (
    AllocationStockStore,
    AllocationStore,
    BidPriceStore,
    CapacityEventLog,
    CheckoutReadStore,
    CheckoutStore,
    QuoteStore,
    ScoreStore,
    StateStore,
    StockStore,
    UpgradeStore,
)
from tierflow.data.store.quotes import KeyedQuote, QuoteState, StoredQuote
from tierflow.data.store.reservations import ReserveResult
from tierflow.data.store.retention import PruneReport, TableCount
from tierflow.data.store.schema import (
    MIGRATION_SUMMARIES,
    MIGRATIONS,
    POSTGRES_MIGRATIONS,
    SCHEMA_VERSION,
)
from tierflow.data.store.scores import CLTV_COLUMNS, CltvScore, VersionedScore
from tierflow.data.store.sqlite_store import SqliteStore
from tierflow.data.store.stock import (
    ChangeIdConflict,
    ChangeIdPruned,
    HoldCut,
    StockChange,
    StockReceipt,
)
from tierflow.data.store.upgrades import UPGRADE_COLUMNS, UpgradeNote

if TYPE_CHECKING:
    from tierflow.data.store.postgres_store import PostgresStore


#: ``PostgresStore`` on first use: the SQLite path never imports psycopg.
__getattr__, __dir__ = lazy_names(
    __name__, {"PostgresStore": "tierflow.data.store.postgres_store"}
)


__all__ = [
    "ALLOCATION_COLUMNS",
    "ALLOCATION_EXTRA_COLUMNS",
    "CAPACITY_CHANNEL",
    "CHECKOUT_LINE_COLUMNS",
    "CLTV_COLUMNS",
    "MIGRATIONS",
    "MIGRATION_SUMMARIES",
    "ONLINE_ORDER_COLUMNS",
    "ORDER_WORK",
    "POSTGRES_MIGRATIONS",
    "SCHEMA_VERSION",
    "UPGRADE_COLUMNS",
    "AllocationRun",
    "AllocationStock",
    "AllocationStockStore",
    "AllocationStore",
    "BidPriceRun",
    "BidPriceStore",
    "CapacityEventLog",
    "ChangeIdConflict",
    "ChangeIdPruned",
    "CheckoutFacts",
    "CheckoutReadStore",
    "CheckoutState",
    "CheckoutStore",
    "CltvScore",
    "CustomerMismatch",
    "HeldAtClosedNode",
    "HeldAtUnknownNode",
    "HoldCut",
    "HoldRecounted",
    "KeyedQuote",
    "LogColumns",
    "LogPosition",
    "LoggedCheck",
    "PostgresStore",
    "PruneReport",
    "PrunedEvent",
    "QuoteChanged",
    "QuoteState",
    "QuoteStore",
    "ReserveResult",
    "SchemaMovedOn",
    "SchemaTooNew",
    "SchemaTooOld",
    "ScoreStore",
    "SqliteStore",
    "StateStore",
    "StockChange",
    "StockReceipt",
    "StockStore",
    "StoreBroken",
    "StoreConflict",
    "StoreEmpty",
    "StoreUnavailable",
    "StoredEvent",
    "StoredQuote",
    "TableCount",
    "UnknownCheckout",
    "UpgradeNote",
    "UpgradeStore",
    "VersionedScore",
    "check_customer",
    "default_state_location",
    "default_state_path",
    "describe_location",
    "is_postgres_url",
    "is_work_move",
    "off_store_error",
    "on_store_error",
    "open_store",
    "recount_words",
    "run_position",
]
