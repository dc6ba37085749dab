"""Promises over carrier holidays, in the batch and the online pricer.

A Platinum ("guaranteed next-day") request at 18:00 local on Christmas Eve
2026 (Thursday) or the day before Thanksgiving 2026 (Wednesday) is promised
for the next delivery day after the holiday, 12-26 or 11-27, never for the
holiday: from every node to every destination prefix of the sample, nothing
ships or arrives on the holiday either.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from tierflow.benchmarks.holiday_check import run
from tierflow.data.delivery_calendar import zone_info
from tierflow.data.network import Network
from tierflow.data.orders import Orders, read_orders
from tierflow.formulations.online_pricing import OrderPricer, date_to_day
from tierflow.formulations.order_pricing import order_totals, price_orders
from tierflow.formulations.tiers import TierPolicy

POLICY = TierPolicy()
PLATINUM = 0


def _platinum_at_six_pm(network: Network, day: dt.date, tmp_path: Path) -> Orders:
    """One Platinum order per destination prefix, at 18:00 its local time."""
    rows = []
    for d, zip3 in enumerate(network.dest_zip3):
        tz = network.dest_timezones[network.dest_tz[d]]
        when = dt.datetime.combine(day, dt.time(18), zone_info(tz)).isoformat()
        rows.append(f"P{d},{when},C1,{zip3},platinum,{network.sku_ids[0]},1")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n" + "\n".join(rows)
    )
    return read_orders(path, network)


@pytest.mark.parametrize(
    ("day", "holiday", "promised"),
    [
        (dt.date(2026, 12, 24), dt.date(2026, 12, 25), dt.date(2026, 12, 26)),
        (dt.date(2026, 11, 25), dt.date(2026, 11, 26), dt.date(2026, 11, 27)),
    ],
)
def test_platinum_is_never_promised_for_the_holiday(
    sample_network: Network,
    tmp_path: Path,
    day: dt.date,
    holiday: dt.date,
    promised: dt.date,
) -> None:
    net = sample_network
    orders = _platinum_at_six_pm(net, day, tmp_path)
    idx = np.arange(orders.n_orders)
    ref = price_orders(net, orders, idx, POLICY)
    closed = np.datetime64(holiday)
    assert (ref.promised == np.datetime64(promised)).all()
    assert (ref.ship_date != closed).all()
    ok, ok_relaxed = ref.feasible, ref.relaxed_service >= 0
    assert ok.any()  # some nodes before their cutoff still make the 26th / 27th
    assert (ref.delivery[ok] <= np.datetime64(promised)).all()
    assert (ref.delivery[ok] != closed).all()
    assert (ref.relaxed_delivery[ok_relaxed] != closed).all()

    pricer = OrderPricer(net, POLICY)
    _, _, kg = order_totals(net, orders, idx)
    stamps = orders.created_at.astype("datetime64[s]").astype(np.int64)
    for o in idx:
        q = pricer.quote(int(stamps[o]), int(orders.dest[o]), float(kg[o]), 1.0)
        assert q.promised[PLATINUM] == date_to_day(promised)
        plat = q.feasible[PLATINUM]
        np.testing.assert_array_equal(plat, ok[o])
        assert (q.delivery[PLATINUM][plat] != date_to_day(holiday)).all()
        assert (q.ship != date_to_day(holiday)).all()


def test_holiday_check_finds_no_date_on_a_closed_day(
    sample_dir: Path, tmp_path: Path
) -> None:
    """``benchmarks/holiday_check.py`` on a few orders a day (all 25 days)."""
    result = run(tmp_path, per_day=8, seed=3, network_dir=sample_dir)
    assert result["ok"] and result["total_on_closed_days"] == 0
    assert result["holidays_not_closed"] == []
    checked = result["dates_checked"]
    assert isinstance(checked, dict) and min(checked.values()) > 0
