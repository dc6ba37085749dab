"""Batch order allocation: micro-batches with carried capacity, bid prices,
CLTV priority, splitting, rerouting, and crash-safe resumable output.

A day of orders is cut into micro-batches (by time window or size). Each
batch is compiled (:mod:`tierflow.formulations.fulfillment`) against the capacity and
stock *left* by earlier batches and solved under a time limit by the chosen
engine (greedy fallback inside :func:`tierflow.solver.solve`); its solution is
re-checked by :func:`tierflow.solver.verify` and written to the state store in one
transaction before the next batch starts.

* **Two stages.** Whole orders first (one shipment each). An order no
  single node can fill is split: its lines become items of a second problem
  (extra-shipment cost per line).
* **Bid prices.** Every ``bid_refresh`` batches, the capacity duals of an LP
  over the rest of the day's expected demand (:mod:`tierflow.orchestration.bid_prices`) are
  added to node costs, so a batch does not burn capacity later orders need.
* **Rerouting.** Capacity events (:mod:`tierflow.capacity.events`) are applied at
  batch boundaries. An outage or a capacity drop pulls back every allocation
  at that node not yet *released* to the floor (released ``release_minutes``
  after its batch) and re-solves it with the next batch.
* **Resume.** Batches are numbered deterministically from the inputs; a
  re-run with the same arguments skips committed batches after rebuilding
  capacity and stock from the stored rows, so no order is allocated twice or
  lost.
* **Hindsight.** The whole day as one problem (``hindsight=True``): the LP
  bound and the best solution within the time limit, the yardstick of the
  allocation benchmark.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.events import CapacityEvent
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.allocation_rows import ALLOCATION_FIELDS, COST_PARTS
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.fulfillment import (
    CompiledBatch,
    compile_lines,
    compile_orders,
    concat_batches,
    lines_of,
    price_orders,
    stock_ok,
)
from tierflow.formulations.problem import AssignmentProblem
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.bid_prices import bid_prices, sample_demand
from tierflow.solver.lp import lp_relaxation
from tierflow.solver.params import SolveParams
from tierflow.solver.partition import solve_partitioned
from tierflow.solver.registry import get_engine
from tierflow.solver.result import SolveResult, Status
from tierflow.solver.solve import solve
from tierflow.solver.verify import verify

#: The baseline policy: each order, in arrival order, to the nearest node that
#: has its stock and room (what order-management systems do by default).
NEAREST = "nearest"


@dataclass(frozen=True, slots=True)
class AllocationSettings:
    """How a day is allocated (the ``tierflow allocate`` options).

    Attributes
    ----------
    engine
        Registry name of the engine solving each batch.
    time_limit_s
        Limit per batch solve (per stage).
    batch_minutes, batch_size
        Micro-batches by time window, or by number of orders when
        ``batch_size`` is given.
    use_bid_prices, bid_refresh
        Add LP capacity duals to node costs, refreshed every ``bid_refresh``
        batches (and after every capacity event).
    hindsight
        Solve the whole day as one problem.
    relative_gap
        Optimality tolerance passed to the engine.
    release_minutes
        An allocation is released to its node this long after its batch;
        until then a capacity event may reroute it.
    platinum_at_checkout
        Platinum orders had their node and stock reserved at checkout
        (:mod:`tierflow.orchestration.checkout.router`), so their cutoff is judged at the order's own
        time, not at the end of its batch window.
    expected_orders
        The day's expected order count for the bid-price forecast; ``None``:
        the number of orders in the input (a perfect volume forecast).
    backend, n_jobs
        ``none`` solves each batch whole; ``loky``/``threading``/``dask`` split
        it by region and solve the partitions in parallel
        (:mod:`tierflow.solver.partition`).
    """

    engine: str = "cpsat"
    time_limit_s: float = 2.0
    batch_minutes: float = 15.0
    batch_size: int | None = None
    use_bid_prices: bool = True
    bid_refresh: int = 4
    hindsight: bool = False
    relative_gap: float = 1e-4
    release_minutes: float = 60.0
    platinum_at_checkout: bool = True
    expected_orders: int | None = None
    seed: int = 0
    threads: int | None = None
    backend: str = "none"
    n_jobs: int = 2

    def params(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (part of the run identity)."""
        return dataclasses.asdict(self)


