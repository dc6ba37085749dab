"""Stock bid prices: the value of one more unit of a SKU at a node today.

Capacity bid prices (:mod:`tierflow.orchestration.bid_prices`) price a
node's room; on a network with thin stock the scarce resource is the units
themselves: an early Gold order takes the last unit a later Platinum order
needed. The price of a unit of SKU ``k`` at node ``j`` is what the rest of
the day is expected to lose if it is used now, the expected dual of the
stock row of ``k`` over the demand still to come (``docs/allocation.md``,
stock bid prices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import service_index
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.order_pricing import lines_of
from tierflow.formulations.tiers import TierPolicy

#: Weight, in orders, of the catalogue's popularity against the orders seen
#: in each SKU's expected demand (as ``demand.HISTORY_WEIGHT`` for the mix).
PRIOR_ORDERS = 300.0
#: Fewer orders known than this: no stock prices yet.
MIN_KNOWN = 1
#: Orders of each tier added to the orders known in the tiers' shares.
TIER_PRIOR = 1.0


def stock_bid_prices(
    stock: NDArray[np.int64],
    rate: NDArray[np.float64],
    value: NDArray[np.float64],
    eligible: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """``(n_nodes, n_skus)`` $ per unit: the expected dual of each SKU's
    stock row under Poisson demand (the price of the first unit taken;
    :class:`StockPrices` prices ``q`` units).

    Parameters
    ----------
    stock
        ``(n_nodes, n_skus)`` units left.
    rate
        ``(n_classes, n_skus)`` units of each SKU each class of demand is
        expected to ask for in the rest of the day.
    value
        ``(n_classes,)`` what a class loses per unit it cannot have.
    eligible
        ``(n_classes, n_nodes)`` the nodes that may serve each class.

    Notes
    -----
    For one SKU with ``S`` units and integer demands ``N_c`` per class, the
    day's LP serves the classes by value and the dual of the stock row
    (the value of the ``S``-th unit, the one used up now) is the value of
    the class the ``S``-th unit reaches: with the classes sorted by value
    ``v_1 > ... > v_C`` (``v_{C+1} = 0``) and ``N_{<=c}`` the demand of the
    first ``c``, it is ``sum_c (v_c - v_{c+1}) [N_{<=c} >= S]``. Its
    expectation, with Poisson demands, is
    ``sum_c (v_c - v_{c+1}) P(N_{<=c} >= S_c)``, where ``S_c`` is the stock
    at the nodes that may serve one of the first ``c`` classes, the term
    counting only at those nodes. This is the randomized LP of Talluri and
    van Ryzin (1999), solved in closed form: the LP of the *expected* demand
    prices a unit that a Platinum order reaches with probability 0.05 at
    the Gold value, as if 0.05 of a Platinum order could be served.
    """
    return StockPrices.of(stock, rate, value, eligible).unit


@dataclass(frozen=True, slots=True, eq=False)
class StockPrices:
    """The stock bid prices of one batch: the first unit's price
    (:attr:`unit`) and the price of taking ``q`` units (:meth:`charge`).

    Taking ``q`` units of a SKU at a node holding some of its ``S_c``
    units (at the nodes of the first ``c`` classes) uses up the
    ``S_c``-th, ..., ``(S_c - q + 1)``-th: the price is the sum of their
    marginal expected duals,
    ``sum_{i<q} sum_c (v_c - v_{c+1}) P(N_{<=c} >= S_c - i)``, which grows
    faster than ``q`` times the first unit's (the later units are the
    ones more likely to be needed).

    Build with :meth:`of`.
    """

    #: ``(n_nodes, n_skus)`` units left.
    stock: NDArray[np.int64]
    #: ``(n_classes, n_skus)`` cumulative Poisson rates ``N_{<=c}``, the
    #: classes by value, highest first.
    lam: NDArray[np.float64]
    #: ``(n_classes,)`` ``v_c - v_{c+1}``.
    step: NDArray[np.float64]
    #: ``(n_classes, n_nodes)`` the nodes of the first ``c`` classes.
    reach: NDArray[np.bool_]
    #: ``(n_nodes, n_skus)`` the price of the first unit taken.
    unit: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        stock: NDArray[np.int64],
        rate: NDArray[np.float64],
        value: NDArray[np.float64],
        eligible: NDArray[np.bool_],
    ) -> StockPrices:
        """The prices of ``stock`` for the classes' ``rate`` and ``value``
        (arguments as :func:`stock_bid_prices`)."""
        order = np.argsort(-value, kind="stable")
        v = value[order]
        step = v - np.append(v[1:], 0.0)
        lam = np.cumsum(rate[order], axis=0)
        reach = np.logical_or.accumulate(eligible[order], axis=0)
        left = np.maximum(stock, 0)
        unit = np.zeros(stock.shape)
        for c in range(step.size):
            if step[c] <= 0 or not reach[c].any():
                continue
            units = left[reach[c]].sum(axis=0)
            # P(N >= S) = sf(S - 1); none left to take: not priced (unused)
            p = np.where(units > 0, _poisson_sf(units - 1, lam[c]), 0.0)
            unit[reach[c]] += step[c] * p[None, :]
        return cls(left, lam, step, reach, unit)

    def charge(
        self, skus: NDArray[np.intp], use: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``(n_items, n_nodes)``: what each item taking ``use[i, k]`` units
        of ``skus[k]`` pays at each node, the sum of the marginal prices of
        the units it takes (a node without them cannot serve it).

        The sum in closed form, ``sum_c (v_c - v_{c+1}) (E min(N_{<=c}, S_c)
        - E min(N_{<=c}, max(S_c - q, 0)))`` (:func:`_expected_min`): summed
        unit by unit, one line of 2,000 units in a batch of 1,000 SKUs took
        8.5 s and 1.9 GB (every SKU's prices to the largest line's depth),
        and a cart's 10,000 units past the machine's memory.
        """
        qty = np.rint(use).astype(np.int64)
        item, col = np.nonzero(qty > 0)
        out = np.zeros((use.shape[0], self.stock.shape[0]))
        if item.size == 0:
            return out
        sku = np.asarray(skus, dtype=np.intp)[col]
        q = qty[item, col]
        uniq, at = np.unique(sku, return_inverse=True)
        held = (self.reach.astype(np.int64) @ self.stock[:, uniq])[:, at]  # S_c
        lam = self.lam[:, sku]
        taken = _expected_min(lam, held) - _expected_min(
            lam, np.maximum(held - q[None, :], 0)
        )
        weight = np.where(self.step > 0, self.step, 0.0)[:, None] * taken
        per_item = np.zeros((use.shape[0], self.step.size))
        np.add.at(per_item, item, weight.T)
        return per_item @ self.reach.astype(np.float64)


