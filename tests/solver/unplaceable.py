"""Problems with one item no node can take even empty: the answer is
infeasible whatever the time, and an engine should say so at once (its
randomized restarts or LNS cannot place it). Shared by the greedy's and the
exact engines' tests."""

from __future__ import annotations

import numpy as np

from tierflow.formulations.problem import AssignmentProblem

#: Why item 5 fits nowhere.
REASONS = ("too heavy", "no eligible node", "no stock")


def one_item_fits_nowhere(why: str, n: int, m: int) -> AssignmentProblem:
    """``n`` items x ``m`` nodes with ample room, item 5 fitting no node
    even empty: heavier than every node's capacity, eligible at none, or
    using more of a resource than any node stocks."""
    rng = np.random.default_rng(0)
    weight = rng.integers(1, 10, (n, m)).astype(float)
    capacity = np.full(m, 1.5 * weight.mean() * n / m)
    eligible = np.ones((n, m), dtype=bool)
    use = stock = None
    if why == "too heavy":
        weight[5] = capacity.max() + 1.0
    elif why == "no eligible node":
        eligible[5] = False
    else:
        use, stock = np.zeros((n, 1)), np.full((m, 1), 1.0)
        use[5, 0] = 2.0
    return AssignmentProblem(
        cost=rng.integers(1, 50, (n, m)).astype(float),
        weight=weight,
        capacity=capacity,
        eligible=eligible,
        use=use,
        stock=stock,
    )
