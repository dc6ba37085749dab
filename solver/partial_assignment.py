"""A partial assignment with the capacity and stock it leaves.

The bookkeeping every constructive heuristic shares (greedy construction,
repair, local search, the nearest-node baseline): which node each item is
on, what room and stock are left, and why an item could not be placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem

#: Slack on capacity and stock comparisons.
TOL = 1e-9
INF = np.inf
#: Why an item has no node left (:meth:`PartialAssignment.no_option_reason`),
#: in the problem's words: its capacities are whatever its caller gave it.
TOO_LARGE_REASON = "larger than the capacity of every eligible node"
ROOM_TAKEN_REASON = "capacity of every eligible node taken by other items"
STOCK_TAKEN_REASON = "stock at eligible nodes taken by other items"
NO_ELIGIBLE_REASON = "no eligible node"
NO_STOCK_REASON = "no eligible node holds the stock"


@dataclass(slots=True)
class ItemResources:
    """Sparse view of the extra resources: item -> (resource, units)."""

    item_ptr: NDArray[np.int64]
    resource: NDArray[np.int64]
    units: NDArray[np.float64]
    nz_item: NDArray[np.int64]

    @classmethod
    def of(cls, problem: AssignmentProblem) -> ItemResources | None:
        """The view of ``problem``'s ``use`` (``None`` without extra resources)."""
        if problem.use is None:
            return None
        items, res = np.nonzero(problem.use)
        ptr = np.searchsorted(items, np.arange(problem.n_items + 1)).astype(np.int64)
        return cls(
            item_ptr=ptr,
            resource=res.astype(np.int64),
            units=problem.use[items, res],
            nz_item=items.astype(np.int64),
        )

    def ok_for_item(self, i: int, stock_left: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Agents that hold enough of every resource item ``i`` needs."""
        lo, hi = self.item_ptr[i], self.item_ptr[i + 1]
        if lo == hi:
            return np.ones(stock_left.shape[0], dtype=bool)
        need = self.units[lo:hi]
        have = stock_left[:, self.resource[lo:hi]]
        ok: NDArray[np.bool_] = np.all(have >= need - TOL, axis=1)
        return ok

    def ok_matrix(
        self,
        stock_left: NDArray[np.float64],
        n_items: int,
        slack: NDArray[np.float64] | None = None,
    ) -> NDArray[np.bool_]:
        """``(n_items, n_agents)``: whether each agent can supply each item;
        ``slack`` (shaped as ``stock_left``): the shortfall each stock may
        take instead of :data:`TOL` (a proof of infeasibility takes
        ``verify``'s)."""
        if slack is None:
            short = self.units[:, None] - TOL > stock_left[:, self.resource].T
        else:
            short = self.units[:, None] > (stock_left + slack)[:, self.resource].T
        bad = np.zeros((n_items, stock_left.shape[0]), dtype=np.int64)
        np.add.at(bad, self.nz_item, short)
        ok: NDArray[np.bool_] = bad == 0
        return ok


@dataclass(slots=True)
class PartialAssignment:
    """A (partial) assignment with its residual capacity and stock."""

    assignment: NDArray[np.int64]
    residual: NDArray[np.float64]
    stock_left: NDArray[np.float64] | None
    reasons: dict[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, problem: AssignmentProblem) -> PartialAssignment:
        """Nothing placed yet: every node's whole capacity and stock left."""
        return cls(
            assignment=np.full(problem.n_items, -1, dtype=np.int64),
            residual=problem.capacity.astype(np.float64).copy(),
            stock_left=None if problem.stock is None else problem.stock.copy(),
        )

    @classmethod
    def of(
        cls, problem: AssignmentProblem, assignment: NDArray[np.int64]
    ) -> PartialAssignment:
        """State of a given (possibly infeasible) assignment, made feasible.

        Ineligible pairs are dropped; on an overloaded node (capacity or stock)
        the most expensive items are dropped until it fits.
        """
        state = cls.empty(problem)
        a = np.asarray(assignment, dtype=np.int64).copy()
        a[(a < -1) | (a >= problem.n_agents)] = -1
        rows = np.flatnonzero(a >= 0)
        a[rows[~problem.eligible[rows, a[rows]]]] = -1
        state.assignment = a
        state.residual -= problem.load(a)
        if state.stock_left is not None:
            state.stock_left -= problem.resource_load(a)
        for j in range(problem.n_agents):
            while state.overloaded(j):
                at_j = np.flatnonzero(state.assignment == j)
                worst = at_j[np.argmax(problem.cost[at_j, j])]
                state.place(problem, int(worst), -1)
        return state

    def overloaded(self, j: int) -> bool:
        """Whether node ``j`` holds more than its capacity or stock."""
        return bool(self.residual[j] < -TOL) or (
            self.stock_left is not None and bool((self.stock_left[j] < -TOL).any())
        )

    def place(self, problem: AssignmentProblem, i: int, j: int) -> None:
        """Move item ``i`` to node ``j`` (``-1``: unassign it)."""
        old = int(self.assignment[i])
        if old >= 0:
            self.residual[old] += problem.weight[i, old]
            if self.stock_left is not None and problem.use is not None:
                self.stock_left[old] += problem.use[i]
        self.assignment[i] = j
        if j >= 0:
            self.residual[j] -= problem.weight[i, j]
            if self.stock_left is not None and problem.use is not None:
                self.stock_left[j] -= problem.use[i]

    def options(
        self, problem: AssignmentProblem, stock: ItemResources | None, i: int
    ) -> NDArray[np.bool_]:
        """Nodes item ``i`` may go to now: eligible, with room and stock left."""
        ok: NDArray[np.bool_] = problem.eligible[i] & (
            problem.weight[i] <= self.residual + TOL
        )
        if stock is not None and self.stock_left is not None:
            ok &= stock.ok_for_item(i, self.stock_left)
        return ok

    def no_option_reason(
        self, problem: AssignmentProblem, stock: ItemResources | None, i: int
    ) -> str:
        """Why item ``i`` has no node it may go to now."""
        elig = problem.eligible[i]
        if not elig.any():
            return NO_ELIGIBLE_REASON
        if stock is not None and self.stock_left is not None:
            if not (elig & stock.ok_for_item(i, problem.stock)).any():  # type: ignore[arg-type]
                return NO_STOCK_REASON
            if not (elig & stock.ok_for_item(i, self.stock_left)).any():
                return STOCK_TAKEN_REASON
        if not (elig & (problem.weight[i] <= problem.capacity + TOL)).any():
            return TOO_LARGE_REASON
        return ROOM_TAKEN_REASON


def no_option_reasons(
    problem: AssignmentProblem,
    assignment: NDArray[np.int64],
    items: NDArray[np.intp],
) -> NDArray[np.str_]:
    """Why each of ``items`` has no node it could go to beside what
    ``assignment`` places, in :meth:`PartialAssignment.no_option_reason`'s
    words; ``""`` where a node still has the room and stock for it.

    An exact engine's solution says only which items it left out; this tells
    the ones nothing could take from the ones it chose to leave, for all of
    them at once (greedy asks the same question item by item as it builds).
    """
    if items.size == 0:  # the usual batch: nothing left out, nothing to build
        return np.array([], dtype=np.str_)
    n, m = problem.n_items, problem.n_agents
    elig = problem.eligible[items]
    weight = problem.weight[items]
    room = weight <= (problem.capacity - problem.load(assignment)) + TOL
    held = left = np.ones((items.size, m), dtype=bool)
    resources = ItemResources.of(problem)
    if resources is not None and problem.stock is not None:
        stock_left = problem.stock - problem.resource_load(assignment)
        held = resources.ok_matrix(problem.stock, n)[items]
        left = resources.ok_matrix(stock_left, n)[items]
    return np.select(
        [
            ~elig.any(axis=1),
            ~(elig & held).any(axis=1),
            ~(elig & left).any(axis=1),
            ~(elig & (weight <= problem.capacity + TOL)).any(axis=1),
            ~(elig & room & left).any(axis=1),
        ],
        [
            NO_ELIGIBLE_REASON,
            NO_STOCK_REASON,
            STOCK_TAKEN_REASON,
            TOO_LARGE_REASON,
            ROOM_TAKEN_REASON,
        ],
        default="",
    )


def item_costs(problem: AssignmentProblem, a: NDArray[np.int64]) -> NDArray[np.float64]:
    """What each item costs where ``a`` puts it (defer cost, or ``inf``, if nowhere)."""
    cur = np.where(a >= 0, problem.cost[np.arange(a.size), np.maximum(a, 0)], 0.0)
    if problem.defer_cost is not None:
        cur = np.where(a < 0, problem.defer_cost, cur)
    else:
        cur = np.where(a < 0, INF, cur)
    return cur