class AllocationSink(Protocol):
    """Where committed batches go (the state store in production)."""

    def committed_rows(self) -> pd.DataFrame:
        """Rows of every committed batch (columns :data:`ALLOCATION_FIELDS`)."""
        ...

    def write_batch(
        self, batch: int, rows: pd.DataFrame, supersede: Sequence[str]
    ) -> None:
        """Commit one batch atomically; rows of ``supersede`` orders are replaced."""
        ...


class MemorySink:
    """An in-memory sink (tests, benchmarks, hindsight runs)."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def committed_rows(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=list(ALLOCATION_FIELDS))
        return pd.concat(self.frames, ignore_index=True)

    def write_batch(
        self, batch: int, rows: pd.DataFrame, supersede: Sequence[str]
    ) -> None:
        if supersede:
            drop = set(supersede)
            self.frames = [
                f[~(f["order_id"].isin(drop) & (f["status"] == "allocated"))]
                for f in self.frames
            ]
        self.frames.append(rows)


@dataclass(slots=True)
class _Placed:
    """An order allocated whole, kept for rerouting."""

    node: int
    cost: float
    batch: int
    release_ts: float


@dataclass(slots=True)
class BatchStat:
    """Per-batch figures for the summary."""

    batch: int
    n_items: int
    solve_s: float
    status: str
    fallback: bool
    bid_price_max: float


@dataclass(slots=True)
class AllocationOutcome:
    """What a run did; :meth:`summary` is the ``summary.json`` contract."""

    rows: pd.DataFrame
    stats: list[BatchStat]
    settings: AllocationSettings
    runtime_s: float
    rerouted: int
    pulled_back: tuple[str, ...]
    reroute_cost_delta: float
    lp_bound: float | None
    utilization: NDArray[np.float64]
    node_ids: tuple[str, ...]
    utilization_trace: list[tuple[float, NDArray[np.float64]]] = field(
        default_factory=list
    )
    n_orders: int = 0
    tiers: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The run summary (see issue 6's ``summary.json`` fields)."""
        rows = self.rows
        by_order = rows.groupby("order_id", sort=False)
        status = by_order["status"].agg(lambda s: _order_status(set(s)))
        cost = pd.to_numeric(rows["cost"], errors="coerce").fillna(0.0)
        parts = (
            {
                k: float(pd.to_numeric(rows[k], errors="coerce").fillna(0.0).sum())
                for k in ("shipping", "handling", "penalty")
            }
            if {"shipping", "handling", "penalty"} <= set(rows.columns)
            else {
                "shipping": float("nan"),
                "handling": float("nan"),
                "penalty": float("nan"),
            }
        )
        nodes_per_order = (
            rows[rows["status"] == "allocated"].groupby("order_id")["node_id"].nunique()
        )
        on_time = _on_time(rows)
        tier_of = pd.Series(self.tiers)
        service_level: dict[str, float | None] = {}
        for tier in TIERS:
            ids = tier_of.index[tier_of == tier]
            if len(ids) == 0:
                service_level[tier] = None
                continue
            service_level[tier] = float(on_time.reindex(ids).fillna(False).mean())
        solve_times = [s.solve_s for s in self.stats]
        return {
            "n_orders": int(self.n_orders),
            "n_allocated": int((status == "allocated").sum()),
            "n_deferred": int((status == "deferred").sum()),
            "n_unfillable": int((status == "unfillable").sum()),
            "total_cost": float(cost.sum()),
            "shipping_cost": parts["shipping"],
            "handling_cost": parts["handling"],
            "penalty_cost": parts["penalty"],
            "split_orders": int((nodes_per_order > 1).sum()),
            "rerouted": int(self.rerouted),
            "pulled_back": len(self.pulled_back),
            "reroute_cost_delta": float(self.reroute_cost_delta),
            "platinum_on_time_rate": service_level.get("platinum"),
            "service_level_by_tier": service_level,
            "max_node_utilization": float(np.max(self.utilization, initial=0.0)),
            "runtime_s": float(self.runtime_s),
            "batch_solve_p95_s": float(np.percentile(solve_times, 95))
            if solve_times
            else 0.0,
            "n_batches": len(self.stats),
            "fallback_batches": int(sum(s.fallback for s in self.stats)),
            "engine": self.settings.engine,
            "bid_prices": self.settings.use_bid_prices and not self.settings.hindsight,
            "hindsight": self.settings.hindsight,
            "lp_bound": self.lp_bound,
        }


def _order_status(statuses: set[str]) -> str:
    if "unfillable" in statuses:
        return "unfillable"
    if "deferred" in statuses:
        return "deferred"
    return "allocated"