def _expected_min(
    lam: NDArray[np.float64], m: NDArray[np.int64]
) -> NDArray[np.float64]:
    """``E min(N, m)`` for ``N ~ Poisson(lam)``, ``m >= 0``: the sum of
    ``P(N > j)`` for ``j < m``, in closed form
    ``lam P(N <= m - 2) + m P(N >= m)``."""
    return np.asarray(
        lam * _poisson_cdf(m - 2, lam) + m * _poisson_sf(m - 1, lam), dtype=np.float64
    )


def _poisson_cdf(k: NDArray[np.int64], lam: NDArray[np.float64]) -> NDArray[np.float64]:
    """``P(N <= k)`` for ``N ~ Poisson(lam)`` (0 for ``k < 0``): what
    ``scipy.stats.poisson.cdf`` gives, bit for bit, from ``scipy.special``,
    whose import is a third of ``scipy.stats``'s (0.3 s of every command
    and server start that allocates), imported on the first call: a server
    start answers its first requests without it."""
    from scipy.special import pdtr

    return np.where(k < 0, 0.0, pdtr(np.maximum(k, 0), lam))


def _poisson_sf(k: NDArray[np.int64], lam: NDArray[np.float64]) -> NDArray[np.float64]:
    """``P(N > k)`` for ``N ~ Poisson(lam)`` (1 for ``k < 0``), as
    :func:`_poisson_cdf` (``scipy.stats.poisson.sf`` bit for bit)."""
    from scipy.special import pdtrc

    return np.where(k < 0, 1.0, pdtrc(np.maximum(k, 0), lam))


