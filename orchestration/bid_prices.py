"""Bid prices: the value of one more unit of a node's capacity today.

The batch allocator computes them as the capacity duals of an LP over the
rest of the day's demand (:func:`sample_demand`, :func:`bid_prices`); the
checkout reads them from a :class:`BidPrices` source. Why and how:
``docs/allocation.md`` (bid prices).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tierflow.capacity.monitor import FORECAST_LANES, CapacityMonitor
from tierflow.capacity.score import lane_congestion
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.rates import billed_weight_kg, service_index
from tierflow.data.store import BidPriceStore
from tierflow.data.vocabulary import Tier
from tierflow.formulations.problem import AssignmentProblem
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, public_reason
from tierflow.orchestration.room_prices import GuaranteedDemand
from tierflow.solver.lp import lp_relaxation
from tierflow.solver.result import Status

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class DemandSample:
    """Cost rows of sampled orders that stand for the expected remaining demand.

    Attributes
    ----------
    cost
        ``(k, n_nodes)`` true cost of each sampled order at each node
        (``inf`` where ineligible).
    workload
        ``(k,)`` capacity units of each sampled order.
    defer_cost
        ``(k,)`` cost of not serving it today.
    multiplicity
        ``(k,)`` how many expected orders each row stands for.
    guaranteed
        What the sample knows of its guaranteed (Platinum) rows, for the
        per-tier room prices (:mod:`tierflow.orchestration.room_prices`);
        ``None``: not drawn with it.
    weight
        ``(k, n_nodes)`` capacity units each row takes at each node: its
        workload times the congestion of the lane it ships by there, as a
        batch weighs an order (``lane_weight``); ``None``: its workload at
        every node.
    use, stock
        ``(k, n_skus)`` units of each SKU of the sample each row takes and
        ``(n_nodes, n_skus)`` the units of them left: the LP's stock rows, so
        a node's room serves no more of the demand than its stock can
        (``None``: no stock rows; ``docs/allocation.md``, bid prices).
    """

    cost: NDArray[np.float64]
    workload: NDArray[np.float64]
    defer_cost: NDArray[np.float64]
    multiplicity: NDArray[np.float64]
    guaranteed: GuaranteedDemand | None = None
    weight: NDArray[np.float64] | None = None
    use: NDArray[np.float64] | None = None
    stock: NDArray[np.float64] | None = None

    @property
    def expected_orders(self) -> float:
        return float(self.multiplicity.sum())


def bid_prices(
    demand: DemandSample,
    capacity: NDArray[np.float64],
    *,
    time_limit_s: float | None = 5.0,
    scenarios: int = 1,
    cv: float = 0.0,
    seed: int | tuple[int, ...] = 0,
) -> NDArray[np.float64]:
    """Capacity duals (cost per capacity unit, >= 0) of the demand's LP
    (``time_limit_s`` ``None``: no clock, the LP runs to its end; per LP).

    With ``scenarios`` > 1 the prices are the mean of the duals of that
    many LPs, each over the demand drawn around the expected one (a
    randomized LP): every row's multiplicity ``m`` drawn Gamma(``m``, 1),
    Poisson's variance, times one day factor of mean 1 and coefficient of
    variation ``cv``, all from ``seed``. A node whose expected load is just
    below its room is then priced at the share of its room's value the
    days that fill it give, not 0; one just above, not at the whole value
    (``docs/allocation.md``, bid prices).

    Returns zeros when there is no demand or the LP is not solved: no
    scarcity signal is the safe default (the allocator is then myopic).
    """
    m = capacity.size
    if demand.cost.shape[0] == 0 or demand.expected_orders <= 0:
        return np.zeros(m)
    if scenarios <= 1:
        return _lp_duals(demand, demand.multiplicity, capacity, time_limit_s)
    rng = np.random.default_rng(seed)
    duals = []
    for _ in range(scenarios):
        day = rng.gamma(1.0 / cv**2, cv**2) if cv > 0 else 1.0
        drawn = np.zeros_like(demand.multiplicity)
        some = demand.multiplicity > 0
        drawn[some] = rng.gamma(demand.multiplicity[some], 1.0)
        if drawn.sum() <= 0:
            duals.append(np.zeros(m))
            continue
        duals.append(_lp_duals(demand, drawn * day, capacity, time_limit_s))
    return np.asarray(np.mean(duals, axis=0), dtype=np.float64)


def _lp_duals(
    demand: DemandSample,
    multiplicity: NDArray[np.float64],
    capacity: NDArray[np.float64],
    time_limit_s: float | None,
) -> NDArray[np.float64]:
    """Capacity duals of the LP of ``demand``'s rows at ``multiplicity``."""
    m = capacity.size
    mult = multiplicity[:, None]
    eligible = np.isfinite(demand.cost)
    # a row on a congested lane takes more of the node than its workload:
    # counted plain, the demand to come fitted where it does not
    take = (
        np.repeat(demand.workload[:, None], m, axis=1)
        if demand.weight is None
        else demand.weight
    )
    # without stock rows a node holding a few units "served" every order
    # of its SKU to come, and its room priced them at $0
    use = None if demand.use is None or demand.stock is None else demand.use * mult
    problem = AssignmentProblem(
        cost=np.where(eligible, demand.cost * mult, 0.0),
        weight=take * mult,
        capacity=np.maximum(capacity, 0.0),
        eligible=eligible,
        use=use,
        stock=None if use is None else demand.stock,
        defer_cost=demand.defer_cost * multiplicity,
        name="bid-price LP",
    )
    relax = lp_relaxation(problem, time_limit_s=time_limit_s)
    if relax.status is not Status.OPTIMAL:
        return np.zeros(m)
    return np.asarray(relax.bid_price, dtype=np.float64)