def _on_time(rows: pd.DataFrame) -> pd.Series:
    """Per order: every line allocated and delivered by its promised date."""
    ok = (rows["status"] == "allocated") & (
        rows["delivery_date"].astype(str) <= rows["promised_date"].astype(str)
    )
    return ok.groupby(rows["order_id"], sort=False).all()


def batch_windows(
    created_at: NDArray[np.datetime64],
    *,
    minutes: float,
    size: int | None,
) -> list[NDArray[np.intp]]:
    """Order indices of each micro-batch, in time order (deterministic)."""
    order = np.argsort(created_at, kind="stable")
    if order.size == 0:
        return []
    if size is not None:
        return [order[i : i + size] for i in range(0, order.size, size)]
    t = created_at[order].astype("datetime64[s]").astype(np.int64)
    width = max(int(minutes * 60), 1)
    window = (t - t[0]) // width
    cuts = np.flatnonzero(np.diff(window)) + 1
    return list(np.split(order, cuts))


class DayAllocator:
    """Allocates one input of orders (see the module docstring).

    Parameters
    ----------
    network, orders
        The network and the validated orders (with network indices).
    settings, policy
        How to allocate, and the tier policy shared with checkout.
    predicted_spend
        CLTV per order (0 for unknown customers).
    events
        Capacity events, applied at batch boundaries by timestamp.
    capacity
        Initial nominal capacity per node (default ``network.capacity``).
    sink
        Where batches are committed (default in memory).
    on_batch
        Called after each committed batch with ``(batch, n_batches)``.
    publish_bid_prices
        Called with every new set of bid prices and its time, e.g. to store
        them for the checkout router (:mod:`tierflow.orchestration.checkout.router`).
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
        publish_bid_prices: Callable[[NDArray[np.float64], np.datetime64], None]
        | None = None,
    ) -> None:
        self.network = network
        self.orders = orders
        self.settings = settings or AllocationSettings()
        self.policy = policy or TierPolicy()
        self.spend = (
            np.zeros(orders.n_orders)
            if predicted_spend is None
            else np.asarray(predicted_spend, dtype=np.float64)
        )
        self.events = sorted(events, key=lambda e: e.ts)
        self.monitor = CapacityMonitor(network)
        if capacity is not None:
            self.monitor.nominal = np.asarray(capacity, dtype=np.float64).copy()
        self.sink = sink or MemorySink()
        self.on_batch = on_batch
        self.publish_bid_prices = publish_bid_prices
        self.initial_stock = (
            (network.inventory if stock is None else stock).astype(np.int64).copy()
        )
        self.stock = (
            (network.inventory if stock is None else stock).astype(np.int64).copy()
        )
        self.used = np.zeros(network.n_nodes)
        self.placed: dict[int, _Placed] = {}
        self.bid = np.zeros(network.n_nodes)
        self.stats: list[BatchStat] = []
        self.rerouted = 0
        self.pulled_back: list[int] = []
        self.reroute_delta = 0.0
        self._next_event = 0
        self._seen = np.zeros(orders.n_orders, dtype=bool)
        self._rng = np.random.default_rng(self.settings.seed)
        self.trace: list[tuple[float, NDArray[np.float64]]] = []
        self.workload = orders.workload(network)
        _, codes = np.unique(np.asarray(network.node_regions), return_inverse=True)
        self._node_region = codes.astype(np.intp)

    # ------------------------------------------------------------ capacity
    def effective_capacity(self) -> NDArray[np.float64]:
        """Today's capacity per node from the monitor (staffing, outage, backlog)."""
        return np.asarray(np.maximum(self.monitor.room(), 0.0), dtype=np.float64)

    def remaining(self) -> NDArray[np.float64]:
        return np.asarray(np.maximum(self.effective_capacity() - self.used, 0.0))

    def _apply_events(self, until: float) -> dict[int, float]:
        """Apply events up to ``until``; nodes whose capacity fell, with when."""
        hit: dict[int, float] = {}
        while (
            self._next_event < len(self.events)
            and self.events[self._next_event].ts <= until
        ):
            ev = self.events[self._next_event]
            self._next_event += 1
            before = self.effective_capacity()[ev.node]
            self.monitor.ingest([ev])
            after = self.effective_capacity()[ev.node]
            if after < before - 1e-9:
                hit.setdefault(ev.node, ev.ts)
        return hit

    def _pull_back(self, hit: dict[int, float]) -> list[tuple[int, int, float]]:
        """Unreleased allocations at ``hit`` nodes: (order, old node, old cost)."""
        pulled = []
        for o, p in list(self.placed.items()):
            if p.node in hit and p.release_ts > hit[p.node]:
                pulled.append((o, p.node, p.cost))
                self._release_order(o, p.node)
                del self.placed[o]
        return pulled

    def _lines(self, o: int) -> slice:
        return slice(int(self.orders.line_start[o]), int(self.orders.line_start[o + 1]))

    def _take_order(self, o: int, node: int) -> None:
        ls = self._lines(o)
        np.subtract.at(
            self.stock[node], self.orders.line_sku[ls], self.orders.line_qty[ls]
        )
        self.used[node] += self.workload[o]

    def _release_order(self, o: int, node: int) -> None:
        ls = self._lines(o)
        np.add.at(self.stock[node], self.orders.line_sku[ls], self.orders.line_qty[ls])
        self.used[node] -= self.workload[o]

    # ---------------------------------------------------------- bid prices
    def _refresh_bid_prices(
        self, now: np.datetime64, current: NDArray[np.intp]
    ) -> None:
        """Duals of the LP over the demand still to come after this batch.

        Its mix is that of the orders seen so far today, this batch included;
        its size the expected day volume minus what has arrived.
        """
        expected = self.settings.expected_orders or self.orders.n_orders
        pool_mask = self._seen.copy()
        pool_mask[current] = True
        seen = np.flatnonzero(pool_mask)
        rest = max(float(expected - seen.size), 0.0)
        if rest <= 0 or seen.size < 20:
            self.bid = np.zeros(self.network.n_nodes)
            return
        pick = self._rng.choice(seen, size=min(seen.size, 1000), replace=False)
        pick.sort()
        release = np.full(pick.size, now, dtype="datetime64[s]")
        options = price_orders(
            self.network, self.orders, pick, self.policy, release=release
        )
        ok = stock_ok(self.orders, pick, self.stock) & options.feasible
        cost = np.where(ok, options.cost, np.inf)
        best = np.where(ok.any(axis=1), np.min(cost, axis=1), 0.0)
        defer = best + self.policy.defer_cost(self.orders.tier[pick], self.spend[pick])
        demand = sample_demand(
            cost, options.workload, defer, rest, seed=self.settings.seed
        )
        self.bid = bid_prices(
            demand, self.remaining(), time_limit_s=max(self.settings.time_limit_s, 1.0)
        )
        if self.publish_bid_prices is not None:
            self.publish_bid_prices(self.bid, now)

    def _release(
        self, items: NDArray[np.intp], now: np.datetime64, pulled: dict[int, Any]
    ) -> NDArray[np.datetime64]:
        """When each order reaches a node, for the cutoff: the batch time, or —
        for Platinum, whose node and stock were committed at checkout — the
        order's own time (unless a capacity event pulled it back)."""
        out = np.full(items.size, now, dtype="datetime64[s]")
        if self.settings.platinum_at_checkout:
            plat = self.policy.tier_index(self.orders.tier[items]) == TIERS.index(
                "platinum"
            )
            plat &= ~np.isin(
                items, np.fromiter(pulled, dtype=np.intp, count=len(pulled))
            )
            out[plat] = self.orders.created_at[items[plat]].astype("datetime64[s]")
        return out

    # -------------------------------------------------------------- solving
    def _solve(self, compiled: CompiledBatch) -> tuple[SolveResult, float]:
        s = self.settings
        start = time.perf_counter()
        caps = get_engine(s.engine).capabilities
        params = SolveParams(
            time_limit_s=s.time_limit_s,
            seed=s.seed,
            threads=s.threads,
            relative_gap=s.relative_gap,
        )
        problem = compiled.problem
        dest = self.orders.dest[compiled.options.orders]
        if caps.uses_preference:
            problem = problem.replace(preference=self.network.distance_mi[:, dest].T)
        if s.backend != "none" and problem.n_items > 1 and not caps.baseline:
            nearest = np.argmin(self.network.distance_mi[:, dest], axis=0)
            result = solve_partitioned(
                problem,
                self._node_region[nearest],
                self._node_region,
                engine=s.engine,
                # regions run on one thread each, the spill-over as the engine likes
                params=params.replace(threads=None),
                backend=s.backend,
                n_jobs=s.n_jobs,
            )
        else:
            result = solve(problem, s.engine, params=params)
        elapsed = time.perf_counter() - start
        verify(compiled.problem, result)
        return result, elapsed

    def _rows_for(
        self,
        compiled: CompiledBatch,
        result: SolveResult,
        batch: int,
        reasons: dict[int, str],
    ) -> pd.DataFrame:
        """Allocation rows (one per order line) of a solved stage."""
        orders, net = self.orders, self.network
        a = result.assignment
        n_items = a.size
        counts = np.diff(compiled.item_lines)
        item_of_line = np.repeat(np.arange(n_items), counts)
        line = compiled.lines
        node = np.repeat(a, counts)
        allocated = node >= 0
        service = compiled.service()
        delivery = compiled.delivery()
        shipping, _ = compiled.parts()
        safe = np.maximum(a, 0)
        rows_i = np.arange(n_items)
        item_ship = np.where(a >= 0, shipping[rows_i, safe], 0.0)
        item_hand = np.where(a >= 0, compiled.options.handling[rows_i, safe], 0.0)
        item_cost = np.where(a >= 0, compiled.true_cost[rows_i, safe], 0.0)
        assert compiled.problem.defer_cost is not None
        defer_pen = compiled.problem.defer_cost
        units = orders.line_qty[line].astype(np.float64)
        item_units = np.bincount(item_of_line, weights=units, minlength=n_items)
        share = units / np.maximum(item_units[item_of_line], 1.0)
        li = item_of_line
        cost = np.where(allocated, item_cost[li] * share, defer_pen[li] * share)
        ship_part = np.where(allocated, item_ship[li] * share, 0.0)
        hand_part = np.where(allocated, item_hand[li] * share, 0.0)
        # lateness and extra-shipment charges, or the whole cost of waiting a day
        pen_part = np.where(
            allocated,
            (item_cost[li] - item_ship[li] - item_hand[li]) * share,
            defer_pen[li] * share,
        )
        node_ids = np.asarray(net.node_ids, dtype=object)
        svc = np.where(allocated, service[li, np.maximum(node, 0)], -1)
        svc_names = np.array([*SERVICES, ""], dtype=object)[np.where(svc >= 0, svc, -1)]
        ship = np.where(
            allocated,
            compiled.options.ship_date[li, np.maximum(node, 0)].astype(str),
            "",
        )
        deliver = np.where(allocated, delivery[li, np.maximum(node, 0)].astype(str), "")
        promised = compiled.options.promised[li].astype(str)
        status = np.where(allocated, "allocated", "deferred").astype(object)
        reason = np.array(
            [
                reasons.get(int(i), result.unassigned_reason.get(int(i), ""))
                if a[i] < 0 or int(i) in reasons
                else ""
                for i in li
            ],
            dtype=object,
        )
        relaxed = compiled.use_relaxed[li] & allocated
        reason = np.where(
            relaxed & (reason == ""),
            "late: no node with stock could deliver by the guaranteed date",
            reason,
        )
        return pd.DataFrame(
            {
                "order_id": np.asarray(orders.order_ids, dtype=object)[
                    orders.line_order[line]
                ],
                "sku": np.asarray(orders.line_sku_id, dtype=object)[line],
                "quantity": orders.line_qty[line],
                "node_id": np.where(allocated, node_ids[np.maximum(node, 0)], ""),
                "service": svc_names,
                "ship_date": ship,
                "promised_date": promised,
                "cost": np.round(cost, 6),
                "batch": batch,
                "status": status,
                "reason": reason,
                "delivery_date": deliver,
                "shipping": ship_part,
                "handling": hand_part,
                "penalty": pen_part,
            }
        )

    def _unfillable_rows(
        self, lines: NDArray[np.intp], batch: int, reason: str
    ) -> pd.DataFrame:
        o = self.orders
        return pd.DataFrame(
            {
                "order_id": np.asarray(o.order_ids, dtype=object)[o.line_order[lines]],
                "sku": np.asarray(o.line_sku_id, dtype=object)[lines],
                "quantity": o.line_qty[lines],
                "node_id": "",
                "service": "",
                "ship_date": "",
                "promised_date": "",
                "cost": 0.0,
                "batch": batch,
                "status": "unfillable",
                "reason": reason,
                "delivery_date": "",
                "shipping": 0.0,
                "handling": 0.0,
                "penalty": 0.0,
            }
        )

    def _run_batch(
        self,
        batch: int,
        idx: NDArray[np.intp],
        now: np.datetime64 | None,
        pulled: dict[int, tuple[int, float]],
    ) -> tuple[pd.DataFrame, float, BatchStat]:
        """Solve one batch (both stages); update capacity and stock; rows."""
        o = self.orders
        frames: list[pd.DataFrame] = []
        release = None if now is None else self._release(idx, now, pulled)
        bid = (
            self.bid
            if (self.settings.use_bid_prices and not self.settings.hindsight)
            else None
        )
        # Lines no node held in the quantity asked for, this morning, cannot
        # ship at all; lines whose stock later orders took wait (deferred).
        lines_all = lines_of(o, idx)
        short = (
            self.initial_stock[:, o.line_sku[lines_all]].max(axis=0)
            < o.line_qty[lines_all]
        )
        dead_orders = np.unique(o.line_order[lines_all[short]])
        if short.any():
            frames.append(
                self._unfillable_rows(
                    lines_all[short], batch, "no node holds the quantity ordered"
                )
            )
        live = idx[~np.isin(idx, dead_orders)]
        solve_s = 0.0
        status = "optimal"
        fallback = False
        split_lines: list[NDArray[np.intp]] = [
            lines_all[~short & np.isin(o.line_order[lines_all], dead_orders)]
        ]
        delta = 0.0
        parts: list[CompiledBatch] = []
        if live.size:
            rel = None if release is None else release[np.isin(idx, live)]
            whole = compile_orders(
                self.network,
                o,
                live,
                self.policy,
                capacity=self.remaining(),
                stock=self.stock,
                predicted_spend=self.spend[live],
                release=rel,
                bid_price=bid,
                name=f"batch {batch}",
            )
            has_node = whole.problem.eligible.any(axis=1)
            if (~has_node).any():
                split_lines.append(lines_of(o, live[~has_node]))
            if has_node.any():
                parts.append(_subset_batch(whole, np.flatnonzero(has_node)))
        lines = np.concatenate(split_lines).astype(np.intp)
        if lines.size:
            srel = (
                None
                if now is None
                else self._release(o.line_order[lines].astype(np.intp), now, pulled)
            )
            split = compile_lines(
                self.network,
                o,
                lines,
                self.policy,
                capacity=self.remaining(),
                stock=self.stock,
                predicted_spend=self.spend[o.line_order[lines]],
                release=srel,
                bid_price=bid,
                name=f"batch {batch} split",
            )
            has_node = split.problem.eligible.any(axis=1)
            if (~has_node).any():
                stuck = _subset_batch(split, np.flatnonzero(~has_node))
                frames.append(
                    self._rows_for(
                        stuck,
                        _all_deferred(stuck.problem),
                        batch,
                        dict.fromkeys(
                            range(stuck.problem.n_items),
                            "deferred: the stock at every node offering the tier's "
                            "service is taken",
                        ),
                    )
                )
            if has_node.any():
                parts.append(_subset_batch(split, np.flatnonzero(has_node)))
        if parts:
            # Whole orders and the lines of split orders compete for the same
            # capacity and stock: one problem.
            joint = parts[0] if len(parts) == 1 else concat_batches(parts[0], parts[1])
            result, solve_s = self._solve(joint)
            status = result.status.value
            fallback = result.fallback_from is not None
            reasons: dict[int, str] = {}
            for k in np.flatnonzero(joint.split & (result.assignment >= 0)).tolist():
                reasons[k] = "split: no single node holds every line"
            for pos, order in enumerate(joint.item_order.tolist()):
                node = int(result.assignment[pos])
                if joint.split[pos] or node < 0 or order not in pulled:
                    continue
                old_node, _ = pulled[order]
                if node != old_node:
                    reasons[pos] = (
                        f"rerouted from {self.network.node_ids[old_node]} "
                        "after a capacity event"
                    )
            frames.append(self._rows_for(joint, result, batch, reasons))
            for pos, item in enumerate(joint.item_order.tolist()):
                node = int(result.assignment[pos])
                if node < 0:
                    continue
                if joint.split[pos]:
                    line = int(joint.lines[joint.item_lines[pos]])
                    self.stock[node, o.line_sku[line]] -= o.line_qty[line]
                    self.used[node] += joint.options.workload[pos]
                    continue
                self._take_order(item, node)
                cost = float(joint.true_cost[pos, node])
                decided = now if now is not None else o.created_at[item]
                release_ts = (
                    float(decided.astype("datetime64[s]").astype(np.int64))
                    + 60.0 * self.settings.release_minutes
                )
                self.placed[item] = _Placed(node, cost, batch, release_ts)
                if item in pulled:
                    old_node, old_cost = pulled[item]
                    if node != old_node:
                        self.rerouted += 1
                        delta += cost - old_cost
        rows = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=[*ALLOCATION_FIELDS, *COST_PARTS])
        )
        stat = BatchStat(
            batch,
            int(idx.size),
            solve_s,
            status,
            fallback,
            float(self.bid.max(initial=0.0)) if bid is not None else 0.0,
        )
        return rows, delta, stat

    # ------------------------------------------------------------------ run
    def _resume(
        self,
        committed: pd.DataFrame,
        windows: list[NDArray[np.intp]],
        times: list[np.datetime64],
    ) -> int:
        """Rebuild capacity, stock and placements from committed rows."""
        if committed.empty:
            return 0
        last = int(committed["batch"].max())
        self._apply_events(float(times[last].astype("datetime64[s]").astype(np.int64)))
        o, net = self.orders, self.network
        order_pos = {oid: i for i, oid in enumerate(o.order_ids)}
        alloc = committed[committed["status"] == "allocated"]
        for oid, grp in alloc.groupby("order_id", sort=False):
            i = order_pos[str(oid)]
            nodes = grp["node_id"].unique()
            if len(nodes) == 1 and len(grp) == o.line_start[i + 1] - o.line_start[i]:
                node = net.node_index[str(nodes[0])]
                self._take_order(i, node)
                b = int(grp["batch"].iloc[0])
                release_ts = (
                    float(times[b].astype("datetime64[s]").astype(np.int64))
                    + 60.0 * self.settings.release_minutes
                )
                self.placed[i] = _Placed(node, float(grp["cost"].sum()), b, release_ts)
            else:
                for r in grp.itertuples(index=False):
                    node = net.node_index[str(r.node_id)]
                    k = net.sku_index[str(r.sku)]
                    self.stock[node, k] -= int(r.quantity)
                    self.used[node] += net.sku_complexity[k] * int(r.quantity)
        for b in range(last + 1):
            self._seen[windows[b]] = True
        return last + 1

    def run(self) -> AllocationOutcome:
        """Allocate every order; commit batch by batch; return the outcome."""
        start = time.perf_counter()
        o = self.orders
        s = self.settings
        lp_total: float | None = None
        if s.hindsight:
            windows = [np.argsort(o.created_at, kind="stable").astype(np.intp)]
        else:
            windows = batch_windows(
                o.created_at, minutes=s.batch_minutes, size=s.batch_size
            )
        times = [o.created_at[w].max().astype("datetime64[s]") for w in windows]
        first = self._resume(self.sink.committed_rows(), windows, times)
        for b in range(first, len(windows)):
            idx = windows[b]
            now = None if s.hindsight else times[b]
            t_now = float(times[b].astype(np.int64))
            hit = {} if s.hindsight else self._apply_events(t_now)
            pulled_list = self._pull_back(hit) if hit else []
            self.pulled_back.extend(p[0] for p in pulled_list)
            pulled = {p[0]: (p[1], p[2]) for p in pulled_list}
            if pulled:
                idx = np.concatenate([idx, np.array(sorted(pulled), dtype=np.intp)])
            if (
                s.use_bid_prices
                and not s.hindsight
                and (b % max(s.bid_refresh, 1) == 0 or hit or b == first)
            ):
                self._refresh_bid_prices(times[b], windows[b])
            rows, delta, stat = self._run_batch(b, idx, now, pulled)
            self.reroute_delta += delta
            self._seen[windows[b]] = True
            self.sink.write_batch(b, rows, supersede=[o.order_ids[i] for i in pulled])
            self.stats.append(stat)
            eff = self.effective_capacity()
            self.trace.append(
                (t_now, np.where(eff > 0, self.used / np.maximum(eff, 1e-9), 0.0))
            )
            if self.on_batch is not None:
                self.on_batch(b + 1, len(windows))
        if s.hindsight:
            lp_total = self._hindsight_bound()
        rows = self.sink.committed_rows()
        eff = self.effective_capacity()
        util = np.where(eff > 0, self.used / np.maximum(eff, 1e-9), 0.0)
        tiers = {
            o.order_ids[i]: TIERS[int(t)]
            for i, t in enumerate(self.policy.tier_index(o.tier))
        }
        return AllocationOutcome(
            rows=rows,
            stats=self.stats,
            settings=s,
            runtime_s=time.perf_counter() - start,
            rerouted=self.rerouted,
            pulled_back=tuple(o.order_ids[i] for i in self.pulled_back),
            reroute_cost_delta=self.reroute_delta,
            lp_bound=lp_total,
            utilization=util,
            node_ids=self.network.node_ids,
            utilization_trace=self.trace,
            n_orders=o.n_orders,
            tiers=tiers,
        )

    def _hindsight_bound(self) -> float | None:
        """LP bound of the day as one problem.

        Orders a node could fill whole this morning are items; the lines of
        the others are items too (extra-shipment cost); both share every
        node's capacity and stock. Items no node can take can only wait and
        add their deferral cost. Lines of SKUs out of stock everywhere are
        unfillable under every policy and add nothing.
        """
        o = self.orders
        idx = np.arange(o.n_orders, dtype=np.intp)
        net = self.network
        stock = self.initial_stock
        cap = self.effective_capacity()
        lines_all = np.arange(o.n_lines, dtype=np.intp)
        short = stock[:, o.line_sku].max(axis=0) < o.line_qty
        dead = np.unique(o.line_order[short])
        live = idx[~np.isin(idx, dead)]
        whole = compile_orders(
            net,
            o,
            live,
            self.policy,
            capacity=cap,
            stock=stock,
            predicted_spend=self.spend[live],
        )
        has = whole.problem.eligible.any(axis=1)
        split_orders = np.concatenate([dead, live[~has]])
        lines = lines_all[np.isin(o.line_order, split_orders) & ~short]
        batch = _subset_batch(whole, np.flatnonzero(has))
        if lines.size:
            split = compile_lines(
                net,
                o,
                lines,
                self.policy,
                capacity=cap,
                stock=stock,
                predicted_spend=self.spend[o.line_order[lines]],
            )
            batch = concat_batches(batch, split)
        problem = batch.problem
        ok = problem.eligible.any(axis=1)
        assert problem.defer_cost is not None
        total = float(problem.defer_cost[~ok].sum())  # they can only wait
        if ok.any():
            relax = lp_relaxation(problem.subset(np.flatnonzero(ok)))
            if relax.objective is None:
                return None
            total += relax.objective
        return total


