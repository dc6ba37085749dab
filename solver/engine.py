"""The engine contract: what every solver plug-in declares and provides.

Like cvxpy's ``Solver`` and Pyomo's ``Availability``, an engine states what it
can do (:class:`Capabilities`) and whether its backend is importable, and
implements one ``solve(problem, params, warm_start=...)``. Callers (and the
tests) read the capabilities, never the engine's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.params import DEFAULT_RELATIVE_GAP, SolveParams
from tierflow.solver.result import SolveResult

__all__ = [
    "DEFAULT_RELATIVE_GAP",
    "EXACT_ENGINE",
    "Availability",
    "BundledEngine",
    "Capabilities",
    "Engine",
    "Hint",
    "SolveParams",
]

#: A warm start (MathOpt's solution hint): an assignment to start from (agent
#: per item, ``-1`` = unassigned), or none.
Hint = NDArray[np.int64] | None


@enum.unique
class Availability(enum.IntEnum):
    """Whether an engine can run here; truthy only when it can."""

    AVAILABLE = 1
    NOT_INSTALLED = 0
    BROKEN = -1

    def __bool__(self) -> bool:
        return self is Availability.AVAILABLE


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine declares about itself (every flag defaults to ``False``).

    Attributes
    ----------
    exact
        Finds proven optima given enough time.
    proves_bound
        Reports a proven lower bound.
    bound_is_lp
        Its bound is the LP relaxation's already, so :func:`~tierflow.solver.solve`
        need not solve the LP again to tighten a non-optimal result.
    uses_warm_start
        Makes use of a warm-start assignment.
    greedy_start
        Wants the greedy solution as its warm start when the caller gives none.
    fallback
        Answers for an engine that failed or stopped without a solution (the
        first available one registered serves); it is never rescued itself.
    baseline
        A reference policy, not an optimizer: solved whole (never split into
        region partitions) and listed by :func:`~tierflow.solver.registry.engine_names`
        only when asked.
    uses_preference
        Ranks nodes by ``problem.preference`` (the caller should fill it).
    deterministic
        Gives the same answer for the same problem under
        ``SolveParams(deterministic=True)``: its limits count work, not the
        clock, or it always runs to its end.
    """

    exact: bool = False
    proves_bound: bool = False
    bound_is_lp: bool = False
    uses_warm_start: bool = False
    greedy_start: bool = False
    fallback: bool = False
    baseline: bool = False
    uses_preference: bool = False
    deterministic: bool = False

    @classmethod
    def flags(cls) -> tuple[str, ...]:
        """The names of every capability flag."""
        return tuple(f.name for f in fields(cls))


#: What an exact engine declares: proofs of optimality and of its bound, and a
#: warm start (the greedy solution unless the caller gives one).
EXACT_ENGINE = Capabilities(
    exact=True, proves_bound=True, uses_warm_start=True, greedy_start=True
)


@runtime_checkable
class Engine(Protocol):
    """A solver plug-in registered by name."""

    name: str
    capabilities: Capabilities

    def available(self) -> Availability:
        """Whether the backend is installed and loads."""
        ...

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        """Solve ``problem``; must not raise for solver-side failures."""
        ...


class BundledEngine:
    """Base of the engines whose backend is one of tierflow's own dependencies:
    available wherever tierflow is installed."""

    def available(self) -> Availability:
        return Availability.AVAILABLE
