"""Room prices by tier: the closed form, and a day where the one node that
can keep a Platinum promise keeps its last room for the afternoon's
Platinum order only with them (``AllocationSettings.room_prices_by_tier``)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from tests.conftest import TINY_NETWORK
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
from tierflow.orchestration.allocation.day_allocator import (
    AllocationSettings,
    DayAllocator,
    MemorySink,
)
from tierflow.orchestration.room_prices import GuaranteedDemand, RoomPrices

NOW = np.datetime64("2026-01-14T18:00:00")


def _expected_min(lam: float, m: int) -> float:
    """``E min(N, m)``, ``N ~ Poisson(lam)``, summed term by term."""
    return float(sum(poisson.sf(j, lam) for j in range(m)))


def _demand(release: list[str]) -> GuaranteedDemand:
    """Three guaranteed rows at three nodes: row 0 only node 0 keeps (2
    units, loss $50, 0.4 orders), row 1 nodes 0 and 1 keep, row 2 only
    node 2 keeps (1 unit, loss $30, 0.5 orders)."""
    return GuaranteedDemand(
        on_time=np.array(
            [[True, False, False], [True, True, False], [False, False, True]]
        ),
        workload=np.array([2.0, 2.0, 1.0]),
        loss=np.array([50.0, 80.0, 30.0]),
        release=np.array(release, dtype="datetime64[s]"),
        multiplicity=np.array([0.4, 0.7, 0.5]),
    )


def test_a_guaranteed_order_on_a_congested_lane_counts_at_the_room_it_takes() -> None:
    """Row 2 (1 unit, only node 2 keeps it) ships by a lane at x3 there: it
    takes 3 of node 2's room, so node 2's 2 units keep no such order and
    its room has no price for it; with 4 units it keeps one, an order of
    size 3. Until 2026-12-06 the room prices counted it at its workload
    of 1: it fitted node 2's 2 units, which were priced for an order they
    could not take."""
    later = ["2026-01-14T19:00:00"] * 3
    plain = _demand(later)
    per_node = np.repeat(plain.workload[:, None], 3, axis=1)
    per_node[2, 2] = 3.0
    lanes = dataclasses.replace(plain, workload=per_node)
    nat = np.datetime64("NaT")
    assert RoomPrices.of(plain, np.array([5.0, 9.0, 2.0]), NOW, nat).lam[2] == 0.5
    short = RoomPrices.of(lanes, np.array([5.0, 9.0, 2.0]), NOW, nat)
    assert short.lam[2] == 0.0
    assert short.charge(np.array([False]), np.array([1.0]))[0, 2] == 0.0
    room = RoomPrices.of(lanes, np.array([5.0, 9.0, 4.0]), NOW, nat)
    assert room.lam[2] == 0.5 and room.size[2] == 3.0
    # an item of 2 leaves 2 of the 4: the one order of 3 no longer fits
    lost = 30.0 * (_expected_min(0.5, 1) - _expected_min(0.5, 0))
    np.testing.assert_allclose(
        room.charge(np.array([False]), np.array([2.0]))[0, 2], lost
    )


def test_an_item_pays_the_expected_loss_of_the_orders_only_the_node_keeps() -> None:
    """Node 0 has 5 units (2 orders of 2), node 2 has 1 (one order of 1):
    an item of 3 units at node 0 leaves room for 1 order, at node 2 for
    none; node 1 shares its row with node 0, so nothing is only its."""
    later = ["2026-01-14T19:00:00"] * 3
    prices = RoomPrices.of(
        _demand(later), np.array([5.0, 9.0, 1.0]), NOW, np.datetime64("NaT")
    )
    np.testing.assert_allclose(prices.lam, [0.4, 0.0, 0.5])
    charge = prices.charge(np.array([False, True]), np.array([3.0, 3.0]))
    node0 = 50.0 * (_expected_min(0.4, 2) - _expected_min(0.4, 1))
    node2 = 30.0 * (_expected_min(0.5, 1) - _expected_min(0.5, 0))
    np.testing.assert_allclose(charge[0], [node0, 0.0, node2], rtol=1e-12)
    # a guaranteed item pays none of it
    np.testing.assert_array_equal(charge[1], [0.0, 0.0, 0.0])


def test_a_node_whose_only_rows_are_past_or_do_not_fit_is_not_priced() -> None:
    """Row 0 was expected before now (and after the sample was drawn): it
    no longer counts; row 2 needs 1 unit where node 2 has 0.5: no room for
    it is left to protect. A row released when the sample was drawn
    (today's orders, for want of a history) counts until the next draw."""
    release = ["2026-01-14T17:00:00", "2026-01-14T19:00:00", "2026-01-14T19:00:00"]
    drawn = np.datetime64("2026-01-14T16:00:00")
    prices = RoomPrices.of(_demand(release), np.array([5.0, 9.0, 0.5]), NOW, drawn)
    np.testing.assert_array_equal(prices.lam, [0.0, 0.0, 0.0])
    assert prices.charge(np.array([False]), np.array([3.0])).max() == 0.0
    at_draw = ["2026-01-14T16:00:00"] * 3
    kept = RoomPrices.of(_demand(at_draw), np.array([5.0, 9.0, 1.0]), NOW, drawn)
    np.testing.assert_allclose(kept.lam, [0.4, 0.0, 0.5])


def _one_node_network(tmp_path: Path) -> Network:
    """The tiny network where WH-EAST alone offers next day (WH-WEST's
    next-day service removed; ST-CHI never had it)."""
    net_dir = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, net_dir)
    nodes = net_dir / "nodes.csv"
    west = "America/Los_Angeles,800,1.6,18:00,"
    text = nodes.read_text().replace(
        west + "next_day;two_day;ground;economy", west + "two_day;ground;economy"
    )
    nodes.write_text(text)
    return load_network(net_dir)


