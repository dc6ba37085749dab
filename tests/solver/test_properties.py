"""Property tests on random instances with a planted feasible assignment.

Instances are built valid by construction (no ``assume``): a random planted
assignment fixes each node's load, and capacity is that load plus slack, so
a complete feasible assignment always exists. Size caps: at most 9 items,
4 nodes, 2 SKUs, so every exact engine proves optimality within its limit.
The engines come from the registry: every one is feasible, the exact ones
agree on the optimum (so none beats them), no bound exceeds it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.solver.suites import ENGINES, EXACT
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import Status, solve, verify
from tierflow.solver.lp import lp_relaxation


@st.composite
def planted_problems(draw: st.DrawFn) -> AssignmentProblem:
    n = draw(st.integers(1, 9))
    m = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    planted = rng.integers(0, m, size=n)
    cost = rng.integers(0, 30, size=(n, m)).astype(float)
    if draw(st.booleans()):
        cost = cost + rng.random((n, m)).round(3)
    weight = rng.integers(1, 10, size=(n, m)).astype(float)
    eligible = rng.random((n, m)) < 0.7
    eligible[np.arange(n), planted] = True
    load = np.bincount(planted, weights=weight[np.arange(n), planted], minlength=m)
    capacity = load + rng.integers(0, 6, size=m)
    use = stock = defer_cost = None
    if draw(st.booleans()):
        k = 2
        use = rng.integers(0, 3, size=(n, k)).astype(float)
        need = np.zeros((m, k))
        np.add.at(need, planted, use)
        stock = need + rng.integers(0, 2, size=(m, k))
    if draw(st.booleans()):
        defer_cost = rng.integers(5, 60, size=n).astype(float)
    return AssignmentProblem(
        cost=cost,
        weight=weight,
        capacity=capacity,
        eligible=eligible,
        use=use,
        stock=stock,
        defer_cost=defer_cost,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted_problems())
def test_every_engine_is_feasible_and_ordered(problem: AssignmentProblem) -> None:
    results = {name: solve(problem, name, time_limit_s=5.0, seed=0) for name in ENGINES}
    objectives = {}
    for name, result in results.items():
        assert result.has_solution, (name, result.message)
        objectives[name] = verify(problem, result)
    optimum = min(objectives.values())
    for name in EXACT:
        assert results[name].status is Status.OPTIMAL, name
        assert abs(objectives[name] - optimum) <= 1e-6 * max(1.0, abs(optimum)), name
    relax = lp_relaxation(problem)
    assert relax.objective is not None
    assert relax.objective <= optimum + 1e-6
    assert np.all(relax.bid_price >= 0)
    for name, result in results.items():
        if result.bound is not None:
            assert result.bound <= optimum + 1e-6, name
