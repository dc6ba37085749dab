"""The hindsight bound: the value of the day's relaxation
(:mod:`tierflow.formulations.hindsight_relaxation`), a proven lower bound on
the cost of every allocation policy of the day."""

from __future__ import annotations

import time

from tierflow.formulations.hindsight_relaxation import DayInputs, hindsight_relaxation
from tierflow.solver.linear_program import BoundBudget, ProvenBound, prove_lower_bound

#: Share of a hindsight run's time limit its plan's solve may use; the bound
#: has the rest, and whatever the plan left (docs/allocation.md).
PLAN_SHARE = 0.5


def telling_bound(bound: float | None) -> float | None:
    """The hindsight ``bound`` when it says something of a cost: ``None``
    when none was proven, or when it is 0 or below (what a cut-short LP's
    last duals may prove, the Lagrangian bound having no sign), which says
    nothing of a day whose every cost is positive."""
    return bound if bound is not None and bound > 0 else None


def gap_to_bound_pct(cost: float, bound: float | None) -> float | None:
    """How far ``cost`` is above the hindsight ``bound``, in % of it;
    ``None`` where the bound says nothing of a cost (:func:`telling_bound`).
    Every gap to the bound is this one: the one-day benchmark's gave a bound
    below 0 a negative gap of any size."""
    telling = telling_bound(bound)
    if telling is None:
        return None
    return 100.0 * (float(cost) - telling) / telling


def hindsight_bound(
    day: DayInputs, *, mip_time_s: float = 0.0, time_limit_s: float | None = None
) -> float | None:
    """A proven lower bound on every policy's cost: the relaxation's LP value,
    raised by up to ``mip_time_s`` of branch and bound on its guarantee
    indicators (:func:`tierflow.solver.linear_program.lower_bound`). An LP
    the limit cuts short gives the bound its last duals prove (below the LP
    value); ``None`` when HiGHS stops with no duals or none that prove one.

    ``time_limit_s`` caps the whole step, the relaxation's build included
    (a build that passes it leaves no time for the LP, so no bound)."""
    return hindsight_proof(day, mip_time_s=mip_time_s, time_limit_s=time_limit_s).value


def hindsight_proof(
    day: DayInputs,
    *,
    mip_time_s: float = 0.0,
    time_limit_s: float | None = None,
    budget: BoundBudget | None = None,
) -> ProvenBound:
    """:func:`hindsight_bound` with what stopped it; with ``budget`` (a
    deterministic run) on that budget instead of the clock, the build's
    time not counted (:func:`~tierflow.solver.linear_program.prove_lower_bound`)."""
    if budget is not None:
        return prove_lower_bound(hindsight_relaxation(day), budget=budget)
    start = time.perf_counter()
    relaxation = hindsight_relaxation(day)
    left = (
        None if time_limit_s is None else time_limit_s - (time.perf_counter() - start)
    )
    if left is not None and left <= 0:
        return ProvenBound(None, "time_limit")
    return prove_lower_bound(relaxation, mip_time_s=mip_time_s, time_limit_s=left)
