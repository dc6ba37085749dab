"""Tiny instances that carry their own answers (as cvxpy's ``lp_1``).

Each :class:`KnownInstance` states its integer optimum, an optimal assignment,
the LP bound and, where the LP duals are unique, the capacity duals. The
numbers are derived by hand in the docstrings, not copied from a solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tierflow.formulations.problem import AssignmentProblem


@dataclass(frozen=True)
class KnownInstance:
    """A problem with its known optimum (``None`` when infeasible)."""

    problem: AssignmentProblem
    optimum: float | None
    assignment: tuple[int, ...] | None
    lp_bound: float | None
    bid_price: tuple[float, ...] | None = None
    item_dual: tuple[float, ...] | None = None


def fractional_lp() -> KnownInstance:
    """Three items, two nodes; node 0 is cheap but holds one item only.

    cost = [[1, 5], [1, 4], [1, 2]], weight at node 0 = 2 (node 1: 1),
    capacity = [3, 10]. Integer optimum: item 0 at node 0 (it saves the most),
    items 1 and 2 at node 1: 1 + 4 + 2 = 7.
    LP: item 0 at node 0, half of item 1 (1 capacity unit): 1 + 2.5 + 2 = 5.5.
    Item 1 is basic at both nodes: 1 - u1 + 2 λ0 = 0 and 4 - u1 = 0, so
    u1 = 4 and the unique bid price λ0 = 1.5; u0 = 1 + 2 λ0 = 4, u2 = 2.
    """
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[1.0, 5.0], [1.0, 4.0], [1.0, 2.0]],
            weight=[[2.0, 1.0], [2.0, 1.0], [2.0, 1.0]],
            capacity=[3.0, 10.0],
            name="fractional_lp",
        ),
        optimum=7.0,
        assignment=(0, 1, 1),
        lp_bound=5.5,
        bid_price=(1.5, 0.0),
        item_dual=(4.0, 4.0, 2.0),
    )


def defer_and_stock() -> KnownInstance:
    """Deferral and one SKU whose single unit at node 0 two items want.

    cost = [[2, 3], [2, 5], [4, 1]], weight 1, capacity [2, 2];
    use = [[1], [1], [0]], stock = [[1], [5]]; defer_cost = [10, 2.5, 10].
    Item 2 goes to node 1 (1). The unit at node 0 saves item 0 one (2 vs 3)
    and item 1 half (2 vs deferring at 2.5). Best: item 0 at node 0, item 1
    deferred: 2 + 2.5 + 1 = 5.5 (item 1 at node 0 and item 0 at node 1 costs 6).
    """
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[2.0, 3.0], [2.0, 5.0], [4.0, 1.0]],
            weight=np.ones((3, 2)),
            capacity=[2.0, 2.0],
            use=[[1.0], [1.0], [0.0]],
            stock=[[1.0], [5.0]],
            defer_cost=[10.0, 2.5, 10.0],
            name="defer_and_stock",
        ),
        optimum=5.5,
        assignment=(0, -1, 1),
        lp_bound=5.5,
    )


def masked_fractional_costs() -> KnownInstance:
    """Non-integral costs and weights, and an ineligible pair.

    cost = [[0.25, 1.125], [0.5, 0.333], [inf, 0.1]] (item 2 only at node 1),
    weight = [[1.5, 1], [1.5, 1], [1, 1.25]], capacity = [1.5, 2.25].
    Node 0 takes one item; node 1 must take item 2 (1.25) plus one more (1).
    Options: item 0 at 0 + item 1 at 1: 0.25 + 0.333 + 0.1 = 0.683;
    item 1 at 0 + item 0 at 1: 0.5 + 1.125 + 0.1 = 1.725. Optimum 0.683.
    """
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[0.25, 1.125], [0.5, 0.333], [np.inf, 0.1]],
            weight=[[1.5, 1.0], [1.5, 1.0], [1.0, 1.25]],
            capacity=[1.5, 2.25],
            name="masked_fractional_costs",
        ),
        optimum=0.683,
        assignment=(0, 1, 1),
        lp_bound=None,
    )


def infeasible() -> KnownInstance:
    """Two items of weight 3 and one node of capacity 5: no complete assignment."""
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[1.0], [1.0]],
            weight=[[3.0], [3.0]],
            capacity=[5.0],
            name="infeasible",
        ),
        optimum=None,
        assignment=None,
        lp_bound=None,
    )


def integer_infeasible() -> KnownInstance:
    """Three items of weight 2 and two nodes of capacity 3: the LP is feasible
    (each node takes one and a half items), no integer assignment is."""
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]],
            weight=np.full((3, 2), 2.0),
            capacity=[3.0, 3.0],
            name="integer_infeasible",
        ),
        optimum=None,
        assignment=None,
        lp_bound=10.5,
    )


def bound_infeasible() -> KnownInstance:
    """Both items too heavy for node 0 (5 > 3), and node 1 cannot take both
    (2 + 5 > 5): the LP is feasible, fixing the too-heavy pairs at 0 is not.
    CBC 2.10.3 with preprocessing off proves it in its bound tightening and
    then crashes (SIGSEGV) writing the solution file PuLP asks for."""
    return KnownInstance(
        problem=AssignmentProblem(
            cost=[[1.0, 2.0], [3.0, 4.0]],
            weight=[[5.0, 2.0], [5.0, 5.0]],
            capacity=[3.0, 5.0],
            name="bound_infeasible",
        ),
        optimum=None,
        assignment=None,
        lp_bound=None,
    )


KNOWN = [fractional_lp(), defer_and_stock(), masked_fractional_costs()]
