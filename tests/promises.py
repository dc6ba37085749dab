"""Whether the Platinum orders of an ``orders.csv`` could keep their
promise, judged by the allocator's own pricing: shared by the order
generator's test and the simulated day's (its ``history.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tierflow.data.network import Network
from tierflow.data.orders import read_orders
from tierflow.data.vocabulary import TIERS, Tier
from tierflow.formulations.order_pricing import price_orders
from tierflow.formulations.tiers import TierPolicy


def platinum_promise_achievable(network: Network, path: Path) -> dict[str, bool]:
    """Per Platinum order of ``path``, whether its promise is achievable by
    ``price_orders`` (strict: a guaranteed tier gets a service only where it
    delivers by the promised date, cutoffs, timezones and the carrier
    calendar respected): every line held in full by a node that can."""
    orders = read_orders(path, network)
    idx = np.flatnonzero(orders.tier == TIERS.index(Tier.PLATINUM))
    options = price_orders(network, orders, idx, TierPolicy())
    achievable = {}
    for row, o in enumerate(idx):
        lines = range(orders.line_start[o], orders.line_start[o + 1])
        achievable[orders.order_ids[o]] = all(
            (
                (network.inventory[:, orders.line_sku[li]] >= orders.line_qty[li])
                & (options.service[row] >= 0)
            ).any()
            for li in lines
        )
    return achievable
