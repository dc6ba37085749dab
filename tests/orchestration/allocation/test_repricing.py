"""Independent re-pricing: every policy's rows re-price to the cent from the
tables alone, and a row tampered with after the fact is caught."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.day_allocator import (
    NEAREST,
    AllocationSettings,
    DayAllocator,
)
from tierflow.orchestration.allocation.repricing import (
    Repricing,
    _Pricer,
    _promised_dates,
    reprice_allocation,
)

DAY = dt.date(2026, 1, 14)

POLICIES = {
    "nearest": AllocationSettings(engine=NEAREST, use_bid_prices=False),
    "greedy": AllocationSettings(engine="greedy", batch_minutes=60),
    "cpsat": AllocationSettings(engine="cpsat", batch_minutes=60, time_limit_s=2.0),
    "hindsight": AllocationSettings(engine="greedy", hindsight=True),
}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, tiny_network: Network) -> Orders:
    """A spiky day on the tiny network, with Platinum, Gold, Silver, overflow."""
    frame = generate_orders(
        tiny_network,
        n_orders=300,
        days=1,
        seed=5,
        start=DAY,
        spike=Spike.parse("18:00,3"),
    )
    path = tmp_path_factory.mktemp("repricing") / "orders.csv"
    return read_orders(write_orders(frame, path), tiny_network)


def _tight(net: Network, orders: Orders) -> np.ndarray:
    """Room for about 60 % of the day's work at every node."""
    work = float((orders.line_qty * net.sku_complexity[orders.line_sku]).sum())
    return np.full(net.n_nodes, 0.6 * work / net.n_nodes)


def _rows(net: Network, orders: Orders, policy: str) -> pd.DataFrame:
    allocator = DayAllocator(
        net, orders, settings=POLICIES[policy], capacity=_tight(net, orders)
    )
    return allocator.run().rows


@pytest.fixture(scope="module")
def policy_rows(tiny_network: Network, day: Orders) -> Callable[[str], pd.DataFrame]:
    """A policy's rows on :func:`day`, each policy run once for the module
    (the greedy run was made twice: here and for the tampering tests); every
    caller gets a copy of its own."""
    made: dict[str, pd.DataFrame] = {}

    def rows(policy: str) -> pd.DataFrame:
        if policy not in made:
            made[policy] = _rows(tiny_network, day, policy)
        return made[policy].copy()

    return rows


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_policy_reprices_to_the_cent(
    tiny_network: Network,
    day: Orders,
    policy: str,
    policy_rows: Callable[[str], pd.DataFrame],
) -> None:
    rows = policy_rows(policy)
    statuses = set(rows["status"])
    assert {"allocated", "deferred"} <= statuses  # the day is tight enough
    repriced = reprice_allocation(tiny_network, day, rows)
    assert repriced.problems == []
    assert repriced.agrees
    assert repriced.total == pytest.approx(rows["cost"].sum(), abs=0.005)


@pytest.fixture
def greedy_rows(policy_rows: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    return policy_rows("greedy")


def _tamper(rows: pd.DataFrame, **changes: object) -> tuple[pd.DataFrame, str]:
    """A copy with the first allocated next-day-capable row changed."""
    out = rows.copy()
    k = out.index[out["status"] == "allocated"][0]
    for column, value in changes.items():
        out.loc[k, column] = value
    return out, str(out.loc[k, "order_id"])


def _audit(net: Network, orders: Orders, rows: pd.DataFrame) -> Repricing:
    return reprice_allocation(net, orders, rows)


def test_a_changed_cost_is_a_mismatch(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    rows, order = _tamper(greedy_rows)
    k = rows.index[rows["order_id"] == order][0]
    rows.loc[k, "cost"] = rows.loc[k, "cost"] - 1.0
    audit = _audit(tiny_network, day, rows)
    assert not audit.agrees
    assert any(p.startswith(f"{order}/") and "re-priced" in p for p in audit.mismatches)


def test_a_node_that_does_not_offer_the_service_is_caught(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    """ST-CHI has no next-day service."""
    shipped = greedy_rows[greedy_rows["status"] == "allocated"]
    whole = shipped.groupby("order_id")["sku"].transform("size") == 1
    k = shipped.index[whole.to_numpy()][0]
    rows = greedy_rows.copy()
    rows.loc[k, ["node_id", "service"]] = ["ST-CHI", "next_day"]
    audit = _audit(tiny_network, day, rows)
    assert (
        f"{rows.loc[k, 'order_id']}: ST-CHI does not offer next_day" in audit.problems
    )


def test_more_units_shipped_than_held_are_caught(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    inventory = tiny_network.inventory.copy()
    shipped = greedy_rows[greedy_rows["status"] == "allocated"]
    used = shipped.groupby(["node_id", "sku"])["quantity"].sum()
    (node, sku), qty = next(iter(used.items()))
    inventory[tiny_network.node_index[node], tiny_network.sku_index[sku]] = qty - 1
    audit = reprice_allocation(tiny_network, day, greedy_rows, inventory=inventory)
    assert f"{node}/{sku}: {qty} units shipped, {qty - 1} held" in audit.problems


def test_changed_dates_are_caught(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    rows, order = _tamper(greedy_rows, delivery_date="2030-01-01")
    audit = _audit(tiny_network, day, rows)
    assert any(p.startswith(f"{order}: dates ") for p in audit.problems)


def test_a_changed_waiting_cost_is_a_mismatch(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    """A deferred row is re-priced too (its reference, from the lateness its
    orders share), not taken on trust."""
    rows = greedy_rows.copy()
    k = rows.index[rows["status"] == "deferred"][0]
    rows.loc[k, "cost"] = rows.loc[k, "cost"] + 0.01
    audit = _audit(tiny_network, day, rows)
    order = str(rows.loc[k, "order_id"])
    assert any(p.startswith(f"{order}/") and "re-priced" in p for p in audit.mismatches)


def test_shared_lateness_is_each_orders_own(
    tiny_network: Network, day: Orders, greedy_rows: pd.DataFrame
) -> None:
    """The lateness kept per (release, destination, dates) is what the
    calendar gives each waiting order counted on its own."""
    policy = TierPolicy()
    pricer = _Pricer(
        tiny_network, day, policy, _promised_dates(tiny_network, day, policy)
    )
    cal, net = tiny_network.calendar, tiny_network
    waiting = greedy_rows[greedy_rows["status"] == "deferred"]
    order_of = {oid: i for i, oid in enumerate(day.order_ids)}
    seen = set()
    for oid, at in zip(waiting["order_id"], waiting["released_at"], strict=True):
        o = order_of[str(oid)]
        release = np.datetime64(pd.Timestamp(at).tz_convert(None), "s")
        today, later = pricer.lateness(release, o)
        seen.add(id(today))
        zone = net.zone[:, day.dest[o]]
        ship = pricer.ship_dates(release)
        for s in np.flatnonzero(net.rates.offered).tolist():
            transit = net.rates.transit(s, zone)
            for start, got in ((ship, today), (cal.ship_days.offset(ship, 1), later)):
                on = cal.delivery_dates(start, transit, s, ordered=pricer.ordered[o])
                want = cal.days_late(pricer.promised[o], on)
                np.testing.assert_array_equal(got[s], want)
    assert 0 < len(seen) < len(waiting)  # rows of one order share a count
