"""Bid prices for the day's batches: LP duals over the demand still to come.

See ``docs/allocation.md`` (bid prices) and :mod:`tierflow.orchestration.bid_prices`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.ledger import CapacityLedger
from tierflow.orchestration.allocation.settings import AllocationSettings
from tierflow.orchestration.bid_prices import DemandSample, bid_prices
from tierflow.orchestration.demand import DemandOutlook, Moment
from tierflow.orchestration.room_prices import GuaranteedDemand, RoomPrices
from tierflow.orchestration.stock_prices import (
    StockOutlook,
    StockPrices,
    shippable_stock,
)

#: Share of the day below which the intraday forecast gives no run rate
#: (``DemandForecast.remaining``); the stock prices count the orders seen
#: as if it had gone.
EARLY_SHARE = 0.05

#: Called with every new set of bid prices and the time they are for.
BidPricePublisher = Callable[[NDArray[np.float64], np.datetime64], None]


def day_forecast(
    forecast: DemandForecast | None, settings: AllocationSettings
) -> DemandForecast:
    """The forecast a run uses: ``--expected-orders`` overrides the volume (a
    what-if), a history forecast is used as given, else today's arrivals."""
    base = forecast if forecast is not None else DemandForecast.intraday()
    if settings.expected_orders is not None:
        return base.with_total(settings.expected_orders)
    return base


def remaining_cv(prior_cv: float, at: Moment) -> float:
    """The coefficient of variation of the day's volume once ``at.observed``
    of its orders have come: the Gamma–Poisson posterior's, shape ``1 /
    prior_cv² + n`` (0.25 before the first order, 0.02 by 2,500). The
    day factor of the bid prices' demand scenarios is drawn with it: drawn
    with the prior's all day, the evening's prices were averaged over
    volumes the day could no longer have."""
    return float(1.0 / np.sqrt(1.0 / prior_cv**2 + max(at.observed, 0)))


