"""Orders on the tiny network, written from CSV rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tierflow.data.network import Network
from tierflow.data.orders import Orders, read_orders

HEADER = "order_id,created_at,customer_id,dest,tier,sku,quantity\n"

MakeOrders = Callable[[list[str]], Orders]


@pytest.fixture
def make_orders(tmp_path: Path, tiny_network: Network) -> MakeOrders:
    """``rows`` (CSV lines without the header) as validated tiny-network orders."""

    def make(rows: list[str]) -> Orders:
        path = tmp_path / "orders.csv"
        path.write_text(HEADER + "\n".join(rows) + "\n")
        return read_orders(path, tiny_network)

    return make
