"""The re-check of a day's allocation rows the allocation tests share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.solver.verify import check_allocation_rows


def assert_rows_verify(
    net: Network, orders: Orders, rows: pd.DataFrame, capacity: np.ndarray
) -> None:
    """Every line of ``orders`` once in ``rows``, no node's stock or
    ``capacity`` exceeded (:func:`check_allocation_rows`, from the rows
    alone)."""
    problems = check_allocation_rows(
        rows,
        node_ids=net.node_ids,
        sku_ids=net.sku_ids,
        capacity=capacity,
        inventory=net.inventory,
        sku_complexity=net.sku_complexity,
        order_lines=orders.to_frame()[["order_id", "sku", "quantity"]],
    )
    assert problems == []
