"""Online tiering at checkout: ``OnlineRouter.generate_fulfillment_options``.

One thin call answers a checkout in about a millisecond::

    router = OnlineRouter.open(network=None, state="state.db")  # None: the sample
    options = router.generate_fulfillment_options(
        "C000123", [("ELE-0042", 1), ("APP-0008", 2)], "10001"
    )
    choice = router.select(options.request_id, options.recommended)
    router.confirm(options.request_id)  # or router.cancel(...)

**What one call does.** Validate the input (``InputError`` naming the field);
read the customer's CLTV score, the live stock of the cart's SKUs at every
node, the live capacity map and the bid prices; price the order at every node
for every tier at once (:class:`tierflow.formulations.online_pricing.OrderPricer`,
which agrees with :func:`tierflow.formulations.fulfillment.price_orders`); decide each
tier with the bid-price-adjusted greedy step
(:func:`tierflow.solver.greedy.cheapest_feasible_node`); order the options by the
satisfaction score (:mod:`tierflow.formulations.satisfaction`).

**Tiers.**

* *Platinum* — only when the customer's predicted spend is at least the
  Platinum threshold (the ``TierPolicy.platinum_percentile`` of the latest
  daily scores, :meth:`tierflow.data.store.SqliteStore.cltv_threshold`) **and** some
  node holding the items can deliver next-day by the promised date, its
  cutoff and timezone respected. It takes the fastest such node, by true
  cost among equals, ignoring bid prices and needing only physical room
  (capacity after backlog): it may divert capacity and inventory the rest
  of the day was expected to use. Guaranteed.
* *Gold* — the tier's services (two-day, ground, next-day); the node with
  the lowest cost + lateness penalty + bid price × order workload among nodes
  with stock and room after the rest-of-day forecast: the cost/speed
  balance.
* *Silver* — the same decision with Silver's services (ground, economy,
  two-day) and later promise: the cheapest, usually slowest. Labelled
  "Eco-friendly" when it moves at least ``eco_min_saving`` fewer kg·mi than
  Gold, else "Lowest price"; dropped when it is the same plan as Gold.
* *Overflow (Tier 4)* — offered exactly when every node that could serve the
  order (holds all its items; or any of them when the order must split)
  scores below ``TierPolicy.overflow_score_threshold`` for it
  (:meth:`tierflow.capacity.monitor.CapacityMonitor.score_map`): the order ships
  ``overflow_delay_days`` later, from the cheapest node holding it, at a
  discount ``min(overflow_discount_cap, Σ bid price × workload of the
  capacity it frees today, the price)``, rounded down to the cent.

An order that no single node holds ships in several shipments (each line from
one node; nodes chosen greedily to cover the most lines, then by cost); it
pays ``split_shipment_cost`` per extra shipment and the option lists every
node. A line no node holds in full makes every tier unavailable (said in
``missing``).

**Money.** ``cost`` is what it costs us: carrier + handling + expected
lateness penalty (+ split costs). ``price`` is what the customer pays:
``price_markup[tier] ×`` carrier cost, minus the overflow ``discount``.
``capacity_cost`` is the bid-price charge the decision used (an opportunity
cost, not cash).

**CLTV.** From the store's latest daily scores. An unknown customer gets the
new-customer prior: predicted spend = the ``new_customer_percentile``
(default: median) of the latest scores, segment ``new`` — never an error.
With no scores stored at all, nobody is offered Platinum (said in
``missing``).

**Reservations.** :meth:`OnlineRouter.select` holds the chosen option's
stock at its node(s) for ``reservation_ttl_s`` in one store transaction (no
oversell, :meth:`tierflow.data.store.SqliteStore.hold_checkout`); selecting another
option swaps the hold. :meth:`OnlineRouter.confirm` commits it and writes the
order's lines to the store's ``online_orders`` table — ``orders.csv``'s
columns plus the promised node, service and dates —, which the next
allocation batch reads (:meth:`tierflow.data.store.SqliteStore.online_orders`; write
it out with :func:`tierflow.data.orders.write_orders`). :meth:`OnlineRouter.cancel`
releases. A hold past its TTL expires in the store (its stock is free at
once); confirming it raises ``InputError`` (select again).

**Never fail a checkout.** If the store cannot be read, the answer comes from
the last known capacity map, the last known stock and the last known CLTV
score (else the prior), with ``degraded=True`` and the reason in ``notes``;
if the bid-price LP fails, the greedy step runs without bid prices (said in
``bid_prices``). Only bad input raises.

**Live updates.** The capacity map is re-read from the event log at most every
``capacity_refresh_s`` (or at once by :meth:`OnlineRouter.refresh`); events
given to :meth:`OnlineRouter.apply_capacity_events` count at once.
:meth:`OnlineRouter.requote` re-answers an open request with the current
state (same ``request_id`` and option ids, ``revision`` + 1) and
:func:`option_changes` lists what moved — the payload a server streams to
the checkout page when capacity changes. Selecting an option after a requote
holds its current plan.

A router serves one process; its methods are thread-safe (one lock). Option
sets live in the router's memory (``quote_ttl_s``); holds and orders live in
the store, so confirm and cancel also work from another process. The result
types (:class:`OptionSet`, :class:`FulfillmentOption`, :class:`CheckoutResult`
…, each with ``to_dict()``) are in :mod:`tierflow.orchestration.checkout.results`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.events import CapacityEvent, parse_event
from tierflow.capacity.monitor import CapacityMonitor, IngestResult, OrderProfile
from tierflow.data.delivery_calendar import require_aware
from tierflow.data.errors import InputError, TierflowError
from tierflow.data.network import NODE_KINDS, Network, load_network
from tierflow.data.rates import DIM_DIVISOR_CM3_PER_KG, SERVICES
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import CheckoutState, SqliteStore, StateStore
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.online_pricing import (
    OrderPricer,
    TierQuote,
    day_to_date,
    epoch_seconds,
)
from tierflow.formulations.satisfaction import (
    SatisfactionWeights,
    check_preferences,
    satisfaction_weights,
)
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.bid_prices import (
    BidPrices,
    ForecastBidPrices,
    StoreBidPrices,
)
from tierflow.orchestration.checkout.results import (
    WATCHED_FIELDS,
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    option_changes,
    parse_items,
)
from tierflow.solver.greedy import cheapest_feasible_node

__all__ = [
    "WATCHED_FIELDS",
    "CheckoutResult",
    "CustomerValue",
    "FulfillmentOption",
    "OnlineRouter",
    "OptionSet",
    "Shipment",
    "option_changes",
    "parse_items",
]

_PLAT, _GOLD, _SILVER, _OVER = (TIERS.index(t) for t in TIERS)
#: Why each tier's node was chosen (the option's explanation).
_HOW = {
    "platinum": "the fastest node with stock and room that guarantees next-day, "
    "by true cost (bid prices ignored)",
    "gold": "the lowest cost + lateness + bid-price charge among nodes with stock "
    "and room",
    "silver": "the cheapest with Silver's slower services among nodes with stock "
    "and room",
    "overflow": "capacity is short today: ships later, from the cheapest node "
    "holding the items",
}
_ZIP = re.compile(r"^\d{3}(\d{2}(-\d{4})?)?$")
#: Store failures that degrade an answer instead of failing it.
_STORE_ERRORS = (sqlite3.Error, OSError)


# ------------------------------------------------------------------- internals
@dataclass(frozen=True, slots=True, eq=False)
class _Request:
    """A validated request."""

    customer_id: str
    skus: tuple[str, ...]
    sku_idx: NDArray[np.int64]
    qty: NDArray[np.int64]
    dest: int
    zip3: str
    now: dt.datetime
    ts: int
    preferences: Mapping[str, float]
    line_kg: tuple[float, ...]
    line_volume: tuple[float, ...]
    line_work: tuple[float, ...]

    def totals(self, lines: Sequence[int]) -> tuple[float, float, float]:
        """(billed kg, units, workload) of a subset of lines, summed in line
        order like :func:`tierflow.formulations.fulfillment.order_totals`."""
        kg = vol = work = units = 0.0
        for i in lines:
            kg += self.line_kg[i]
            vol += self.line_volume[i]
            work += self.line_work[i]
            units += float(self.qty[i])
        return max(kg, vol / DIM_DIVISOR_CM3_PER_KG), units, work


@dataclass(frozen=True, slots=True)
class _Ship:
    node: int
    lines: tuple[int, ...]
    service: int
    ship: int
    delivery: int
    days: int
    shipping: float
    handling: float
    penalty: float
    workload: float
    kg: float


@dataclass(slots=True)
class _Notes:
    """What fell back while answering, and why."""

    notes: list[str] = field(default_factory=list)
    degraded: bool = False

    def add(self, note: str) -> None:
        self.degraded = True
        self.notes.append(note)


@dataclass(frozen=True, slots=True)
class _Context:
    customer: CustomerValue
    stock: NDArray[np.int64]
    bid: NDArray[np.float64]
    bid_source: str
    notes: _Notes


@dataclass(slots=True)
class _Quote:
    request: _Request
    answer: OptionSet
    plans: dict[str, tuple[_Ship, ...]]
    created: float


def _money_floor(value: float) -> float:
    return math.floor(max(value, 0.0) * 100.0 + 1e-9) / 100.0


# ---------------------------------------------------------------------- router
class OnlineRouter:
    """Answers checkouts with tiered fulfillment options (module docstring).

    Build it with :meth:`open`; the constructor takes ready-made parts.
    """

    def __init__(
        self,
        network: Network,
        store: StateStore | None,
        monitor: CapacityMonitor,
        *,
        policy: TierPolicy | None = None,
        bid_prices: BidPrices | None = None,
        reservation_ttl_s: float = 900.0,
        quote_ttl_s: float = 1800.0,
        capacity_refresh_s: float = 1.0,
        cltv_refresh_s: float = 60.0,
        max_open_quotes: int = 100_000,
        profile: bool = False,
        notes: Sequence[str] = (),
    ) -> None:
        for name, value in (
            ("reservation_ttl_s", reservation_ttl_s),
            ("quote_ttl_s", quote_ttl_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise InputError("must be > 0 seconds", field=name, value=value)
        self.network = network
        self.store = store
        self.monitor = monitor
        self.policy = policy or TierPolicy()
        if bid_prices is None:
            fallback = ForecastBidPrices(network, monitor, self.policy)
            bid_prices = (
                fallback
                if store is None
                else StoreBidPrices(store, network, fallback=fallback)
            )
        self.bid_prices = bid_prices
        self.reservation_ttl_s = float(reservation_ttl_s)
        self.quote_ttl_s = float(quote_ttl_s)
        self.capacity_refresh_s = float(capacity_refresh_s)
        self.cltv_refresh_s = float(cltv_refresh_s)
        self.max_open_quotes = int(max_open_quotes)
        self.pricer = OrderPricer(network, self.policy)
        self.open_notes = tuple(notes)
        self.profile = profile
        #: Per-stage durations (ns) of every call, when ``profile`` is on.
        self.timings: dict[str, list[int]] = {}
        self._lock = threading.RLock()
        self._quotes: OrderedDict[str, _Quote] = OrderedDict()
        self._known_stock = network.inventory.copy()
        self._cap_key: tuple[int, int] | None = None
        self._room: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._cap_read = -math.inf
        self._cltv_read = -math.inf
        self._cltv_day: dt.date | None = None
        self._threshold: float | None = None
        self._prior = 0.0
        self._known_cltv: OrderedDict[str, tuple[float, str, str]] = OrderedDict()
        self._n = network.n_nodes
        self._node_index = dict(network.node_index)
        self._nn = np.arange(network.n_nodes)
        self._sku_kg = network.sku_weight_kg.tolist()
        self._sku_vol = network.sku_volume_cm3.tolist()
        self._sku_work = network.sku_complexity.tolist()
        self._markup = np.array([self.policy.price_markup[t] for t in TIERS])
        self._tier_rule = [self.policy.rule(t) for t in TIERS]
        self._node_text = [
            f"{node} ({NODE_KINDS[int(kind)]}, cutoff {int(cut) // 60:02d}:"
            f"{int(cut) % 60:02d} {network.timezones[int(tz)]}),"
            for node, kind, cut, tz in zip(
                network.node_ids,
                network.node_kind,
                network.cutoff_minutes,
                network.node_tz,
                strict=True,
            )
        ]

    # ------------------------------------------------------------------ open
    @classmethod
    def open(
        cls,
        network: Network | Path | str | None = None,
        state: StateStore | Path | str | None = None,
        *,
        policy: TierPolicy | None = None,
        bid_prices: BidPrices | None = None,
        reservation_ttl_s: float = 900.0,
        quote_ttl_s: float = 1800.0,
        capacity_refresh_s: float = 1.0,
        cltv_refresh_s: float = 60.0,
        max_open_quotes: int = 100_000,
        profile: bool = False,
    ) -> OnlineRouter:
        """A router on a network folder (None: the embedded sample) and a store.

        Parameters
        ----------
        network
            A :class:`~tierflow.data.network.Network` or its folder; None for the sample.
        state
            A :class:`~tierflow.data.store.StateStore` or its path (a
            :class:`~tierflow.data.store.SqliteStore` is opened); None for the
            default (``$TIERFLOW_STATE`` or the user data folder). A store
            without inventory is seeded from the network's ``inventory``.
            If it cannot be opened, the router still answers (degraded,
            without reservations) and says so in every answer.
        policy
            Tier policy (default :class:`~tierflow.formulations.tiers.TierPolicy`).
        bid_prices
            Bid-price source (default: the allocator's stored prices, else
            the forecast LP estimate; :mod:`tierflow.orchestration.bid_prices`).
        reservation_ttl_s
            How long a selected option's stock is held.
        quote_ttl_s
            How long an option set can be selected from.
        capacity_refresh_s, cltv_refresh_s
            How often the event log and the CLTV threshold are re-read.
        max_open_quotes
            Option sets kept in memory at most (oldest dropped).
        profile
            Record per-stage durations in :attr:`timings` (benchmarks).
        """
        if isinstance(network, Network):
            net = network
        else:
            net = load_network(network if network is not None else sample_network_dir())
        notes: list[str] = []
        store: StateStore | None = None
        try:
            store = (
                SqliteStore(state)
                if state is None or isinstance(state, Path | str)
                else state
            )
            store.seed_network_inventory(net)
            monitor = CapacityMonitor.open(net, store, snapshot_every=0)
        except (*_STORE_ERRORS, TierflowError) as exc:
            if store is not None and store is not state:
                store.close()
            store = None
            monitor = CapacityMonitor(net)
            notes.append(
                f"state store unavailable ({exc}): stock from the network's "
                "inventory, nominal capacity, no CLTV scores, no reservations"
            )
        return cls(
            net,
            store,
            monitor,
            policy=policy,
            bid_prices=bid_prices,
            reservation_ttl_s=reservation_ttl_s,
            quote_ttl_s=quote_ttl_s,
            capacity_refresh_s=capacity_refresh_s,
            cltv_refresh_s=cltv_refresh_s,
            max_open_quotes=max_open_quotes,
            profile=profile,
            notes=notes,
        )

    def close(self) -> None:
        """Close the store connection."""
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- validate
    def _request(
        self,
        customer_id: str,
        items: Iterable[tuple[str, int]],
        dest: str,
        preferences: Mapping[str, float] | None,
        now: dt.datetime | None,
    ) -> _Request:
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise InputError(
                "empty customer id", field="customer_id", value=customer_id
            )
        if isinstance(items, str | bytes) or not isinstance(items, Iterable):
            raise InputError(
                "expected a list of (sku, quantity)", field="items", value=items
            )
        merged: dict[str, int] = {}
        index = self.network.sku_index
        for i, item in enumerate(items):
            try:
                sku, qty = item
            except (TypeError, ValueError):
                raise InputError(
                    "expected (sku, quantity)", field="items", index=i, value=item
                ) from None
            if not isinstance(sku, str) or sku not in index:
                raise InputError("unknown SKU", field="sku", index=i, value=sku)
            if (
                isinstance(qty, bool)
                or not isinstance(qty, int | np.integer)
                or qty < 1
            ):
                raise InputError(
                    "must be an integer >= 1", field="quantity", index=i, value=qty
                )
            merged[sku] = merged.get(sku, 0) + int(qty)
        if not merged:
            raise InputError("no items", field="items")
        text = dest.strip() if isinstance(dest, str) else dest
        if not isinstance(text, str) or not _ZIP.match(text):
            raise InputError(
                "not a US ZIP code (12345, 12345-6789 or a 3-digit prefix)",
                field="dest",
                value=dest,
            )
        dest_idx = self.network.dest_idx(text)
        when = dt.datetime.now(dt.UTC) if now is None else require_aware(now)
        skus = tuple(merged)
        pos = [index[s] for s in skus]
        qty_list = [merged[s] for s in skus]
        return _Request(
            customer_id=customer_id,
            skus=skus,
            sku_idx=np.array(pos, dtype=np.int64),
            qty=np.array(qty_list, dtype=np.int64),
            dest=dest_idx,
            zip3=text[:3],
            now=when,
            ts=epoch_seconds(when),
            preferences=check_preferences(preferences),
            line_kg=tuple(
                self._sku_kg[p] * q for p, q in zip(pos, qty_list, strict=True)
            ),
            line_volume=tuple(
                self._sku_vol[p] * q for p, q in zip(pos, qty_list, strict=True)
            ),
            line_work=tuple(
                self._sku_work[p] * q for p, q in zip(pos, qty_list, strict=True)
            ),
        )

    # ---------------------------------------------------------------- context
    def _tick(self, stage: str, start: int) -> int:
        now = time.perf_counter_ns()
        self.timings.setdefault(stage, []).append(now - start)
        return now

    def _refresh_capacity(self, notes: _Notes) -> None:
        if self.store is None:
            return
        now = time.monotonic()
        if now - self._cap_read < self.capacity_refresh_s:
            return
        try:
            self.monitor.refresh()
            self._cap_read = now
        except _STORE_ERRORS as exc:
            notes.add(
                f"capacity events could not be read ({exc}): last known capacity map"
            )

    def _room_by_service(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(after backlog, after backlog and forecast) free units per (service, node)."""
        mon = self.monitor
        key = (mon.n_applied, mon.last_seq)
        if self._room is None or key != self._cap_key:
            hard = mon.room(lanes=True)
            self._room = (hard, hard - mon.forecast[None, :])
            self._cap_key = key
        return self._room

    def _cltv_stats(self, notes: _Notes) -> None:
        store = self.store
        now = time.monotonic()
        if store is None or now - self._cltv_read < self.cltv_refresh_s:
            return
        try:
            day = store.latest_cltv_as_of()
            if day != self._cltv_day:
                pct = self.policy.platinum_percentile * 100.0
                self._threshold = store.cltv_threshold(pct)
                prior = store.cltv_threshold(self.policy.new_customer_percentile * 100)
                self._prior = 0.0 if prior is None else prior
                self._cltv_day = day
            self._cltv_read = now
        except _STORE_ERRORS as exc:
            notes.add(f"CLTV threshold could not be read ({exc}): last known")

    def _customer(self, customer_id: str, notes: _Notes) -> CustomerValue:
        self._cltv_stats(notes)
        found: tuple[float, str, str] | None = None
        if self.store is not None:
            try:
                score = self.store.cltv_score(customer_id)
                if score is not None:
                    found = (
                        score.predicted_spend,
                        score.segment,
                        f"CLTV scores of {score.as_of.isoformat()}",
                    )
                    self._known_cltv[customer_id] = found
                    if len(self._known_cltv) > 50_000:
                        self._known_cltv.popitem(last=False)
            except _STORE_ERRORS as exc:
                notes.add(f"CLTV score could not be read ({exc})")
                known = self._known_cltv.get(customer_id)
                if known is not None:
                    found = (known[0], known[1], known[2] + " (last known)")
        if found is None:
            pct = self.policy.new_customer_percentile
            found = (
                self._prior,
                "new",
                f"new-customer prior ({pct:.0%} percentile of the latest scores)"
                if self._cltv_day is not None
                else "new-customer prior (no CLTV scores stored)",
            )
        thr = self._threshold
        return CustomerValue(
            customer_id,
            found[0],
            found[1],
            found[2],
            thr,
            thr is not None and found[0] >= thr,
        )

    def _stock(self, req: _Request, notes: _Notes) -> NDArray[np.int64]:
        if self.store is not None:
            try:
                # holds live in wall-clock time, whatever instant is being quoted
                rows = self.store.available_by_sku(req.skus)
            except _STORE_ERRORS as exc:
                notes.add(f"stock could not be read ({exc}): last known stock")
            else:
                stock = np.zeros((self._n, len(req.skus)), dtype=np.int64)
                if rows:
                    nodes, skus, avail = zip(*rows, strict=True)
                    get = self._node_index.get
                    col = {s: k for k, s in enumerate(req.skus)}
                    at = np.array([get(n, -1) for n in nodes], dtype=np.intp)
                    cols = np.array([col[s] for s in skus], dtype=np.intp)
                    known = at >= 0  # rows of nodes the network no longer has
                    stock[at[known], cols[known]] = np.maximum(
                        np.array(avail, dtype=np.int64)[known], 0
                    )
                self._known_stock[:, req.sku_idx] = stock
                return stock
        return np.asarray(self._known_stock[:, req.sku_idx])

    def _context(self, req: _Request, t0: int) -> _Context:
        notes = _Notes()
        if self.store is None:
            for note in self.open_notes or ("no state store",):
                notes.add(note)
        t = t0
        self._refresh_capacity(notes)
        if self.profile:
            t = self._tick("capacity", t)
        customer = self._customer(req.customer_id, notes)
        if self.profile:
            t = self._tick("cltv", t)
        stock = self._stock(req, notes)
        if self.profile:
            t = self._tick("stock", t)
        bid = self.bid_prices.current()
        if self.bid_prices.degraded:
            notes.add(f"greedy without reliable bid prices: {self.bid_prices.source}")
        if self.profile:
            self._tick("bid_prices", t)
        return _Context(customer, stock, bid, self.bid_prices.source, notes)

    # --------------------------------------------------------------- deciding
    def _decide(
        self,
        cost: NDArray[np.float64],
        eligible: NDArray[np.bool_],
        workload: float,
        residual: NDArray[np.float64],
    ) -> int:
        if not self.profile:
            return cheapest_feasible_node(cost, eligible, workload, residual)
        t = time.perf_counter_ns()
        j = cheapest_feasible_node(cost, eligible, workload, residual)
        self.timings.setdefault("decision", []).append(time.perf_counter_ns() - t)
        return j

    def _ship(
        self,
        q: TierQuote,
        t: int,
        j: int,
        lines: tuple[int, ...],
        kg: float,
        work: float,
    ) -> _Ship:
        return _Ship(
            node=j,
            lines=lines,
            service=int(q.service[t, j]),
            ship=int(q.ship[j]),
            delivery=int(q.delivery[t, j]),
            days=int(q.days[t, j]),
            shipping=float(q.shipping[t, j]),
            handling=float(q.handling[j]),
            penalty=float(q.penalty[t, j]),
            workload=work,
            kg=kg,
        )

    def _plan_single(
        self,
        req: _Request,
        q: TierQuote,
        t: int,
        have_all: NDArray[np.bool_],
        ctx: _Context,
        *,
        kg: float,
        work: float,
    ) -> tuple[tuple[_Ship, ...], str]:
        """One-node plan for tier ``t``, or () and why not."""
        svc = q.service[t]
        eligible = (svc >= 0) & have_all
        if not eligible.any():
            if t == _PLAT:
                promised = day_to_date(int(q.promised[t]))
                return (), (
                    f"no node holding the items can guarantee delivery by "
                    f"{promised.isoformat()} (next-day cutoffs and timezones)"
                )
            return (), f"no node holding the items offers {TIERS[t]}'s services"
        hard, soft = self._room_by_service()
        room = hard if t == _PLAT else soft
        residual = room[np.maximum(svc, 0), self._nn]
        cost = np.where(eligible, q.shipping[t] + q.handling + q.penalty[t], np.inf)
        if t == _PLAT:
            first = np.where(eligible, q.delivery[t], np.iinfo(np.int64).max).min()
            cost = np.where(q.delivery[t] == first, cost, np.inf)
        else:
            cost = cost + ctx.bid * work
        j = self._decide(cost, eligible, work, residual)
        if j < 0:
            what = "physical room" if t == _PLAT else "room after the forecast"
            return (), f"every node that could ship it lacks {what} today"
        lines = tuple(range(len(req.skus)))
        return (self._ship(q, t, j, lines, kg, work),), ""

    def _plan_split(
        self,
        req: _Request,
        q: TierQuote,
        t: int,
        have: NDArray[np.bool_],
        ctx: _Context,
        *,
        work: float,
        use_room: bool = True,
    ) -> tuple[tuple[_Ship, ...], str]:
        """Several shipments for tier ``t`` (greedy cover), or () and why not."""
        usable = q.service[t] >= 0
        if use_room:
            hard, soft = self._room_by_service()
            room = hard if t == _PLAT else soft
            usable = usable & (room[np.maximum(q.service[t], 0), self._nn] >= work)
        else:
            open_nodes = usable & ~self.monitor.outage
            usable = open_nodes if open_nodes.any() else usable
        rank = np.where(usable, q.shipping[t] + q.handling + q.penalty[t], np.inf)
        if t != _PLAT and use_room:
            rank = rank + ctx.bid * work
        cover = have & usable[:, None]
        uncovered = np.ones(len(req.skus), dtype=bool)
        picks: list[tuple[int, tuple[int, ...]]] = []
        while uncovered.any():
            gain = cover[:, uncovered].sum(axis=1)
            best = int(gain.max())
            if best == 0:
                left = [req.skus[i] for i in np.flatnonzero(uncovered)]
                return (), f"no node with room and {TIERS[t]}'s services holds {left}"
            cand = np.flatnonzero(gain == best)
            j = int(cand[np.argmin(rank[cand])])
            lines = tuple(int(i) for i in np.flatnonzero(uncovered & cover[j]))
            uncovered[list(lines)] = False
            picks.append((j, lines))
        ships = []
        release = (
            req.ts + self.policy.overflow_delay_days * 86_400 if t == _OVER else None
        )
        for j, lines in picks:
            kg, units, w = req.totals(lines)
            qs = self.pricer.quote(req.ts, req.dest, kg, units, release=release)
            ships.append(self._ship(qs, t, j, lines, kg, w))
        return tuple(ships), ""

    # ---------------------------------------------------------------- answer
    def _answer(
        self, req: _Request, ctx: _Context, request_id: str, revision: int, t0: int
    ) -> tuple[OptionSet, dict[str, tuple[_Ship, ...]]]:
        t = t0
        kg, units, work = req.totals(range(len(req.skus)))
        q = self.pricer.quote(req.ts, req.dest, kg, units)
        if self.profile:
            t = self._tick("pricing", t)
        have = ctx.stock >= req.qty[None, :]
        have_all: NDArray[np.bool_] = np.asarray(have.all(axis=1))
        single = bool(have_all.any())
        plans: dict[str, tuple[_Ship, ...]] = {}
        missing: dict[str, str] = {}
        unfillable = [
            req.skus[i] for i in np.flatnonzero(~have.any(axis=0))
        ]  # lines no node holds in full
        if unfillable:
            why = f"out of stock: no node holds the quantity of {unfillable}"
            missing = dict.fromkeys(TIERS, why)
        else:
            customer = ctx.customer
            for tier in (_PLAT, _GOLD, _SILVER):
                name = TIERS[tier]
                if tier == _PLAT and not customer.platinum_eligible:
                    thr = customer.platinum_threshold
                    missing[name] = (
                        "no CLTV scores stored: the Platinum threshold is unknown"
                        if thr is None
                        else f"predicted spend ${customer.predicted_spend:,.2f} is "
                        f"below the Platinum threshold ${thr:,.2f} "
                        f"({self.policy.platinum_percentile:.0%} percentile)"
                    )
                    continue
                plan: tuple[_Ship, ...] = ()
                why = ""
                if single:
                    plan, why = self._plan_single(
                        req, q, tier, have_all, ctx, kg=kg, work=work
                    )
                if not plan and len(req.skus) > 1:
                    plan, split_why = self._plan_split(
                        req, q, tier, have, ctx, work=work
                    )
                    why = why or split_why
                if plan:
                    plans[name] = plan
                else:
                    missing[name] = why
            self._overflow(req, q, have, have_all, ctx, plans, missing, work=work)
        if self.profile:
            t = self._tick("decide", t)
        answer = self._build(req, ctx, request_id, revision, plans, missing)
        if self.profile:
            self._tick("build", t)
        return answer, plans

    def _overflow(
        self,
        req: _Request,
        q: TierQuote,
        have: NDArray[np.bool_],
        have_all: NDArray[np.bool_],
        ctx: _Context,
        plans: dict[str, tuple[_Ship, ...]],
        missing: dict[str, str],
        *,
        work: float,
    ) -> None:
        serving = have_all if have_all.any() else have.any(axis=1)
        scores = self.monitor.score_map(OrderProfile(work))
        best = float(scores[serving].max())
        thr = self.policy.overflow_score_threshold
        if best >= thr:
            missing["overflow"] = (
                f"capacity is not short: best capacity score {best:.2f} >= {thr:.2f}"
            )
            return
        kg, units, _ = req.totals(range(len(req.skus)))
        release = req.ts + self.policy.overflow_delay_days * 86_400
        qo = self.pricer.quote(req.ts, req.dest, kg, units, release=release)
        plan: tuple[_Ship, ...]
        if have_all.any():
            eligible = (qo.service[_OVER] >= 0) & have_all
            open_nodes = eligible & ~self.monitor.outage
            eligible = open_nodes if open_nodes.any() else eligible
            if not eligible.any():
                missing["overflow"] = "no node holding the items offers its services"
                return
            j = int(np.argmin(np.where(eligible, qo.cost[_OVER], np.inf)))
            plan = (self._ship(qo, _OVER, j, tuple(range(len(req.skus))), kg, work),)
        else:
            plan, why = self._plan_split(
                req, qo, _OVER, have, ctx, work=work, use_room=False
            )
            if not plan:
                missing["overflow"] = why
                return
        plans["overflow"] = plan

    def _freed_value(
        self, plans: Mapping[str, tuple[_Ship, ...]], bid: NDArray[np.float64]
    ) -> tuple[float, str]:
        """Value of the capacity an overflow order frees today, and where."""
        today = plans.get("gold") or plans.get("silver") or plans["overflow"]
        value = sum(float(bid[s.node]) * s.workload for s in today)
        nodes = ", ".join(self.network.node_ids[s.node] for s in today)
        return value, nodes

    def _build(
        self,
        req: _Request,
        ctx: _Context,
        request_id: str,
        revision: int,
        plans: dict[str, tuple[_Ship, ...]],
        missing: dict[str, str],
    ) -> OptionSet:
        net = self.network
        policy = self.policy
        customer = ctx.customer
        thr = customer.platinum_threshold
        value = 0.0 if not thr else customer.predicted_spend / thr
        weights = satisfaction_weights(policy, req.preferences, value)
        emissions = {
            name: sum(s.kg * float(net.distance_mi[s.node, req.dest]) for s in ships)
            for name, ships in plans.items()
        }
        gold = plans.get("gold")
        silver = plans.get("silver")
        if gold and silver and _same_plan(gold, silver):
            del plans["silver"]
            missing["silver"] = "the cheapest plan is the same as Gold's"
        options = []
        for name, ships in plans.items():
            options.append(
                self._option(req, ctx, name, ships, plans, emissions, weights)
            )
        options.sort(key=lambda o: (-o.satisfaction_score, TIERS.index(o.tier)))
        return OptionSet(
            request_id=request_id,
            revision=revision,
            customer=customer,
            dest=req.zip3,
            items=tuple(zip(req.skus, req.qty.tolist(), strict=True)),
            created_at=req.now,
            options=tuple(options),
            missing={t: missing[t] for t in TIERS if t in missing},
            bid_prices=ctx.bid_source,
            capacity_as_of=self.monitor.as_of(),
            degraded=ctx.notes.degraded,
            notes=tuple(dict.fromkeys(ctx.notes.notes)),
        )

    def _option(
        self,
        req: _Request,
        ctx: _Context,
        name: str,
        ships: tuple[_Ship, ...],
        plans: Mapping[str, tuple[_Ship, ...]],
        emissions: Mapping[str, float],
        weights: SatisfactionWeights,
    ) -> FulfillmentOption:
        net = self.network
        policy = self.policy
        t = TIERS.index(name)
        last = max(ships, key=lambda s: (s.delivery, s.service))
        shipping = sum(s.shipping for s in ships)
        cost = sum(s.shipping + s.handling + s.penalty for s in ships) + (
            policy.split_shipment_cost * (len(ships) - 1)
        )
        base_price = round(float(self._markup[t]) * shipping, 2)
        discount = 0.0
        capacity_cost = sum(float(ctx.bid[s.node]) * s.workload for s in ships)
        eco = False
        label = self._tier_rule[t].label
        why_money = ""
        if name == "overflow":
            freed, where = self._freed_value(plans, ctx.bid)
            cap = policy.overflow_discount_cap
            discount = _money_floor(min(cap, freed, base_price))
            capacity_cost = 0.0
            label = (
                f"Ship later, save ${discount:.2f}" if discount > 0 else "Ship later"
            )
            why_money = (
                f"; discount ${discount:.2f} = min(cap ${cap:.2f}, value of the "
                f"capacity freed today at {where} ${freed:.2f}, price)"
            )
        elif name == "silver":
            ref = emissions.get("gold", emissions.get("platinum"))
            eco = (
                ref is not None
                and emissions[name] <= (1.0 - policy.eco_min_saving) * ref
            )
            label = "Eco-friendly" if eco else "Lowest price"
        price = round(base_price - discount, 2)
        score = weights.score(last.days, price, emissions[name], policy)
        nodes = tuple(dict.fromkeys(net.node_ids[s.node] for s in ships))
        return FulfillmentOption(
            option_id=name,
            tier=name,
            label=label,
            nodes=nodes,
            service=SERVICES[last.service],
            ship_date=day_to_date(max(s.ship for s in ships)),
            delivery_date=day_to_date(last.delivery),
            guaranteed=self._tier_rule[t].guaranteed,
            price=price,
            cost=cost,
            discount=discount,
            capacity_cost=capacity_cost,
            satisfaction_score=score,
            eco=eco,
            emissions_kg_mi=emissions[name],
            explanation=self._explain(req, ctx, name, ships) + why_money,
            shipments=tuple(
                Shipment(
                    node_id=net.node_ids[s.node],
                    lines=tuple((req.skus[i], int(req.qty[i])) for i in s.lines),
                    service=SERVICES[s.service],
                    ship_date=day_to_date(s.ship),
                    delivery_date=day_to_date(s.delivery),
                    cost=s.shipping + s.handling + s.penalty,
                    distance_mi=float(net.distance_mi[s.node, req.dest]),
                )
                for s in ships
            ),
        )

    def _explain(
        self, req: _Request, ctx: _Context, name: str, ships: tuple[_Ship, ...]
    ) -> str:
        net = self.network
        parts = []
        for s in ships:
            j = s.node
            arrive = "next day" if s.days <= 1 else f"{s.days} delivery days"
            miles = float(net.distance_mi[j, req.dest])
            parts.append(
                f"{self._node_text[j]} {miles:.0f} mi, zone "
                f"{int(net.zone[j, req.dest])}: ships {day_to_date(s.ship)} by "
                f"{SERVICES[s.service]}, arrives {day_to_date(s.delivery)} ({arrive})"
            )
        split = (
            f"; {len(ships)} shipments (no node holds every item)"
            if len(ships) > 1
            else ""
        )
        return f"{'; '.join(parts)} — {_HOW[name]}{split}; bid prices: {ctx.bid_source}"

    # ---------------------------------------------------------------- public
    def generate_fulfillment_options(
        self,
        customer_id: str,
        items: Iterable[tuple[str, int]],
        dest: str,
        *,
        preferences: Mapping[str, float] | None = None,
        now: dt.datetime | None = None,
    ) -> OptionSet:
        """Tiered fulfillment options for one checkout (module docstring).

        Parameters
        ----------
        customer_id
            The customer (unknown ids get the new-customer prior).
        items
            ``[(sku, quantity), …]``; a repeated SKU adds up.
        dest
            Destination ZIP code (``12345``, ``12345-6789``) or 3-digit prefix.
        preferences
            Optional weights ``{"speed", "cost", "eco"}`` (>= 0) for the
            satisfaction score.
        now
            The checkout instant (aware); default the clock.

        Raises
        ------
        InputError
            Bad input, naming the field (``customer_id``, ``items``, ``sku``,
            ``quantity``, ``dest``, ``preferences.*``, ``now``).
        """
        t0 = time.perf_counter_ns()
        req = self._request(customer_id, items, dest, preferences, now)
        with self._lock:
            t = self._tick("validate", t0) if self.profile else t0
            ctx = self._context(req, t)
            t = time.perf_counter_ns()
            answer, plans = self._answer(req, ctx, uuid.uuid4().hex, 1, t)
            self._remember(req, answer, plans)
        if self.profile:
            self.timings.setdefault("total", []).append(time.perf_counter_ns() - t0)
        return answer

    def _remember(
        self, req: _Request, answer: OptionSet, plans: dict[str, tuple[_Ship, ...]]
    ) -> None:
        now = time.monotonic()
        self._quotes[answer.request_id] = _Quote(req, answer, plans, now)
        self._quotes.move_to_end(answer.request_id)
        quotes = self._quotes
        # oldest first: drop what expired (a few per call) and any excess
        while quotes and (
            len(quotes) > self.max_open_quotes
            or now - next(iter(quotes.values())).created > self.quote_ttl_s
        ):
            quotes.popitem(last=False)

    def _quote(self, request_id: str) -> _Quote:
        quote = self._quotes.get(request_id)
        if quote is None:
            raise InputError(
                "unknown request id (no options were generated for it here, or "
                "they were dropped)",
                field="request_id",
                value=request_id,
            )
        if time.monotonic() - quote.created > self.quote_ttl_s:
            del self._quotes[request_id]
            raise InputError(
                f"options expired (older than {self.quote_ttl_s:g} s): generate "
                "them again",
                field="request_id",
                value=request_id,
            )
        return quote

    def requote(self, request_id: str, *, now: dt.datetime | None = None) -> OptionSet:
        """Answer an open request again with the current capacity, stock and prices.

        Same ``request_id`` and option ids, ``revision`` + 1 (a held option
        keeps its hold). ``InputError`` for an unknown or expired request.
        """
        t0 = time.perf_counter_ns()
        with self._lock:
            old = self._quote(request_id)
            base = old.request
            when = dt.datetime.now(dt.UTC) if now is None else require_aware(now)
            req = _Request(
                customer_id=base.customer_id,
                skus=base.skus,
                sku_idx=base.sku_idx,
                qty=base.qty,
                dest=base.dest,
                zip3=base.zip3,
                now=when,
                ts=epoch_seconds(when),
                preferences=base.preferences,
                line_kg=base.line_kg,
                line_volume=base.line_volume,
                line_work=base.line_work,
            )
            ctx = self._context(req, t0)
            answer, plans = self._answer(
                req, ctx, request_id, old.answer.revision + 1, time.perf_counter_ns()
            )
            self._remember(req, answer, plans)
            return answer

    def apply_capacity_events(
        self, events: Sequence[CapacityEvent | Mapping[str, Any]]
    ) -> IngestResult:
        """Validate, log and apply capacity events (operators, feeds) at once.

        Dicts follow the JSON-lines contract of :mod:`tierflow.capacity.events`; the
        next answer (or :meth:`requote`) sees them. ``InputError`` names the
        first bad event's field; nothing is applied then.
        """
        parsed = [
            e
            if isinstance(e, CapacityEvent)
            else parse_event(dict(e), self.network, row=i)
            for i, e in enumerate(events, start=1)
        ]
        with self._lock:
            return self.monitor.ingest(parsed)

    def refresh(self) -> bool:
        """Pull the capacity events other processes logged, now.

        Returns whether the capacity map changed (then :meth:`requote` the
        open requests to show new dates and prices). False when the store
        cannot be read.
        """
        with self._lock:
            before = (self.monitor.n_applied, self.monitor.last_seq)
            if self.store is not None:
                try:
                    self.monitor.refresh()
                except _STORE_ERRORS:
                    return False
                self._cap_read = time.monotonic()
            return (self.monitor.n_applied, self.monitor.last_seq) != before

    def open_requests(self) -> list[str]:
        """Ids of the option sets still held in memory (oldest first)."""
        with self._lock:
            return list(self._quotes)

    def select(
        self, request_id: str, option_id: str, *, now: dt.datetime | None = None
    ) -> CheckoutResult:
        """Hold the chosen option's stock (atomic, TTL ``reservation_ttl_s``).

        Any option may be chosen (overriding the recommendation); choosing
        another one later swaps the hold. Status ``rejected`` when the stock
        is gone since the options were made (generate them again),
        ``unavailable`` when the store cannot be written.

        Raises
        ------
        InputError
            Unknown or expired request, unknown option, or a checkout already
            confirmed or cancelled.
        """
        with self._lock:
            quote = self._quote(request_id)
            option = quote.answer.option(option_id)
            ships = quote.plans[option_id]
            req = quote.request
            if self.store is None:
                return CheckoutResult(
                    request_id, option_id, "unavailable", message="no state store"
                )
            holds = [
                (
                    self.network.node_ids[s.node],
                    [(req.skus[i], int(req.qty[i])) for i in s.lines],
                )
                for s in ships
            ]
            created = req.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines = [
                {
                    "order_id": request_id,
                    "created_at": created,
                    "customer_id": req.customer_id,
                    "dest": req.zip3,
                    "tier": option.tier,
                    "sku": req.skus[i],
                    "quantity": int(req.qty[i]),
                    "node_id": self.network.node_ids[s.node],
                    "service": SERVICES[s.service],
                    "ship_date": day_to_date(s.ship).isoformat(),
                    "delivery_date": day_to_date(s.delivery).isoformat(),
                }
                for s in ships
                for i in s.lines
            ]
            try:
                state = self.store.hold_checkout(
                    request_id,
                    option_id,
                    holds,
                    self.reservation_ttl_s,
                    order_lines=lines,
                    now=None if now is None else require_aware(now).timestamp(),
                )
            except _STORE_ERRORS as exc:
                return CheckoutResult(
                    request_id, option_id, "unavailable", message=str(exc)
                )
            return _result(state, option.nodes)

    def confirm(
        self, request_id: str, *, now: dt.datetime | None = None
    ) -> CheckoutResult:
        """Turn the held option into an order for the next allocation batch.

        Raises
        ------
        InputError
            Unknown request, nothing selected yet, a cancelled checkout, or a
            hold that expired (select again).
        """
        with self._lock:
            if self.store is None:
                return CheckoutResult(
                    request_id, None, "unavailable", message="no state store"
                )
            t = None if now is None else require_aware(now).timestamp()
            try:
                if self.store.checkout_state(request_id, now=t) is None:
                    self._no_checkout(request_id)
                state = self.store.confirm_checkout(request_id, now=t)
            except _STORE_ERRORS as exc:
                return CheckoutResult(request_id, None, "unavailable", message=str(exc))
            nodes = self._nodes_of(request_id, state.option_id)
            self._quotes.pop(request_id, None)
            return _result(state, nodes)

    def cancel(
        self, request_id: str, *, now: dt.datetime | None = None
    ) -> CheckoutResult:
        """Release the held stock (idempotent); a request never selected is dropped.

        Raises
        ------
        InputError
            Unknown request, or a confirmed checkout.
        """
        with self._lock:
            t = None if now is None else require_aware(now).timestamp()
            state = None
            if self.store is not None:
                try:
                    state = self.store.checkout_state(request_id, now=t)
                    if state is not None:
                        state = self.store.cancel_checkout(request_id, now=t)
                except _STORE_ERRORS as exc:
                    return CheckoutResult(
                        request_id, None, "unavailable", message=str(exc)
                    )
            if state is None:
                if self._quotes.pop(request_id, None) is None:
                    raise InputError(
                        "unknown request id", field="request_id", value=request_id
                    )
                return CheckoutResult(request_id, None, "cancelled")
            nodes = self._nodes_of(request_id, state.option_id)
            self._quotes.pop(request_id, None)
            return _result(state, nodes)

    def _no_checkout(self, request_id: str) -> None:
        if request_id in self._quotes:
            raise InputError(
                "no option selected for this request yet",
                field="request_id",
                value=request_id,
            )
        raise InputError("unknown request id", field="request_id", value=request_id)

    def _nodes_of(self, request_id: str, option_id: str) -> tuple[str, ...]:
        quote = self._quotes.get(request_id)
        if quote is None:
            return ()
        for opt in quote.answer.options:
            if opt.option_id == option_id:
                return opt.nodes
        return ()


def _same_plan(a: tuple[_Ship, ...], b: tuple[_Ship, ...]) -> bool:
    return [(s.node, s.service, s.delivery, s.lines) for s in a] == [
        (s.node, s.service, s.delivery, s.lines) for s in b
    ]


def _result(state: CheckoutState, nodes: tuple[str, ...]) -> CheckoutResult:
    expires = (
        None
        if state.expires_at is None
        else dt.datetime.fromtimestamp(state.expires_at, dt.UTC)
    )
    message = ""
    if state.status == "rejected":
        message = "stock was taken since the options were made: ask for options again"
    return CheckoutResult(
        state.request_id,
        state.option_id,
        state.status,
        expires,
        nodes,
        message,
        state.shortfall,
    )
