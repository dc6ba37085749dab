"""What tierflow needs from a state store, one protocol per concern.

Callers are typed against these (the narrowest that fits), never against
a backend class: :class:`StateStore` is all of them, which
:class:`~tierflow.data.store.SqliteStore` and
:class:`~tierflow.data.store.PostgresStore` implement (``docs/store.md``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.store.allocation_stock import AllocationStock
from tierflow.data.store.allocations import AllocationRun
from tierflow.data.store.bid_prices import BidPriceRun
from tierflow.data.store.capacity_log import (
    LogColumns,
    LoggedCheck,
    LogPosition,
    StoredEvent,
)
from tierflow.data.store.checkout_reads import CheckoutFacts
from tierflow.data.store.checkouts import CheckoutState
from tierflow.data.store.quotes import KeyedQuote, QuoteState, StoredQuote
from tierflow.data.store.reservations import ReserveResult
from tierflow.data.store.retention import PruneReport
from tierflow.data.store.scores import CltvScore, VersionedScore
from tierflow.data.store.stock import StockChange, StockReceipt
from tierflow.data.store.stock_news import Changes
from tierflow.data.store.upgrades import UpgradeNote
from tierflow.data.vocabulary import HoldStatus


@runtime_checkable
class StockStore(Protocol):
    """Inventory per node and SKU, and single-node reservations of it."""

    def upsert_inventory(self, rows: pd.DataFrame) -> int:
        """Set ``on_hand`` of ``node_id, sku`` rows."""
        ...

    def change_stock(
        self,
        changes: Sequence[tuple[str, str, int]],
        *,
        add: bool = False,
        unheld: Mapping[tuple[str, str], int] | None = None,
        now: float | None = None,
        cut_holds: bool = False,
    ) -> list[StockChange]:
        """Set (or, with ``add``, move) ``on_hand`` of ``(node_id, sku,
        quantity)`` positions in one transaction, never below what is
        reserved (``cut_holds``: the newest holds there are released
        instead); a position not held starts from ``unheld``."""
        ...

    def change_stock_once(
        self,
        changes: Sequence[tuple[str, str, int]],
        *,
        change_id: str | None,
        add: bool = False,
        unheld: Mapping[tuple[str, str], int] | None = None,
        now: float | None = None,
        cut_holds: bool = False,
    ) -> StockReceipt:
        """:meth:`change_stock` once per ``change_id`` (an idempotency key;
        None: no id), with the holds it cut: a repeat answers the first's
        positions and cuts and writes nothing."""
        ...

    def load_network_inventory(self, network: Network) -> int:
        """Set ``on_hand`` from a network's inventory."""
        ...

    def seed_network_inventory(self, network: Network) -> int:
        """Load a network's inventory into an empty table (once)."""
        ...

    def inventory_frame(self) -> pd.DataFrame:
        """``node_id, sku, on_hand, reserved`` of every cell."""
        ...

    def stock_levels(self, *, now: float | None = None) -> pd.DataFrame:
        """``node_id, sku, on_hand, reserved, available`` of every cell."""
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

    def available_by_sku(
        self, skus: Sequence[str], *, now: float | None = None
    ) -> list[tuple[str, str, int]]:
        """``(node_id, sku, available)`` of every node holding one of ``skus``."""
        ...

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

    def reservation_status(self, request_id: str) -> str | None:
        """Stored status of a request id, or None."""
        ...


@runtime_checkable
class CheckoutReadStore(StockStore, Protocol):
    """Stock, and what a checkout answer reads with it in one round trip."""

    def checkout_facts(
        self,
        skus: Sequence[str],
        customer_id: str | None = None,
        *,
        now: float | None = None,
        held_by: str | None = None,
    ) -> CheckoutFacts:
        """The cart's stock (``held_by``'s own live holds counted as its)
        and the customer's latest score, together."""
        ...


@runtime_checkable
class AllocationStockStore(Protocol):
    """An allocation's starting stock, read as one snapshot."""

    def allocation_stock(
        self, order_ids: Iterable[str], *, now: float | None = None
    ) -> AllocationStock:
        """:meth:`StockStore.stock_levels` at ``now`` and
        :meth:`CheckoutStore.confirmed_lines` of ``order_ids``, in one read
        transaction (a confirm between two reads was counted wrong)."""
        ...


