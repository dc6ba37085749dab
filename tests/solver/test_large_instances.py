"""Sizes beyond the OR-Library files: the greedy stays complete, the LP path
switches to interior point + crossover without changing the bound or duals'
meaning. Each takes seconds: marked ``slow`` (``make test-slow`` runs them)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tierflow.data.orlib_gap import generate_chu_beasley
from tierflow.formulations.gap import gap_instance
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.greedy import greedy_assign
from tierflow.solver.highs_model import new_highs, pass_model
from tierflow.solver.lns import agent_lns
from tierflow.solver.lp import IPM_MIN_COLUMNS, lp_relaxation
from tierflow.solver.matrix import build_matrix
from tierflow.solver.verify import check_assignment


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["C", "D"])
def test_greedy_completes_a_tight_large_gap(kind: str) -> None:
    # type D at this size left hundreds of items unplaced before repair was
    # limited to a few leftovers and the "weight"-first starts got the time
    problem = gap_instance(generate_chu_beasley(kind, 50, 3000, seed=3)).problem
    assignment, reasons = greedy_assign(problem, time_limit_s=5.0)
    assert reasons == {}
    assert (assignment >= 0).all()
    assert check_assignment(problem, assignment) == []


@pytest.mark.slow
def test_large_lp_uses_interior_point_and_matches_simplex() -> None:
    problem = gap_instance(generate_chu_beasley("D", 25, 1000, seed=2)).problem
    model = build_matrix(problem)
    assert model.n_cols >= IPM_MIN_COLUMNS
    relax = lp_relaxation(problem, model=model)
    assert relax.method == "ipm"  # a tight GAP: every capacity overloaded
    h = new_highs()
    h.setOptionValue("solver", "simplex")
    pass_model(h, model, integer=False)
    h.run()
    simplex = h.getInfo().objective_function_value
    assert relax.objective == pytest.approx(simplex, rel=1e-7)
    # a vertex (crossover ran): at most one fractional item per capacity row
    x = relax.x
    fractional_items = np.unique(
        model.pair_item[
            (x[: model.pair_item.size] > 1e-6) & (x[: model.pair_item.size] < 1 - 1e-6)
        ]
    )
    assert fractional_items.size <= problem.n_agents
    assert (relax.bid_price >= 0).all() and relax.bid_price.max() > 0


def test_a_large_lp_where_few_capacities_bind_is_solved_by_simplex() -> None:
    """A bid-price-like LP (orders that may stay out, loose capacity at most
    nodes) of more than IPM_MIN_COLUMNS columns: dual simplex, the optimum
    interior point finds, and optimal duals (strong duality; the duals of
    such an LP need not be unique, so they are not compared): a bid price on
    each short node and none where capacity is loose."""
    rng = np.random.default_rng(4)
    k, m = 800, 40
    cost = rng.uniform(5, 30, (k, m))
    weight = np.repeat(rng.choice([1.0, 2.0, 3.0], size=(k, 1)), m, axis=1)
    load = np.bincount(cost.argmin(axis=1), weights=weight[:, 0], minlength=m)
    capacity = load * np.where(np.arange(m) < 8, 0.5, 2.0)  # 8 of 40 short
    problem = AssignmentProblem(
        cost=cost, weight=weight, capacity=capacity, defer_cost=np.full(k, 60.0)
    )
    model = build_matrix(problem)
    assert model.n_cols >= IPM_MIN_COLUMNS
    relax = lp_relaxation(problem, model=model)
    assert relax.method == "simplex"
    h = new_highs()
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "on")
    pass_model(h, model, integer=False)
    h.run()
    assert relax.objective == pytest.approx(h.getInfo().objective_function_value)
    dual_objective = relax.item_dual.sum() - relax.bid_price @ capacity
    assert dual_objective == pytest.approx(relax.objective, rel=1e-9)
    assert relax.bid_price[:8].min() > 0 and relax.bid_price[8:].max() == 0


@pytest.mark.slow
def test_agent_lns_keeps_feasibility_and_improves_a_greedy_start() -> None:
    problem = gap_instance(generate_chu_beasley("E", 20, 200, seed=4)).problem
    start, _ = greedy_assign(problem, time_limit_s=0.5, improve_solution=False)
    assert (start >= 0).all()
    best, kept = agent_lns(
        problem, start, deadline=time.perf_counter() + 2.0, seed=0, workers=1
    )
    assert check_assignment(problem, best) == []
    assert kept > 0
    assert problem.objective(best) < problem.objective(start)
    # the bound still holds: LNS cannot beat the LP relaxation
    bound = lp_relaxation(problem).objective
    assert bound is not None and problem.objective(best) >= bound - 1e-6
