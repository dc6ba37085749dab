"""Thin-stock days: the batch policy against the hindsight plan.

The QA instance of ``docs/allocation.md`` (stock bid prices): the sample
network with its 600 SKUs copied five times (3,000 SKUs, a copy's ids
ending ``-1`` .. ``-4``), each held by two nodes drawn at random, 1-2 units
at each, and 1,000 orders generated on it for 2026-01-05. Network seed
``s`` draws the stock; the orders use seed ``s - 1`` (the QA instance is
network seed 5, orders seed 4). Every day is allocated by the default
batch policy (CP-SAT, ``--time-limit 1``, capacity and stock bid prices)
and by the hindsight plan; the gap is the policy's cost above the plan's.

Run (about a minute a seed on one core)::

    PYTHONPATH=. python -m tierflow.benchmarks.thin_stock --seeds 5,11-21 \
        --work /tmp/thin --out thin.csv

``--network-only`` writes the networks and orders only, for ``tierflow
allocate --network WORK/net-S --orders WORK/orders-S.csv``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import decimal
from tierflow.data.network import load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.wording import counted
from tierflow.orchestration.allocation.batch_bid_prices import BatchBidPrices
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
)

#: Copies of the sample's catalogue, nodes holding each SKU, orders a day.
COPIES, HOLDERS, ORDERS = 5, 2, 1000
DAY = dt.date(2026, 1, 5)


def build_network(seed: int, folder: Path) -> Path:
    """Write the thin-stock network of ``seed`` to ``folder``."""
    rng = np.random.default_rng(seed)
    sample = sample_network_dir()
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(sample, folder)
    skus = pd.read_csv(folder / "skus.csv", dtype=str, keep_default_na=False)
    copies = []
    for r in range(COPIES):
        s = skus.copy()
        s["sku"] = s["sku"] + (f"-{r}" if r else "")
        copies.append(s)
    skus = pd.concat(copies, ignore_index=True)
    skus.to_csv(folder / "skus.csv", index=False)
    nodes = list(pd.read_csv(folder / "nodes.csv", dtype=str)["node_id"])
    rows = []
    for sku in skus["sku"]:
        for node in rng.choice(nodes, HOLDERS, replace=False):
            rows.append((node, sku, int(rng.integers(1, 3))))
    pd.DataFrame(rows, columns=["node_id", "sku", "on_hand"]).to_csv(
        folder / "inventory.csv", index=False
    )
    return folder


def build_day(seed: int, work: Path) -> tuple[Path, Path]:
    """The network folder and orders file of ``seed`` under ``work``."""
    net_dir = build_network(seed, work / f"net-{seed}")
    net = load_network(net_dir)
    frame = generate_orders(net, n_orders=ORDERS, days=1, seed=seed - 1, start=DAY)
    return net_dir, write_orders(frame, work / f"orders-{seed}.csv")


def run_day(
    seed: int, work: Path, time_limit: float, plan_cost: float | None = None
) -> dict[str, float]:
    """The batch policy's and the hindsight plan's cost on ``seed``'s day
    (``plan_cost``: the plan's, from an earlier run), and the stock
    pricing's CPU time per batch."""
    net_dir, path = build_day(seed, work)
    net = load_network(net_dir)
    orders = read_orders(path, net)
    spent: list[float] = []
    price_stock = BatchBidPrices.price_stock

    def timed(self: BatchBidPrices, now: np.datetime64, current: np.ndarray) -> None:
        t0 = time.process_time()
        price_stock(self, now, current)
        spent.append(time.process_time() - t0)

    BatchBidPrices.price_stock = timed  # type: ignore[method-assign]
    try:
        batch = DayAllocator(
            net,
            orders,
            settings=AllocationSettings(engine="cpsat", time_limit_s=time_limit),
        ).run()
    finally:
        BatchBidPrices.price_stock = price_stock  # type: ignore[method-assign]
    if plan_cost is None:
        plan = DayAllocator(
            net, orders, settings=AllocationSettings(hindsight=True)
        ).run()
        plan_cost = float(plan.summary()["total_cost"])
    b = batch.summary()
    return {
        "seed": seed,
        "batch": float(b["total_cost"]),
        "hindsight": plan_cost,
        "platinum_on_time": float(b["platinum_on_time_rate"]),
        "pricing_ms_per_batch": 1000 * float(np.median(spent)) if spent else 0.0,
    }


def parse_seeds(text: str) -> list[int]:
    """``"5,11-15"`` -> ``[5, 11, 12, 13, 14, 15]``."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += range(int(lo), int(hi or lo) + 1)
    return seeds


def main(argv: list[str] | None = None) -> None:
    """Allocate every seed's day; print the rows and the gap's quantiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="5,11-21")
    parser.add_argument("--work", type=Path, default=Path("/tmp/thin-stock"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--time-limit", type=decimal, default=1.0)
    parser.add_argument("--network-only", action="store_true")
    parser.add_argument(
        "--plans",
        type=Path,
        help="a CSV this wrote before: its hindsight plans are reused (the "
        "plan is time-limited and moves by ~1 %% between runs)",
    )
    args = parser.parse_args(argv)
    plans: dict[int, float] = {}
    if args.plans:
        known = pd.read_csv(args.plans)
        plans = dict(zip(known["seed"], known["hindsight"], strict=True))
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in parse_seeds(args.seeds):
        if args.network_only:
            print(*build_day(seed, args.work))
            continue
        row = run_day(seed, args.work, args.time_limit, plans.get(seed))
        row["gap_pct"] = 100 * (row["batch"] / row["hindsight"] - 1)
        print(row, flush=True)
        rows.append(row)
    if not rows:
        return
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(gap_summary(table["gap_pct"], digits=0))


def gap_summary(gap: pd.Series, digits: int) -> str:
    """The days' gaps to the hindsight plan (percent): median, p90, worst."""
    return (
        f"gap to the hindsight plan over {counted(len(gap), 'day')}: median "
        f"{gap.median():.{digits}f} %, p90 {gap.quantile(0.9):.{digits}f} %, "
        f"worst {gap.max():.{digits}f} %"
    )


if __name__ == "__main__":
    main()