@runtime_checkable
class CheckoutStore(Protocol):
    """Checkout holds (one reservation per shipment) and confirmed orders."""

    def hold_checkout(
        self,
        request_id: str,
        option_id: str,
        holds: Sequence[tuple[str, Iterable[tuple[str, int]]]],
        ttl_s: float,
        *,
        order_lines: Sequence[Mapping[str, Any]],
        now: float | None = None,
        quote_revision: int | None = None,
        upgrade: UpgradeNote | None = None,
    ) -> CheckoutState:
        """Hold every shipment of an option atomically (or swap a held one),
        made from the option set's ``quote_revision`` when given, noting the
        selection's ``upgrade`` (None: not one) in the same transaction."""
        ...

    def confirm_checkout(
        self,
        request_id: str,
        *,
        now: float | None = None,
        customer_id: str | None = None,
        events_after: int | None = None,
        closed_nodes: Collection[str] = (),
        known_nodes: Collection[str] | None = None,
    ) -> CheckoutState:
        """Commit a held checkout and record its order lines (only for
        ``customer_id``, when given); with ``events_after``, the capacity
        log after it as committed. ``HeldAtClosedNode`` (nothing written)
        for a hold that ships from one of ``closed_nodes``,
        ``HeldAtUnknownNode`` for one from a node not in ``known_nodes``."""
        ...

    def cancel_checkout(
        self,
        request_id: str,
        *,
        now: float | None = None,
        customer_id: str | None = None,
    ) -> CheckoutState:
        """Release a checkout's holds (only for ``customer_id``, when given)."""
        ...

    def checkout_state(
        self, request_id: str, *, now: float | None = None
    ) -> CheckoutState | None:
        """Stored state of a checkout, or None."""
        ...

    def hold_counts(self, *, now: float | None = None) -> dict[tuple[str, str], int]:
        """Checkouts by ``(option_id, state)`` (active, expired, confirmed,
        cancelled)."""
        ...

    def prune_checkouts(
        self, *, now: float | None = None, grace_s: float = 0.0, limit: int = 500
    ) -> int:
        """Delete the rows and holds of checkouts that ended (their hold
        expired and their quote gone) more than ``grace_s`` ago, at most
        ``limit``; returns how many."""
        ...

    def online_orders(self, *, since: float | None = None) -> pd.DataFrame:
        """Confirmed checkout orders, oldest first."""
        ...

    def confirmed_lines(self, order_ids: Iterable[str]) -> pd.DataFrame:
        """``order_id, sku, node_id, quantity`` of the confirmed orders among
        ``order_ids``: the units their confirms committed, by node."""
        ...


@runtime_checkable
class QuoteStore(Protocol):
    """Open option sets, shared by every replica until they expire."""

    def put_quote(
        self,
        request_id: str,
        customer_id: str,
        revision: int,
        body: str,
        *,
        ttl_s: float,
        now: float | None = None,
        replaces: int | None = None,
    ) -> bool:
        """Keep (or replace, for a requote answered from the stored revision
        ``replaces``) an open option set; whether it was written."""
        ...

    def get_quote(self, request_id: str) -> StoredQuote | None:
        """The stored quote, or None."""
        ...

    def put_keyed_quote(
        self,
        request_id: str,
        customer_id: str,
        body: str,
        *,
        key: str,
        digest: str,
        ttl_s: float,
        now: float | None = None,
        renews: str | None = None,
    ) -> bool:
        """Keep a first answer under its ``Idempotency-Key`` (taking it from
        the expired open set ``renews``); False when another answer holds
        the key."""
        ...

    def quote_for_key(self, key: str) -> KeyedQuote | None:
        """The quote first answered under an ``Idempotency-Key``, or None."""
        ...

    def quote_states(self, request_ids: Sequence[str]) -> dict[str, QuoteState]:
        """The revision and ending of each stored one of ``request_ids``."""
        ...

    def close_quote(
        self, request_id: str, ending: HoldStatus, *, now: float | None = None
    ) -> None:
        """Record how a checkout ended."""
        ...

    def prune_quotes(self, *, now: float | None = None, grace_s: float = 0.0) -> int:
        """Delete expired quotes; returns how many."""
        ...


