"""Repair: place a leftover item by moving one blocking item elsewhere.

For an unplaced item ``i`` and each eligible node ``j``, a candidate is an
item ``k`` now at ``j`` whose removal frees enough capacity *and* stock for
``i``, and which fits (capacity, stock, eligibility) at some other node
``q``. The cheapest such double move wins. When there is none, an ejection
chain one step longer (:func:`_chain`): ``i`` takes ``k``'s place and ``k``
is placed as a leftover would be, directly or by moving one more item.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.partial_assignment import (
    INF,
    TOL,
    ItemResources,
    PartialAssignment,
)

#: Blocking items an ejection chain tries per node, cheapest first: each try
#: places the blocking item as a leftover, O(nodes × items).
CHAIN_BLOCKERS = 8

#: A candidate move: (cost, node for the item, item moved away or -1, its node).
_Move = tuple[float, int, int, int]


def repair_limit(problem: AssignmentProblem) -> int:
    """Most unassigned items worth a repair pass (each costs O(nodes × items))."""
    return 5 + problem.n_items // 20


def _direct_fit(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    i: int,
    j: int,
) -> bool:
    """Whether item ``i`` fits at node ``j`` as things are."""
    stock_ok = (
        stock is None
        or state.stock_left is None
        or bool(stock.ok_for_item(i, state.stock_left)[j])
    )
    return bool(problem.weight[i, j] - state.residual[j] <= TOL) and stock_ok


def _blockers(
    problem: AssignmentProblem, state: PartialAssignment, i: int, j: int
) -> NDArray[np.int64]:
    """Items at ``j`` whose leaving alone makes room for ``i`` there
    (capacity and stock)."""
    use = problem.use
    need = problem.weight[i, j] - state.residual[j]
    at_j = np.flatnonzero(state.assignment == j)
    at_j = at_j[problem.weight[at_j, j] >= need - TOL]
    if use is not None and state.stock_left is not None and at_j.size:
        # after k leaves j, j must hold what i needs
        after = state.stock_left[j][None, :] + use[at_j]
        at_j = at_j[np.all(after >= use[i][None, :] - TOL, axis=1)]
    return np.asarray(at_j, dtype=np.int64)


def _make_room(
    problem: AssignmentProblem, state: PartialAssignment, i: int, j: int
) -> _Move | None:
    """The cheapest move of one item away from ``j`` that lets ``i`` in."""
    use = problem.use
    at_j = _blockers(problem, state, i, j)
    if at_j.size == 0:
        return None
    fits = problem.eligible[at_j] & (
        problem.weight[at_j] <= state.residual[None, :] + TOL
    )
    fits[:, j] = False
    if use is not None and state.stock_left is not None:
        have = state.stock_left[None, :, :] >= use[at_j][:, None, :] - TOL
        fits &= np.all(have, axis=2)
    if not fits.any():
        return None
    extra = np.where(fits, problem.cost[at_j] - problem.cost[at_j, j][:, None], INF)
    u, q = np.unravel_index(int(np.argmin(extra)), extra.shape)
    return (float(problem.cost[i, j] + extra[u, q]), j, int(at_j[u]), int(q))


def _best_move(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    i: int,
) -> _Move | None:
    """The cheapest way to place item ``i``: directly, or by making room."""
    best: _Move | None = None
    for j in map(int, np.flatnonzero(problem.eligible[i])):
        if _direct_fit(problem, state, stock, i, j):
            cand: _Move | None = (float(problem.cost[i, j]), j, -1, -1)
        else:
            cand = _make_room(problem, state, i, j)
        if cand is not None and (best is None or cand < best):
            best = cand
    return best


def _apply(
    problem: AssignmentProblem, state: PartialAssignment, i: int, move: _Move
) -> None:
    """Carry out ``move`` for item ``i``: the blocking item leaves first."""
    _, target, moved, dest = move
    if moved >= 0:
        state.place(problem, moved, dest)
    state.place(problem, i, target)


def _chain(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    i: int,
    deadline: float | None,
) -> bool:
    """Place ``i`` by an ejection chain of three moves; whether it was placed.

    ``i`` goes to an eligible node ``j`` in place of an item ``k`` whose
    leaving makes room for it (capacity and stock), and ``k`` is then placed
    by :func:`_best_move` (directly, or by moving one more item). The first
    chain that closes is kept, nodes tried cheapest first for ``i`` and at
    most :data:`CHAIN_BLOCKERS` blocking items per node, until ``deadline``;
    a chain that does not close is undone. On tight instances without a defer
    option a single blocking move is often not enough (a four-order instance
    from the property tests needed this chain).
    """
    for j in map(int, np.argsort(np.where(problem.eligible[i], problem.cost[i], INF))):
        if not problem.eligible[i, j]:
            break
        at_j = _blockers(problem, state, i, j)
        blockers = at_j[np.argsort(problem.cost[at_j, j])][:CHAIN_BLOCKERS]
        for k in map(int, blockers):
            if deadline is not None and time.perf_counter() > deadline:
                return False
            state.place(problem, k, -1)
            state.place(problem, i, j)
            move = _best_move(problem, state, stock, k)
            if move is not None:
                _apply(problem, state, k, move)
                return True
            state.place(problem, i, -1)
            state.place(problem, k, j)
    return False


def repair(
    problem: AssignmentProblem,
    state: PartialAssignment,
    stock: ItemResources | None,
    *,
    deadline: float | None = None,
) -> int:
    """Place unassigned items by moving one blocking item elsewhere (or by
    :func:`_chain`); return count.

    Stops at ``deadline``. It mends a few leftovers: with more than
    :func:`repair_limit` items unplaced it does nothing and returns 0.
    """
    placed = 0
    unplaced = np.flatnonzero(state.assignment < 0)
    if unplaced.size > repair_limit(problem):
        return 0
    for i in map(int, unplaced):
        if deadline is not None and time.perf_counter() > deadline:
            break
        if problem.defer_cost is not None and "deferred" in state.reasons.get(i, ""):
            continue
        best = _best_move(problem, state, stock, i)
        if best is not None:
            _apply(problem, state, i, best)
        elif not _chain(problem, state, stock, i, deadline):
            continue
        state.reasons.pop(i, None)
        placed += 1
    return placed