def _day(tmp_path: Path, net: Network) -> Orders:
    """24 TEE orders to New York through the night (one of them Platinum),
    16 Gold ones every 15 minutes from 10:00 and a Platinum one at 15:00."""
    tiers = ["silver", "gold", "gold", "silver", "gold"]
    rows = [
        f"T{i:02d},2026-01-14T{(i + 1) // 3:02d}:{(i + 1) % 3 * 20:02d}:00-05:00,"
        f"C{i:03d},100,{'platinum' if i == 2 else tiers[i % 5]},TEE,1"
        for i in range(24)
    ]
    rows += [
        f"G{j},2026-01-14T{10 + j // 4:02d}:{j % 4 * 15:02d}:00-05:00,"
        f"C8{j:02d},100,gold,TEE,1"
        for j in range(16)
    ]
    rows.append("P1,2026-01-14T15:00:00-05:00,C901,100,platinum,TEE,1")
    path = tmp_path / "day.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        + "\n".join(rows)
        + "\n"
    )
    return read_orders(path, net)


@pytest.mark.parametrize(
    ("by_tier", "expected"),
    [
        (
            False,
            [
                "WH-WEST",
                "two_day",
                "late: no node with the stock and room could deliver by the "
                "promised date",
            ],
        ),
        (True, ["WH-EAST", "next_day", ""]),
    ],
)
def test_the_one_next_day_node_keeps_its_last_room_for_platinum(
    tmp_path: Path, by_tier: bool, expected: list[str]
) -> None:
    """WH-EAST (25 units today) is the only node that can deliver next day.
    The capacity bid price is one per node, from the rest of the day's
    expected load, where the afternoon's Platinum demand is a fraction of
    an order: the Gold orders of the late morning take WH-EAST's last room
    and the 15:00 Platinum order ships a day late from WH-WEST. Priced by
    tier, the last units cost a Gold order the expected loss of the
    Platinum orders only WH-EAST can keep: the Gold orders ship two-day
    from WH-WEST and the Platinum order next day from WH-EAST."""
    net = _one_node_network(tmp_path)
    out = DayAllocator(
        net,
        _day(tmp_path, net),
        settings=AllocationSettings(room_prices_by_tier=by_tier),
        capacity=np.array([25.0, 800.0, 100.0]),
    ).run()
    summary = out.summary()
    assert summary["fallback_batches"] == 0
    assert summary["repricing_problems"] == 0
    rows = out.rows.fillna("")
    p1 = rows[rows.order_id == "P1"]
    assert p1[["node_id", "service", "reason"]].values.tolist() == [expected]