@runtime_checkable
class CapacityEventLog(Protocol):
    """The capacity event log and the monitor's snapshots."""

    def append_events(
        self, events: Sequence[Mapping[str, Any]], check: LoggedCheck | None = None
    ) -> list[int | None]:
        """Log capacity events; the new ones get a sequence number. ``check``
        judges them against the logged events of their ids, under the log's
        lock, and may refuse them all."""
        ...

    def events_after(self, seq: int) -> list[StoredEvent]:
        """Logged events with ``seq`` greater than the given one, in order."""
        ...

    def events_dated_upto(self, at: float) -> LogColumns:
        """The logged events as columns, in order, without some of those
        plainly dated after ``at`` (epoch seconds): the others' ``ts`` are
        for the caller to read."""
        ...

    def logged_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """The logged events among ``event_ids``, by id."""
        ...

    def last_event_seq(self) -> int:
        """Highest logged sequence number (0 when empty)."""
        ...

    def pruned_through(self) -> float | None:
        """The newest ``ts`` of the events ``tierflow state prune`` deleted
        (epoch seconds), None when none was."""
        ...

    def wait_for_events(
        self, after_seq: int, timeout_s: float, stop: threading.Event | None = None
    ) -> int:
        """Wait (at most ``timeout_s``, until ``stop`` is set) for an event
        after ``after_seq``; returns the last sequence number."""
        ...

    def log_position(self) -> LogPosition:
        """The log's last ``seq`` and the making of the store's tables."""
        ...

    def save_capacity_snapshot(
        self, last_seq: int, state: Mapping[str, Any], made: int | None = None
    ) -> bool:
        """Persist the monitor state that includes every event up to
        ``last_seq``, unless the store was made again under it (a log gone
        back below ``last_seq``, tables of another making than ``made``);
        whether it was saved."""
        ...

    def latest_capacity_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot, or None."""
        ...


@runtime_checkable
class StockNewsStore(Protocol):
    """Which SKUs' stock changed (``stock_news.py``), for the live hubs."""

    def stock_version(self) -> int:
        """The stock counter (0: no change yet)."""
        ...

    def stock_changed_since(self, version: int) -> tuple[int, set[str]]:
        """The counter and the SKUs a change after ``version`` changed."""
        ...

    def wait_for_changes(
        self,
        after_seq: int,
        after_stock: int,
        timeout_s: float,
        stop: threading.Event | None = None,
    ) -> Changes:
        """Wait for a capacity event after ``after_seq`` or a stock change
        after ``after_stock``; the log's last ``seq``, the counter and the
        first live reservation's expiry."""
        ...


