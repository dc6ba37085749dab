"""Stock-out days: the batch policy against the hindsight plan.

The families of ``docs/allocation.md`` (*A one-SKU stock-out day*), built
from the seed alone on a three-node copy of the tiny test network: WH-A
(the tiny network's WH-EAST, Edison NJ), WH-B (its WH-WEST, Ontario CA),
both with room for 3,500 units a day (as the QA's trace quotes WH-B's),
and ST-C (its Chicago store, given every service, a 17:00 cutoff, the
warehouses' handling cost and at most 300 units a day). The catalogue
holds SKU-001 .. SKU-004, all alike (the tiny network's TEE: one capacity
unit a unit) and without popularity. The QA's own network was not kept;
what the docs do not say (the nodes' places, rooms, cutoffs and handling
costs, the destinations, the tier shares) is a reconstruction, chosen so
that main before the bid-price LP's stock rows (b9622536) shows the QA
trace's failure (``docs/allocation.md`` says how close the figures are).

``qa-21h``
    The QA day's kind: 500 units of SKU-001 at each node; 300 orders of
    SKU-001, one every 4 minutes from 01:00 to 20:56 New York time on
    2026-01-14, 1-10 units each, tiers drawn as the QA day's shares
    (:data:`QA_TIER_P`: about a quarter Platinum), to a destination of the
    network drawn alike.
``qa-24h``
    The same, the 300 orders evenly from 01:00 to the day's end (one every
    4.6 minutes, the last at 23:55; the QA trace's 92 batches).
``gen-1sku``
    600 orders of ``tierflow generate orders`` (seed ``s``, an order drawn
    Platinum that checkout could not have offered Platinum made Gold, as
    it writes them) on the network with SKU-001 alone; each SKU's stock a uniform
    82-100 % of the units ordered, split in thirds over the nodes; ST-C's
    room 60 % of its stock.
``gen-3sku``
    The same with SKU-001 .. SKU-003 in the catalogue.

Every day is allocated by the default batch policy (``tierflow allocate``'s
defaults: CP-SAT, ``--time-limit 2``, capacity and stock bid prices) and by
the ``--hindsight`` plan; the gap is the policy's cost above the plan's.

Run (a few seconds a day)::

    PYTHONPATH=. python -m tierflow.benchmarks.stockout_days --family qa-24h \
        --seeds 1-10 --work /tmp/stockout --out qa-24h.csv

``--network-only`` writes the networks and orders only, for ``tierflow
allocate --network WORK/FAMILY-S/net --orders WORK/FAMILY-S/orders.csv``.
``--plans CSV`` reuses the hindsight plans of a CSV this wrote before (its
rows of the family; a day it lacks is planned): the plan is CP-SAT's within
a time limit, and its cost moves between runs, so two versions of the code
are compared on one plan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import decimal
from tierflow.benchmarks.thin_stock import gap_summary, parse_seeds
from tierflow.data.network import load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.vocabulary import AllocationStatus, Tier
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    AllocationOutcome,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.checkout.offerable import checkout_tiers

#: The tiny test network (``tests/data/tiny_network``), which the days copy.
TINY = Path(__file__).resolve().parent.parent / "tests" / "data" / "tiny_network"
#: Its node ids as the QA network names them.
NODES = {"WH-EAST": "WH-A", "WH-WEST": "WH-B", "ST-CHI": "ST-C"}
SKUS = ("SKU-001", "SKU-002", "SKU-003", "SKU-004")
DAY = dt.date(2026, 1, 14)
#: The QA days: orders, units of SKU-001 at each node, ST-C's room a day.
QA_ORDERS, QA_STOCK, QA_ROOM = 300, 500, 300
#: The warehouses' room a day, and ST-C's handling cost a unit.
WAREHOUSE_ROOM, STORE_HANDLING = 3500, 1.5
#: The QA day's tier shares ("" is the default tier, Gold).
QA_TIER_P = {"": 0.18, "gold": 0.20, "overflow": 0.21, "platinum": 0.24, "silver": 0.17}
#: The generated days: orders, the stock's share of the units ordered, and
#: ST-C's room as a share of its stock.
GEN_ORDERS, GEN_STOCK, GEN_ROOM = 600, (0.82, 1.0), 0.6
FAMILIES = ("qa-21h", "qa-24h", "gen-1sku", "gen-3sku")


def build_network(folder: Path, skus: int, stock: pd.DataFrame, room: int) -> Path:
    """The QA network in ``folder``: the tiny network's nodes renamed, the
    first ``skus`` of :data:`SKUS` (alike), ``stock`` (``node_id, sku,
    on_hand``) and ST-C's ``room``."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(TINY, folder)
    nodes = pd.read_csv(folder / "nodes.csv", dtype=str, keep_default_na=False)
    nodes["node_id"] = nodes["node_id"].map(NODES)
    store = nodes["node_id"] == "ST-C"
    nodes.loc[~store, "capacity_units_per_day"] = str(WAREHOUSE_ROOM)
    nodes.loc[store, "capacity_units_per_day"] = str(room)
    nodes.loc[store, "handling_cost"] = str(STORE_HANDLING)
    nodes.loc[store, "services"] = "next_day;two_day;ground;economy"
    nodes.loc[store, "cutoff_local"] = "17:00"
    nodes.to_csv(folder / "nodes.csv", index=False)
    table = pd.read_csv(folder / "skus.csv", dtype=str, keep_default_na=False)
    tee = table[table["sku"] == "TEE"]
    table = pd.concat([tee] * skus, ignore_index=True)
    table["sku"] = SKUS[:skus]
    table.to_csv(folder / "skus.csv", index=False)
    stock.to_csv(folder / "inventory.csv", index=False)
    return folder


