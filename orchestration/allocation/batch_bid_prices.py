"""Bid prices for the day's batches: LP duals over the demand still to come.

See ``docs/allocation.md`` (bid prices) and :mod:`tierflow.orchestration.bid_prices`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.fulfillment import price_orders, stock_ok
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.ledger import CapacityLedger
from tierflow.orchestration.allocation.settings import AllocationSettings
from tierflow.orchestration.bid_prices import DemandSample, bid_prices, sample_demand

#: Called with every new set of bid prices and the time they are for.
BidPricePublisher = Callable[[NDArray[np.float64], np.datetime64], None]

#: Orders priced at most per refresh (the demand sample is drawn from them).
_POOL = 1000
#: Fewer orders seen than this: no forecast yet, zero prices.
_MIN_SEEN = 20


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
        self._rng = np.random.default_rng(settings.seed)

    @property
    def enabled(self) -> bool:
        """Whether batches see bid prices at all."""
        return self.settings.batch_bid_prices

    def for_batch(self) -> NDArray[np.float64] | None:
        """The prices a batch adds to node costs (``None``: none)."""
        return self.prices if self.enabled else None

    def max_price(self) -> float:
        """The highest current price (0 when batches see none)."""
        return float(self.prices.max(initial=0.0)) if self.enabled else 0.0

    def due(self, batch: int, first: int, capacity_fell: bool) -> bool:
        """Refresh every ``bid_refresh`` batches, after a capacity event, and
        at the first batch of a run (or of a resumed run)."""
        every = max(self.settings.bid_refresh, 1)
        return self.enabled and (batch % every == 0 or capacity_fell or batch == first)

    def mark_seen(self, window: NDArray[np.intp]) -> None:
        """The orders of ``window`` have arrived (their mix is the forecast's)."""
        self.seen[window] = True

    def refresh(self, now: np.datetime64, current: NDArray[np.intp]) -> None:
        """Duals of the LP over the demand still to come after this batch.

        Its mix is that of the orders seen so far today, this batch included;
        its size the expected day volume minus what has arrived.
        """
        pool_mask = self.seen.copy()
        pool_mask[current] = True
        seen = np.flatnonzero(pool_mask)
        expected = self.settings.expected_orders or self.orders.n_orders
        rest = max(float(expected - seen.size), 0.0)
        if rest <= 0 or seen.size < _MIN_SEEN:
            self.prices = np.zeros(self.network.n_nodes)
            return
        demand = self._demand(seen, now, rest)
        self.prices = bid_prices(
            demand,
            self.ledger.remaining(),
            time_limit_s=max(self.settings.time_limit_s, 1.0),
        )
        if self.publish is not None:
            self.publish(self.prices, now)

    def _demand(
        self, seen: NDArray[np.intp], now: np.datetime64, rest: float
    ) -> DemandSample:
        """``rest`` orders to come, standing on a sample of the ``seen`` ones."""
        pick = self._rng.choice(seen, size=min(seen.size, _POOL), replace=False)
        pick.sort()
        release = np.full(pick.size, now, dtype="datetime64[s]")
        options = price_orders(
            self.network, self.orders, pick, self.policy, release=release
        )
        ok = stock_ok(self.orders, pick, self.ledger.stock) & options.feasible
        cost = np.where(ok, options.cost, np.inf)
        best = np.where(ok.any(axis=1), np.min(cost, axis=1), 0.0)
        defer = best + self.policy.defer_cost(self.orders.tier[pick], self.spend[pick])
        return sample_demand(
            cost, options.workload, defer, rest, seed=self.settings.seed
        )
