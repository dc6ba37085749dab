"""Shared fixtures of the formulation tests: the tiny network and its orders.

Tiny network (tests/data/tiny_network): WH-EAST (Edison NJ, ET, cutoff 18:00),
WH-WEST (Ontario CA, PT, 18:00), ST-CHI (Chicago, CT, 15:00, no next-day).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders


@pytest.fixture(scope="module")
def tiny() -> Network:
    """The hand-made 3-node network."""
    return load_network(DATA_DIR / "tiny_network")


@pytest.fixture
def tiny_orders(tmp_path: Path, tiny: Network) -> Callable[[list[str]], Orders]:
    """Orders on the tiny network from ``orders.csv`` rows (header added)."""

    def read(rows: list[str]) -> Orders:
        path = tmp_path / "orders.csv"
        path.write_text(
            "order_id,created_at,customer_id,dest,tier,sku,quantity\n" + "\n".join(rows)
        )
        return read_orders(path, tiny)

    return read
