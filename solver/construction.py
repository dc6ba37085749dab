"""Greedy construction: items in order of regret, each to its best feasible node.

Martello & Toth's MTHG: items are taken in order of *regret* (how much worse
their second-best option is than their best; scaled by priority such as
CLTV when given), each placed on its best feasible node by a desirability
measure. Regrets are re-evaluated lazily as capacity fills.
"""

from __future__ import annotations

import heapq

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.partial_assignment import (
    INF,
    TOL,
    ItemResources,
    PartialAssignment,
)

#: Capacity prices tried by the blended desirability (see ``desirability_of``).
BLEND_MUS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Why an item stays unassigned when deferring it is its cheapest option.
DEFER_CHEAPER = "deferred: waiting is cheaper than every feasible node"

_Heap = list[tuple[float, int]]


def desirability_of(problem: AssignmentProblem, measure: str) -> NDArray[np.float64]:
    """``(n_items, n_agents)`` desirability by ``measure`` (lower is better).

    ``cost``; ``weight`` (share of the node's capacity); ``cost_weight``; or
    ``blend:MU``: cost plus ``MU`` x the share of an item's fair capacity
    slice it uses, a crude Lagrangian price of capacity.
    """
    if measure == "cost":
        return np.asarray(problem.cost, dtype=np.float64)
    cap = np.maximum(problem.capacity, TOL)
    if measure == "weight":
        return problem.weight / cap[None, :]
    if measure == "cost_weight":
        return problem.cost * problem.weight / cap[None, :]
    if measure.startswith("blend:"):
        mu = float(measure.split(":", 1)[1])
        costs = np.abs(problem.cost[problem.eligible])
        # no eligible pair: nothing to scale (and numpy warns on an empty median)
        scale = (float(np.median(costs)) if costs.size else 0.0) or 1.0
        share = cap / max(problem.n_items / max(problem.n_agents, 1), 1.0)
        return problem.cost / scale + mu * problem.weight / share[None, :]
    raise ValueError(f"unknown desirability measure {measure!r}")


def _regret(values: NDArray[np.float64]) -> float:
    """Second-best minus best of a row (``inf`` when only one option)."""
    if values.size <= 1:
        return INF
    two = np.partition(values, 1)[:2]
    return float(two[1] - two[0])


def _priority_weight(problem: AssignmentProblem) -> NDArray[np.float64]:
    """Regret multiplier per item: 1, plus the item's priority over the mean."""
    if problem.priority is None:
        return np.ones(problem.n_items)
    pr = np.maximum(problem.priority, 0.0)
    weight: NDArray[np.float64] = 1.0 + pr / max(float(pr.mean()), TOL)
    return weight


def _regret_heap(
    problem: AssignmentProblem,
    state: PartialAssignment,
    items: NDArray[np.int64],
    desir: NDArray[np.float64],
    defer: NDArray[np.float64] | None,
    weight: NDArray[np.float64],
) -> _Heap:
    """Max-heap (negated keys) of every item's regret from the initial residuals."""
    masked = np.where(
        problem.eligible[items] & (problem.weight[items] <= state.residual + TOL),
        desir[items],
        INF,
    )
    if defer is not None:
        masked = np.concatenate([masked, defer[items, None]], axis=1)
    if masked.shape[1] >= 2:
        two = np.partition(masked, 1, axis=1)[:, :2]
        with np.errstate(invalid="ignore"):
            regret = np.where(np.isinf(two[:, 1]), INF, two[:, 1] - two[:, 0])
    else:
        regret = np.full(items.size, INF)
    regret = np.nan_to_num(regret, nan=INF, posinf=1e300)
    key = regret * weight[items]
    heap = [(-float(k), int(i)) for k, i in zip(key, items, strict=True)]
    heapq.heapify(heap)
    return heap


def _place_in_regret_order(
    problem: AssignmentProblem,
    state: PartialAssignment,
    heap: _Heap,
    desir: NDArray[np.float64],
    defer: NDArray[np.float64] | None,
    weight: NDArray[np.float64],
) -> None:
    """Pop items by regret; re-queue one whose regret fell, else place it."""
    stock = ItemResources.of(problem)
    fresh = np.zeros(problem.n_items, dtype=bool)
    while heap:
        _, i = heapq.heappop(heap)
        ok = state.options(problem, stock, i)
        values = desir[i][ok]
        if defer is not None:
            values = np.append(values, defer[i])
        if values.size == (0 if defer is None else 1):
            state.assignment[i] = -1
            state.reasons[i] = state.no_option_reason(problem, stock, i)
            continue
        if not fresh[i] and heap:
            new_key = min(_regret(values), 1e300) * weight[i]
            if new_key < -heap[0][0] - TOL:
                fresh[i] = True
                heapq.heappush(heap, (-new_key, i))
                continue
        best = int(np.argmin(values))
        cols = np.flatnonzero(ok)
        if best >= cols.size:  # deferral is the cheapest option
            state.assignment[i] = -1
            state.reasons[i] = DEFER_CHEAPER
            continue
        state.place(problem, i, int(cols[best]))


def construct(
    problem: AssignmentProblem,
    measure: str = "cost",
    state: PartialAssignment | None = None,
    items: NDArray[np.int64] | None = None,
    desirability: NDArray[np.float64] | None = None,
) -> PartialAssignment:
    """Place ``items`` (default: every unassigned item) in regret order.

    ``desirability`` overrides the measure's matrix (lower is better), e.g.
    a perturbed cost for randomized restarts. Deferring competes with the
    nodes only under the ``cost`` measure (it is priced in cost units).
    """
    state = state or PartialAssignment.empty(problem)
    if items is None:
        items = np.flatnonzero(state.assignment < 0)
    if items.size == 0:
        return state
    desir = desirability_of(problem, measure) if desirability is None else desirability
    defer = problem.defer_cost if measure == "cost" else None
    weight = _priority_weight(problem)
    heap = _regret_heap(problem, state, items, desir, defer, weight)
    _place_in_regret_order(problem, state, heap, desir, defer, weight)
    return state