def sample_demand(
    cost: NDArray[np.float64],
    workload: NDArray[np.float64],
    defer_cost: NDArray[np.float64],
    expected: float,
    *,
    max_rows: int = 1500,
    seed: int = 0,
) -> DemandSample:
    """Stand ``expected`` future orders on (a sample of) the orders seen so far.

    ``cost``/``workload``/``defer_cost`` are rows of orders already priced
    today; the day's mix of destinations, baskets and tiers so far is the
    forecast of its mix to come.
    """
    k_all = cost.shape[0]
    if k_all == 0 or expected <= 0:
        return DemandSample(
            np.zeros((0, cost.shape[1] if cost.ndim == 2 else 0)),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
        )
    rng = np.random.default_rng(seed)
    k = min(k_all, max_rows)
    pick = rng.choice(k_all, size=k, replace=False) if k < k_all else np.arange(k_all)
    return DemandSample(
        cost=cost[pick],
        workload=workload[pick],
        defer_cost=defer_cost[pick],
        multiplicity=np.full(k, expected / k),
    )


class BidPrices(Protocol):
    """A source of per-node bid prices."""

    def current(self, now: float | None = None) -> FloatArray:
        """``(n_nodes,)`` bid prices at ``now`` ($ per capacity unit, >= 0).

        ``now``: the asking request's instant (epoch seconds), so that how
        often the prices are estimated follows the request's clock: a
        simulated day's, where the wall clock made two runs of one day
        differ; None: the source's own clock."""
        ...

    @property
    def source(self) -> str:
        """Where the last :meth:`current` prices came from, in words."""
        ...

    @property
    def degraded(self) -> bool:
        """Whether the last prices are a fallback after a failure."""
        ...


class FixedBidPrices:
    """Bid prices given by the caller.

    Parameters
    ----------
    prices
        ``(n_nodes,)`` finite values >= 0.
    source
        How to describe them.
    """

    def __init__(self, prices: ArrayLike, source: str = "fixed bid prices") -> None:
        arr = np.array(prices, dtype=np.float64)
        if arr.ndim != 1 or not (np.isfinite(arr) & (arr >= 0)).all():
            raise InputError("must be finite numbers >= 0", field="bid_prices")
        arr.setflags(write=False)
        self._prices = arr
        self._source = source

    def current(self, now: float | None = None) -> FloatArray:
        """The given prices."""
        return self._prices

    @property
    def source(self) -> str:
        """The given description."""
        return self._source

    @property
    def degraded(self) -> bool:
        """Never: the prices are what was given."""
        return False


