"""``nearest``: first come, first served to the most preferred feasible node."""

from __future__ import annotations

import numpy as np

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import Status, get_engine, solve, verify


def _two_nodes(preference: list[list[float]] | None = None) -> AssignmentProblem:
    """Node 0 is cheap but far; it holds one item. Items 0 and 1 both want it.

    cost = [[1, 3], [1, 2]], capacity [1, 5], defer allowed.
    By cost: item 0 takes node 0 (first come), item 1 node 1: 1 + 2 = 3.
    By preference [[5, 1], [0, 9]]: item 0 prefers node 1 (3), item 1 then
    gets node 0 (1): 4.
    """
    return AssignmentProblem(
        cost=[[1.0, 3.0], [1.0, 2.0]],
        weight=np.ones((2, 2)),
        capacity=[1.0, 5.0],
        defer_cost=[10.0, 10.0],
        preference=preference,
    )


def test_ranks_by_cost_without_a_preference() -> None:
    problem = _two_nodes()
    result = solve(problem, "nearest")
    assert result.assignment.tolist() == [0, 1]
    assert verify(problem, result) == 3.0
    assert result.status is Status.FEASIBLE and result.bound is None


def test_ranks_by_preference_when_given() -> None:
    problem = _two_nodes(preference=[[5.0, 1.0], [0.0, 9.0]])
    result = solve(problem, "nearest")
    assert result.assignment.tolist() == [1, 0]
    assert verify(problem, result) == 4.0


def test_is_a_baseline_that_ranks_by_preference() -> None:
    caps = get_engine("nearest").capabilities
    assert caps.baseline and caps.uses_preference
    assert not (caps.exact or caps.proves_bound or caps.greedy_start)
