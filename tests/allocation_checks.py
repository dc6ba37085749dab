"""The re-check of a day's allocation rows, and the run killed and resumed,
the allocation tests share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.orchestration.allocation.day_allocator import DayAllocator, MemorySink
from tierflow.solver.verify import check_allocation_rows

#: ``on_batch`` of a :class:`DayAllocator`: (batches committed, batches in all).
OnBatch = Callable[[int, int], None]


def assert_rows_verify(
    net: Network,
    orders: Orders,
    rows: pd.DataFrame,
    capacity: np.ndarray,
    inventory: np.ndarray | None = None,
) -> None:
    """Every line of ``orders`` once in ``rows``, no node's stock (the
    network's, or ``inventory``) or ``capacity`` exceeded
    (:func:`check_allocation_rows`, from the rows alone)."""
    problems = check_allocation_rows(
        rows,
        node_ids=net.node_ids,
        sku_ids=net.sku_ids,
        capacity=capacity,
        inventory=net.inventory if inventory is None else inventory,
        sku_complexity=net.sku_complexity,
        order_lines=orders.to_frame()[["order_id", "sku", "quantity"]],
    )
    assert problems == []


class Crash(Exception):
    """The process dying after a committed batch."""


def resumed_after_crash(
    allocator: Callable[[MemorySink, OnBatch | None], DayAllocator], committed: int
) -> DayAllocator:
    """The run that resumes (not run yet): ``allocator`` made on a new sink
    and killed once it has committed ``committed`` batches, then made again
    on that sink, as a process started again after a ``kill -9``."""

    def crash(done: int, _: int) -> None:
        if done == committed:
            raise Crash

    sink = MemorySink()
    with pytest.raises(Crash):
        allocator(sink, crash).run()
    return allocator(sink, None)