class StockOutlook:
    """The demand for each SKU still to come today, by tier, and the value
    of a unit to each tier, from what the allocator has seen.

    What it reads: the day's orders marked seen, the history's orders (the
    forecast's pool, when there is one), the catalogue's popularity (the
    prior of a SKU seen in few orders) and the forecast's remaining volume,
    never an order not yet arrived.

    Parameters
    ----------
    network, orders, policy, spend
        The day's inputs (``spend``: CLTV per order).
    history
        Past orders (the forecast's pool), or ``None``.
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        policy: TierPolicy,
        spend: NDArray[np.float64],
        history: Orders | None = None,
    ) -> None:
        self.network, self.orders, self.policy = network, orders, policy
        self.spend = spend
        #: Units of each SKU in the known orders, their orders by tier and
        #: the sum over them of penalty per unit, by tier.
        self._units = np.zeros(network.n_skus)
        self._orders = np.zeros(len(TIERS))
        self._per_unit = np.zeros(len(TIERS))
        if history is not None and history.n_orders:
            # a past customer's spend is not known: the tier's base penalty
            idx = np.arange(history.n_orders, dtype=np.intp)
            units, n, per_unit = self._counts(history, idx, np.zeros(idx.size))
            self._units, self._orders, self._per_unit = units, n, per_unit
        pop = np.clip(np.nan_to_num(network.sku_popularity), 0.0, None)
        self._prior = (
            pop / pop.sum() if pop.sum() > 0 else np.full(pop.size, 1 / pop.size)
        )
        self.eligible = np.array(
            [
                np.logical_or.reduce(
                    [network.offers(service_index(s)) for s in policy.rule(t).services]
                )
                for t in TIERS
            ]
        )

    def _counts(
        self,
        orders: Orders,
        idx: NDArray[np.intp],
        spend: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Units per SKU, orders per tier and penalty per unit summed per
        tier, of ``orders[idx]`` (orders without units are left out)."""
        units = np.zeros(self.network.n_skus)
        n = np.zeros(len(TIERS))
        per_unit = np.zeros(len(TIERS))
        if idx.size == 0:
            return units, n, per_unit
        lines = lines_of(orders, idx)
        np.add.at(units, orders.line_sku[lines], orders.line_qty[lines])
        owner = np.repeat(np.arange(idx.size), np.diff(orders.line_start)[idx])
        qty = np.zeros(idx.size)
        np.add.at(qty, owner, orders.line_qty[lines])
        tier = self.policy.tier_index(orders.tier[idx])
        pen = self.policy.defer_cost(orders.tier[idx], spend)
        ok = qty > 0
        np.add.at(n, tier[ok], 1.0)
        np.add.at(per_unit, tier[ok], pen[ok] / qty[ok])
        return units, n, per_unit

    def mark_seen(self, idx: NDArray[np.intp]) -> None:
        """Today's orders ``idx`` have arrived."""
        idx = np.asarray(idx, dtype=np.intp)
        units, n, per_unit = self._counts(self.orders, idx, self.spend[idx])
        self._units += units
        self._orders += n
        self._per_unit += per_unit

    def prices(
        self,
        stock: NDArray[np.int64],
        rest: float,
        current: NDArray[np.intp] | None = None,
    ) -> StockPrices | None:
        """The stock bid prices for ``rest`` orders still
        to come, the orders seen and ``current`` (arrived, not yet marked
        seen) known (``None``: too few orders known, or none to come)."""
        idx = np.zeros(0, dtype=np.intp) if current is None else current
        units, n, per_unit = self._counts(self.orders, idx, self.spend[idx])
        units = units + self._units
        n = n + self._orders
        per_unit = per_unit + self._per_unit
        known = float(n.sum())
        if known < MIN_KNOWN or rest <= 0:
            return None
        # a tier seen in no order yet is neither absent nor free: its share
        # is smoothed by TIER_PRIOR orders a tier, its value per unit is
        # the policy's base penalty over the mean units of an order
        share = (n + TIER_PRIOR) / (known + TIER_PRIOR * n.size)
        mean_units = float(units.sum()) / known
        base = self.policy.table("defer")
        value = np.where(
            n > 0,
            per_unit / np.maximum(n, 1.0),
            base / max(mean_units, 1.0),
        )
        per_order = (units + PRIOR_ORDERS * mean_units * self._prior) / (
            known + PRIOR_ORDERS
        )
        rate = rest * share[:, None] * per_order[None, :]
        return StockPrices.of(stock, rate, value, self.eligible)