def _typical_unit(network: Network) -> tuple[float, float]:
    """Billed kg and workload of the typical parcel: one unit of the
    popularity-weighted average SKU, or of the plain average when every
    popularity is 0 (as orders and stock prices draw SKUs then: the weights
    were all 0, a parcel of 0 kg and 1e-9 capacity units, and every cost
    per capacity unit a billion times too high)."""
    pop = np.clip(np.nan_to_num(network.sku_popularity), 0.0, None)
    total = float(pop.sum())
    pop = pop / total if total > 0 else np.full(pop.size, 1.0 / pop.size)
    kg = float(pop @ billed_weight_kg(network.sku_weight_kg, network.sku_volume_cm3))
    return kg, max(float(pop @ network.sku_complexity), 1e-9)


def _parcel_cost(network: Network, kg: float) -> tuple[FloatArray, NDArray[np.intp]]:
    """``(n_nodes, n_dests)`` shipping of a ``kg`` parcel by Gold's cheapest
    service (ground where offered), and that service (-1: none offered)."""
    per_service, services = [], []
    for name in FORECAST_LANES:  # the monitor counts the forecast on these too
        s = service_index(name)
        if network.rates.offered[s]:
            cost = network.rates.price(s, network.zone, kg)
            per_service.append(np.where(network.offers(s)[:, None], cost, np.nan))
            services.append(s)
    if not per_service:
        return np.zeros_like(network.distance_mi), np.full(
            network.distance_mi.shape, -1, dtype=np.intp
        )
    ship = np.fmin.reduce(per_service)
    stacked = np.stack(per_service)
    cheapest = np.argmin(np.where(np.isnan(stacked), np.inf, stacked), axis=0)
    lane = np.where(np.isnan(ship), -1, np.asarray(services)[cheapest])
    cost = np.asarray(np.where(np.isnan(ship), np.nanmax(ship), ship))
    return cost, np.asarray(lane, dtype=np.intp)


