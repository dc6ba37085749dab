"""What one answer reads from the live state: capacity, stock, CLTV (and the
upgrade allowance), bids.

:class:`LiveContext` re-reads the capacity event log at most every
``capacity_refresh_s``, keeps the room by service cached per capacity
version, reads the cart's stock at every node with the customer's score
when it is not kept (one store call: one round trip on PostgreSQL), and
falls back on the last known values when the store cannot be read (said in
the notes). The capacity map is read under the router's lock; the store's
reads are not, so the round trips of several threads overlap.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.store import (
    CheckoutFacts,
    CheckoutReadStore,
    StoredEvent,
    VersionedScore,
)
from tierflow.orchestration.bid_prices import BidPrices
from tierflow.orchestration.checkout.customer_value import CustomerValues
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, Notes, public_reason
from tierflow.orchestration.checkout.request import CheckoutRequest
from tierflow.orchestration.checkout.results import CustomerValue
from tierflow.orchestration.checkout.timing import Stopwatch
from tierflow.orchestration.checkout.upgrades import UpgradeAllowances


@dataclass(frozen=True, slots=True)
class Room:
    """Free capacity units per (service, node): after the backlog (``hard``,
    physical room) and after the rest-of-day forecast too (``soft``), each
    in the order's own units on that lane; and the lanes' ``congestion``
    (``(node, service)``) they were read with, which the bid price is
    charged at (an order's work times it is the node capacity it takes)."""

    hard: NDArray[np.float64]
    soft: NDArray[np.float64]
    congestion: NDArray[np.float64]


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


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one answer read from the store: the facts (None when there is
    no store or it could not be read), the error, and whose score was asked
    for (None: kept in memory)."""

    found: CheckoutFacts | None
    error: Exception | None
    score_of: str | None

    def score_reader(self) -> Callable[[], VersionedScore] | None:
        """How the customer's score is had: as read with the stock (with
        the scores' version it is of), the store's error raised again, or
        None (ask the store: it was kept)."""
        if self.error is not None:
            error = self.error

            def failed() -> VersionedScore:
                raise error

            return failed
        if self.found is None or self.score_of is None:
            return None
        found = self.found
        if found.scores_version is None:  # asked for: read with its version
            return None
        read = VersionedScore(found.scores_version, found.score)
        return lambda: read


class LiveContext:
    """Reads (and caches) the live state a checkout is decided on."""

    def __init__(
        self,
        network: Network,
        store: CheckoutReadStore | None,
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
        #: Why writes to the store are refused ("": they are not): another
        #: process migrated it past this code's schema (repeated in every
        #: answer).
        self.schema_note = ""
        self._known_stock = network.inventory.copy()
        self._node_index = dict(network.node_index)
        self._room: Room | None = None
        self._room_key: tuple[int, int, int] | None = None
        self._capacity_read = -math.inf
        #: Why the last read of the capacity log failed ("": it did not): the
        #: map may lack what other processes logged since.
        self.unread_note = ""
        #: When :meth:`staleness` first found no event at all (None: not yet).
        self._unheard_since: dt.datetime | None = None

    def read(
        self, req: CheckoutRequest, watch: Stopwatch, *, held_by: str | None = None
    ) -> Context:
        """The context of one request (laps ``capacity``, ``stock``, ``cltv``
        and ``bid_prices``); ``held_by``: the checkout being answered again,
        whose own live hold counts as its stock."""
        notes = Notes()
        if self.store is None:
            for note in self.open_notes or ("no state store",):
                notes.add(note)
        elif self.schema_note:
            notes.add(self.schema_note)
        logged = self._capacity_logged(notes)  # a store read: not under the lock
        with self.lock:  # the capacity map
            if logged is not None:
                self.monitor.apply_logged(logged)
            room, as_of = self.room(), self.monitor.as_of()
            stale = self.staleness(req.now)
        if stale:
            notes.add(stale)
        watch.lap("capacity")
        self.customers.refresh(notes)
        facts = self._facts(req, held_by)  # stock and score: one round trip
        stock = self._stock(req, notes, facts)
        watch.lap("stock")
        customer = self.customers.lookup(
            req.customer_id, notes, read=facts.score_reader(), refresh=False
        )
        if self.allowances is not None:
            customer = self.allowances.with_allowance(customer, req.ts, notes)
        watch.lap("cltv")
        with self.lock:
            bid = self.bid_prices.current(float(req.ts))
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
            soft = mon.room(lanes=True, forecast=True)
            self._room = Room(hard, soft, mon.congestion.copy())
            self._room_key = key
        return self._room

    def attach(self, store: CheckoutReadStore, bid_prices: BidPrices) -> None:
        """Read from ``store`` from now on (opened after the router started,
        its monitor attached to it already): the notes of its absence go,
        and the capacity map and stock are read afresh. Under the lock."""
        self.store, self.bid_prices = store, bid_prices
        self.open_notes = ()
        self.unread_note = ""
        self._room = self._room_key = None
        self._capacity_read = -math.inf

    def serving_from(self, now: dt.datetime) -> None:
        """The process serves from ``now``: a map that never hears an event
        is stale once the age has passed since then (not since the first
        answer, which may come much later)."""
        if self._unheard_since is None:
            self._unheard_since = now

    def staleness(self, now: dt.datetime) -> str:
        """Why the capacity map is stale at ``now`` ("" when it is not, or
        when no age is set).

        Measured from the newest event's time capped at its receipt
        (``CapacityMonitor.heard_at``): an event dated ahead does not keep a
        dead feed fresh, nor does a confirmed checkout's work, which the
        server logs itself. A map that never heard an event is stale once the
        age has passed since the process started serving
        (:meth:`serving_from`; else since its first check): no feed at all is
        no fresher than a dead one.
        """
        limit = self.capacity_max_age_s
        if limit is None:
            return ""
        heard = self.monitor.heard_at()
        if heard is None:
            if self._unheard_since is None:
                self._unheard_since = now
            age = (now - self._unheard_since).total_seconds()
            if age <= limit:
                return ""
            shown, allowed = _over(age, limit)
            return (
                f"capacity map is stale: no capacity event in the "
                f"{shown} since the server started, over the {allowed} allowed"
            )
        age = (now - heard).total_seconds()
        if age <= limit:
            return ""
        as_of = self.monitor.feed_as_of()
        shown, allowed = _over(age, limit)
        if as_of is not None and as_of > heard:  # dated ahead of its receipt
            return (
                f"capacity map is stale: its newest event ({as_of.isoformat()}) "
                f"was received {shown} ago ({heard.isoformat()}), over "
                f"the {allowed} allowed"
            )
        return (
            f"capacity map is stale: its newest event ({heard.isoformat()}) is "
            f"{shown} old, over the {allowed} allowed"
        )

    def pull_capacity(self) -> bool:
        """Read the capacity events other processes logged, now; whether the
        map changed (False when the store cannot be read). The log is read
        without :attr:`lock` (other threads keep deciding meanwhile), the
        events applied under it."""
        if self.store is None:
            return False
        logged = self._read_log()
        return False if logged is None else self.apply_pulled(logged)

    def apply_pulled(self, logged: Sequence[StoredEvent]) -> bool:
        """Apply the log's events read after the map's last one (by
        :meth:`pull_capacity`, or with a confirm's commit); whether the map
        changed. Those applied since they were read are skipped."""
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
        logged = self._read_log()
        if logged is None:
            notes.add(self.unread_note)
            return None
        self._capacity_read = now
        return logged

    def _read_log(self) -> list[StoredEvent] | None:
        """The log after the map's last event (None when it cannot be read:
        :attr:`unread_note` says why, and is cleared by the next read)."""
        try:
            logged = self.monitor.logged_since()
        except STORE_ERRORS as exc:
            self.unread_note = (
                f"capacity events could not be read ({public_reason(exc)}): "
                "last known capacity map"
            )
            return None
        self.unread_note = ""
        return logged

    def _facts(self, req: CheckoutRequest, held_by: str | None = None) -> _Facts:
        """The cart's stock (``held_by``'s own holds counted as its) and,
        when it is not kept, the customer's score, read together (the
        error, when the store cannot be read).

        Holds are judged live at the request's instant, the clock a select
        writes them on (its ``now``: a simulated day's, a batch job's; the
        wall clock for the service). On the wall clock, a hold of a day
        past read as lapsed and its stock was offered again, and one of a
        day ahead as live long after it lapsed on its own clock."""
        store = self.store
        if store is None:
            return _Facts(None, None, None)
        wanted = (
            req.customer_id if self.customers.wants_score(req.customer_id) else None
        )
        try:
            found = store.checkout_facts(
                req.skus, wanted, now=req.now.timestamp(), held_by=held_by
            )
        except STORE_ERRORS as exc:
            return _Facts(None, exc, wanted)
        return _Facts(found, None, wanted)

    def _stock(
        self, req: CheckoutRequest, notes: Notes, facts: _Facts
    ) -> NDArray[np.int64]:
        """Available units of the cart's SKUs at every node (last known when
        the store cannot be read)."""
        if facts.found is not None:
            stock = self._stock_table(req.skus, facts.found.stock)
            self._known_stock[:, req.sku_idx] = stock
            return stock
        if facts.error is not None:
            notes.add(
                f"stock could not be read ({public_reason(facts.error)}): "
                "last known stock"
            )
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


def _age_text(seconds: float, finer: bool = False) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``210 days``; ``finer``: one
    decimal more, rounded up (``20.1 s`` for 20.04 s)."""
    scale, unit, digits = (
        (1.0, "s", 0)
        if seconds < 120
        else (60.0, "min", 0)
        if seconds < 7200
        else (3600.0, "h", 1)
        if seconds < 172_800
        else (86_400.0, "days", 0)
    )
    value = seconds / scale
    if finer:
        digits += 1
        value = math.ceil(value * 10**digits) / 10**digits
    return f"{value:.{digits}f} {unit}"


def _over(age: float, limit: float) -> tuple[str, str]:
    """``age`` and ``limit`` in words, the age one decimal finer where
    rounding would print it equal to the limit it is over (a map 20.3 s old
    read "20 s old, over the 20 s allowed")."""
    shown, allowed = _age_text(age), _age_text(limit)
    return (_age_text(age, finer=True) if shown == allowed else shown), allowed
