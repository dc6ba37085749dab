"""The hindsight bound: the value of the day's relaxation
(:mod:`tierflow.formulations.hindsight_relaxation`), a proven lower bound on
the cost of every allocation policy of the day."""

from __future__ import annotations

from tierflow.formulations.hindsight_relaxation import DayInputs, hindsight_relaxation
from tierflow.solver.linear_program import lower_bound


def hindsight_bound(day: DayInputs, *, mip_time_s: float = 0.0) -> float | None:
    """A proven lower bound on every policy's cost: the relaxation's LP value,
    raised by up to ``mip_time_s`` of branch and bound on its guarantee
    indicators (:func:`tierflow.solver.linear_program.lower_bound`); ``None``
    when HiGHS does not solve even the LP."""
    return lower_bound(hindsight_relaxation(day), mip_time_s=mip_time_s)
