"""What one answer reads from the live state: capacity, stock, CLTV (and the
upgrade allowance), bids.

:class:`LiveContext` re-reads the capacity event log at most every
``capacity_refresh_s``, keeps the room by service cached per capacity
version, reads the cart's stock at every node, and falls back on the last
known values when the store cannot be read (said in the notes). The
capacity map is read under the router's lock; the store's reads are not, so
the round trips of several threads overlap.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.store import StockStore, StoredEvent
from tierflow.orchestration.bid_prices import BidPrices
from tierflow.orchestration.checkout.customer_value import CustomerValues
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, Notes
from tierflow.orchestration.checkout.request import CheckoutRequest
from tierflow.orchestration.checkout.results import CustomerValue
from tierflow.orchestration.checkout.timing import Stopwatch
from tierflow.orchestration.checkout.upgrades import UpgradeAllowances


@dataclass(frozen=True, slots=True)
class Room:
    """Free capacity units per (service, node): after the backlog (``hard``,
    physical room) and after the rest-of-day forecast too (``soft``)."""

    hard: NDArray[np.float64]
    soft: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Context:
    """The live facts one answer is decided on.

    ``stock`` is ``(nodes, request lines)`` available units; ``bid`` the
    bid price per node and ``bid_source`` where it came from;
    ``capacity_as_of`` the newest capacity event applied.
    """

    customer: CustomerValue
    stock: NDArray[np.int64]
    room: Room
    capacity_as_of: dt.datetime | None
    bid: NDArray[np.float64]
    bid_source: str
    notes: Notes


class LiveContext:
    """Reads (and caches) the live state a checkout is decided on."""

    def __init__(
        self,
        network: Network,
        store: StockStore | None,
        monitor: CapacityMonitor,
        bid_prices: BidPrices,
        customers: CustomerValues,
        *,
        capacity_refresh_s: float,
        open_notes: Sequence[str] = (),
        allowances: UpgradeAllowances | None = None,
        capacity_max_age_s: float | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.network = network
        self.store = store
        self.monitor = monitor
        self.bid_prices = bid_prices
        self.customers = customers
        self.allowances = allowances
        self.capacity_refresh_s = float(capacity_refresh_s)
        #: Held while the capacity map is read or changed (the router's).
        self.lock = lock or threading.RLock()
        #: A capacity map whose newest event is older than this is stale.
        self.capacity_max_age_s = capacity_max_age_s
        #: Why the router runs without a store (repeated in every answer).
        self.open_notes = tuple(open_notes)
        self._known_stock = network.inventory.copy()
        self._node_index = dict(network.node_index)
        self._room: Room | None = None
        self._room_key: tuple[int, int, int] | None = None
        self._capacity_read = -math.inf

    def read(self, req: CheckoutRequest, watch: Stopwatch) -> Context:
        """The context of one request (laps ``capacity``, ``cltv``, ``stock``
        and ``bid_prices``)."""
        notes = Notes()
        if self.store is None:
            for note in self.open_notes or ("no state store",):
                notes.add(note)
        logged = self._capacity_logged(notes)  # a store read: not under the lock
        with self.lock:  # the capacity map
            if logged is not None:
                self.monitor.apply_logged(logged)
            room, as_of = self.room(), self.monitor.as_of()
            stale = self.staleness(req.now)
        if stale:
            notes.add(stale)
        watch.lap("capacity")
        customer = self.customers.lookup(req.customer_id, notes)
        if self.allowances is not None:
            customer = self.allowances.with_allowance(customer, req.ts, notes)
        watch.lap("cltv")
        stock = self._stock(req, notes)
        watch.lap("stock")
        with self.lock:
            bid = self.bid_prices.current()
            source = self.bid_prices.source
            if self.bid_prices.degraded:
                notes.add(f"greedy without reliable bid prices: {source}")
        watch.lap("bid_prices")
        return Context(customer, stock, room, as_of, bid, source, notes)

    def room(self) -> Room:
        """Room by service, recomputed only when the capacity map changed."""
        mon = self.monitor
        key = mon.state_key
        if self._room is None or key != self._room_key:
            hard = mon.room(lanes=True)
            self._room = Room(hard, hard - mon.forecast[None, :])
            self._room_key = key
        return self._room

    def staleness(self, now: dt.datetime) -> str:
        """Why the capacity map is stale at ``now`` ("" when it is not, when
        no age is set, or when no event was ever applied)."""
        limit = self.capacity_max_age_s
        as_of = self.monitor.as_of()
        if limit is None or as_of is None:
            return ""
        age = (now - as_of).total_seconds()
        if age <= limit:
            return ""
        return (
            f"capacity map is stale: its newest event ({as_of.isoformat()}) is "
            f"{_age_text(age)} old, over the {_age_text(limit)} allowed"
        )

    def pull_capacity(self) -> bool:
        """Read the capacity events other processes logged, now; whether the
        map changed (False when the store cannot be read). The log is read
        without :attr:`lock` (other threads keep deciding meanwhile), the
        events applied under it."""
        if self.store is None:
            return False
        try:
            logged = self.monitor.logged_since()
        except STORE_ERRORS:
            return False
        with self.lock:
            before = (self.monitor.n_applied, self.monitor.last_seq)
            self.monitor.apply_logged(logged)
            self._capacity_read = time.monotonic()
            return (self.monitor.n_applied, self.monitor.last_seq) != before

    def _capacity_logged(self, notes: Notes) -> list[StoredEvent] | None:
        """The events logged since the map's last one, when a read is due
        (every ``capacity_refresh_s``); None when not due or unreadable."""
        if self.store is None:
            return None
        now = time.monotonic()
        if now - self._capacity_read < self.capacity_refresh_s:
            return None
        try:
            logged = self.monitor.logged_since()
        except STORE_ERRORS as exc:
            notes.add(
                f"capacity events could not be read ({exc}): last known capacity map"
            )
            return None
        self._capacity_read = now
        return logged

    def _stock(self, req: CheckoutRequest, notes: Notes) -> NDArray[np.int64]:
        """Available units of the cart's SKUs at every node (last known when
        the store cannot be read)."""
        if self.store is not None:
            try:
                # holds live in wall-clock time, whatever instant is being quoted
                rows = self.store.available_by_sku(req.skus)
            except STORE_ERRORS as exc:
                notes.add(f"stock could not be read ({exc}): last known stock")
            else:
                stock = self._stock_table(req.skus, rows)
                self._known_stock[:, req.sku_idx] = stock
                return stock
        return np.asarray(self._known_stock[:, req.sku_idx])

    def _stock_table(
        self, skus: tuple[str, ...], rows: Sequence[tuple[str, str, int]]
    ) -> NDArray[np.int64]:
        """``(nodes, SKUs)`` from the store's rows: one pass in Python over
        a few dozen rows costs half of what building index arrays does."""
        width = len(skus)
        col = {s: k for k, s in enumerate(skus)}
        flat = [0] * (self.network.n_nodes * width)
        get = self._node_index.get
        for node, sku, available in rows:
            at = get(node)  # None: a node the network no longer has
            if at is not None and available > 0:
                flat[at * width + col[sku]] = available
        return np.array(flat, dtype=np.int64).reshape(-1, width)


def _age_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``210 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} days"