@runtime_checkable
class ScoreStore(Protocol):
    """Daily CLTV scores per customer."""

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: dt.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int:
        """Replace one day's CLTV scores (and its new-customer prior)
        atomically; returns the row count."""
        ...

    def cltv_new_customer_spend(self) -> float | None:
        """The new-customer prior stored with the latest day's scores, or None."""
        ...

    def latest_cltv_as_of(self) -> dt.date | None:
        """Day of the latest scores, or None."""
        ...

    def cltv_version(self) -> int:
        """A counter every write of scores moves (what a cache checks)."""
        ...

    def cltv_score(self, customer_id: str) -> CltvScore | None:
        """The customer's score from the latest day, or None."""
        ...

    def cltv_versioned_score(self, customer_id: str) -> VersionedScore:
        """The customer's score from the latest day (or None) and the
        version it is of, read together."""
        ...

    def cltv_latest_scores(self, limit: int) -> list[CltvScore] | None:
        """Every score of the latest day, or None when there are more than
        ``limit``."""
        ...

    def cltv_scores(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Latest scores of many customers."""
        ...

    def cltv_threshold(self, percentile: float) -> float | None:
        """Latest day's ``predicted_spend`` at a percentile."""
        ...

    def cltv_top_threshold(self, percentile: float) -> float | None:
        """Latest day's lowest ``predicted_spend`` of its customers above a
        percentile (the top share, at least one): the Platinum threshold."""
        ...

    def cltv_segment_examples(
        self, *, id_chars: str | None = None, max_id_length: int | None = None
    ) -> list[CltvScore]:
        """One median customer per segment of the latest day (of the ids
        made of ``id_chars``, at most ``max_id_length`` long)."""
        ...


@runtime_checkable
class AllocationStore(Protocol):
    """Resumable allocation runs, written batch by batch."""

    def start_allocation_run(
        self, run_id: str, params: Mapping[str, Any]
    ) -> int | None:
        """Create or resume a run; returns its last committed batch."""
        ...

    def last_committed_batch(self, run_id: str) -> int | None:
        """Highest committed batch of a run."""
        ...

    def allocation_run_position(self, run_id: str) -> LogPosition:
        """Where a run stands in the store, and the making of its tables."""
        ...

    def refuse_restored_run(self, run_id: str, held: LogPosition) -> None:
        """Raise ``StoreRestored`` when the store was restored under a run
        whose writer holds ``held``."""
        ...

    def work_placed_after(self, run_id: str) -> str | None:
        """Another run whose batch placed confirmed work after every batch
        of ``run_id`` did (the run the live backlog follows), or None."""
        ...

    def write_allocation_batch(
        self,
        run_id: str,
        batch: int,
        rows: pd.DataFrame,
        *,
        consume_inventory: bool = False,
        supersede: Sequence[str] = (),
        stats: str | None = None,
        line_work: Mapping[tuple[str, str], float] | None = None,
        now: float | None = None,
        held: LogPosition | None = None,
    ) -> bool:
        """One batch's allocations and figures in one transaction, the work
        of the confirmed orders it decides moved where it decided them
        (False if already there; not into a store restored under ``held``)."""
        ...

    def allocation_batch_stats(self, run_id: str) -> dict[int, str]:
        """The figures committed with each batch of a run, by batch."""
        ...

    def finish_allocation_run(
        self, run_id: str, held: LogPosition | None = None
    ) -> None:
        """Mark a run finished (not in a store restored under ``held``)."""
        ...

    def allocations(
        self, run_id: str, *, include_rerouted: bool = False
    ) -> pd.DataFrame:
        """A run's allocation rows, in batch order."""
        ...

    def decided_order_ids(self, run_id: str) -> set[str]:
        """Orders a run allocated or found unfillable."""
        ...

    def latest_allocation_run(self) -> AllocationRun | None:
        """The most recently started run, or None."""
        ...


@runtime_checkable
class BidPriceStore(Protocol):
    """Bid prices published by the allocator for the checkout."""

    def put_bid_prices(
        self, prices: Mapping[str, float], *, as_of: dt.datetime, source: str
    ) -> None:
        """Store a set of bid prices per node id."""
        ...

    def latest_bid_price_run(self) -> BidPriceRun | None:
        """The newest set with its ``as_of`` and source, or None."""
        ...

    def latest_bid_prices(self) -> dict[str, float] | None:
        """The newest prices per node id, or None."""
        ...


@runtime_checkable
class UpgradeStore(Protocol):
    """The upgrade allowance ledger: Platinum upgrades noted and charged."""

    def note_upgrade(
        self,
        request_id: str,
        option_id: str,
        customer_id: str,
        amount: float,
        *,
        predicted_spend: float,
        now: float | None = None,
    ) -> None:
        """Note that a checkout selected an upgrade costing ``amount``."""
        ...

    def charge_upgrade(
        self, request_id: str, option_id: str, *, now: float | None = None
    ) -> bool:
        """Charge a noted upgrade on confirm (once); whether it was charged now."""
        ...

    def upgrade_spent(self, customer_id: str, *, since: float) -> float:
        """What the customer's confirmed upgrades charged after ``since``."""
        ...

    def confirmed_upgrades(self, *, since: float | None = None) -> pd.DataFrame:
        """Charged upgrades, oldest first."""
        ...


@runtime_checkable
class StateStore(
    CheckoutReadStore,
    CheckoutStore,
    AllocationStockStore,
    QuoteStore,
    CapacityEventLog,
    StockNewsStore,
    ScoreStore,
    AllocationStore,
    BidPriceStore,
    UpgradeStore,
    Protocol,
):
    """The whole state store: every concern, plus the store's own upkeep."""

    @property
    def location(self) -> str:
        """Where the store lives: a file path, or a URL without its password."""
        ...

    def reopen(
        self,
        *,
        connection_wait_s: float | None = None,
        answer_wait_s: float | None = None,
    ) -> StateStore:
        """A second store on the same database, with its own connections
        (``connection_wait_s``: how long its calls wait for a pooled
        connection, ``answer_wait_s`` for a PostgreSQL server's answer, None:
        as this store's; a store without a pool, SQLite, keeps its lock wait)."""
        ...

    def schema_version(self) -> int:
        """The applied schema version."""
        ...

    @property
    def migrated_from(self) -> int | None:
        """The schema version this store's open migrated it from (0: made
        it), None when the open migrated nothing (current already, or
        migrated meanwhile by another process)."""
        ...

    def follow_schema(self) -> str:
        """Read the store's schema version now; once another process has
        migrated it past this code's, every write of this process to it is
        refused (:class:`SchemaMovedOn`). Why ("" while it is not ahead)."""
        ...

    def schema_moved_on(self) -> str:
        """Why this process refuses writes to the store, as the last
        :meth:`follow_schema` of any of its store objects found ("": not)."""
        ...

    def watch_schema_at_each_write(self) -> None:
        """Read the schema version before each write of this process to the
        store from now on (a command's store; a server follows it instead)."""
        ...

    def check_consistency(self) -> list[str]:
        """Invariants a crash must never break; what is violated."""
        ...

    def prune_state(
        self,
        keep_days: int,
        *,
        upgrade_period_days: int,
        give_back_upgrades: bool = False,
        now: float | None = None,
        dry_run: bool = False,
    ) -> PruneReport:
        """Delete the rows older than ``keep_days`` days that nothing live
        needs, in one transaction (``dry_run``: count them only); refused
        when ``keep_days`` is shorter than the tier policy's
        ``upgrade_period_days`` unless ``give_back_upgrades``."""
        ...

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database, off the request path
        (a background thread calls it); False when there is never anything
        to do (PostgreSQL)."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...

    def __enter__(self) -> Self:
        """The store itself (closed when the block ends)."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        ...
