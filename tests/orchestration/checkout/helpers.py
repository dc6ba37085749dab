"""Helpers of the checkout tests on the tiny network.

Tiny network (tests/data/tiny_network): WH-EAST (Edison NJ, ET, cutoff 18:00,
all services; TEE 100, MUG 20, SOFA 2), WH-WEST (Ontario CA, PT, 18:00, all
services; TEE 50, SPRAY 10), ST-CHI (Chicago, CT, 15:00, two-day and ground
only; TEE 5). Zones: WH-EAST→606 is 5, ST-CHI→606 is 2, WH-WEST→900 is 2.
CLTV scores (``tests.service_fixtures.put_scores``): C0..C10 with predicted
spend 0, 10, …, 100, so the 90th percentile (the Platinum threshold) is 90
and the median (new-customer prior) is 50.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tests.conftest import TINY_NETWORK
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.store import StateStore
from tierflow.formulations.tiers import Pricing
from tierflow.orchestration.checkout.results import OptionSet
from tierflow.orchestration.checkout.router import OnlineRouter


def ids(answer: OptionSet) -> list[str]:
    """The answer's option ids, best first."""
    return [o.option_id for o in answer.options]


def event(router: OnlineRouter, node: str, kind: str, value: Any, n: int) -> None:
    """Apply one capacity event through the router (the ``n``-th of a test)."""
    result = router.apply_capacity_events(
        [
            {
                "event_id": f"e{n}-{node}-{kind}",
                "ts": f"2026-01-05T{10 + n % 10:02d}:00:00Z",
                "node_id": node,
                "type": kind,
                "value": value,
            }
        ]
    )
    assert result.applied == 1


def event_on(monitor: CapacityMonitor, node: str, kind: str, value: Any) -> None:
    """Apply one capacity event on another process's monitor."""
    monitor.apply(
        {
            "event_id": f"other-{node}-{kind}",
            "ts": "2026-01-05T12:00:00Z",
            "node_id": node,
            "type": kind,
            "value": value,
        }
    )


def available(router: OnlineRouter, node: str, sku: str) -> int:
    """Units of ``sku`` free at ``node`` in the router's store."""
    assert router.store is not None
    return router.store.available(node, [sku])[sku]


def upgrade_charge(answer: OptionSet, option_id: str) -> float:
    """What confirming ``option_id`` of ``answer`` charges to the customer's
    upgrade allowance: its upgrade cost when it is offered as an upgrade."""
    chosen = answer.option(option_id)
    return chosen.upgrade_cost if chosen.pricing == Pricing.UPGRADE else 0.0


def first_stock(store: StateStore) -> dict[tuple[str, str], int]:
    """Units on hand per (node, SKU), to check conservation against later."""
    frame = store.inventory_frame()
    return {
        (str(n), str(s)): int(q)
        for n, s, q in frame[["node_id", "sku", "on_hand"]].itertuples(index=False)
    }


def assert_stock_conserved(
    store: StateStore, first: Mapping[tuple[str, str], int], orders: pd.DataFrame
) -> None:
    """Each (node, SKU) holds its ``first`` units less exactly what the stored
    ``orders`` (``online_orders()``) took from it, and never holds more than
    it has."""
    sold: Counter[tuple[str, str]] = Counter()
    for node, sku, qty in orders[["node_id", "sku", "quantity"]].itertuples(
        index=False
    ):
        sold[(str(node), str(sku))] += int(qty)
    frame = store.inventory_frame()
    assert_held_within_stock(frame)
    for node, sku, on_hand in frame[["node_id", "sku", "on_hand"]].itertuples(
        index=False
    ):
        key = (str(node), str(sku))
        assert on_hand == first[key] - sold[key], key


def assert_held_within_stock(frame: pd.DataFrame) -> None:
    """No (node, SKU) of ``frame`` (``inventory_frame()``) holds a negative
    number of units, or more than it has."""
    bad = frame[(frame["reserved"] < 0) | (frame["reserved"] > frame["on_hand"])]
    assert bad.empty, bad[["node_id", "sku", "on_hand", "reserved"]].to_dict("records")


def orders_work(network: Network, orders: pd.DataFrame) -> NDArray[np.float64]:
    """Per node, the complexity-weighted work of the stored ``orders``' lines
    shipped from it (what confirming them added to its backlog)."""
    work = np.zeros(network.n_nodes)
    for node, sku, qty in orders[["node_id", "sku", "quantity"]].itertuples(
        index=False
    ):
        line = network.order_workload(network.sku_idx([str(sku)]), [int(qty)])
        work[network.node_idx(str(node))] += line
    return work


#: The far nodes of :func:`far_network`: node, "lat,lon", timezone, its SKU.
FAR_NODES = (
    ("WH-GUM", "13.4443,144.7937", "Pacific/Guam", "LEI"),
    ("WH-HNL", "21.3069,-157.8583", "Pacific/Honolulu", "KONA"),
    ("WH-ADK", "51.8800,-176.6581", "America/Adak", "CRAB"),
)


def far_network(
    folder: Path,
    *,
    cutoff: str = "18:00",
    next_day_days: int | None = None,
    destinations: tuple[str, ...] = (),
) -> Path:
    """The tiny network copied to ``folder`` with three far nodes, each the
    only one holding its SKU (10 units), cutoff ``cutoff`` local, every
    service: WH-GUM in Pacific/Guam (UTC+10; LEI), WH-HNL in
    Pacific/Honolulu (UTC-10 all year; KONA) and WH-ADK in America/Adak
    (UTC-10, UTC-9 in summer; CRAB). ``next_day_days`` sets next-day's
    transit in every zone (``transit.csv`` allows 0); ``destinations`` are
    rows appended to ``destinations.csv`` (a customer in Guam:
    ``"969,13.47,144.78,GU,Pacific/Guam,150000"``)."""
    shutil.copytree(TINY_NETWORK, folder)
    for node, place, zone, sku in FAR_NODES:
        with open(folder / "nodes.csv", "a") as f:
            f.write(
                f"{node},Far warehouse,warehouse,{place},pacific,{zone},"
                f"500,1.5,{cutoff},next_day;two_day;ground;economy\n"
            )
        with open(folder / "skus.csv", "a") as f:
            f.write(f"{sku},0.2,20,20,5,false,false\n")
        with open(folder / "inventory.csv", "a") as f:
            f.write(f"{node},{sku},10\n")
    if next_day_days is not None:
        transit = folder / "transit.csv"
        rows = transit.read_text().splitlines()
        transit.write_text(
            "\n".join(
                f"next_day,{r.split(',')[1]},{next_day_days}"
                if r.startswith("next_day,")
                else r
                for r in rows
            )
            + "\n"
        )
    with open(folder / "destinations.csv", "a") as f:
        f.writelines(f"{row}\n" for row in destinations)
    return folder
