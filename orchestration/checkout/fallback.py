"""Never fail a checkout: what an answer fell back on, and why.

A store that cannot be read degrades the answer (last known capacity map,
stock and CLTV score) instead of failing it; :class:`Notes` collects what
fell back, which the answer reports as ``degraded`` and ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tierflow.data.store import StoreUnavailable

#: Store failures that degrade an answer instead of failing it.
STORE_ERRORS = (StoreUnavailable, OSError)


@dataclass(slots=True)
class Notes:
    """What fell back while answering, and why."""

    notes: list[str] = field(default_factory=list)
    degraded: bool = False

    def add(self, note: str) -> None:
        """Record a fallback: the answer is degraded."""
        self.degraded = True
        self.notes.append(note)
