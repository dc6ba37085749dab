"""The tierflow exception tree.

Every error a user can cause is an :class:`InputError` that says *where*
(file, problem, row, position, field, index) and *what* (the offending value),
so the CLI can print it as one line and exit 1 without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class TierflowError(Exception):
    """Root of all errors raised on purpose by tierflow."""


class InputError(TierflowError, ValueError):
    """Bad input data, located as precisely as the reader knows.

    Parameters
    ----------
    message
        What is wrong, e.g. ``"must be >= 0"``.
    file, problem, row, position, field, index, value
        Where it is wrong; each part that is given is printed, in this order.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        problem: int | None = None,
        row: int | None = None,
        position: str | None = None,
        field: str | None = None,
        index: Any = None,
        value: Any = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.problem = problem
        self.row = row
        self.position = position
        self.field = field
        self.index = index
        self.value = value
        parts: list[str] = []
        if file is not None:
            parts.append(str(file))
        if problem is not None:
            parts.append(f"problem {problem}")
        if row is not None:
            parts.append(f"row {row}")
        if position is not None:
            parts.append(position)
        if field is not None:
            parts.append(f"field '{field}'")
        if index is not None:
            parts.append(f"index {index}")
        if value is not None:
            parts.append(f"value {_shown(value)}")
        parts.append(message)
        super().__init__(": ".join(parts).translate(_ONE_LINE))


#: Longest quoted value; a longer one is cut (the message stays one short line).
_MAX_SHOWN = 120
#: Line breaks (as ``str.splitlines`` knows them) escaped: a message is one line
#: even when a file name or a header cell holds one.
_ONE_LINE = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def listed(names: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` of ``names`` in their order, ", "-joined, with
    ", ..." when there are more (a message names a few, never hundreds)."""
    items = list(names)
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


def _shown(value: Any) -> str:
    """``repr(value)``, cut to ``_MAX_SHOWN`` characters; values whose repr
    fails (an integer of 5000 digits, a list nested too deep) by their type."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__}>"
    if len(text) > _MAX_SHOWN:
        return text[: _MAX_SHOWN - 3] + "..."
    return text


class SolverError(TierflowError):
    """An engine failed in a way that is not the input's fault."""


class ClusterError(TierflowError):
    """The Dask cluster a run solves on lost its workers mid-run."""


class UnknownEngineError(TierflowError, KeyError):
    """An engine name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RunConflictError(TierflowError):
    """Another process committed a batch of the same run first: the same
    command running twice at once on one state store."""


class StoreRestored(TierflowError):
    """The state store was restored from a backup under a running allocation
    (``pg_restore --clean``, SQLite's ``.restore``): it lacks batches the
    run committed, or the run. The run writes nothing more there; the same
    command run again resumes from what the restored store holds.

    ``held`` and ``found``: the last batch the run had committed and the
    last the restored store holds (-1: none; -2: not even the run)."""

    def __init__(
        self, run_id: str, held: int, found: int, *, location: str = ""
    ) -> None:
        where = f"state store {location}" if location else "the state store"
        had = f"batches up to {held}" if held >= 0 else "no batch"
        holds = f"batches up to {found}" if found >= 0 else "none of its batches"
        super().__init__(
            f"{where} was restored under this run ({run_id[:12]}): it had "
            f"committed {had}, the restored store holds {holds}; nothing more "
            "is written: run the same command again to resume from batch "
            f"{max(found + 1, 0)}"
        )
        self.run_id = run_id
        self.held = held
        self.found = found


class BatchError(TierflowError):
    """An error met while a day's allocation decided one of its batches: the
    message names the batch (index and time window) before the original's,
    which is its ``__cause__`` (alone it named a node or item index of a
    problem nobody could see, or nothing of where the day stopped)."""


class VerificationError(TierflowError):
    """A solution violates a constraint; the message names it and by how much."""
