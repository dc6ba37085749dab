"""The engine contract: what every solver plug-in provides.

Like cvxpy's ``Solver`` and Pyomo's ``Availability``, an engine states what it
can do (``exact``, ``proves_bound``, ``uses_warm_start``) and whether its
backend is importable, and implements one ``solve`` with the common
keyword-only parameters of :func:`tierflow.solver.solve`.
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.result import SolveResult

#: Relative gap at which a solve counts as optimal (MathOpt's ``relative_gap_tolerance``):
#: ``(objective - bound) / max(|objective|, 1)``. Small enough to be exact on integer
#: GAP objectives below 10^6; fulfillment callers pass a looser one.
DEFAULT_RELATIVE_GAP = 1e-6


@enum.unique
class Availability(enum.IntEnum):
    """Whether an engine can run here; truthy only when it can."""

    AVAILABLE = 1
    NOT_INSTALLED = 0
    BROKEN = -1

    def __bool__(self) -> bool:
        return self is Availability.AVAILABLE


@runtime_checkable
class Engine(Protocol):
    """A solver plug-in registered by name."""

    name: str
    #: Finds proven optima given enough time.
    exact: bool
    #: Reports a proven lower bound.
    proves_bound: bool
    #: Makes use of a warm-start assignment.
    uses_warm_start: bool

    def available(self) -> Availability:
        """Whether the backend is installed and loads."""
        ...

    def solve(
        self,
        problem: AssignmentProblem,
        *,
        time_limit_s: float,
        seed: int,
        warm_start: NDArray[np.int64] | None,
        threads: int | None,
        relative_gap: float = DEFAULT_RELATIVE_GAP,
    ) -> SolveResult:
        """Solve ``problem``; must not raise for solver-side failures."""
        ...
