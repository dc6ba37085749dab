"""Repair places a leftover that one blocking move cannot: an ejection chain."""

from __future__ import annotations

import numpy as np

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import Status, solve, verify
from tierflow.solver.construction import construct
from tierflow.solver.partial_assignment import ItemResources, PartialAssignment
from tierflow.solver.repair import repair


def _chain_needed() -> AssignmentProblem:
    """Found by the engine property test: order 2 needs two units of the
    first SKU, which only node 0 holds, and order 0 sits there; order 0 can
    move to node 1 only once order 3 leaves node 1 for node 0 (its second
    SKU). The one feasible plan is ``[1, 3, 0, 0]``."""
    return AssignmentProblem(
        cost=[
            [4.573, 20.885, 0.0, 26.365],
            [16.24, 18.978, 12.305, 14.034],
            [13.074, 5.602, 8.001, 16.314],
            [0.713, 2.893, 0.0, 0.31],
        ],
        weight=[[8, 9, 9, 9], [3, 3, 9, 5], [2, 8, 1, 5], [8, 1, 6, 5]],
        capacity=[14, 14, 5, 5],
        eligible=[
            [True, True, False, True],
            [True, True, True, True],
            [True, True, True, True],
            [True, True, False, True],
        ],
        use=[[1, 1], [1, 0], [2, 0], [0, 2]],
        stock=[[2, 3], [1, 2], [1, 0], [1, 0]],
    )


def test_a_leftover_is_placed_by_a_chain_of_three_moves() -> None:
    problem = _chain_needed()
    state = PartialAssignment.of(problem, np.array([0, 3, -1, 1]))
    assert repair(problem, state, ItemResources.of(problem)) == 1
    assert state.assignment.tolist() == [1, 3, 0, 0]
    assert np.all(state.residual >= 0) and state.stock_left is not None
    assert np.all(state.stock_left >= 0)


def test_greedy_and_its_fallbacks_complete_the_plan() -> None:
    problem = _chain_needed()
    first = construct(problem, "cost")
    assert (first.assignment < 0).any()  # the construction alone leaves one
    for engine in ("greedy", "nearest"):
        result = solve(problem, engine, seed=0)
        assert result.status is Status.FEASIBLE, result.message
        assert verify(problem, result) == 48.706
