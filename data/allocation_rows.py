"""The allocation line, defined once: one order line's decision in a batch.

:data:`ALLOCATION_LINE` names every column with its type and nullability;
the state store (``allocations`` table), the allocator's frames and
``allocations.csv`` take their column lists from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import pandas as pd

ColumnKind = Literal["text", "integer", "real"]

_CONVERT: dict[ColumnKind, Callable[[Any], str | int | float]] = {
    "text": str,
    "integer": int,
    "real": float,
}


@dataclass(frozen=True, slots=True)
class AllocationColumn:
    """One column of an allocation line.

    Attributes
    ----------
    name
        Column name (frame, CSV header and SQL column).
    kind
        Stored type: ``text``, ``integer`` or ``real``.
    nullable
        An empty cell (None or NaN) is stored as NULL.
    default
        What an empty cell of a NOT NULL column is stored as (None: the
        cell is converted as it is).
    blank_is_null
        An empty string is empty too.
    optional
        A batch frame may leave the column out (added by schema 2).
    per_batch
        Not a frame column: the store sets it from the batch number.
    """

    name: str
    kind: ColumnKind
    nullable: bool = False
    default: str | None = None
    blank_is_null: bool = False
    optional: bool = False
    per_batch: bool = False

    def stored(self, value: Any) -> str | int | float | None:
        """The cell as the store keeps it."""
        empty = value is None or (isinstance(value, float) and math.isnan(value))
        if empty or (self.blank_is_null and value == ""):
            if self.nullable:
                return None
            if self.default is not None:
                return self.default
        return _CONVERT[self.kind](value)


#: What a line's cost is made of (in the store and ``allocations.csv``).
COST_PARTS = ("shipping", "handling", "penalty")

#: Every column of an allocation line, in ``allocations.csv`` order.
ALLOCATION_LINE: tuple[AllocationColumn, ...] = (
    AllocationColumn("order_id", "text"),
    AllocationColumn("sku", "text"),
    AllocationColumn("quantity", "integer"),
    AllocationColumn("node_id", "text", nullable=True),
    AllocationColumn("service", "text", nullable=True),
    AllocationColumn("ship_date", "text", nullable=True),
    AllocationColumn("promised_date", "text", nullable=True),
    AllocationColumn("cost", "real", nullable=True),
    AllocationColumn("batch", "integer", per_batch=True),
    AllocationColumn("status", "text"),
    AllocationColumn("reason", "text", default=""),
    AllocationColumn(
        "delivery_date", "text", nullable=True, blank_is_null=True, optional=True
    ),
    # schema 5: when a waiting line is expected to arrive (shipped the next
    # ship day by its best option; the delivery date of an allocated line),
    # and when the line reached its node for the cutoff (UTC, ISO 8601)
    AllocationColumn(
        "expected_delivery", "text", nullable=True, blank_is_null=True, optional=True
    ),
    AllocationColumn(
        "released_at", "text", nullable=True, blank_is_null=True, optional=True
    ),
    # why the line shipped (or waits) on its own: "" part of a whole order,
    # "stock" no node held every line, "room" no node had the room for all
    AllocationColumn("split", "text", default="", optional=True),
    *(
        AllocationColumn(part, "real", nullable=True, optional=True)
        for part in COST_PARTS
    ),
)

#: ``allocations.csv``'s header.
ALLOCATION_FIELDS = tuple(c.name for c in ALLOCATION_LINE)
#: Columns every batch frame carries (``allocations.csv`` minus ``batch``).
ALLOCATION_COLUMNS = tuple(
    c.name for c in ALLOCATION_LINE if not (c.optional or c.per_batch)
)
#: Optional per-line columns (schema 2): when the delivery is due and what the
#: line's cost is made of.
ALLOCATION_EXTRA_COLUMNS = tuple(c.name for c in ALLOCATION_LINE if c.optional)

_LINE_COLUMNS = tuple(c for c in ALLOCATION_LINE if not c.per_batch)


class AllocationRow(NamedTuple):
    """One line as the store writes it (fields: the non-batch columns, in order)."""

    order_id: str
    sku: str
    quantity: int
    node_id: str | None
    service: str | None
    ship_date: str | None
    promised_date: str | None
    cost: float | None
    status: str
    reason: str
    delivery_date: str | None
    expected_delivery: str | None
    released_at: str | None
    split: str
    shipping: float | None
    handling: float | None
    penalty: float | None


def allocation_rows(frame: pd.DataFrame) -> list[AllocationRow]:
    """The frame's lines, each cell converted by its column (absent extras empty)."""
    names = [c.name for c in _LINE_COLUMNS]
    return [
        AllocationRow._make(
            col.stored(v) for col, v in zip(_LINE_COLUMNS, cells, strict=True)
        )
        for cells in frame.reindex(columns=names).itertuples(index=False, name=None)
    ]
