"""GAP files as core problems: direction handling for OR-Library instances."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tierflow.data.orlib_gap import GapData, read_orlib_gap
from tierflow.formulations.problem import AssignmentProblem


@dataclass(frozen=True, slots=True)
class GapInstance:
    """One GAP problem, always stored as a minimization.

    For a profit-maximization file the problem's cost is the negated profit;
    :meth:`reported` turns an internal objective back into file units.
    """

    name: str
    problem: AssignmentProblem
    maximize: bool = False

    @property
    def direction(self) -> str:
        return "max" if self.maximize else "min"

    def reported(self, value: float | None) -> float | None:
        """An internal (minimization) value in the file's own direction."""
        if value is None:
            return None
        # + 0.0: a zero profit is 0.0, not the -0.0 of its negated cost
        return (-value if self.maximize else value) + 0.0


def gap_instance(data: GapData, *, maximize: bool = False) -> GapInstance:
    """The core problem of a GAP (profits negated when ``maximize``)."""
    problem = AssignmentProblem(
        cost=-data.cost if maximize else data.cost,
        weight=data.weight,
        capacity=data.capacity,
        name=data.name,
    )
    return GapInstance(data.name, problem, maximize)


def load_gap_file(
    path: str | os.PathLike[str], *, maximize: bool = False
) -> list[GapInstance]:
    """Every problem of an OR-Library GAP file as a :class:`GapInstance`."""
    return [gap_instance(d, maximize=maximize) for d in read_orlib_gap(path)]