class BatchBidPrices:
    """The bid prices each batch adds to its node costs, refreshed on schedule.

    Parameters
    ----------
    network, orders, policy, spend
        The day's inputs (``spend``: CLTV per order).
    ledger
        Stock and remaining capacity the prices are computed against.
    settings
        ``expected_orders``, ``bid_refresh``, ``seed``, ``time_limit_s``.
    publish
        Called with every new set of prices, e.g. to store them for checkout.
    forecast
        The demand forecast from past days (``None``: today's arrivals only).
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        spend: NDArray[np.float64],
        ledger: CapacityLedger,
        settings: AllocationSettings,
        publish: BidPricePublisher | None = None,
        forecast: DemandForecast | None = None,
    ) -> None:
        self.network = network
        self.orders = orders
        self.policy = policy
        self.spend = spend
        self.ledger = ledger
        self.settings = settings
        self.publish = publish
        self.prices = np.zeros(network.n_nodes)
        self.seen = np.zeros(orders.n_orders, dtype=bool)
        #: The forecast day total the current prices were computed for.
        self._total_at_refresh: float | None = None
        #: When the prices were computed (one entry per refresh).
        self.refreshed_at: list[np.datetime64] = []
        #: Whether the prices in force were restored for a resumed run.
        self._restored = False
        self.forecast = day_forecast(forecast, settings).on(network)
        self.outlook = DemandOutlook(
            network, orders, policy, spend, self.forecast, seed=settings.seed
        )
        pool = self.forecast.pool
        self.stock_outlook = StockOutlook(
            network, orders, policy, spend, None if pool is None else pool.orders
        )
        #: The stock bid prices of the batch being compiled.
        self.stock_prices: StockPrices | None = None
        #: The guaranteed rows of the batch being compiled (room prices),
        #: when they were drawn, and the (batch, time) of the draw.
        self._guaranteed: GuaranteedDemand | None = None
        self._drawn_at: np.datetime64 = np.datetime64("NaT", "s")
        self._drawn_for: tuple[int, np.datetime64] | None = None

    @property
    def enabled(self) -> bool:
        """Whether batches see bid prices at all."""
        return self.settings.batch_bid_prices

    def for_batch(self) -> NDArray[np.float64] | None:
        """The prices a batch adds to node costs (``None``: none)."""
        return self.prices if self.enabled else None

    def price_stock(self, now: np.datetime64, current: NDArray[np.intp]) -> None:
        """The stock bid prices of the batch of ``current`` orders, closing at
        ``now``: computed for every batch (a closed form, no LP), from the
        stock left at the nodes with room left today and the orders seen so
        far, so a resumed run computes what an uninterrupted one did
        (``docs/allocation.md``, stock bid prices)."""
        self.stock_prices = None
        if not (self.enabled and self.settings.stock_bid_prices):
            return
        pool = self._pool(current)
        if pool.size == 0:
            return
        at = self.outlook.moment(now, pool)
        rest = self.forecast.remaining(at.day, at.offset_s, at.observed)
        if rest <= 0:
            rest = self._early_rest(at.day, at.offset_s, at.observed)
        new = current[~self.seen[current]]
        # a node with no room left today (closed, or full) ships none of
        # its units to the rest of the day: they are no supply for it; one
        # with some room no more units than it holds (the others are no
        # supply to the other nodes' prices)
        room = self.ledger.remaining()
        stock = np.where(room[:, None] > 0, self.ledger.stock, 0)
        ships = shippable_stock(stock, room, self._unit_work())
        self.stock_prices = self.stock_outlook.prices(stock, rest, new, ships)

    def _unit_work(self) -> NDArray[np.float64]:
        """``(n_nodes, n_skus)`` the least capacity a unit of each SKU takes
        at each node: its complexity on the node's least congested lane
        (of the services it offers; 1 where it offers none)."""
        net = self.network
        congestion = self.ledger.monitor.congestion  # (n_nodes, n_services)
        least = np.where(net.offered_services(), congestion, np.inf).min(axis=1)
        least = np.where(np.isfinite(least), least, 1.0)
        return np.asarray(
            least[:, None] * net.sku_complexity[None, :], dtype=np.float64
        )

    @property
    def room_priced(self) -> bool:
        """Whether batches pay room prices by tier
        (``AllocationSettings.room_prices_by_tier``, with bid prices)."""
        return self.enabled and self.settings.room_prices_by_tier

    def draw_room(
        self, now: np.datetime64, current: NDArray[np.intp], batch: int
    ) -> None:
        """The guaranteed orders to come of batch ``batch`` (the one of
        ``current`` orders, closing at ``now``), for its room prices: drawn
        for every batch, with the batch's own random numbers, from the
        orders seen and the capacity and stock left, as the refresh of the
        bid prices draws its sample (the same rows when this batch
        refreshed them). A resumed run restores all of that, so it prices
        the room as an uninterrupted run did; the rows of the last
        refresh's sample, which it did not have, left its batches up to the
        next refresh unpriced (``docs/allocation.md``, room prices by
        tier)."""
        if not self.room_priced:
            self._guaranteed = None
            return
        if self._drawn_for == (batch, now):
            return  # this batch's refresh drew them
        demand = self.outlook.sample(
            now,
            self._pool(current),
            capacity=self.ledger.remaining(),
            stock=self.ledger.stock,
            draw=batch,
            congestion=self.ledger.monitor.congestion,
        )
        self._keep_guaranteed(demand, now, batch)

    def _keep_guaranteed(
        self, demand: DemandSample | None, now: np.datetime64, batch: int
    ) -> None:
        """The guaranteed rows of ``demand``, drawn for ``batch`` at ``now``."""
        self._guaranteed = None if demand is None else demand.guaranteed
        self._drawn_at = now
        self._drawn_for = (batch, now)

    def room_prices(self, now: np.datetime64 | None) -> RoomPrices | None:
        """The room prices by tier against the room left now (``None``:
        not asked for, or nothing to come): the guaranteed orders of the
        batch's draw (:meth:`draw_room`) still to come at ``now``
        (``AllocationSettings.room_prices_by_tier``)."""
        if not self.room_priced:
            return None
        if self._guaranteed is None or now is None:
            return None
        return RoomPrices.of(
            self._guaranteed, self.ledger.remaining(), now, self._drawn_at
        )

    def _early_rest(self, day: dt.date, offset_s: float, observed: int) -> float:
        """The orders to come for the stock prices when the intraday
        forecast abstains (less than ``EARLY_SHARE`` of the day gone): the
        orders seen as if that share had gone, a lower estimate. Read as
        none to come, the night's first orders took the last units
        unpriced (``docs/allocation.md``, stock bid prices)."""
        if (
            self.forecast.total is not None
            or self.forecast.multiplier(day, offset_s, observed) is not None
        ):
            return 0.0
        share = self.forecast.share_before(day, offset_s)
        return observed * max(1.0 - share, 0.0) / max(share, EARLY_SHARE)

    def max_price(self) -> float:
        """The highest current price (0 when batches see none)."""
        return float(self.prices.max(initial=0.0)) if self.enabled else 0.0

    def due(
        self,
        batch: int,
        first: int,
        capacity_fell: bool,
        now: np.datetime64,
        current: NDArray[np.intp],
    ) -> bool:
        """Refresh every ``bid_refresh`` batches, after a capacity event, at
        the first batch of a run (or of a resumed run that could not
        :meth:`restore` the prices in force), and when the forecast of the
        day's total has moved by more than ``bid_shift`` since the last
        refresh (:meth:`expected_total`)."""
        if not self.enabled:
            return False
        every = max(self.settings.bid_refresh, 1)
        fresh = batch == first and not self._restored
        if batch % every == 0 or capacity_fell or fresh:
            return True
        total = self.expected_total(now, current)
        last = self._total_at_refresh
        if total is None or last is None:
            return False
        return abs(total - last) > self.settings.bid_shift * max(last, 1.0)

    def expected_total(
        self, now: np.datetime64, current: NDArray[np.intp]
    ) -> float | None:
        """Today's orders so far (``current`` included) plus the forecast of
        the rest (``None`` before any order)."""
        return self._total(now, self._pool(current))

    def _total(self, now: np.datetime64, pool: NDArray[np.intp]) -> float | None:
        """:meth:`expected_total` of the orders in ``pool``."""
        if pool.size == 0:
            return None
        at = self.outlook.moment(now, pool)
        return at.observed + self.forecast.remaining(at.day, at.offset_s, at.observed)

    def _pool(self, current: NDArray[np.intp]) -> NDArray[np.intp]:
        """The orders seen so far and those of the current batch."""
        mask = self.seen.copy()
        mask[current] = True
        return np.flatnonzero(mask)

    def mark_seen(self, window: NDArray[np.intp]) -> None:
        """The orders of ``window`` have arrived (their mix is the forecast's)."""
        self.stock_outlook.mark_seen(window[~self.seen[window]])
        self.seen[window] = True

    @property
    def total_at_refresh(self) -> float | None:
        """The forecast day total the current prices were computed for."""
        return self._total_at_refresh

    def restore(self, prices: Sequence[float], total: float | None) -> None:
        """The prices in force when a resumed run starts, and the day's
        total they were computed for, as the batch that computed them
        journalled them (:class:`~tierflow.orchestration.allocation.outcome.BatchStat`):
        a refresh forced at the resumed batch gave prices an uninterrupted
        run never had, and every batch after it could differ."""
        self.prices = np.asarray(prices, dtype=np.float64)
        self._total_at_refresh = total
        self._restored = True

    def refresh(
        self, now: np.datetime64, current: NDArray[np.intp], batch: int = 0
    ) -> None:
        """Duals of the LP over the demand still to come after this batch
        (:class:`~tierflow.orchestration.demand.DemandOutlook`: the forecast's
        remaining volume, the history's mix blended with today's so far),
        its sample drawn with ``batch``'s own random numbers."""
        pool = self._pool(current)
        self._total_at_refresh = self._total(now, pool)
        self.refreshed_at.append(now)
        demand = self.outlook.sample(
            now,
            pool,
            capacity=self.ledger.remaining(),
            stock=self.ledger.stock,
            draw=batch,
            congestion=self.ledger.monitor.congestion,
        )
        self._keep_guaranteed(demand, now, batch)
        if demand is None:
            self.prices = np.zeros(self.network.n_nodes)
            return
        # a deterministic run's LP runs to its end (HiGHS's dual simplex, or
        # IPX and crossover: the same path on any machine); a clock limit
        # that cut it short gave zero prices on a slow or busy machine only
        self.prices = bid_prices(
            demand,
            self.ledger.remaining(),
            time_limit_s=None
            if self.settings.deterministic
            else max(self.settings.time_limit_s, 1.0),
            scenarios=self.settings.bid_scenarios,
            cv=remaining_cv(self.forecast.prior_cv, self.outlook.moment(now, pool)),
            seed=(self.settings.seed, batch),
        )
        if self.publish is not None:
            self.publish(self.prices, now)