def qa_orders(seed: int, hours: int) -> pd.DataFrame:
    """300 orders of SKU-001 evenly from 01:00 New York time: one every 4
    minutes to 20:56 (``hours`` 21), or to the end of the day (24: 23
    hours, one every 4.6 minutes, as the QA's 24-hour days ran)."""
    rng = np.random.default_rng(seed)
    tiers = rng.choice(list(QA_TIER_P), size=QA_ORDERS, p=list(QA_TIER_P.values()))
    dests = pd.read_csv(TINY / "destinations.csv", dtype=str)["zip3"].to_numpy()
    dest = rng.choice(dests, size=QA_ORDERS)
    quantity = rng.integers(1, 11, size=QA_ORDERS)
    start = pd.Timestamp(f"{DAY}T01:00:00-05:00")
    step = pd.Timedelta(minutes=4) if hours == 21 else pd.Timedelta(hours=23) / 300
    return pd.DataFrame(
        {
            "order_id": [f"O{i:03d}" for i in range(QA_ORDERS)],
            "created_at": [(start + i * step).isoformat() for i in range(QA_ORDERS)],
            "customer_id": [f"C{i:03d}" for i in range(QA_ORDERS)],
            "dest": dest,
            "tier": tiers,
            "sku": SKUS[0],
            "quantity": quantity,
        }
    )


def build_qa_day(seed: int, folder: Path, hours: int) -> tuple[Path, Path]:
    """A QA-like day's network and orders under ``folder``."""
    stock = pd.DataFrame(
        {"node_id": list(NODES.values()), "sku": SKUS[0], "on_hand": QA_STOCK}
    )
    net_dir = build_network(folder / "net", len(SKUS), stock, QA_ROOM)
    frame = qa_orders(seed, hours)
    return net_dir, write_orders(frame, folder / "orders.csv")


def build_generated_day(seed: int, folder: Path, skus: int) -> tuple[Path, Path]:
    """A generated day's network and orders under ``folder``: the orders
    first (on the network without stock), then the stock drawn from the
    units they ask for, then the orders' tiers as checkout could have
    offered them on that network."""
    empty = pd.DataFrame(columns=["node_id", "sku", "on_hand"])
    net_dir = build_network(folder / "net", skus, empty, QA_ROOM)
    frame = generate_orders(
        load_network(net_dir), n_orders=GEN_ORDERS, days=1, seed=seed, start=DAY
    )
    rng = np.random.default_rng([seed, skus])
    ordered = frame.groupby("sku")["quantity"].sum()
    rows = []
    for sku in SKUS[:skus]:
        units = round(rng.uniform(*GEN_STOCK) * float(ordered.get(sku, 0)))
        third, extra = divmod(units, 3)
        for i, node in enumerate(NODES.values()):
            rows.append((node, sku, third + (i < extra)))
    stock = pd.DataFrame(rows, columns=["node_id", "sku", "on_hand"])
    room = round(GEN_ROOM * float(stock.loc[stock.node_id == "ST-C", "on_hand"].sum()))
    net_dir = build_network(folder / "net", skus, stock, max(room, 1))
    # as tierflow generate orders writes them: Gold for an order drawn
    # Platinum that checkout could not have offered Platinum (an evening
    # past the cutoffs), judged on the day's network
    frame, _ = checkout_tiers(frame, load_network(net_dir), TierPolicy())
    return net_dir, write_orders(frame, folder / "orders.csv")


