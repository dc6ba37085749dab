"""Random instances with a planted feasible assignment, valid by construction.

A random planted assignment fixes each node's load, and capacity is that
load plus slack, so a complete feasible assignment always exists. Shared by
the property tests (hypothesis draws the sizes, seed and flags) and the
seeded HiGHS check.
"""

from __future__ import annotations

import numpy as np

from tierflow.formulations.problem import AssignmentProblem


def planted_problem(
    seed: int,
    n: int,
    m: int,
    *,
    fractional: bool,
    stock: bool,
    defer: bool,
    denominator: int = 1,
) -> AssignmentProblem:
    """``n`` items on ``m`` nodes from ``seed``: costs 0-29 (plus a random
    fraction when ``fractional``), two SKUs of stock when ``stock``, defer
    costs 5-59 when ``defer``. Weights, capacity slack, SKU uses and stock
    slack are whole numbers divided by ``denominator`` (3 or 7: no power of
    ten makes them whole)."""
    rng = np.random.default_rng(seed)
    planted = rng.integers(0, m, size=n)
    cost = rng.integers(0, 30, size=(n, m)).astype(float)
    if fractional:
        cost = cost + rng.random((n, m)).round(3)
    weight = rng.integers(1, 10, size=(n, m)) / denominator
    eligible = rng.random((n, m)) < 0.7
    eligible[np.arange(n), planted] = True
    load = np.bincount(planted, weights=weight[np.arange(n), planted], minlength=m)
    capacity = load + rng.integers(0, 6, size=m) / denominator
    use = stock_at = defer_cost = None
    if stock:
        k = 2
        use = rng.integers(0, 3, size=(n, k)) / denominator
        need = np.zeros((m, k))
        np.add.at(need, planted, use)
        stock_at = need + rng.integers(0, 2, size=(m, k)) / denominator
    if defer:
        defer_cost = rng.integers(5, 60, size=n).astype(float)
    return AssignmentProblem(
        cost=cost,
        weight=weight,
        capacity=capacity,
        eligible=eligible,
        use=use,
        stock=stock_at,
        defer_cost=defer_cost,
    )
