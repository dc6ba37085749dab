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
from tierflow.formulations.batch_compiler import deferral_reference
from tierflow.formulations.order_pricing import (
    GUARANTEE_FALLBACK,
    lines_of,
    price_orders,
)
from tierflow.formulations.tiers import TierPolicy

#: Weight, in orders, of the catalogue's popularity against the orders seen
#: in each SKU's expected demand (as ``demand.HISTORY_WEIGHT`` for the mix)
#: where the lines seen do not reject it, and its most where they do
#: (:func:`prior_weight`).
PRIOR_ORDERS = 300.0
#: Level at which Pearson's chi-square test of the lines per SKU must
#: reject the catalogue's popularity for the prior's weight to be estimated.
PRIOR_TEST_LEVEL = 0.01
#: Lines a SKU must be expected to have to be a cell of the test of its
#: own (the others pooled, the pool left out when it expects fewer).
MIN_EXPECTED_LINES = 5.0
#: Fewer orders known than this: no stock prices yet.
MIN_KNOWN = 1
#: Orders of each tier added to the orders known in the tiers' shares.
TIER_PRIOR = 1.0
#: Orders x nodes priced at a time for the tiers' net values (about
#: 16 MB an array).
NET_CHUNK_ENTRIES = 2_000_000
#: A tier's net values from at most this many of the history's orders,
#: its newest: every node's price of 200,000 orders took 6.9 s at a start
#: (the sample network, 52 nodes), for a mean that 10,000 give as well.
NET_HISTORY_ORDERS = 10_000


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
        ``(n_classes,)`` what a class loses per unit it cannot have, or
        ``(n_classes, n_nodes)`` what it gains per unit served from each
        node: its loss net of the extra cost of shipping from there
        (:meth:`StockOutlook.prices`).
    eligible
        ``(n_classes, n_nodes)`` the nodes that may serve each class.

    Notes
    -----
    For one SKU with ``S_j`` units at node ``j``, integer demands ``N_c``
    per class and ``w_cj`` the value of serving a unit of class ``c`` from
    node ``j`` (its deferral loss ``v_c`` less the extra cost of shipping
    from ``j`` rather than from its cheapest node, which a waiting order
    ships from tomorrow), the day's LP is ``max sum_cj w_cj x_cj`` subject
    to ``sum_j x_cj <= N_c`` and ``sum_c x_cj <= S_j`` (``x_cj = 0`` where
    ``c`` may not ship from ``j``). The dual of node ``j``'s stock row is
    the value at ``j`` of the class its last unit reaches. With the
    classes ranked at ``j`` by ``w_cj``, ``w_(1)j > ... > w_(C)j``
    (``w_(C+1)j = 0``), ``N_{<=k}`` the demand of the first ``k`` and
    ``S_k`` the units at the nodes that may serve one of them, that unit
    reaches the first ``k`` with ``N_{<=k} >= S_k``: the dual is
    ``sum_k (w_(k)j - w_(k+1)j) [N_{<=k} >= S_k]``, and its expectation
    under Poisson demands ``sum_k (w_(k)j - w_(k+1)j) P(N_{<=k} >= S_k)``,
    the term counting only where ``j`` is among the ``S_k``'s nodes. This
    is the randomized LP of Talluri and van Ryzin (1999), solved in closed
    form: the LP of the *expected* demand prices a unit that a Platinum
    order reaches with probability 0.05 at the Gold value, as if 0.05 of a
    Platinum order could be served. The units of the nodes are pooled as
    if every node ranked the classes as ``j`` does, which is exact where a
    class's value is the same at each of its nodes (``value`` of shape
    ``(n_classes,)``: the gross form, one ranking for every node); a class
    that may not ship from ``j`` still takes units from the pool, ranked at
    ``j`` by its value at its best node. A unit is never worth more to a
    later order than serving it from that node gains it: priced at the
    gross loss, a node far from the demand kept units that an order
    shipping from it now gains more from than any later order would.
    """
    return StockPrices.of(stock, rate, value, eligible).unit


@dataclass(frozen=True, slots=True, eq=False)
class StockPrices:
    """The stock bid prices of one batch: the first unit's price
    (:attr:`unit`) and the price of taking ``q`` units (:meth:`charge`).

    Taking ``q`` units of a SKU at a node holding some of its ``S_k``
    units (at the nodes of the first ``k`` classes in that node's ranking)
    uses up the ``S_k``-th, ..., ``(S_k - q + 1)``-th: the price is the sum
    of their marginal expected duals,
    ``sum_{i<q} sum_k (w_(k) - w_(k+1)) P(N_{<=k} >= S_k - i)``, which
    grows faster than ``q`` times the first unit's (the later units are the
    ones more likely to be needed).

    The nodes that rank the classes alike form a group, which shares the
    cumulative rates and the nodes reached; each node has its own steps.

    Build with :meth:`of`.
    """

    #: ``(n_nodes, n_skus)`` units left.
    stock: NDArray[np.int64]
    #: ``(n_groups, n_classes, n_skus)`` cumulative Poisson rates
    #: ``N_{<=k}``, the classes in the group's ranking, highest first.
    lam: NDArray[np.float64]
    #: ``(n_nodes, n_classes)`` ``w_(k) - w_(k+1)`` at each node, in its
    #: group's ranking (0 where the node is not among the first ``k``'s).
    step: NDArray[np.float64]
    #: ``(n_groups, n_classes, n_nodes)`` the nodes of the first ``k``
    #: classes of each group's ranking.
    reach: NDArray[np.bool_]
    #: ``(n_nodes,)`` each node's group.
    group: NDArray[np.intp]
    #: ``(n_nodes, n_skus)`` the price of the first unit taken (0 where
    #: the node has none).
    unit: NDArray[np.float64]
    #: ``(n_nodes, n_skus)`` the units these prices charge for (the others
    #: are :attr:`others`').
    priced: NDArray[np.bool_]
    #: The prices of the units not :attr:`priced` here, or ``None``.
    others: StockPrices | None = None

    @classmethod
    def of(
        cls,
        stock: NDArray[np.int64],
        rate: NDArray[np.float64],
        value: NDArray[np.float64],
        eligible: NDArray[np.bool_],
        priced: NDArray[np.bool_] | None = None,
        others: StockPrices | None = None,
    ) -> StockPrices:
        """The prices of ``stock`` for the classes' ``rate`` and ``value``
        (arguments as :func:`stock_bid_prices`), charged for the units
        ``priced`` (``(n_nodes, n_skus)``, default all), the others at
        ``others``' prices."""
        worth = _ranking_values(np.asarray(value, dtype=np.float64), eligible)
        n_classes, n_nodes = worth.shape
        rank = np.argsort(-worth.T, axis=1, kind="stable")  # (n_nodes, C)
        ranks, group = np.unique(rank, axis=0, return_inverse=True)
        group = np.asarray(group, dtype=np.intp).reshape(-1)
        v = np.take_along_axis(worth.T, rank, axis=1)
        step = v - np.concatenate([v[:, 1:], np.zeros((n_nodes, 1))], axis=1)
        lam = np.cumsum(rate[ranks], axis=1)  # (G, C, K)
        reach = np.logical_or.accumulate(eligible[ranks], axis=1)  # (G, C, J)
        at = reach[group, :, np.arange(n_nodes)]  # (J, C): j among the k's
        step = np.where(at & (step > 0), step, 0.0)
        left = np.maximum(stock, 0)
        unit = np.zeros(stock.shape)
        for g in range(ranks.shape[0]):
            nodes = group == g
            for c in range(n_classes):
                s = step[nodes, c]
                if not (s > 0).any():
                    continue
                units = left[reach[g, c]].sum(axis=0)
                # P(N >= S) = sf(S - 1); none left to take: not priced (unused)
                p = np.where(units > 0, _poisson_sf(units - 1, lam[g, c]), 0.0)
                unit[nodes] += s[:, None] * p[None, :]
        mine = (
            np.ones(stock.shape, dtype=bool)
            if priced is None
            else np.asarray(priced, dtype=bool)
        )
        # a node with none of a SKU prices none (it serves no line)
        unit = np.where(mine & (left > 0), unit, 0.0)
        if others is not None:
            unit = unit + others.unit
        return cls(left, lam, step, reach, group, unit, mine, others)

    def charge(
        self, skus: NDArray[np.intp], use: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``(n_items, n_nodes)``: what each item taking ``use[i, k]`` units
        of ``skus[k]`` pays at each node, the sum of the marginal prices of
        the units it takes (a node without them cannot serve it).

        The sum in closed form, ``sum_k (w_(k) - w_(k+1)) (E min(N_{<=k},
        S_k) - E min(N_{<=k}, max(S_k - q, 0)))`` (:func:`_expected_min`):
        summed unit by unit, one line of 2,000 units in a batch of 1,000
        SKUs took 8.5 s and 1.9 GB (every SKU's prices to the largest
        line's depth), and a cart's 10,000 units past the machine's memory.
        """
        qty = np.rint(use).astype(np.int64)
        item, col = np.nonzero(qty > 0)
        out = np.zeros((use.shape[0], self.stock.shape[0]))
        if item.size == 0:
            return out
        sku = np.asarray(skus, dtype=np.intp)[col]
        q = qty[item, col]
        uniq, at = np.unique(sku, return_inverse=True)
        for g in range(self.lam.shape[0]):
            nodes = np.flatnonzero(self.group == g)
            step = self.step[nodes]
            if not (step > 0).any():
                continue
            reach = self.reach[g].astype(np.int64)
            held = (reach @ self.stock[:, uniq])[:, at]  # S_k
            lam = self.lam[g][:, sku]
            taken = _expected_min(lam, held) - _expected_min(
                lam, np.maximum(held - q[None, :], 0)
            )
            priced = self.priced[nodes][:, sku]  # (nodes, lines)
            at_nodes = np.zeros((use.shape[0], nodes.size))
            if priced.all():
                per_item = np.zeros((use.shape[0], step.shape[1]))
                np.add.at(per_item, item, taken.T)
                at_nodes = per_item @ step.T
            else:  # per line: a unit :attr:`others` prices is not charged here
                np.add.at(at_nodes, item, (taken.T @ step.T) * priced.T)
            out[:, nodes] = at_nodes
        if self.others is not None:
            out += self.others.charge(skus, use)
        return out


def shippable_stock(
    stock: NDArray[np.int64],
    room: NDArray[np.float64],
    work: NDArray[np.float64],
) -> NDArray[np.int64]:
    """``(n_nodes, n_skus)`` the units of each SKU each node can still ship
    today: its ``stock``, at most the whole units its ``room`` left
    (capacity units, ``(n_nodes,)``) holds at ``work`` capacity units a
    unit (``(n_nodes, n_skus)``; 0 or less: the room does not bound it).

    The supply ``S`` the stock prices read: a unit its node has no room to
    ship today serves no later order (the day's LP bounds what a node
    ships by its room as well as its units). Counted, units behind a
    nearly full node made the last units elsewhere look plentiful: a
    store with 198 units and room for 27 priced a warehouse's 40 as if
    the day's supply were 238 units, beyond all but the rest of the day's
    Silver and Overflow demand, at their values (``docs/allocation.md``,
    net values). Each SKU is bounded by
    the whole room, as if the node shipped it alone: the relaxation of the
    room the SKUs share, exact for one SKU. A node with no room left
    holds no supply, as before."""
    left = np.maximum(np.asarray(stock, dtype=np.int64), 0)
    free = np.maximum(np.asarray(room, dtype=np.float64), 0.0)[:, None]
    per = np.asarray(work, dtype=np.float64)
    bounded = per > 0
    # a hair above the quotient: a room of exactly q units' work holds q
    fits = np.floor(free / np.where(bounded, per, 1.0) * (1 + 1e-12) + 1e-9)
    cap = np.where(bounded, np.minimum(fits, np.iinfo(np.int64).max // 2), left)
    return np.minimum(left, cap.astype(np.int64))


def _ranking_values(
    value: NDArray[np.float64], eligible: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """``(n_classes, n_nodes)`` the value each node ranks each class by:
    ``value`` per node (or the same at every node), and where a class may
    not ship from a node its value at its best node, where it takes units
    from the pool the node's units are part of (a class no node may serve:
    its highest value)."""
    if value.ndim == 1:
        return np.broadcast_to(value[:, None], eligible.shape)
    best = np.where(eligible, value, -np.inf).max(axis=1, initial=-np.inf)
    best = np.where(np.isfinite(best), best, value.max(axis=1, initial=0.0))
    return np.where(eligible, value, best[:, None])


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


def _newest_per_tier(
    which: NDArray[np.intp],
    tier: NDArray[np.intp],
    created: NDArray[np.datetime64],
    newest: int,
) -> NDArray[np.intp]:
    """The positions ``which`` of each tier's ``newest`` orders by
    ``created`` (the latest position first among orders made together), in
    their order."""
    t = tier[which]
    # by tier, then newest first
    rank = np.lexsort((-which, -created[which].astype(np.int64), t))
    counts = np.bincount(t[rank], minlength=int(t.max(initial=0)) + 1)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    keep = np.arange(rank.size) - start < newest
    return np.sort(which[rank[keep]])


def prior_weight(
    lines: NDArray[np.float64], prior: NDArray[np.float64], known: float
) -> float:
    """The weight, in orders, of the catalogue's popularity ``prior`` in
    each SKU's units per order, from the ``lines`` per SKU of the ``known``
    orders: :data:`PRIOR_ORDERS` unless Pearson's chi-square test of the
    lines against the popularity rejects it at :data:`PRIOR_TEST_LEVEL`;
    then the moment estimate of a Dirichlet prior's concentration,
    at most :data:`PRIOR_ORDERS`.

    Where each line's SKU is drawn from a Dirichlet of mean ``prior`` and
    concentration ``a`` (in lines; Mosimann, 1962), the ``n`` lines'
    counts vary ``C = (n + a) / (1 + a)`` times a multinomial's, and
    Pearson's statistic ``X^2`` over the test's cells is about ``C`` times
    its degrees of freedom: ``C = X^2 / df`` gives ``a = (n - C) / (C - 1)``
    lines, ``a`` over the lines an order in orders. Only where the test
    rejects the popularity: estimated whenever the lines spread wider than
    its draws, the weight fell to 60 orders on thin-stock days of 3,000
    SKUs where one line of a rare SKU lowered it, and two of them cost more
    (``docs/allocation.md``, stock bid prices). Where every order asks for
    one SKU of four alike, the popularity's quarter diluted that SKU's units
    to come to a quarter of the orders': the rejected prior weighs nothing.
    """
    n = float(lines.sum())
    if n <= 0 or known <= 0:
        return PRIOR_ORDERS
    expected = n * prior
    own = expected >= MIN_EXPECTED_LINES
    observed, expect = list(lines[own]), list(expected[own])
    pooled = float(expected[~own].sum())
    if pooled >= MIN_EXPECTED_LINES:
        observed.append(float(lines[~own].sum()))
        expect.append(pooled)
    df = len(expect) - 1
    if df < 1:
        return PRIOR_ORDERS
    o, e = np.asarray(observed), np.asarray(expect)
    x2 = float(np.sum((o - e) ** 2 / e))
    from scipy.special import chdtrc  # the chi-square tail (lazy: as pdtr)

    if float(chdtrc(df, x2)) >= PRIOR_TEST_LEVEL:
        return PRIOR_ORDERS
    c = x2 / df
    concentration = max((n - c) / (c - 1.0), 0.0)
    return min(concentration * known / n, PRIOR_ORDERS)


@dataclass(frozen=True, slots=True)
class _Known:
    """What the stock prices read from a set of known orders (those with
    units): units per SKU, orders per tier, and summed over them per
    tier the penalty per unit (``per_unit``) and per node what serving a
    unit from there gains (``net``, :meth:`StockOutlook._net_per_unit`)."""

    units: NDArray[np.float64]
    orders: NDArray[np.float64]
    per_unit: NDArray[np.float64]
    net: NDArray[np.float64]
    #: Lines per SKU (:func:`prior_weight`).
    lines: NDArray[np.float64]

    @classmethod
    def none(cls, n_skus: int, n_nodes: int) -> _Known:
        n = len(TIERS)
        return cls(
            np.zeros(n_skus),
            np.zeros(n),
            np.zeros(n),
            np.zeros((n, n_nodes)),
            np.zeros(n_skus),
        )

    def __add__(self, other: _Known) -> _Known:
        return _Known(
            self.units + other.units,
            self.orders + other.orders,
            self.per_unit + other.per_unit,
            self.net + other.net,
            self.lines + other.lines,
        )


class StockOutlook:
    """The demand for each SKU still to come today, by tier, and the value
    of a unit to each tier at each node, from what the allocator has seen.

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
        #: What the known orders say (:class:`_Known`).
        self._known = _Known.none(network.n_skus, network.n_nodes)
        #: The batch's own orders of the last :meth:`prices` and what they
        #: say, read again by :meth:`mark_seen` (priced once).
        self._current: tuple[bytes, _Known] | None = None
        if history is not None and history.n_orders:
            # a past customer's spend is not known: the tier's base penalty
            idx = np.arange(history.n_orders, dtype=np.intp)
            self._known = self._counts(
                history, idx, np.zeros(idx.size), newest=NET_HISTORY_ORDERS
            )
        pop = np.clip(np.nan_to_num(network.sku_popularity), 0.0, None)
        self._prior = (
            pop / pop.sum() if pop.sum() > 0 else np.full(pop.size, 1 / pop.size)
        )
        #: ``(n_tiers, n_nodes)`` the nodes that may serve each tier: those
        #: offering one of its services, and for a guaranteed tier those
        #: offering a service it falls back to where no node keeps its date
        #: (a store without next-day ships Platinum two-day).
        self.eligible = np.array(
            [
                np.logical_or.reduce(
                    [network.offers(service_index(s)) for s in policy.rule(t).services]
                    + [
                        network.offers(s)
                        for s in (
                            GUARANTEE_FALLBACK if policy.rule(t).guaranteed else ()
                        )
                    ]
                )
                for t in TIERS
            ]
        )

    def _counts(
        self,
        orders: Orders,
        idx: NDArray[np.intp],
        spend: NDArray[np.float64],
        newest: int | None = None,
    ) -> _Known:
        """What ``orders[idx]`` say (orders without units are left out);
        ``newest``: each tier's net values from its ``newest`` orders only
        (:data:`NET_HISTORY_ORDERS`), their mean counted for all of its
        orders."""
        known = _Known.none(self.network.n_skus, self.network.n_nodes)
        if idx.size == 0:
            return known
        lines = lines_of(orders, idx)
        np.add.at(known.units, orders.line_sku[lines], orders.line_qty[lines])
        owner = np.repeat(np.arange(idx.size), np.diff(orders.line_start)[idx])
        qty = np.zeros(idx.size)
        np.add.at(qty, owner, orders.line_qty[lines])
        tier = self.policy.tier_index(orders.tier[idx])
        pen = self.policy.defer_cost(orders.tier[idx], spend)
        ok = qty > 0
        counted = orders.line_qty[lines] > 0
        np.add.at(known.lines, orders.line_sku[lines][counted], 1.0)
        np.add.at(known.orders, tier[ok], 1.0)
        np.add.at(known.per_unit, tier[ok], pen[ok] / qty[ok])
        which = np.flatnonzero(ok)
        if newest is not None:
            which = _newest_per_tier(which, tier, orders.created_at[idx], newest)
        # priced in chunks: a history of millions of orders at every node
        # at once would hold gigabytes (price_orders' arrays are per node)
        step = max(1, NET_CHUNK_ENTRIES // max(self.network.n_nodes, 1))
        for start in range(0, which.size, step):
            part = which[start : start + step]
            gain = self._net_per_unit(orders, idx[part], pen[part], qty[part])
            np.add.at(known.net, tier[part], gain)
        if newest is not None:  # a tier's sampled mean, over all its orders
            sampled = np.bincount(tier[which], minlength=len(TIERS)).astype(float)
            cut = sampled < known.orders
            known.net[cut] *= (known.orders[cut] / sampled[cut])[:, None]
        return known

    def _net_per_unit(
        self,
        orders: Orders,
        idx: NDArray[np.intp],
        pen: NDArray[np.float64],
        qty: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """``(len(idx), n_nodes)`` what each order gains per unit when
        served from each node rather than waiting, as the batch's solver
        prices it (:func:`~tierflow.formulations.order_pricing.price_orders`
        at its arrival, :func:`~tierflow.formulations.batch_compiler.deferral_reference`):
        its penalty ``pen`` less what shipping from the node costs more than
        the best cost it ships at tomorrow (shipping, lateness, handling),
        between 0 (it would rather wait) and ``pen`` (0 where it cannot
        ship)."""
        o = price_orders(self.network, orders, idx, self.policy)
        strict = o.shipping + o.penalty
        relaxed = o.relaxed_shipping + o.relaxed_penalty
        cost = np.where(np.isnan(strict), relaxed, strict) + o.handling
        extra = cost - deferral_reference(o)[:, None]
        gain = np.clip(pen[:, None] - extra, 0.0, pen[:, None])
        return np.asarray(np.where(np.isnan(gain), 0.0, gain) / qty[:, None])

    def mark_seen(self, idx: NDArray[np.intp]) -> None:
        """Today's orders ``idx`` have arrived."""
        idx = np.asarray(idx, dtype=np.intp)
        self._known = self._known + self._current_counts(idx)
        self._current = None

    def _current_counts(self, idx: NDArray[np.intp]) -> _Known:
        """:meth:`_counts` of today's orders ``idx``, kept for
        :meth:`mark_seen` of the same orders."""
        key = idx.tobytes()
        if self._current is not None and self._current[0] == key:
            return self._current[1]
        known = self._counts(self.orders, idx, self.spend[idx])
        self._current = (key, known)
        return known

    def prices(
        self,
        stock: NDArray[np.int64],
        rest: float,
        current: NDArray[np.intp] | None = None,
        shippable: NDArray[np.int64] | None = None,
    ) -> StockPrices | None:
        """The stock bid prices for ``rest`` orders still
        to come, the orders seen and ``current`` (arrived, not yet marked
        seen) known (``None``: too few orders known, or none to come).

        ``shippable``: the units of ``stock`` each node can ship today
        (:func:`shippable_stock`, default all). A unit is priced as the
        expected dual of its stock row where the others' supply is what
        they can ship: units behind a full node are no supply. Where a
        node's room bounds it below its units, its own units are priced
        as before, every node's units counted: its stock row is slack in
        the day's LP and its room row binds, but the room's price, the
        capacity bid price, reads the demand of an average SKU and misses
        a SKU whose units are short (priced at 0 there, a Gold order took
        the one MUG such a node could ship and a Platinum order waited;
        ``docs/allocation.md``, net values).

        A tier's value at a node is the mean over its known orders of what
        serving a unit from there gains (:meth:`_net_per_unit`): the
        later order a unit is kept for still pays the shipping from its
        node, and gains from it only its penalty less what that shipping
        costs more than waiting does (``docs/allocation.md``, stock bid
        prices)."""
        idx = np.zeros(0, dtype=np.intp) if current is None else current
        k = self._known + self._current_counts(np.asarray(idx, dtype=np.intp))
        n = k.orders
        known = float(n.sum())
        if known < MIN_KNOWN or rest <= 0:
            return None
        # a tier seen in no order yet is neither absent nor free: its share
        # is smoothed by TIER_PRIOR orders a tier, its value per unit is
        # the policy's base penalty over the mean units of an order, at
        # every node
        share = (n + TIER_PRIOR) / (known + TIER_PRIOR * n.size)
        mean_units = float(k.units.sum()) / known
        base = self.policy.table("defer")
        seen = n > 0
        value = np.where(
            seen[:, None],
            k.net / np.maximum(n, 1.0)[:, None],
            (base / max(mean_units, 1.0))[:, None],
        )
        weight = prior_weight(k.lines, self._prior, known)
        per_order = (k.units + weight * mean_units * self._prior) / (known + weight)
        rate = rest * share[:, None] * per_order[None, :]
        if shippable is None or np.array_equal(shippable, np.maximum(stock, 0)):
            return StockPrices.of(stock, rate, value, self.eligible)
        bound = shippable < np.maximum(stock, 0)
        full = StockPrices.of(stock, rate, value, self.eligible, priced=bound)
        return StockPrices.of(
            shippable, rate, value, self.eligible, priced=~bound, others=full
        )
