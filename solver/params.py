"""The common solve parameters, one frozen value (MathOpt's ``SolveParameters``)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_SEED, MAX_TIME_LIMIT_S, require_number

#: Relative gap at which a solve counts as optimal (MathOpt's ``relative_gap_tolerance``):
#: ``(objective - bound) / max(|objective|, 1)``. Small enough to be exact on integer
#: GAP objectives below 10^6; fulfillment callers pass a looser one.
DEFAULT_RELATIVE_GAP = 1e-6


@dataclass(frozen=True, slots=True)
class SolveParams:
    """What every engine is told, whatever its backend.

    Attributes
    ----------
    time_limit_s
        Wall-clock budget, in seconds.
    seed
        Random seed passed to the backend, for reproducible runs.
    threads
        Worker threads; ``None`` lets the engine choose (CP-SAT: at least 8).
    relative_gap
        Stop, and call the result optimal, once ``(objective - bound) /
        max(|objective|, 1)`` is at most this.
    deterministic
        The same problem gives the same answer, on any machine and at any
        load: CP-SAT stops on ``time_limit_s`` of its deterministic time
        (its count of work, close to a second on a typical machine; the
        wall time it takes varies) with ``threads`` workers, one when
        unset, interleaved when more (the answer repeats for a worker
        count but depends on it: never the machine's cores), and the
        greedy phases run to their end instead of to the clock. Engines that stop only
        on the clock (HiGHS, CBC, the LP) refuse it
        (``Capabilities.deterministic``).
    """

    time_limit_s: float = 10.0
    seed: int = 0
    threads: int | None = None
    relative_gap: float = DEFAULT_RELATIVE_GAP
    deterministic: bool = False

    def __post_init__(self) -> None:
        # InputError (a ValueError) naming the field: a NaN seed or thread
        # count once reached the backend, whose failure turned the answer
        # into the greedy fallback's
        require_number(self.time_limit_s, "time_limit_s", 0, MAX_TIME_LIMIT_S)
        require_number(self.seed, "seed", 0, MAX_SEED, integer=True)
        if self.threads is not None:
            require_number(self.threads, "threads", 1, 1024, integer=True)
        require_number(self.relative_gap, "relative_gap", 0, 1)
        if not isinstance(self.deterministic, bool):
            raise InputError(
                "must be true or false", field="deterministic", value=self.deterministic
            )

    @property
    def clock_limit_s(self) -> float:
        """The wall-clock limit of the phases that stop on the clock (the
        greedy start, the fallback): none when :attr:`deterministic`."""
        return math.inf if self.deterministic else self.time_limit_s

    def replace(self, **changes: Any) -> SolveParams:
        """These parameters with some replaced (and checked again)."""
        return dataclasses.replace(self, **changes)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system
    tells it, as a container's limit does; else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def mip_threads(threads: int | None) -> int | None:
    """``threads`` for HiGHS and CBC: at most :func:`usable_cores`. Their
    workers wait for work by spinning, so more than the cores only takes
    cores from the search: ``--threads 1024`` on 2 cores kept HiGHS 3.4 s
    on a 1 s limit, its LP relaxation 2 s (0.07 s with 2), and answered
    worse than 2 threads (1933 and 1983 for 1931 and 1942 on c05100); CBC
    too (1.2 s, 1932 for 0.45 s, 1931). CP-SAT's workers, which interleave,
    take any count (:func:`tierflow.solver.cpsat.default_workers`)."""
    return None if threads is None else min(int(threads), usable_cores())
