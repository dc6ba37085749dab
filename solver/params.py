"""The common solve parameters, one frozen value (MathOpt's ``SolveParameters``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

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
    """

    time_limit_s: float = 10.0
    seed: int = 0
    threads: int | None = None
    relative_gap: float = DEFAULT_RELATIVE_GAP

    def __post_init__(self) -> None:
        if not self.time_limit_s >= 0:  # also rejects NaN
            raise ValueError(f"time_limit_s must be >= 0, got {self.time_limit_s!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads!r}")
        if not (self.relative_gap >= 0 and math.isfinite(self.relative_gap)):
            raise ValueError(f"relative_gap must be >= 0, got {self.relative_gap!r}")

    def replace(self, **changes: Any) -> SolveParams:
        """These parameters with some replaced (and checked again)."""
        return dataclasses.replace(self, **changes)
