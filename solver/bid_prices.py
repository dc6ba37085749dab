"""Bid prices: capacity duals of an LP over the rest of the day's demand.

Acimovic & Graves (2015, "Making Better Fulfillment Decisions on the Fly in
an Online Retail Environment") show that a myopic order-by-order (or
batch-by-batch) assignment burns capacity that later orders need, and that
adding each node's LP capacity dual to its cost (a *bid price*) recovers a
large part of the gap to the hindsight optimum.

The forecast demand is represented by a *sample* of order profiles (their
cost rows, eligibility and workload) with a multiplicity each: ``k`` sampled
orders standing for ``R`` expected orders each count ``R / k``. Scaling a
row's cost, workload and deferral penalty by its multiplicity gives exactly
the LP of the aggregated demand, so the duals are the aggregate's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from formulations.problem import AssignmentProblem
from solver.lp import lp_relaxation
from solver.result import Status


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
    """

    cost: NDArray[np.float64]
    workload: NDArray[np.float64]
    defer_cost: NDArray[np.float64]
    multiplicity: NDArray[np.float64]

    @property
    def expected_orders(self) -> float:
        return float(self.multiplicity.sum())


def bid_prices(
    demand: DemandSample,
    capacity: NDArray[np.float64],
    *,
    time_limit_s: float = 5.0,
) -> NDArray[np.float64]:
    """Capacity duals (cost per capacity unit, >= 0) of the demand's LP.

    Returns zeros when there is no demand or the LP is not solved: no
    scarcity signal is the safe default (the allocator is then myopic).
    """
    m = capacity.size
    if demand.cost.shape[0] == 0 or demand.expected_orders <= 0:
        return np.zeros(m)
    mult = demand.multiplicity[:, None]
    eligible = np.isfinite(demand.cost)
    problem = AssignmentProblem(
        cost=np.where(eligible, demand.cost * mult, 0.0),
        weight=np.repeat((demand.workload[:, None] * mult), m, axis=1),
        capacity=np.maximum(capacity, 0.0),
        eligible=eligible,
        defer_cost=demand.defer_cost * demand.multiplicity,
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