def _by_state(network: Network, unit: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``unit`` (per node and destination) averaged over each state's ZIP
    prefixes by population, and each state's share of the population."""
    states, label = np.unique(np.asarray(network.dest_state), return_inverse=True)
    member = np.zeros((network.n_dests, states.size))
    member[np.arange(network.n_dests), label] = network.dest_weight
    share = member.sum(axis=0)
    cost = (unit @ member) / np.where(share > 0, share, 1.0)
    keep = share > 0
    return cost[:, keep], share[keep]


@dataclass(frozen=True, slots=True, eq=False)
class _Estimate:
    prices: FloatArray
    source: str
    failed: bool = False


class ForecastBidPrices:
    """Bid prices estimated from the capacity monitor's forecast.

    Zero while every node keeps at least ``ample_score`` of its capacity free
    after its rest-of-day forecast; otherwise the duals of a small LP (HiGHS)
    that spreads the forecast volume over destination states by population
    and assigns it to nodes at typical ground cost, against each node's room
    after its backlog. Demand that does not fit is deferred at the Gold
    deferral penalty, which caps the duals.

    Parameters
    ----------
    network, monitor
        The nodes and their live capacity state.
    policy
        Tier policy (the Gold deferral penalty caps the duals).
    ample_score
        Skip the LP (zero prices) while every node scores at least this.
    min_interval_s
        Recompute at most this often (when the capacity state changed),
        unless a node's score moved by ``moved_score`` or more since the
        last estimate: then within a second (an operator's event that fills
        the network must not be priced as ample for half a minute).
    moved_score
        See ``min_interval_s``; a confirmed order moves its node's score by
        its workload over the node's capacity, far less.
    time_limit_s
        HiGHS time limit.
    clock
        Epoch seconds when :meth:`current` is not given the request's
        instant (the wall clock; tests pass their own).
    """

    def __init__(
        self,
        network: Network,
        monitor: CapacityMonitor,
        policy: TierPolicy | None = None,
        *,
        ample_score: float = 0.25,
        min_interval_s: float = 30.0,
        moved_score: float = 0.05,
        time_limit_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.monitor = monitor
        self.policy = policy or TierPolicy()
        self.ample_score = ample_score
        self.min_interval_s = min_interval_s
        self.moved_score = moved_score
        self.time_limit_s = time_limit_s
        self.clock = clock
        #: The score map the current prices were estimated on, and when a
        #: moved map was last looked for.
        self._scores: FloatArray | None = None
        self._looked_at = -np.inf
        self._prices = np.zeros(network.n_nodes)
        self._source = "zero bid prices: not estimated yet"
        self._failed = False
        self._key: tuple[int, int, int] | None = None
        self._at = -np.inf
        kg, work = _typical_unit(network)
        parcel, self._lane = _parcel_cost(network, kg)
        unit = (parcel + network.handling_cost[:, None]) / work
        #: ``(n_nodes, n_states)`` typical $ per capacity unit, and state shares.
        self._unit_cost, self._share = _by_state(network, unit)
        self._defer_per_unit = self.policy.rule(Tier.GOLD).defer / work

    def estimate(self) -> tuple[FloatArray, str]:
        """Compute the prices from the monitor's current state."""
        est = self._estimate(self.monitor.score_map())
        return est.prices, est.source

    def _estimate(self, scores: FloatArray) -> _Estimate:
        """The prices of the monitor's state, whose score map is ``scores``."""
        n = self.network.n_nodes
        # the scores count the forecast at its lanes' congestion already
        # (CapacityMonitor.forecast_load): a node it fills is not ample
        lanes = self._lane_factor()
        if (scores >= self.ample_score).all():
            return _Estimate(
                np.zeros(n),
                f"zero bid prices: capacity ample (every node keeps >= "
                f"{self.ample_score:.0%} free after its forecast)",
            )
        demand = float(self.monitor.forecast.sum())
        if demand <= 0:
            return _Estimate(
                np.zeros(n), "zero bid prices: no remaining demand forecast"
            )
        # no threads option: HiGHS refuses a count other than its scheduler's
        relax = lp_relaxation(
            self._problem(demand, lanes), time_limit_s=self.time_limit_s
        )
        if relax.status is not Status.OPTIMAL:
            return _Estimate(
                np.zeros(n),
                f"zero bid prices: the estimate LP ended {relax.status.value}",
                failed=True,
            )
        return _Estimate(
            np.asarray(relax.bid_price, dtype=np.float64),
            f"estimated bid prices: LP duals of the rest-of-day forecast "
            f"({demand:,.0f} units) vs capacity after backlog",
        )

    def _lane_factor(self) -> FloatArray | None:
        """``(n_nodes, n_states)`` the congestion of the lane the typical
        parcel ships by from each node to each state (its destinations'
        mean by population): a unit of the forecast takes that much of the
        node's room, as a batch's order does. ``None`` while none of those
        lanes is congested (every factor 1: the LP as without lanes)."""
        nodes = np.arange(self.network.n_nodes)[:, None]
        factor = lane_congestion(self.monitor.congestion, nodes, self._lane)
        if not (factor > 1.0).any():
            return None
        by_state, _ = _by_state(self.network, factor)
        return by_state

    def _problem(
        self, demand: float, lanes: FloatArray | None = None
    ) -> AssignmentProblem:
        """The forecast volume by state, to nodes, against their room; a
        unit of it takes ``lanes`` (:meth:`_lane_factor`) of a node's room
        (``None``: one)."""
        n = self.network.n_nodes
        room = np.maximum(self.monitor.room(), 0.0)
        volume = demand * self._share  # (K,)
        cost = (self._unit_cost * volume[None, :]).T  # (K, n)
        defer = volume * (self._unit_cost.max(axis=0) + self._defer_per_unit)
        weight = (
            np.repeat(volume[:, None], n, axis=1)
            if lanes is None
            else volume[:, None] * lanes.T
        )
        return AssignmentProblem(
            cost=cost,
            weight=weight,
            capacity=room,
            eligible=np.repeat((room > 0)[None, :], volume.size, axis=0),
            defer_cost=defer,
            name="bid-price estimate",
        )

    def current(self, now: float | None = None) -> FloatArray:
        """Prices for the monitor's state (recomputed when it changed).

        Never raises: when the LP cannot be solved, zero prices (plain greedy)
        with the reason in :attr:`source`.
        """
        key = self.monitor.state_key
        now = self.clock() if now is None else now
        if key == self._key:
            return self._prices
        if self._key is not None and now - self._at < self.min_interval_s:
            # within the interval, a moved map is looked for at most once a
            # second (every confirm changes the key: a score map per call
            # cost the checkout path ~10 us)
            if now - self._looked_at < 1.0:
                return self._prices
            self._looked_at = now
            scores = self.monitor.score_map()
            assert self._scores is not None
            if float(np.abs(scores - self._scores).max(initial=0.0)) < self.moved_score:
                return self._prices
        else:
            scores = self.monitor.score_map()
        try:
            est = self._estimate(scores)
        except Exception as exc:  # a checkout must get an answer
            est = _Estimate(
                np.zeros(self.network.n_nodes),
                f"zero bid prices: the estimate failed ({exc})",
                failed=True,
            )
        est.prices.setflags(write=False)
        self._prices, self._source, self._failed = est.prices, est.source, est.failed
        self._key, self._at, self._scores = key, now, scores
        return est.prices

    @property
    def source(self) -> str:
        """What the current prices are."""
        return self._source

    @property
    def degraded(self) -> bool:
        """Whether the LP failed (the prices are zero: plain greedy)."""
        return self._failed


class StoreBidPrices:
    """The allocator's stored bid prices while fresh, else ``fallback``'s.

    Parameters
    ----------
    store
        The state store (:meth:`~tierflow.data.store.BidPriceStore.latest_bid_price_run`).
    network
        Maps stored node ids to positions (unknown nodes are ignored,
        missing ones get 0).
    fallback
        Used when nothing is stored, the stored prices are older than
        ``max_age_s``, or the store cannot be read.
    max_age_s
        How long stored prices stay valid.
    refresh_s
        How often the store is read again.
    retry_s
        How soon it is read again after a read that failed: with
        ``refresh_s`` every answer said "store unavailable" for up to 5 s
        after the database was back (QA, a PostgreSQL restart under two
        replicas: every other read had recovered within a second).
    clock
        Wall clock (epoch seconds); tests pass their own.
    """

    def __init__(
        self,
        store: BidPriceStore,
        network: Network,
        fallback: BidPrices,
        *,
        max_age_s: float = 6 * 3600.0,
        refresh_s: float = 5.0,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.network = network
        self.fallback = fallback
        self.max_age_s = max_age_s
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self.clock = clock
        self._read_at = -np.inf
        self._stored: tuple[FloatArray, str, float] | None = None
        self._problem = ""
        self._source = ""
        self._used_fallback = False

    def _read(self) -> None:
        try:
            run = self.store.latest_bid_price_run()
        except STORE_ERRORS as exc:
            # said in every answer's notes: the reason, not where the store is
            self._problem = f"store unavailable ({public_reason(exc)})"
            return
        self._problem = ""
        if run is None:
            self._stored = None
            return
        prices = np.zeros(self.network.n_nodes)
        for node, value in run.prices.items():
            pos = self.network.node_index.get(node)
            if pos is not None:
                prices[pos] = value
        prices.setflags(write=False)
        stamp = run.as_of.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        self._stored = (prices, f"{run.source}, as of {stamp}", run.as_of.timestamp())

    def current(self, now: float | None = None) -> FloatArray:
        """Stored prices if fresh, else the fallback's (see the class docstring).
        The store is read again on the wall clock (an I/O cadence: after a
        wait for a store gone away, at once); the prices' age and the
        fallback's estimate go by ``now``, the request's instant."""
        wall = self.clock()
        now = wall if now is None else now
        every = min(self.retry_s, self.refresh_s) if self._problem else self.refresh_s
        if wall - self._read_at >= every:
            self._read()
            self._read_at = wall
        if self._stored is not None:
            prices, what, as_of = self._stored
            age = now - as_of
            if age <= self.max_age_s:
                self._used_fallback = False
                self._source = f"allocator bid prices ({what})" + (
                    f"; {self._problem}, last read kept" if self._problem else ""
                )
                return prices
            why = f"stored bid prices are {age / 3600:.1f} h old"
        else:
            why = self._problem or "no bid prices stored yet"
        prices = self.fallback.current(now)
        self._used_fallback = True
        self._source = f"{self.fallback.source} ({why})"
        return prices

    @property
    def source(self) -> str:
        """Which prices :meth:`current` returned last."""
        return self._source

    @property
    def degraded(self) -> bool:
        """Whether the store could not be read or the fallback failed."""
        return bool(self._problem) or (self._used_fallback and self.fallback.degraded)
