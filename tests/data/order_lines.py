"""An order line as ``hold_checkout(order_lines=...)`` stores it, for the
store tests: a gold ground order of customer C1 to ZIP prefix 100, placed
2026-01-05, delivered 2026-01-07."""

from __future__ import annotations

from typing import Any


def order_line(order_id: str, node: str, sku: str, qty: int) -> dict[str, Any]:
    """One line of ``order_id``: ``qty`` of ``sku`` from ``node``."""
    return {
        "order_id": order_id,
        "created_at": "2026-01-05T15:00:00Z",
        "customer_id": "C1",
        "dest": "100",
        "tier": "gold",
        "sku": sku,
        "quantity": qty,
        "node_id": node,
        "service": "ground",
        "ship_date": "2026-01-05",
        "delivery_date": "2026-01-07",
    }
