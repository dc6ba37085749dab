"""The result every engine returns, in OR-Tools MathOpt's vocabulary.

A time-limited incumbent is ``FEASIBLE`` with ``limit=Limit.TIME``; only a
proof makes a result ``OPTIMAL``. ``gap`` is derived from ``objective`` and
``bound``, never stored, so it cannot disagree with them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tierflow.data.wording import counted
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver.partial_assignment import no_option_reasons

#: Why an exact engine left an item unassigned that a node still had the
#: room and stock for: deferring it was optimal (an item nothing could take
#: gets the greedy engine's reason instead, :func:`solution_result`).
DEFERRED_BY_OPTIMIZER = "deferred by the optimizer"


@enum.unique
class Status(enum.Enum):
    """Why a solve ended, as far as the solution is concerned."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        """Whether a result with this status carries an assignment."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@enum.unique
class Limit(enum.Enum):
    """Which limit stopped the engine, if any (MathOpt's ``Limit``)."""

    NONE = "none"
    TIME = "time"
    ITERATION = "iteration"
    OTHER = "other"


def _empty_mapping() -> Mapping[int, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class SolveResult:
    """Outcome of one solve.

    Attributes
    ----------
    engine
        Registry name of the engine that produced the result.
    status, limit
        Termination, see :class:`Status` and :class:`Limit`.
    objective
        Objective of ``assignment`` (``None`` without a solution).
    bound
        Proven lower bound on the optimum (``None`` when unknown).
    runtime_s
        Wall-clock seconds spent in the engine.
    assignment
        Agent index per item, ``-1`` = unassigned (all ``-1`` without a solution).
    unassigned_reason
        Why each unassigned item is unassigned, keyed by item index.
    bid_price
        Capacity duals per agent (>= 0, cost per capacity unit), where known.
    stock_dual
        ``(n_agents, n_resources)`` stock duals (>= 0), where known.
    message
        Free-form detail from the backend (native status, fallback notes).
    fallback_from
        The engine whose failure or timeout made this the fallback engine's
        result (``None`` when the requested engine answered itself).
    """

    engine: str
    status: Status
    objective: float | None
    bound: float | None
    runtime_s: float
    assignment: NDArray[np.int64]
    unassigned_reason: Mapping[int, str] = field(default_factory=_empty_mapping)
    limit: Limit = Limit.NONE
    bid_price: NDArray[np.float64] | None = None
    stock_dual: NDArray[np.float64] | None = None
    message: str = ""
    fallback_from: str | None = None

    def __post_init__(self) -> None:
        # a plug-in's status in words was an AttributeError from has_solution
        for name, kind in (("status", Status), ("limit", Limit)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                hint = ""
                if value in [m.value for m in kind]:
                    hint = f" ({kind.__name__}.{kind(value).name})"
                raise TypeError(
                    f"{name} must be a {kind.__name__}{hint}, not {value!r}"
                )
        # views of read-only buffers: an array that owns its memory may be
        # made writeable again, and a verified result changed after the fact
        assignment = np.array(self.assignment, dtype=np.int64, copy=True)
        assignment.flags.writeable = False
        object.__setattr__(self, "assignment", assignment.view())
        object.__setattr__(
            self, "unassigned_reason", MappingProxyType(dict(self.unassigned_reason))
        )
        for name in ("bid_price", "stock_dual"):
            value = getattr(self, name)
            if value is not None:
                arr = np.array(value, dtype=np.float64, copy=True)
                arr.flags.writeable = False
                object.__setattr__(self, name, arr.view())
        if self.status.has_solution and self.objective is None:
            raise ValueError(f"status {self.status.name} needs an objective")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through the constructor (the reasons mapping is read-only)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["unassigned_reason"] = dict(self.unassigned_reason)
        return (_rebuild_result, (fields,))

    @property
    def has_solution(self) -> bool:
        """Whether :attr:`assignment` is a solution (possibly not optimal)."""
        return self.status.has_solution

    @property
    def gap(self) -> float | None:
        """Relative gap ``(objective - bound) / max(|objective|, 1)``, if both known."""
        if self.objective is None or self.bound is None:
            return None
        return max(0.0, self.objective - self.bound) / max(abs(self.objective), 1.0)

    def objective_value(self) -> float:
        """The objective; raises when there is no feasible solution (as MathOpt)."""
        if not self.has_solution or self.objective is None:
            raise ValueError(
                f"{self.engine}: no feasible solution (status {self.status.name})"
            )
        return self.objective

    def with_bound(self, bound: float | None) -> SolveResult:
        """This result with ``bound`` tightened to the better of the two.

        A bound above the objective is kept as it is, not clamped to the
        objective: no bound can exceed a solution's cost, so it is an
        engine's bug for :func:`~tierflow.solver.verify` to report (clamped,
        a wrong bound read as a proof of the answer it exceeded). ``solve()``
        takes an excess within floating-point resolution as the objective.
        """
        if bound is None:
            return self
        best = bound if self.bound is None else max(self.bound, bound)
        return dataclasses.replace(self, bound=best)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (assignment as a list)."""
        return {
            "engine": self.engine,
            "status": self.status.value,
            "limit": self.limit.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "runtime_s": self.runtime_s,
            "assignment": self.assignment.tolist(),
            "unassigned_reason": {str(k): v for k, v in self.unassigned_reason.items()},
            "message": self.message,
            "fallback_from": self.fallback_from,
        }


def _rebuild_result(fields: dict[str, Any]) -> SolveResult:
    return SolveResult(**fields)


def no_solution(
    engine: str,
    n_items: int,
    status: Status,
    runtime_s: float,
    *,
    bound: float | None = None,
    limit: Limit = Limit.NONE,
    message: str = "",
) -> SolveResult:
    """A result without an assignment (every item ``-1``)."""
    return SolveResult(
        engine=engine,
        status=status,
        objective=None,
        bound=bound,
        runtime_s=runtime_s,
        assignment=np.full(n_items, -1, dtype=np.int64),
        unassigned_reason={},
        limit=limit,
        message=message,
    )


def solution_result(
    engine: str,
    problem: AssignmentProblem,
    assignment: NDArray[np.int64],
    status: Status,
    runtime_s: float,
    *,
    bound: float | None = None,
    limit: Limit = Limit.NONE,
    message: str = "",
    reasons: Mapping[int, str] | None = None,
) -> SolveResult:
    """A result carrying ``assignment``, its objective recomputed from ``problem``.

    Unless ``reasons`` says otherwise, an unassigned item that no node had
    the room or stock left for says so in the greedy engine's words
    (:func:`~tierflow.solver.partial_assignment.no_option_reasons`; every
    deferral read as the optimizer's choice), the others are
    :data:`DEFERRED_BY_OPTIMIZER`.
    """
    if reasons is None:
        out = np.flatnonzero(assignment < 0)
        why = no_option_reasons(problem, assignment, out)
        why = np.where(why == "", DEFERRED_BY_OPTIMIZER, why)
        reasons = dict(zip(out.tolist(), why.tolist(), strict=True))
    return SolveResult(
        engine=engine,
        status=status,
        objective=problem.objective(assignment),
        bound=bound,
        runtime_s=runtime_s,
        assignment=assignment,
        unassigned_reason=reasons,
        limit=limit,
        message=message,
    )


def heuristic_result(
    engine: str,
    problem: AssignmentProblem,
    assignment: NDArray[np.int64],
    reasons: Mapping[int, str],
    runtime_s: float,
    *,
    time_limit_s: float | None = None,
) -> SolveResult:
    """A constructed assignment without a bound: ``FEASIBLE`` when complete.

    An item left unassigned in a problem without a defer option means no
    solution was found (``NO_SOLUTION``, the placed items kept for the record).
    A search that ran to ``time_limit_s`` was stopped by it (``limit`` TIME:
    its improvement or restarts were cut short).
    """
    timed_out = time_limit_s is not None and runtime_s >= time_limit_s
    if not problem.can_defer and (assignment < 0).any():
        return SolveResult(
            engine=engine,
            status=Status.NO_SOLUTION,
            objective=None,
            bound=None,
            runtime_s=runtime_s,
            assignment=assignment,
            unassigned_reason=reasons,
            limit=Limit.TIME if timed_out else Limit.OTHER,
            message=f"{counted(int((assignment < 0).sum()), 'item')} could not be "
            "placed",
        )
    return solution_result(
        engine,
        problem,
        assignment,
        Status.FEASIBLE,
        runtime_s,
        limit=Limit.TIME if timed_out else Limit.NONE,
        reasons=reasons,
    )


def subset_result(result: SolveResult, keep: NDArray[np.integer[Any]]) -> SolveResult:
    """``result`` restricted to the items ``keep`` (in that order), as for
    :meth:`AssignmentProblem.subset`; the objective is no longer the sum
    over the kept items, so it is recomputed by callers that need it."""
    keep = np.asarray(keep, dtype=np.intp)
    position = {int(k): i for i, k in enumerate(keep.tolist())}
    reasons = {
        position[i]: why for i, why in result.unassigned_reason.items() if i in position
    }
    return dataclasses.replace(
        result, assignment=result.assignment[keep], unassigned_reason=reasons
    )
