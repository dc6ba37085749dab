"""A flat order history on the tiny network, and today's confirmed lines as
the store records them (``online_orders``), for the rest-of-day forecast's
tests: two orders an hour, every hour of the week before Monday 2026-01-05,
one to New York (100, at :10) and one to Chicago (606, at :30). A business
day is every order of its date at its destination, from 00:00 New York to
24:00 Los Angeles (27 hours): 24 to each zone, 48, of which 19 by 10:00 New
York (10 in New York's first ten hours, 9 in Chicago's first nine)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.orders import read_orders

#: The business day the tests forecast, and its first instant (UTC).
DAY = dt.date(2026, 1, 5)
DAY_START = dt.datetime(2026, 1, 5, 5, 0, tzinfo=dt.UTC)  # 00:00 New York


def write_history(
    path: Path,
    *,
    per_hour: int = 2,
    days: int = 7,
    dests: tuple[str, str] = ("100", "606"),
) -> Path:
    """``per_hour`` one-TEE orders every UTC hour of the ``days`` before DAY,
    to ``dests`` in turn."""
    first = dt.datetime(2026, 1, 5, tzinfo=dt.UTC) - dt.timedelta(days=days)
    rows = []
    for h in range(days * 24):
        for k in range(per_hour):
            at = first + dt.timedelta(hours=h, minutes=10 + 20 * k)
            rows.append((f"H{h}-{k}", at.strftime("%Y-%m-%dT%H:%M:%SZ"), "C1",
                         dests[k % 2], "gold", "TEE", 1))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["order_id", "created_at", "customer_id",
                                        "dest", "tier", "sku", "quantity"])  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def flat_history(folder: Path, network: Network) -> DemandForecast:
    """The forecast learned from :func:`write_history`."""
    path = write_history(folder / "history.csv")
    return DemandForecast.from_history(read_orders(path, network), network)


def confirmed_lines(times: list[dt.datetime], node: str = "WH-EAST") -> pd.DataFrame:
    """``online_orders`` rows: one TEE to 100 per instant, shipped from ``node``."""
    return pd.DataFrame(
        {
            "order_id": [f"T{k}" for k in range(len(times))],
            "created_at": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times],
            "customer_id": "C1",
            "dest": "100",
            "tier": "gold",
            "sku": "TEE",
            "quantity": 1,
            "node_id": node,
        }
    )
