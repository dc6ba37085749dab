"""Bounded local search on a complete or partial assignment.

Best-improvement *shift* (many non-conflicting moves per round, all scored
as one array operation) and *swap* of two items between nodes, bounded by
rounds and by a deadline, which is looked at before each round and between
blocks of a swap round's O(n²) table.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.construction import DEFER_CHEAPER
from tierflow.solver.partial_assignment import (
    INF,
    TOL,
    ItemResources,
    PartialAssignment,
    item_costs,
)

#: Up to this many items a round may also try swaps (a swap round is O(n²)).
SWAP_MAX_ITEMS = 3000
#: Pairs of the swap table scored between two looks at the clock (a block
#: of rows: ~6 ms at 1,900 items on a shared 2-core machine).
SWAP_BLOCK_PAIRS = 1 << 18


def _shift_deltas(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    cur: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``(n_items, n_agents [+1])`` gain of moving each item to each node (or defer)."""
    a = state.assignment
    feasible = problem.eligible & (problem.weight <= state.residual[None, :] + TOL)
    if stock is not None and state.stock_left is not None:
        feasible &= stock.ok_matrix(state.stock_left, problem.n_items)
    delta = np.where(feasible, problem.cost - cur[:, None], INF)
    assigned = np.flatnonzero(a >= 0)
    delta[assigned, a[assigned]] = INF
    if problem.defer_cost is not None:
        # Column m = "defer": releasing an item that costs more than waiting.
        defer_delta = np.where(a >= 0, problem.defer_cost - cur, INF)
        delta = np.concatenate([delta, defer_delta[:, None]], axis=1)
    return delta


def _shift_fits(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    i: int,
    target: int,
) -> bool:
    """Whether item ``i`` still fits at ``target`` after this round's moves."""
    if target < 0:
        return True
    if problem.weight[i, target] > state.residual[target] + TOL:
        return False  # another move this round already filled it
    return (
        stock is None
        or state.stock_left is None
        or bool(stock.ok_for_item(i, state.stock_left)[target])
    )


def shift_round(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
) -> int:
    """Apply improving shifts, at most one per target node; return how many."""
    cur = item_costs(problem, state.assignment)
    delta = _shift_deltas(problem, state, stock, cur)
    best_item = np.argmin(delta, axis=0)
    best_delta = delta[best_item, np.arange(delta.shape[1])]
    moves = 0
    used_items: set[int] = set()
    for j in np.argsort(best_delta):
        if best_delta[j] >= -TOL * max(1.0, abs(float(cur[best_item[j]]))):
            break
        i = int(best_item[j])
        target = int(j) if j < problem.n_agents else -1
        if i in used_items or not _shift_fits(problem, state, stock, i, target):
            continue
        used_items.add(i)
        state.place(problem, i, target)
        if target < 0:
            state.reasons[i] = DEFER_CHEAPER
        else:
            state.reasons.pop(i, None)
        moves += 1
    return moves


def _swap_deltas(
    problem: AssignmentProblem,
    state: PartialAssignment,
    idx: NDArray[np.int64],
    deadline: float = math.inf,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Gain of swapping each pair of assigned items ``idx`` (``inf``: not allowed),
    and each item's current cost; ``None`` when ``deadline`` passed first.

    The ``(n, n)`` table is filled by blocks of about :data:`SWAP_BLOCK_PAIRS`
    pairs with a look at the clock before each: built whole, it held the
    search ~0.1 s past its deadline at 1,900 items. Block by block it holds
    the same numbers.
    """
    ag = state.assignment[idx]
    cur = problem.cost[idx, ag]
    cost, weight, eligible = (
        problem.cost[idx],
        problem.weight[idx],
        problem.eligible[idx],
    )
    # the transposed tables are gathered by rows (reading an (n, n)
    # transpose across is cache-bound)
    cost_t = np.ascontiguousarray(cost.T)
    weight_t = np.ascontiguousarray(weight.T)
    eligible_t = np.ascontiguousarray(eligible.T)
    room = state.residual[ag] + problem.weight[idx, ag]  # room at own agent if left
    n = idx.size
    delta = np.empty((n, n))
    rows = max(1, SWAP_BLOCK_PAIRS // n)
    for first in range(0, n, rows):
        if time.perf_counter() > deadline:
            return None
        u = slice(first, first + rows)
        # [u, v]: item idx[u] at idx[v]'s agent, and (_t) idx[v] at idx[u]'s
        block = delta[u]
        np.add(cost[u].take(ag, axis=1), cost_t.take(ag[u], axis=0), out=block)
        block -= cur[u, None]
        block -= cur[None, :]
        ok = eligible[u].take(ag, axis=1)
        ok &= eligible_t.take(ag[u], axis=0)
        ok &= room[u, None] + TOL >= weight_t.take(ag[u], axis=0)
        ok &= weight[u].take(ag, axis=1) <= room[None, :] + TOL
        ok &= ag[u, None] != ag[None, :]
        np.copyto(block, INF, where=~ok)
    np.fill_diagonal(delta, INF)
    return delta, cur


def _swap_stock_ok(
    problem: AssignmentProblem, state: PartialAssignment, i: int, k: int
) -> bool:
    """Whether both nodes keep enough stock when items ``i`` and ``k`` swap."""
    if state.stock_left is None or problem.use is None:
        return True
    p, q = int(state.assignment[i]), int(state.assignment[k])
    left_p = state.stock_left[p] + problem.use[i] - problem.use[k]
    left_q = state.stock_left[q] + problem.use[k] - problem.use[i]
    return not ((left_p < -TOL).any() or (left_q < -TOL).any())


def swap_round(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    *,
    deadline: float = math.inf,
) -> int:
    """Apply improving swaps of two assigned items, best first, each node in at
    most one swap per round (so every checked move stays valid); return how many.

    0 when ``deadline`` passes before the gains are all scored (the round
    is dropped whole: a part of the table would pick other swaps).
    """
    a = state.assignment
    idx = np.flatnonzero(a >= 0)
    if idx.size < 2:
        return 0
    scored = _swap_deltas(problem, state, idx, deadline)
    if scored is None or time.perf_counter() > deadline:
        return 0
    delta, cur = scored
    top = min(delta.size - 1, 2 * problem.n_agents + 32)
    order = np.argpartition(delta, top, axis=None)[: top + 1]
    order = order[np.argsort(delta.ravel()[order], kind="stable")]
    touched: set[int] = set()
    swaps = 0
    for flat in order:
        u, v = np.unravel_index(int(flat), delta.shape)
        if delta[u, v] >= -TOL * max(1.0, abs(float(cur[u] + cur[v]))):
            break
        i, k = int(idx[u]), int(idx[v])
        p, q = int(a[i]), int(a[k])
        if p in touched or q in touched:
            continue  # an earlier swap of this round changed p's or q's room
        if stock is not None and not _swap_stock_ok(problem, state, i, k):
            continue
        state.place(problem, i, -1)
        state.place(problem, k, p)
        state.place(problem, i, q)
        touched.update((p, q))
        swaps += 1
    return swaps


def improve(
    problem: AssignmentProblem,
    state: PartialAssignment,
    *,
    deadline: float,
    max_rounds: int = 10_000,
    swaps: bool = True,
) -> PartialAssignment:
    """Local search until no shift or swap improves, the round cap, or the deadline."""
    stock = ItemResources.of(problem)
    use_swaps = swaps and problem.n_items <= SWAP_MAX_ITEMS
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        if shift_round(problem, state, stock):
            continue
        if not use_swaps or time.perf_counter() > deadline:
            break
        if not swap_round(problem, state, stock, deadline=deadline):
            break
    return state