def test_room_prices_off_keep_the_run_identity() -> None:
    """Off (the default), the setting is left out of a run's identity, so
    runs started before it existed resume; on, it is part of it."""
    assert "room_prices_by_tier" not in AllocationSettings().identity()
    on = AllocationSettings(room_prices_by_tier=True).identity()
    assert on["room_prices_by_tier"] is True


class _Crash(Exception):
    """A process killed after a committed batch."""


def test_a_run_with_room_prices_resumed_at_any_batch_allocates_as_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    """Killed after 21, 25, 29 or 39 batches (none of them a refresh's last:
    refreshes fall every 4 batches) and resumed. The room prices came from
    the guaranteed rows of the last refresh's sample, which a resumed run
    did not have until its next refresh: its first batches priced no room,
    and the Gold orders of the late morning took WH-EAST's room the
    uninterrupted run kept for Platinum (G5-G7 at WH-EAST, ground, where
    the uninterrupted run ships them two-day from WH-WEST, after batch
    29). Drawn at every batch, the resumed run allocates row for row as
    the uninterrupted one."""
    _assert_resumed_as_uninterrupted(
        tmp_path, AllocationSettings(room_prices_by_tier=True), [21, 25, 29, 39]
    )


def _assert_resumed_as_uninterrupted(
    tmp_path: Path, settings: AllocationSettings, kills: list[int | None]
) -> None:
    """The tiny day under ``settings``, run whole once and, for each of
    ``kills``, killed after that many batches then resumed (``None``: not
    killed, run again): the same rows each time, no fallback batch, the
    15:00 Platinum order next day from WH-EAST and the late-morning Gold
    orders two-day from WH-WEST. The whole run is shared by the kills (it
    was run again for each: a third of the tests' CPU)."""
    net = _one_node_network(tmp_path)
    orders = _day(tmp_path, net)

    def allocator(sink: MemorySink, on_batch: Any = None) -> DayAllocator:
        return DayAllocator(
            net, orders, settings=settings, capacity=np.array([25.0, 800.0, 100.0]),
            sink=sink, on_batch=on_batch,
        )  # fmt: skip

    whole = MemorySink()
    out = allocator(whole).run()
    assert out.summary()["fallback_batches"] == 0
    key = ["order_id", "sku"]
    a = whole.committed_rows().sort_values(key).reset_index(drop=True)
    p1 = a[a.order_id == "P1"].fillna("")
    assert p1[["node_id", "service", "reason"]].values.tolist() == [
        ["WH-EAST", "next_day", ""]
    ]
    golds = a[a.order_id.isin(["G5", "G6", "G7"])]
    assert golds[["node_id", "service"]].values.tolist() == [["WH-WEST", "two_day"]] * 3
    for committed in kills:
        resumed = MemorySink()
        if committed is not None:

            def crash(done: int, _: int, at: int = committed) -> None:
                if done == at:
                    raise _Crash

            with pytest.raises(_Crash):
                allocator(resumed, crash).run()
        allocator(resumed).run()
        b = resumed.committed_rows().sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=f"killed after {committed}")


def test_room_prices_and_bid_scenarios_are_both_in_the_run_identity() -> None:
    """The two experiments combine as they are: both on, both are recorded."""
    both = AllocationSettings(room_prices_by_tier=True, bid_scenarios=4).identity()
    assert (both["room_prices_by_tier"], both["bid_scenarios"]) == (True, 4)


def test_room_prices_with_bid_scenarios_resumed_at_any_batch_allocate_as_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    """Room prices by tier and capacity prices averaged over 4 demand
    scenarios, both on (``None``: not killed). The scenarios are drawn from
    the run's seed and the refresh's batch, the room prices' rows from the
    batch's own draw: killed after 21, 25, 29 or 39 batches and resumed, the
    run allocates row for row as the uninterrupted one, and the 15:00
    Platinum order still ships next day from WH-EAST."""
    _assert_resumed_as_uninterrupted(
        tmp_path,
        AllocationSettings(room_prices_by_tier=True, bid_scenarios=4),
        [None, 21, 25, 29, 39],
    )