#: Each family's day builder: (seed, folder) -> (network folder, orders file).
BUILDERS: dict[str, Callable[[int, Path], tuple[Path, Path]]] = {
    "qa-21h": lambda seed, folder: build_qa_day(seed, folder, 21),
    "qa-24h": lambda seed, folder: build_qa_day(seed, folder, 24),
    "gen-1sku": lambda seed, folder: build_generated_day(seed, folder, 1),
    "gen-3sku": lambda seed, folder: build_generated_day(seed, folder, 3),
}


def build_day(family: str, seed: int, work: Path) -> tuple[Path, Path]:
    """The network folder and orders file of ``family``'s day ``seed``."""
    return BUILDERS[family](seed, work / f"{family}-{seed}")


def platinum_waiting(outcome: AllocationOutcome, platinum: set[str]) -> int:
    """Platinum orders with a line that does not ship today."""
    rows = outcome.rows
    late = rows["status"].isin([AllocationStatus.DEFERRED, AllocationStatus.UNFILLABLE])
    return int(rows.loc[late & rows["order_id"].isin(platinum), "order_id"].nunique())


#: A day's hindsight plan from an earlier run: its cost and the Platinum
#: orders it leaves waiting.
Plan = tuple[float, int]


def run_day(
    family: str,
    seed: int,
    work: Path,
    settings: AllocationSettings,
    plan: Plan | None = None,
) -> dict[str, float | int | str]:
    """The batch policy's and the hindsight plan's cost on the day, and
    the Platinum orders each leaves waiting (``plan``: the plan's, from an
    earlier run, not solved again)."""
    net_dir, path = build_day(family, seed, work)
    net = load_network(net_dir)
    orders = read_orders(path, net)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    platinum = set(frame.loc[frame["tier"] == Tier.PLATINUM, "order_id"])
    batch = DayAllocator(net, orders, settings=settings).run()
    if plan is None:
        best = DayAllocator(
            net, orders, settings=AllocationSettings(hindsight=True)
        ).run()
        plan = float(best.summary()["total_cost"]), platinum_waiting(best, platinum)
    cost = float(batch.summary()["total_cost"])
    plan_cost, plan_waiting = plan
    return {
        "family": family,
        "seed": seed,
        "orders": int(frame["order_id"].nunique()),
        "units": int(frame["quantity"].astype(int).sum()),
        "stock": int(net.inventory.sum()),
        "platinum_orders": len(platinum),
        "batch": cost,
        "hindsight": plan_cost,
        "gap_pct": 100 * (cost / plan_cost - 1),
        "platinum_waiting": platinum_waiting(batch, platinum),
        "platinum_waiting_plan": plan_waiting,
    }


def read_plans(path: Path, family: str) -> dict[int, Plan]:
    """The hindsight plans of ``family``'s days in a CSV :func:`main` wrote,
    by seed."""
    known = pd.read_csv(path)
    known = known[known["family"] == family]
    return {
        int(seed): (float(cost), int(waiting))
        for seed, cost, waiting in zip(
            known["seed"],
            known["hindsight"],
            known["platinum_waiting_plan"],
            strict=True,
        )
    }


def summary_line(table: pd.DataFrame) -> str:
    """The gap's median / p90 / worst and the Platinum orders waiting."""
    return (
        f"{gap_summary(table['gap_pct'], digits=1)}; Platinum orders waiting "
        f"{int(table['platinum_waiting'].sum())} "
        f"(the plan {int(table['platinum_waiting_plan'].sum())})"
    )


def main(argv: list[str] | None = None) -> None:
    """Allocate every seed's day; print the rows and the gap's quantiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=FAMILIES, required=True)
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--work", type=Path, default=Path("/tmp/stockout-days"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--time-limit", type=decimal, default=2.0)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="CP-SAT on its deterministic time (tierflow allocate --deterministic)",
    )
    parser.add_argument("--network-only", action="store_true")
    parser.add_argument(
        "--plans",
        type=Path,
        help="a CSV this wrote before: its hindsight plans of the family are "
        "reused (the plan is time-limited and its cost moves between runs)",
    )
    args = parser.parse_args(argv)
    plans = read_plans(args.plans, args.family) if args.plans else {}
    settings = AllocationSettings(
        time_limit_s=args.time_limit, deterministic=args.deterministic
    )
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in parse_seeds(args.seeds):
        if args.network_only:
            print(*build_day(args.family, seed, args.work))
            continue
        row = run_day(args.family, seed, args.work, settings, plans.get(seed))
        print(row, flush=True)
        rows.append(row)
    if not rows:
        return
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(summary_line(table))


if __name__ == "__main__":
    main()
