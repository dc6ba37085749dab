"""verify() names the violated constraint and by how much."""

from __future__ import annotations

import numpy as np
import pytest

from tests.instances import defer_and_stock, fractional_lp
from tierflow.data.errors import VerificationError
from tierflow.solver import verify
from tierflow.solver.result import SolveResult, Status


def _result(
    assignment: list[int], objective: float, bound: float | None = None
) -> SolveResult:
    return SolveResult(
        engine="test",
        status=Status.FEASIBLE,
        objective=objective,
        bound=bound,
        runtime_s=0.0,
        assignment=np.array(assignment),
    )


def test_accepts_the_known_optimum() -> None:
    known = fractional_lp()
    assert verify(known.problem, _result([0, 1, 1], 7.0)) == 7.0


@pytest.mark.parametrize(
    ("assignment", "objective", "bound", "message"),
    [
        ([0, 0, 1], 4.0, None, r"test: capacity agent 0 \(load 4 > 3\) violated by 1"),
        ([0, 1, -1], 6.0, None, r"test: assignment item 2 unassigned violated by 1"),
        ([0, 1, 2], 0.0, None, r"test: agent index item 2 -> 2 violated by 2"),
        (
            [0, 1, 1],
            6.5,
            None,
            r"test: reported objective 6.5 but the assignment costs 7.0",
        ),
        ([0, 1, 1], 7.0, 7.5, r"test: bound 7.5 exceeds the objective 7.0"),
        # NaN compares false with everything: both claims passed the checks
        (
            [0, 1, 1],
            float("nan"),
            None,
            r"test: reported objective nan but the assignment costs 7.0",
        ),
        ([0, 1, 1], 7.0, float("nan"), r"test: bound nan is not a number"),
    ],
)
def test_violations_are_named(
    assignment: list[int], objective: float, bound: float | None, message: str
) -> None:
    with pytest.raises(VerificationError, match=message):
        verify(fractional_lp().problem, _result(assignment, objective, bound))


def test_stock_violation_names_node_and_resource() -> None:
    problem = defer_and_stock().problem
    with pytest.raises(
        VerificationError,
        match=r"stock agent 0 resource 0 \(used 2 > 1\) violated by 1",
    ):
        verify(problem, _result([0, 0, 1], 5.0))


def test_eligibility_violation() -> None:
    from tierflow.formulations.problem import AssignmentProblem

    problem = AssignmentProblem(
        cost=[[1.0, np.inf]], weight=[[1.0, 1.0]], capacity=[1.0, 1.0]
    )
    with pytest.raises(VerificationError, match=r"eligibility item 0 -> agent 1"):
        verify(problem, _result([1], 0.0))


def test_no_solution_cannot_be_verified() -> None:
    result = SolveResult(
        engine="x",
        status=Status.NO_SOLUTION,
        objective=None,
        bound=None,
        runtime_s=0.0,
        assignment=np.array([-1]),
    )
    with pytest.raises(VerificationError, match="no solution to verify"):
        verify(fractional_lp().problem, result)
