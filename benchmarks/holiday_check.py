"""Holiday check: no ship, delivery or promised date on a closed day.

Generates orders for every day of Thanksgiving week 2026 (11-20 .. 11-30) and
of 2026-12-20 .. 2027-01-02 on the sample network, prices each at every node
with both pricers (``price_orders``, strict and relaxed; ``OrderPricer``,
every tier, strict and relaxed) and counts the dates that fall on a closed
day. A day is closed when it is a Sunday, a carrier holiday of the
``holidays`` package (``data/carrier_calendar.py``), or — for deliveries — a
day the delivering service does not operate. Every count must be 0. The
check also fails when the window's carrier holidays (11-26, 12-25, 01-01) are
not closed in the network's calendar, so a calendar without holidays cannot
pass. The pricers are the ones the allocator, the checkout router and the
day simulation call.

Run: ``python -m tierflow.benchmarks.holiday_check --out out/holiday-check``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.benchmarks.arguments import whole
from tierflow.data.carrier_calendar import carrier_holidays
from tierflow.data.delivery_calendar import DeliveryCalendar, OperatingDays
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import Orders, read_orders, write_orders
from tierflow.data.rates import SERVICES
from tierflow.data.sample_network import sample_network_dir
from tierflow.formulations.online_pricing import OrderPricer
from tierflow.formulations.order_pricing import order_totals, price_orders
from tierflow.formulations.tiers import TierPolicy

#: (first local day, days) of the generated windows.
WINDOWS = ((dt.date(2026, 11, 20), 11), (dt.date(2026, 12, 20), 14))
#: Carrier holidays inside the windows: the network's calendar must close them.
EXPECTED_CLOSED = (dt.date(2026, 11, 26), dt.date(2026, 12, 25), dt.date(2027, 1, 1))
_SUNDAY = 3  # day numbers: 1970-01-01 was a Thursday


class ClosedDayCount:
    """Dates checked and dates on closed days, per (pricer, kind of date)."""

    def __init__(self, calendar: DeliveryCalendar) -> None:
        self.calendar = calendar
        self.checked: Counter[str] = Counter()
        self.on_closed: Counter[str] = Counter()
        self._holidays = np.array(sorted(carrier_holidays()), dtype="datetime64[D]")

    def add(self, key: str, days: NDArray[np.int64], operating: OperatingDays) -> None:
        """Count day numbers ``days`` on Sundays, carrier holidays and days
        ``operating`` is closed."""
        days = np.asarray(days, dtype=np.int64).ravel()
        dates = days.astype("datetime64[D]")
        closed = ~operating.is_open(dates) | (days % 7 == _SUNDAY)
        closed |= np.isin(dates, self._holidays)
        self.checked[key] += days.size
        self.on_closed[key] += int(closed.sum())

    def add_deliveries(
        self, key: str, days: NDArray[np.int64], service: NDArray[np.int8]
    ) -> None:
        """Delivery days, each against its service's days (-1: none, skipped)."""
        days, service = np.ravel(days), np.ravel(service)
        for s in range(len(SERVICES)):
            self.add(key, days[service == s], self.calendar.service_days(s))


def window_orders(network: Network, per_day: int, seed: int, folder: Path) -> Orders:
    """Generated orders of every day of :data:`WINDOWS`."""
    frames = [
        generate_orders(network, n_orders=per_day * days, days=days, seed=seed, start=d)
        for d, days in WINDOWS
    ]
    path = write_orders(pd.concat(frames, ignore_index=True), folder / "orders.csv")
    return read_orders(path, network)


def check_batch(network: Network, orders: Orders, tally: ClosedDayCount) -> None:
    """``price_orders``: ship, promised, strict and relaxed delivery dates."""
    opt = price_orders(network, orders, np.arange(orders.n_orders), TierPolicy())
    cal = network.calendar
    tally.add("batch ship", opt.ship_date.astype(np.int64), cal.ship_days)
    tally.add("batch promised", opt.promised.astype(np.int64), cal.promise_days)
    for prefix in ("", "relaxed_"):
        tally.add_deliveries(
            f"batch {prefix}delivery",
            getattr(opt, prefix + "delivery").astype(np.int64),
            getattr(opt, prefix + "service"),
        )


def check_online(network: Network, orders: Orders, tally: ClosedDayCount) -> None:
    """``OrderPricer``: every tier of every order, strict and relaxed."""
    idx = np.arange(orders.n_orders)
    units, _, kg = order_totals(network, orders, idx)
    pricer = OrderPricer(network, TierPolicy())
    cal = network.calendar
    stamps = orders.created_at.astype("datetime64[s]").astype(np.int64)
    for o in idx:
        args = (int(stamps[o]), int(orders.dest[o]), float(kg[o]), float(units[o]))
        for prefix in ("", "relaxed_"):
            q = pricer.quote(*args, relaxed=bool(prefix))
            tally.add_deliveries(f"online {prefix}delivery", q.delivery, q.service)
        tally.add("online ship", q.ship, cal.ship_days)
        tally.add("online promised", q.promised, cal.promise_days)


def run(
    out: Path, *, per_day: int, seed: int, network_dir: Path | None
) -> dict[str, object]:
    """Price the windows with both pricers; write and return the counts."""
    network = load_network(network_dir or sample_network_dir())
    missing = [
        d.isoformat()
        for d in EXPECTED_CLOSED
        if network.calendar.promise_days.is_open(np.datetime64(d))
    ]
    tally = ClosedDayCount(network.calendar)
    with tempfile.TemporaryDirectory() as tmp:
        orders = window_orders(network, per_day, seed, Path(tmp))
    check_batch(network, orders, tally)
    check_online(network, orders, tally)
    result: dict[str, object] = {
        "windows": [[d.isoformat(), n] for d, n in WINDOWS],
        "orders": orders.n_orders,
        "nodes": network.n_nodes,
        "holidays_not_closed": missing,
        "dates_checked": dict(tally.checked),
        "on_closed_days": dict(tally.on_closed),
        "total_on_closed_days": sum(tally.on_closed.values()),
        "ok": not missing and sum(tally.on_closed.values()) == 0,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; exits 1 when any date falls on a closed day."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/holiday-check"))
    parser.add_argument("--orders-per-day", type=whole, default=1000)
    parser.add_argument("--seed", type=whole, default=1)
    parser.add_argument("--network", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(
        args.out, per_day=args.orders_per_day, seed=args.seed, network_dir=args.network
    )
    checked, closed = result["dates_checked"], result["on_closed_days"]
    assert isinstance(checked, dict) and isinstance(closed, dict)
    windows = ", ".join(f"{d} +{n} days" for d, n in WINDOWS)
    print(f"{result['orders']} orders x {result['nodes']} nodes; days {windows}")
    for key in sorted(checked):
        print(
            f"  {key:<28}{closed.get(key, 0):>6} on closed days of {checked[key]:>10,}"
        )
    print(
        f"holidays not closed by the calendar: {result['holidays_not_closed'] or 'none'}"
    )
    print(f"total on closed days: {result['total_on_closed_days']}")
    if not result["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
