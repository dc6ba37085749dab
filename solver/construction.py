"""Greedy construction: items in order of regret, each to its best feasible node.

Martello & Toth's MTHG: items are taken in order of *regret* (how much worse
their second-best option is than their best; scaled by priority such as
CLTV when given), each placed on its best feasible node by a desirability
measure. Regrets are re-evaluated lazily as capacity fills.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Mapping

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
#: Why an item stays unassigned when the deadline came before its turn.
CUT_SHORT = "not placed: the time limit came before its turn"
#: Items placed between two looks at the clock (~40-80 ms of a construction
#: at 100 nodes on the shared 2-core machine).
CLOCK_BLOCK_ITEMS = 4096
#: Pairs of an array step of a construction (its desirability, its first
#: regrets) between two looks at the clock (~10-20 ms).
CLOCK_BLOCK_PAIRS = 1 << 20
#: Items (evenly spaced) that estimate the blended measure's cost scale and
#: the screening of :func:`overfills`: all of them below it.
SAMPLE_ITEMS = 20_000

_Heap = list[tuple[float, int]]


def desirability_of(
    problem: AssignmentProblem,
    measure: str,
    rows: slice = slice(None),
    *,
    scale: float | None = None,
) -> NDArray[np.float64]:
    """``(n_items, n_agents)`` desirability by ``measure`` (lower is better),
    of the items ``rows`` (all by default); ``scale``: the blend's cost unit
    when known (:func:`_cost_scale`).

    ``cost``; ``weight`` (share of the node's capacity); ``cost_weight``; or
    ``blend:MU``: cost plus ``MU`` x the share of an item's fair capacity
    slice it uses, a crude Lagrangian price of capacity.
    """
    cost, weight = problem.cost[rows], problem.weight[rows]
    if measure == "cost":
        return np.asarray(cost, dtype=np.float64)
    cap = np.maximum(problem.capacity, TOL)
    if measure == "weight":
        return weight / cap[None, :]
    if measure == "cost_weight":
        return cost * weight / cap[None, :]
    if measure.startswith("blend:"):
        mu = float(measure.split(":", 1)[1])
        share = cap / max(problem.n_items / max(problem.n_agents, 1), 1.0)
        unit = _cost_scale(problem) if scale is None else scale
        return cost / unit + mu * weight / share[None, :]
    raise ValueError(f"unknown desirability measure {measure!r}")


def _sample(n_items: int) -> slice:
    """At most :data:`SAMPLE_ITEMS` evenly spaced items (every item below it)."""
    return slice(None, None, max(1, -(-n_items // SAMPLE_ITEMS)))


def _cost_scale(problem: AssignmentProblem) -> float:
    """Median absolute eligible cost (of :func:`_sample`'s items): the blend's
    cost unit. Over every pair it took 2.2 s of a 5.5 s blend at 100 x 500,000."""
    rows = _sample(problem.n_items)
    costs = np.abs(problem.cost[rows][problem.eligible[rows]])
    # no eligible pair: nothing to scale (and numpy warns on an empty median)
    return (float(np.median(costs)) if costs.size else 0.0) or 1.0


def overfills(problem: AssignmentProblem, measure: str) -> bool:
    """Whether every item on its best eligible node by ``measure``, capacity
    ignored, loads the nodes beyond their total capacity (on :func:`_sample`'s
    items, scaled up).

    A construction by such a measure fills the nodes before every item is
    placed: by cost, a Chu & Beasley C, D or E GAP asks 1.25, 2.4 and 6 times
    the capacity there is (100 x 10,000) and leaves 20-85 % of the items out.
    """
    rows = _sample(problem.n_items)
    desir = desirability_of(problem, measure, rows)
    best = np.where(problem.eligible[rows], desir, INF).argmin(axis=1)
    n = best.size
    load = problem.weight[rows][np.arange(n), best].sum() * problem.n_items / max(n, 1)
    return bool(load > float(problem.capacity.sum()) + TOL)


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


def _regret_keys(
    problem: AssignmentProblem,
    state: PartialAssignment,
    items: NDArray[np.int64],
    desir: NDArray[np.float64],
    defer: NDArray[np.float64] | None,
    weight: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Each of ``items``' regret from the current residuals, times its weight."""
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
    key: NDArray[np.float64] = regret * weight[items]
    return key


def _block_rows(problem: AssignmentProblem) -> int:
    """Items per block of :data:`CLOCK_BLOCK_PAIRS` pairs."""
    return max(1, CLOCK_BLOCK_PAIRS // max(problem.n_agents, 1))


def _regret_heap(
    problem: AssignmentProblem,
    state: PartialAssignment,
    items: NDArray[np.int64],
    desir: NDArray[np.float64],
    defer: NDArray[np.float64] | None,
    weight: NDArray[np.float64],
    deadline: float,
) -> _Heap | None:
    """Max-heap (negated keys) of every item's regret from the initial
    residuals, scored by blocks; ``None`` when ``deadline`` passed first."""
    keys = _filled_by_blocks(
        np.empty(items.size),
        problem,
        deadline,
        lambda block: _regret_keys(problem, state, items[block], desir, defer, weight),
    )
    if keys is None:
        return None
    heap = list(zip((-keys).tolist(), items.tolist(), strict=True))
    heapq.heapify(heap)
    return heap


def _desirability_by_blocks(
    problem: AssignmentProblem, measure: str, deadline: float
) -> NDArray[np.float64] | None:
    """:func:`desirability_of` made by blocks of items; ``None`` when
    ``deadline`` passed first (a blend took 1.5-2 s at 100 x 500,000)."""
    if measure == "cost":
        return desirability_of(problem, measure)  # the costs themselves
    scale = _cost_scale(problem) if measure.startswith("blend:") else 1.0
    return _filled_by_blocks(
        np.empty((problem.n_items, problem.n_agents)),
        problem,
        deadline,
        lambda block: desirability_of(problem, measure, block, scale=scale),
    )


def _filled_by_blocks(
    out: NDArray[np.float64],
    problem: AssignmentProblem,
    deadline: float,
    block_of: Callable[[slice], NDArray[np.float64]],
) -> NDArray[np.float64] | None:
    """``out`` filled by rows, :func:`_block_rows` at a time, each block
    ``block_of(rows)``; ``None`` when ``deadline`` passed first."""
    rows = _block_rows(problem)
    for first in range(0, out.shape[0], rows):
        if time.perf_counter() > deadline:
            return None
        block = slice(first, first + rows)
        out[block] = block_of(block)
    return out


def _place_in_regret_order(
    problem: AssignmentProblem,
    state: PartialAssignment,
    heap: _Heap,
    desir: NDArray[np.float64],
    defer: NDArray[np.float64] | None,
    weight: NDArray[np.float64],
    deadline: float,
) -> None:
    """Pop items by regret; re-queue one whose regret fell, else place it.

    The clock is looked at every :data:`CLOCK_BLOCK_ITEMS` pops; the items
    still queued at the deadline stay unassigned (:data:`CUT_SHORT`).
    """
    stock = ItemResources.of(problem)
    fresh = np.zeros(problem.n_items, dtype=bool)
    while heap:
        if time.perf_counter() > deadline:
            _cut_short(state, [i for _, i in heap])
            return
        for _ in range(CLOCK_BLOCK_ITEMS):
            if not heap:
                break
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


def _cut_short(state: PartialAssignment, items: list[int]) -> None:
    """``items``, not yet placed at the deadline: unassigned, and why."""
    state.reasons.update(dict.fromkeys(items, CUT_SHORT))


def cut_short(reasons: Mapping[int, str]) -> bool:
    """Whether ``reasons`` (a state's, or an answer's) say a construction
    stopped at its deadline."""
    return CUT_SHORT in reasons.values()


def construct(
    problem: AssignmentProblem,
    measure: str = "cost",
    state: PartialAssignment | None = None,
    items: NDArray[np.int64] | None = None,
    desirability: NDArray[np.float64] | None = None,
    *,
    deadline: float = math.inf,
) -> PartialAssignment:
    """Place ``items`` (default: every unassigned item) in regret order.

    ``desirability`` overrides the measure's matrix (lower is better), e.g.
    a perturbed cost for randomized restarts. Deferring competes with the
    nodes only under the ``cost`` measure (it is priced in cost units).
    Past ``deadline`` (``time.perf_counter()``) the items not yet placed
    stay unassigned, their reason :data:`CUT_SHORT` (:func:`cut_short`);
    the clock is looked at every :data:`CLOCK_BLOCK_PAIRS` pairs of its
    array steps and every :data:`CLOCK_BLOCK_ITEMS` items placed.
    """
    state = state or PartialAssignment.empty(problem)
    if items is None:
        items = np.flatnonzero(state.assignment < 0)
    if items.size == 0:
        return state
    desir = (
        _desirability_by_blocks(problem, measure, deadline)
        if desirability is None
        else desirability
    )
    defer = problem.defer_cost if measure == "cost" else None
    weight = _priority_weight(problem)
    heap = (
        None
        if desir is None
        else _regret_heap(problem, state, items, desir, defer, weight, deadline)
    )
    if desir is None or heap is None:
        _cut_short(state, items.tolist())
        return state
    _place_in_regret_order(problem, state, heap, desir, defer, weight, deadline)
    return state