def _all_deferred(problem: AssignmentProblem) -> SolveResult:
    """The trivial solution of items no node can take now: all wait."""
    return SolveResult(
        engine="none",
        status=Status.FEASIBLE,
        objective=problem.objective(np.full(problem.n_items, -1)),
        bound=None,
        runtime_s=0.0,
        assignment=np.full(problem.n_items, -1, dtype=np.int64),
    )


def _subset_batch(compiled: CompiledBatch, keep: NDArray[np.intp]) -> CompiledBatch:
    """The batch restricted to items ``keep`` (same nodes and SKUs)."""
    opts = compiled.options
    counts = np.diff(compiled.item_lines)[keep]
    starts = compiled.item_lines[keep]
    lines = (
        np.concatenate(
            [compiled.lines[s : s + c] for s, c in zip(starts, counts, strict=True)]
        )
        if keep.size
        else np.zeros(0, np.intp)
    )
    return CompiledBatch(
        problem=compiled.problem.subset(keep),
        options=dataclasses.replace(
            opts,
            orders=opts.orders[keep],
            promised=opts.promised[keep],
            units=opts.units[keep],
            workload=opts.workload[keep],
            billed_kg=opts.billed_kg[keep],
            ship_date=opts.ship_date[keep],
            service=opts.service[keep],
            delivery=opts.delivery[keep],
            shipping=opts.shipping[keep],
            penalty=opts.penalty[keep],
            handling=opts.handling[keep],
            relaxed_service=opts.relaxed_service[keep],
            relaxed_delivery=opts.relaxed_delivery[keep],
            relaxed_shipping=opts.relaxed_shipping[keep],
            relaxed_penalty=opts.relaxed_penalty[keep],
        ),
        item_order=compiled.item_order[keep],
        item_lines=np.concatenate([[0], np.cumsum(counts)]).astype(np.intp),
        lines=lines.astype(np.intp),
        skus=compiled.skus,
        use_relaxed=compiled.use_relaxed[keep],
        true_cost=compiled.true_cost[keep],
        split=compiled.split[keep],
    )
