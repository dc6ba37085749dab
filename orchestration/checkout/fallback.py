"""Never fail a checkout: what an answer fell back on, and why.

A store that cannot be read degrades the answer (last known capacity map,
stock and CLTV score) instead of failing it; :class:`Notes` collects what
fell back, which the answer reports as ``degraded`` and ``notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tierflow.data.store import StoreUnavailable

#: Store failures that degrade an answer instead of failing it.
STORE_ERRORS = (StoreUnavailable, OSError)
#: Where libpq says it tried to connect (a socket's path, a host, its
#: address and port), in its connection errors.
_LIBPQ_WHERE = re.compile(
    r'connection to server (?:on socket "[^"]*"|at "[^"]*"(?: \([^)]*\))?, port \d+)'
)


def unavailable(error: BaseException) -> StoreUnavailable:
    """A store failure of :data:`STORE_ERRORS` as a ``StoreUnavailable``
    (what the service answers 503 to)."""
    if isinstance(error, StoreUnavailable):
        return error
    return StoreUnavailable(public_reason(error))


def public_reason(error: BaseException) -> str:
    """What an answer to a caller may say of a store failure: the reason
    without the store's location (a file path or a database host is the
    operator's business; the server's log has the whole message)."""
    if isinstance(error, StoreUnavailable):  # libpq names its socket or host
        return _LIBPQ_WHERE.sub("connection to the database server", error.reason)
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error)


@dataclass(slots=True)
class Notes:
    """What fell back while answering, and why."""

    notes: list[str] = field(default_factory=list)
    degraded: bool = False

    def add(self, note: str) -> None:
        """Record a fallback: the answer is degraded."""
        self.degraded = True
        self.notes.append(note)
