"""Day allocation: a day's orders in micro-batches against the capacity and
stock left by earlier batches, committed batch by batch, resumable.

The design (stages, bid prices, rerouting, resume, hindsight) is described in
``docs/allocation.md``; each part is its own module in this package.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.events import CapacityEvent
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.allocation_rows import ALLOCATION_FIELDS
from tierflow.data.errors import BatchError, StoreRestored, TierflowError
from tierflow.data.limits import MAX_AMOUNT, MAX_UNITS, require_array
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import TIERS, AllocationStatus
from tierflow.formulations.batch_compiler import SPLIT_ROOM, SPLIT_STOCK
from tierflow.formulations.fulfillment import CompiledBatch
from tierflow.formulations.hindsight_relaxation import DayInputs
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.allocation_rows import (
    AFTER_EVENT,
    NO_ROOM_REASON,
    SPLIT_CHEAPER_REASON,
    SPLIT_FOR_ROOM_REASON,
    SPLIT_REASON,
    STOCK_TAKEN_REASON,
    UNFILLABLE_REASON,
    BatchRows,
    lane_congested,
)
from tierflow.orchestration.allocation.batch_bid_prices import (
    BatchBidPrices,
    BidPricePublisher,
)
from tierflow.orchestration.allocation.batch_compiler import (
    BatchCompiler,
    subset_batch,
)
from tierflow.orchestration.allocation.batch_plan import BatchPlan, batch_windows
from tierflow.orchestration.allocation.batch_solver import (
    BatchSolution,
    BatchSolver,
)
from tierflow.orchestration.allocation.hindsight import PLAN_SHARE, hindsight_proof
from tierflow.orchestration.allocation.ledger import (
    CapacityLedger,
    EventHits,
    HeldLine,
    Placement,
)
from tierflow.orchestration.allocation.outcome import AllocationOutcome, BatchStat
from tierflow.orchestration.allocation.repricing import reprice_allocation
from tierflow.orchestration.allocation.resume import restore
from tierflow.orchestration.allocation.settings import NEAREST, AllocationSettings
from tierflow.solver.linear_program import BoundBudget, ProvenBound
from tierflow.solver.partial_assignment import ItemResources, PartialAssignment
from tierflow.solver.result import SolveResult, Status, subset_result

__all__ = [
    "ALLOCATION_FIELDS",
    "NEAREST",
    "AllocationOutcome",
    "AllocationSettings",
    "AllocationSink",
    "BatchStat",
    "DayAllocator",
    "MemorySink",
    "batch_windows",
]


#: The rows of an order a later batch decides again replace (its
#: unfillable lines keep theirs): a split order pulled back is solved again
#: with its waiting lines.
_SUPERSEDED = (AllocationStatus.ALLOCATED, AllocationStatus.DEFERRED)


class AllocationSink(Protocol):
    """Where committed batches go (the state store in production)."""

    def committed_rows(self) -> pd.DataFrame:
        """Rows of every committed batch (columns :data:`ALLOCATION_FIELDS`)."""
        ...

    def committed_stats(self) -> Sequence[BatchStat]:
        """Figures of committed batches, as :meth:`write_batch` was given them
        (a later one of the same batch wins; a batch may be missing)."""
        ...

    def write_batch(
        self,
        batch: int,
        rows: pd.DataFrame,
        supersede: Sequence[str],
        stat: BatchStat | None = None,
        decided_at: np.datetime64 | None = None,
    ) -> None:
        """Commit one batch atomically; rows of ``supersede`` orders are
        replaced (allocated and waiting; unfillable kept); ``stat`` (the batch's figures) is kept for a resumed run.
        ``decided_at``: the batch's time (None in hindsight), what the work
        it moves in the live map is dated (a replayed day's, not the wall
        clock's)."""
        ...


class MemorySink:
    """An in-memory sink (tests, benchmarks, hindsight runs)."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []
        self.stats: list[BatchStat] = []

    def committed_rows(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=list(ALLOCATION_FIELDS))
        return pd.concat(self.frames, ignore_index=True)

    def committed_stats(self) -> Sequence[BatchStat]:
        return self.stats

    def write_batch(
        self,
        batch: int,
        rows: pd.DataFrame,
        supersede: Sequence[str],
        stat: BatchStat | None = None,
        decided_at: np.datetime64 | None = None,
    ) -> None:
        if stat is not None:
            self.stats.append(stat)
        if supersede:
            drop = set(supersede)
            self.frames = [
                f[~(f["order_id"].isin(drop) & f["status"].isin(_SUPERSEDED))]
                for f in self.frames
            ]
        self.frames.append(rows)


#: The status of a resumed batch whose figures were not kept.
UNRECORDED = "unrecorded"


@dataclass(frozen=True, slots=True, eq=False)
class _Unplaced:
    """Whole orders a batch left waiting, with what waiting costs each, and
    what was left for each after the solve's placements: whether a node had
    the room and stock for the whole order (the optimizer chose to wait: its
    lines, if they ship, ship for cost), and whether no eligible node held
    every line (the batch's other orders took the stock: a split for stock,
    not for room)."""

    orders: NDArray[np.intp]
    defer_cost: NDArray[np.float64]
    fits_whole: NDArray[np.bool_]
    stock_short: NDArray[np.bool_]


def _left_for(
    joint: CompiledBatch, assignment: NDArray[np.int64], held: NDArray[np.intp]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per held item, after the solve's placements: whether an eligible node
    has the room and the stock left for it, and whether none holds its
    lines' stock (judged against what is left now, not this morning)."""
    p = joint.problem
    left = PartialAssignment.of(p, assignment)
    stock = ItemResources.of(p)
    fits = np.array([left.options(p, stock, int(i)).any() for i in held], dtype=bool)
    if stock is None or left.stock_left is None:
        return fits, np.zeros(held.size, dtype=bool)
    stock_left = left.stock_left
    short = np.array(
        [
            not (p.eligible[i] & stock.ok_for_item(int(i), stock_left)).any()
            for i in held
        ],
        dtype=bool,
    )
    return fits, short


def _online_release(
    orders: Orders, settings: AllocationSettings
) -> NDArray[np.datetime64]:
    """Per order, when its batch would close if the day ran in batches: a
    hindsight run prices every order at that release, as the batches do, so
    it differs from them in what it knows, not in when orders reach a node."""
    online = dataclasses.replace(settings, hindsight=False)
    return BatchPlan.of(orders, online).close_times(orders.n_orders)


def _batch_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame(columns=list(ALLOCATION_FIELDS))


class DayAllocator:
    """Allocates one input of orders, batch by batch (``docs/allocation.md``).

    Parameters
    ----------
    network, orders
        The network and the validated orders (with network indices).
    settings, policy
        How to allocate, and the tier policy shared with checkout.
    predicted_spend
        CLTV per order (0 for unknown customers).
    events
        Capacity events, applied at batch boundaries by timestamp. A hindsight
        run does not apply them (it plans the day as known in the morning),
        but its bound treats their nodes as ones whose room may vanish.
    capacity
        Initial nominal capacity per node (default ``network.capacity``).
    stock
        Initial stock per (node, SKU) (default ``network.inventory``).
    sink
        Where batches are committed (default in memory).
    on_batch
        Called after each committed batch with ``(batch, n_batches)``.
    publish_bid_prices
        Called with every new set of bid prices and its time, e.g. to store
        them for the checkout router (:mod:`tierflow.orchestration.checkout.router`).
    forecast
        The rest-of-day demand forecast learned from past days
        (:class:`~tierflow.capacity.demand_forecast.DemandForecast`); ``None``:
        from today's arrivals only. Nothing reads orders after the batch
        being decided.
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        *,
        settings: AllocationSettings | None = None,
        policy: TierPolicy | None = None,
        predicted_spend: NDArray[np.float64] | None = None,
        events: Sequence[CapacityEvent] = (),
        capacity: NDArray[np.float64] | None = None,
        stock: NDArray[np.int64] | None = None,
        sink: AllocationSink | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        publish_bid_prices: BidPricePublisher | None = None,
        forecast: DemandForecast | None = None,
    ) -> None:
        if not isinstance(orders, Orders):
            # a raw table has none of the checked arrays the allocator reads
            raise TypeError(
                "DayAllocator takes the Orders that read_orders returns, "
                f"got {type(orders).__module__}.{type(orders).__qualname__}"
            )
        self.network = network
        self.orders = orders
        self.settings = s = settings or AllocationSettings()
        self.policy = policy or TierPolicy()
        # what the caller hands in, checked: a negative or NaN capacity
        # deferred every order, a NaN stock made every line unfillable
        self.spend = (
            np.zeros(orders.n_orders)
            if predicted_spend is None
            else require_array(
                predicted_spend, "predicted_spend", (orders.n_orders,), 0, MAX_AMOUNT
            )
        )
        n_nodes = network.n_nodes
        if capacity is not None:
            capacity = require_array(capacity, "capacity", (n_nodes,), 0, MAX_UNITS)
        if stock is not None:
            stock = require_array(
                stock, "stock", network.inventory.shape, 0, MAX_UNITS, integer=True
            ).astype(np.int64)
        self.sink = sink or MemorySink()
        self.on_batch = on_batch
        self.publish_bid_prices = publish_bid_prices
        self.ledger = CapacityLedger(
            network,
            orders,
            events=events,
            capacity=capacity,
            stock=stock,
            release_minutes=s.release_minutes,
        )
        self.compiler = BatchCompiler(
            network,
            orders,
            self.policy,
            self.spend,
            self.ledger.initial_stock,
            platinum_at_checkout=s.platinum_at_checkout,
            online_release=_online_release(orders, s) if s.hindsight else None,
        )
        # a hindsight run's limit is the whole step's: the plan has a share,
        # the bound the rest (:meth:`_hindsight_bound`)
        plan_settings = (
            dataclasses.replace(s, time_limit_s=s.time_limit_s * PLAN_SHARE)
            if s.hindsight
            else s
        )
        self.solver = BatchSolver(network, orders, plan_settings)
        self.bids = BatchBidPrices(
            network, orders, self.policy, self.spend, self.ledger, s,
            publish_bid_prices, forecast=forecast,
        )  # fmt: skip
        self.rows = BatchRows(network, orders)
        self.stats: list[BatchStat] = []
        self.rerouted = 0
        self.pulled_back: list[int] = []
        self.reroute_delta = 0.0

    @property
    def monitor(self) -> CapacityMonitor:
        """The capacity monitor the run's events go through."""
        return self.ledger.monitor

    def effective_capacity(self) -> NDArray[np.float64]:
        """Today's capacity per node from the monitor (staffing, outage, backlog)."""
        return self.ledger.effective_capacity()

    def remaining(self) -> NDArray[np.float64]:
        """Effective capacity not yet taken by the run's batches."""
        return self.ledger.remaining()

    # ------------------------------------------------------------------ run
    def run(self) -> AllocationOutcome:
        """Allocate every order; commit batch by batch; return the outcome."""
        start = time.perf_counter()
        plan = self.plan = BatchPlan.of(
            self.orders, self.settings, [e.ts for e in self.ledger.events]
        )
        first = self._resume(plan)
        for b in range(first, len(plan)):
            try:
                self._allocate(plan, b, first)
            except StoreRestored:  # the store's, not the batch's: said as is
                raise
            except TierflowError as exc:  # which batch, of a day stopped in it
                where = plan.describe(b, self.orders.created_at)
                raise BatchError(f"{where}: {exc}") from exc
        if not plan.hindsight:  # every event is the day's final state's
            self.ledger.apply_events(np.inf)
        bound = self._hindsight_bound(start) if self.settings.hindsight else None
        return self._outcome(start, bound)

    def _resume(self, plan: BatchPlan) -> int:
        """Rebuild capacity, stock and placements from committed rows, and the
        run's figures from the committed batches' own."""
        first = restore(self.sink.committed_rows(), plan, self.ledger, self.network)
        for b in range(first):
            self.bids.mark_seen(plan.windows[b])
        self._restore_stats(plan, first)
        # the prices the last committed batch used: those of the last batch
        # that refreshed them, unless a batch after it left no figures (it
        # may have refreshed them): then they are computed again
        for stat in reversed(self.stats[:first]):
            if stat.bid_prices:
                self.bids.restore(stat.bid_prices, stat.bid_total)
            if stat.bid_prices or stat.status == UNRECORDED:
                break
        return first

    def _restore_stats(self, plan: BatchPlan, first: int) -> None:
        """The figures of batches ``0 .. first - 1`` (committed by an earlier
        process); a batch whose figures were not kept counts its orders only."""
        kept = {s.batch: s for s in self.sink.committed_stats()}
        position = {oid: i for i, oid in enumerate(self.orders.order_ids)}
        for b in range(first):
            stat = kept.get(b)
            if stat is None:
                stat = BatchStat(
                    b, int(plan.windows[b].size), 0.0, UNRECORDED, False, 0.0
                )
            self.stats.append(stat)
            self.rerouted += stat.rerouted
            self.reroute_delta += stat.reroute_cost_delta
            self.pulled_back.extend(
                position[o] for o in stat.pulled_back if o in position
            )

    def _allocate(self, plan: BatchPlan, b: int, first: int) -> None:
        """Batch ``b``: events, pull-backs, bid prices, solve, commit."""
        window = plan.windows[b]
        hit = EventHits({}, {})
        if not plan.hindsight:
            hit = self.ledger.advance(plan.seconds(b))
        pulled = self.ledger.pull_back(hit.nodes, hit.lanes) if hit else {}
        if b >= plan.n_order_batches and not pulled:
            # a batch after the last order's that its events pulled nothing
            # back for: nothing to decide, nothing committed
            if self.on_batch is not None:
                self.on_batch(b + 1, len(plan))
            return
        self.pulled_back.extend(pulled)
        idx = window
        if pulled:
            idx = np.concatenate([window, np.array(sorted(pulled), dtype=np.intp)])
        refreshed = self.bids.due(b, first, bool(hit), plan.times[b], window)
        if refreshed:
            self.bids.refresh(plan.times[b], window, batch=b)
        self.bids.price_stock(plan.times[b], window)
        self.bids.draw_room(plan.times[b], window, b)
        rerouted = self.rerouted
        after = self._after(pulled, hit)
        lines = self._lines_after(pulled, hit)
        now = plan.decided_at(b)
        rows, delta, stat = self._run_batch(b, idx, now, pulled, after, lines)
        if refreshed:
            stat.bid_prices = tuple(map(float, self.bids.prices))
            stat.bid_total = self.bids.total_at_refresh
        self.reroute_delta += delta
        self.bids.mark_seen(window)
        supersede = [self.orders.order_ids[i] for i in pulled]
        stat.rerouted = self.rerouted - rerouted
        stat.pulled_back = tuple(supersede)
        stat.reroute_cost_delta = delta
        self.sink.write_batch(b, rows, supersede=supersede, stat=stat, decided_at=now)
        self.stats.append(stat)
        self.ledger.record(plan.seconds(b))
        if self.on_batch is not None:
            self.on_batch(b + 1, len(plan))

    def _run_batch(
        self,
        batch: int,
        idx: NDArray[np.intp],
        now: np.datetime64 | None,
        pulled: dict[int, Placement],
        after: Mapping[int, str],
        line_after: Mapping[tuple[str, str], str],
    ) -> tuple[pd.DataFrame, float, BatchStat]:
        """Solve one batch (both stages); update capacity and stock; rows
        (a pulled-back order's say ``after``'s event, a split line hit
        itself ``line_after``'s)."""
        stages = self.compiler.compile(idx, **self._left(batch, now, pulled))
        frames = []
        unfillable = stages.unfillable
        if pulled:  # their unfillable lines have their rows, of their first batch
            owner = self.orders.line_order[unfillable]
            unfillable = unfillable[~np.isin(owner, list(pulled))]
        if unfillable.size:
            frames.append(self.rows.unfillable(unfillable, batch, UNFILLABLE_REASON))
        stuck = stages.stuck()
        if stuck is not None:
            frames.append(
                self.rows.waiting(stuck, batch, STOCK_TAKEN_REASON, stages.left)
            )
        joint = stages.solvable()
        solution = None
        delta = 0.0
        if joint is not None:
            solution = self.solver.solve(joint)
            joint, result, unplaced = self._hold_back_unplaced(joint, solution.result)
            reasons = self.rows.reasons(
                joint, result.assignment, pulled, stages.on_time.tolist(), after
            )
            reasons |= self.rows.mixed(joint, result, *self._down())
            frames.append(self.rows.solved(joint, result, batch, reasons, stages.left))
            costs = frames[-1]["cost"].to_numpy(float)
            delta = self._take(joint, result.assignment, batch, now, pulled, costs)
            if unplaced is not None:
                frames.extend(self._split_for_room(unplaced, batch, now, pulled))
        rows = _batch_rows(frames)
        if pulled:
            event = self._events(rows, pulled, after, line_after)
            delta += self._split_moves(rows, batch, pulled, event)
            self._note_waiting(rows, pulled, event)
        return rows, delta, self._stat(batch, idx.size, solution)

    def _after(self, pulled: dict[int, Placement], hit: EventHits) -> dict[int, str]:
        """Per pulled-back order, the event its row names: a capacity event,
        or its lane's rise (``lane ground congested x2.5``) where its node's
        room did not fall before its release."""
        after = {}
        for order, p in pulled.items():
            if p.release_ts > hit.nodes.get(p.node, np.inf):
                after[order] = AFTER_EVENT
                continue
            factor = float(self.monitor.congestion[p.node, p.service])
            after[order] = lane_congested(SERVICES[p.service], factor)
        return after

    def _lines_after(
        self, pulled: dict[int, Placement], hit: EventHits
    ) -> dict[tuple[str, str], str]:
        """Per line (order id, SKU) of a pulled-back split order that an
        event hit itself before its release, that event, as :meth:`_after`
        words it: each line names its own node's fall or its own lane's
        rise (the order's names the line hit first; a line no event hit
        moves with it and names that)."""
        o, sku_ids = self.orders, self.network.sku_ids
        out = {}
        for order, p in pulled.items():
            oid = str(o.order_ids[order])
            for ln in p.lines:
                sku = str(sku_ids[int(o.line_sku[ln.line])])
                if p.release_ts > hit.nodes.get(ln.node, np.inf):
                    out[oid, sku] = AFTER_EVENT
                    continue
                base = self.ledger.line_workload(ln.line)
                if p.release_ts > hit.hit_at(ln.node, ln.service, ln.work, base):
                    factor = float(self.monitor.congestion[ln.node, ln.service])
                    out[oid, sku] = lane_congested(SERVICES[ln.service], factor)
        return out

    def _events(
        self,
        rows: pd.DataFrame,
        pulled: dict[int, Placement],
        after: Mapping[int, str],
        line_after: Mapping[tuple[str, str], str],
    ) -> pd.Series:
        """Per row of ``rows`` (the batch's) of a pulled-back order, the
        event it names: ``line_after``'s (:meth:`_lines_after`) for a line
        an event hit itself, else its order's (``after``)."""
        ids = self.orders.order_ids
        event = {str(ids[order]): after[order] for order in pulled}
        oids = rows["order_id"].astype(str)
        keys = zip(oids, rows["sku"].astype(str), strict=True)
        named = [line_after.get(key, event.get(key[0])) for key in keys]
        return pd.Series(named, index=rows.index, dtype=object)

    def _shipped_from(
        self, rows: pd.DataFrame, pulled: dict[int, Placement]
    ) -> pd.Series:
        """Per row of ``rows`` (the batch's), the node its line shipped from
        before its order was pulled back (NaN: not pulled back, or a line of
        a split order that was waiting): a whole order's every line its
        node, a split order's each its own."""
        o, nodes = self.orders, self.network.node_ids
        sku_ids = self.network.sku_ids
        origin: dict[tuple[str, str], str] = {}
        whole: dict[str, str] = {}
        for order, p in pulled.items():
            oid = str(o.order_ids[order])
            if not p.lines:
                whole[oid] = str(nodes[p.node])
            for ln in p.lines:
                sku = str(sku_ids[int(o.line_sku[ln.line])])
                origin[oid, sku] = str(nodes[ln.node])
        keys = zip(rows["order_id"].astype(str), rows["sku"].astype(str), strict=True)
        shipped = [whole.get(oid, origin.get((oid, sku))) for oid, sku in keys]
        return pd.Series(shipped, index=rows.index, dtype=object)

    def _note_waiting(
        self,
        rows: pd.DataFrame,
        pulled: dict[int, Placement],
        event: pd.Series,
    ) -> None:
        """The waiting lines of pulled-back orders say, after why they wait,
        where they were pulled back from and by what (``event``, per row:
        :meth:`_events`): else their row reads as an order that never had
        a node. ``rows`` (the batch's) are updated in place."""
        waiting = rows["status"] == AllocationStatus.DEFERRED
        from_node = self._shipped_from(rows, pulled)
        hit = waiting & from_node.notna()
        if not hit.any():
            return
        note = "pulled back from " + from_node[hit] + " " + event[hit]
        why = rows.loc[hit, "reason"].astype(str)
        rows.loc[hit, "reason"] = np.where(why == "", note, why + "; " + note)

    def _split_moves(
        self,
        rows: pd.DataFrame,
        batch: int,
        pulled: dict[int, Placement],
        event: pd.Series,
    ) -> float:
        """Pulled-back orders that now ship as separate lines, a line at
        another node than before: moved as a whole order moving is (counted,
        its cost change returned: its rows' cost, a line that waits at its
        waiting cost, less what its lines that shipped cost), and those
        lines' reasons say so after their split reason, with the event
        (``event``, per row: :meth:`_events`). ``rows`` (the batch's) are
        updated in place."""
        delta = 0.0
        ids = self.orders.order_ids
        from_node = self._shipped_from(rows, pulled)
        for order, old in pulled.items():
            again = self.ledger.placed.get(order)
            if again is not None and again.batch == batch:
                continue  # placed whole: counted by _take
            mine = rows["order_id"] == ids[order]
            moved = (
                mine
                & (rows["status"] == AllocationStatus.ALLOCATED)
                & from_node.notna()
                & (rows["node_id"] != from_node)
            )
            if not moved.any():
                continue
            self.rerouted += 1
            shipped = mine & from_node.notna()
            delta += float(rows.loc[shipped, "cost"].sum()) - old.cost
            why = rows.loc[moved, "reason"].astype(str)
            note = "rerouted from " + from_node[moved] + " " + event[moved]
            rows.loc[moved, "reason"] = np.where(why == "", note, why + "; " + note)
        return delta

    def _hold_back_unplaced(
        self, joint: CompiledBatch, result: SolveResult
    ) -> tuple[CompiledBatch, SolveResult, _Unplaced | None]:
        """Whole orders the solve left waiting are held back for a split stage:
        their lines may still fit where no node has the room for all of them."""
        a = result.assignment
        held = np.flatnonzero((a < 0) & ~joint.split)
        if not self.settings.split_for_room or held.size == 0:
            return joint, result, None
        keep = np.flatnonzero(~np.isin(np.arange(a.size), held))
        assert joint.problem.defer_cost is not None
        fits, short = _left_for(joint, a, held)
        unplaced = _Unplaced(
            joint.item_order[held], joint.problem.defer_cost[held], fits, short
        )
        return subset_batch(joint, keep), subset_result(result, keep), unplaced

    def _split_for_room(
        self,
        unplaced: _Unplaced,
        batch: int,
        now: np.datetime64 | None,
        pulled: dict[int, Placement],
    ) -> list[pd.DataFrame]:
        """The held-back orders' lines, solved against what is left; an order
        whose stock the batch took is split for stock (its reasons say so)."""
        lines, left = self.compiler.split_for_room(
            unplaced.orders,
            unplaced.defer_cost,
            stock_short=unplaced.stock_short,
            **self._left(batch, now, pulled),
        )
        has = np.asarray(lines.problem.eligible.any(axis=1), dtype=bool)
        frames = []
        for kind, why in (
            (SPLIT_STOCK, STOCK_TAKEN_REASON),
            (SPLIT_ROOM, NO_ROOM_REASON),
        ):
            stuck = ~has & (lines.split_kind == kind)
            if stuck.any():
                part = subset_batch(lines, np.flatnonzero(stuck))
                frames.append(self.rows.waiting(part, batch, why, left))
        if has.any():
            part = subset_batch(lines, np.flatnonzero(has))
            result = self.solver.solve(part).result
            placed = np.flatnonzero(result.assignment >= 0).tolist()
            for_cost = set(unplaced.orders[unplaced.fits_whole].tolist())
            # lines that ship per order (an unfillable line is no part of it)
            shipping = np.bincount(
                self.orders.line_order,
                weights=self.compiler.ships,
                minlength=self.orders.n_orders,
            )
            single = shipping == 1
            reasons = {}
            for k in placed:
                order = int(part.item_order[k])
                if single[order]:  # a one-line order is no split
                    continue
                if part.split_kind[k] == SPLIT_STOCK:
                    reasons[k] = SPLIT_REASON
                elif order in for_cost:
                    reasons[k] = SPLIT_CHEAPER_REASON
                else:
                    reasons[k] = SPLIT_FOR_ROOM_REASON
            reasons |= self.rows.mixed(part, result, *self._down())
            frames.append(self.rows.solved(part, result, batch, reasons, left))
            costs = frames[-1]["cost"].to_numpy(float)
            self._take(part, result.assignment, batch, now, pulled, costs)
        return frames

    def _take(
        self,
        joint: CompiledBatch,
        assignment: NDArray[np.int64],
        batch: int,
        now: np.datetime64 | None,
        pulled: dict[int, Placement],
        costs: NDArray[np.float64],
    ) -> float:
        """Take a solved batch from the ledger, each item by the capacity the
        batch weighed it at (its lane's congestion counted, as ``verify``
        did) and its lane (what a rise of its congestion pulls back); the
        cost change of reroutes. An item costs what its rows say (``costs``,
        per line of ``joint``, rounded as the rows are): what a resumed run
        holds it at, taken from the rows (``restore``), so a later reroute's
        cost change is the same in both."""
        o = self.orders
        delta = 0.0
        service = joint.service()
        for pos, item in enumerate(joint.item_order.tolist()):
            node = int(assignment[pos])
            if node < 0:
                continue
            work = float(joint.problem.weight[pos, node])
            mine = costs[joint.item_lines[pos] : joint.item_lines[pos + 1]]
            cost = math.fsum(mine.tolist())
            decided = now if now is not None else o.created_at[item]
            lane = int(service[pos, node])
            if joint.split[pos]:
                line = int(joint.lines[joint.item_lines[pos]])
                held = HeldLine(line, node, lane, cost, work)
                self.ledger.hold_line(item, held, batch, decided)
                continue
            self.ledger.place(item, node, cost, batch, decided, work, lane)
            old = pulled.get(item)
            if old is not None and old.left_for(node) is not None:
                self.rerouted += 1
                delta += cost - old.cost
        return delta

    def _stat(
        self, batch: int, n_items: int, solution: BatchSolution | None
    ) -> BatchStat:
        if solution is None:
            return BatchStat(
                batch, n_items, 0.0, Status.OPTIMAL.value, False, self.bids.max_price()
            )
        return BatchStat(
            batch,
            n_items,
            solution.solve_s,
            solution.result.status.value,
            solution.fallback,
            self.bids.max_price(),
        )

    def _down(
        self,
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
        """The nodes a deferral names as down (closed by an outage, of a
        nominal capacity of 0, with a staffing of 0), for
        :meth:`BatchRows.mixed`: the checkout names a node of nominal 0 and
        one without staff so too (they read "no room left today")."""
        monitor = self.monitor
        return (
            monitor.outage,
            np.asarray(monitor.nominal <= 0),
            np.asarray(monitor.staffing <= 0),
        )

    def _left(
        self, batch: int, now: np.datetime64 | None, pulled: dict[int, Placement]
    ) -> dict[str, Any]:
        """What a batch is compiled against: the capacity and stock left, the
        current bid prices, its decision time, the pulled-back orders and the
        lanes' congestion (an item takes its workload times its lane's)."""
        return {
            "capacity": self.ledger.remaining(),
            "stock": self.ledger.stock,
            "now": now,
            "rerouted": pulled,
            "bid_price": self.bids.for_batch(),
            "stock_price": self.bids.stock_prices,
            "name": f"batch {batch}",
            "open_nodes": self.monitor.shipping_nodes(),
            "room_price": self.bids.room_prices(now),
            "congestion": self.monitor.congestion,
        }

    def _hindsight_bound(self, start: float) -> ProvenBound:
        """The day's bound (:func:`.hindsight.hindsight_proof`), within what
        the run's time limit leaves since ``start``; a deterministic run's on
        the budget of the limit's share (``1 - PLAN_SHARE``), not the clock."""
        every = np.arange(self.orders.n_orders, dtype=np.intp)
        day = DayInputs(
            network=self.network,
            orders=self.orders,
            policy=self.policy,
            spend=self.spend,
            capacity=self.ledger.effective_capacity(),
            stock=self.ledger.initial_stock,
            release=self.compiler.release_times(every, None, ()),
            capacity_fixed=self._capacity_fixed(),
        )
        if self.settings.deterministic:
            seconds = self.settings.time_limit_s * (1 - PLAN_SHARE)
            return hindsight_proof(day, budget=BoundBudget.for_seconds(seconds))
        left = self.settings.time_limit_s - (time.perf_counter() - start)
        # the bound had the plan's whole limit again, and its LP none: 43 s
        # of a 10 s --hindsight-time-limit on a 1,000-order day (QA)
        return hindsight_proof(day, mip_time_s=left, time_limit_s=left)

    def _shipping_nodes(self, rows: pd.DataFrame) -> dict[int, NDArray[np.bool_]]:
        """Per batch of ``rows``, the nodes that could ship when it was
        solved (a hindsight run applies no event)."""
        plan = self.plan
        batches = sorted({int(b) for b in rows["batch"]}) if len(rows) else []
        times = [-np.inf if plan.hindsight else plan.seconds(b) for b in batches]
        return dict(zip(batches, self.ledger.shipping_nodes_at(times), strict=True))

    def _events_after_last_batch(self) -> int:
        """The run's events later than the close of its last batch of orders."""
        plan = self.plan
        if not plan.n_order_batches:
            return 0
        last = plan.seconds(plan.n_order_batches - 1)
        return sum(e.ts > last for e in self.ledger.events)

    def _capacity_fixed(self) -> NDArray[np.bool_]:
        """Nodes no capacity event of the run touches."""
        fixed = np.ones(self.network.n_nodes, dtype=bool)
        fixed[[e.node for e in self.ledger.events]] = False
        return fixed

    def _outcome(self, start: float, bound: ProvenBound | None) -> AllocationOutcome:
        o = self.orders
        tiers = {
            o.order_ids[i]: TIERS[int(t)]
            for i, t in enumerate(self.policy.tier_index(o.tier))
        }
        rows = self.sink.committed_rows()
        repriced = reprice_allocation(
            self.network,
            o,
            rows,
            policy=self.policy,
            predicted_spend=self.spend,
            inventory=self.ledger.initial_stock,
            shipping_nodes=self._shipping_nodes(rows),
        )
        return AllocationOutcome(
            rows=rows,
            stats=self.stats,
            settings=self.settings,
            runtime_s=time.perf_counter() - start,
            rerouted=self.rerouted,
            pulled_back=tuple(o.order_ids[i] for i in self.pulled_back),
            reroute_cost_delta=self.reroute_delta,
            lp_bound=None if bound is None else bound.value,
            lp_bound_stop=None if bound is None else bound.stops(),
            lp_bound_budget=None
            if bound is None or bound.budget is None
            else bound.budget.as_dict(),
            utilization=self.ledger.utilization(),
            events_applied=self.ledger.applied_events,
            events_after_last_batch=self._events_after_last_batch(),
            node_ids=self.network.node_ids,
            utilization_trace=self.ledger.trace,
            n_orders=o.n_orders,
            tiers=tiers,
            # no bid prices (none asked for, or a hindsight run, which sees
            # the day), no forecast used (it said "intraday")
            forecast=self.bids.forecast.source
            if self.settings.batch_bid_prices
            else "none",
            repriced=repriced,
        )
