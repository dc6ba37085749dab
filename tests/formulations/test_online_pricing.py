"""The online pricer agrees with ``price_orders`` field by field.

``price_orders`` (the batch cost model) is the reference; ``OrderPricer``
must give the same ship date, service, delivery date, promised date,
shipping, penalty and handling for every node — strict and relaxed — on
random orders: any hour of the year (weekends, cutoffs, both daylight-saving
changes), every tier, baskets of 1–3 SKUs, and a calendar with holidays.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR, TINY_NETWORK
from tests.ship_days import WH_EAST_SHIP_DAYS
from tierflow.data.delivery_calendar import DeliveryCalendar, OperatingDays
from tierflow.data.network import Network, load_network
from tierflow.data.orders import Orders, read_orders
from tierflow.data.vocabulary import TIERS
from tierflow.formulations.online_pricing import (
    CalendarTables,
    OrderPricer,
    date_to_day,
    day_to_date,
)
from tierflow.formulations.order_pricing import order_totals, price_orders
from tierflow.formulations.tiers import TierPolicy

POLICY = TierPolicy()
HOLIDAYS = DeliveryCalendar(
    holidays=(dt.date(2026, 1, 1), dt.date(2026, 5, 25), dt.date(2026, 7, 3),
              dt.date(2026, 9, 7), dt.date(2026, 11, 26), dt.date(2026, 12, 25))
)  # fmt: skip


#: Holiday weeks: Thanksgiving 2026 and Christmas to New Year 2026/27.
HOLIDAY_WEEKS = (("2026-11-21", 12), ("2026-12-19", 16))


def _random_orders(
    network: Network,
    n: int,
    seed: int,
    tmp_path: Path,
    windows: tuple[tuple[str, int], ...] = (("2026-01-01", 365),),
) -> object:
    """Random orders in the ``(first day, days)`` windows (default: every hour
    of 2026), one in ten packed around a DST change."""
    rng = np.random.default_rng(seed)
    starts = [pd.Timestamp(f"{day}T00:00:00Z").value // 10**9 for day, _ in windows]
    dst = [
        pd.Timestamp(t).value // 10**9
        for t in ("2026-03-08T06:00Z", "2026-11-01T05:00Z")
    ]
    rows = []
    for o in range(n):
        w = int(rng.integers(len(windows)))
        if o % 10 == 0:
            ts = dst[o % 2] + int(rng.integers(-4 * 3600, 4 * 3600))
        else:
            ts = starts[w] + int(rng.integers(0, windows[w][1] * 86_400))
        when = pd.Timestamp(ts, unit="s", tz="UTC").isoformat()
        dest = network.dest_zip3[int(rng.integers(network.n_dests))]
        tier = TIERS[int(rng.integers(len(TIERS)))]
        size = int(rng.integers(1, min(3, network.n_skus) + 1))
        for k in rng.choice(network.n_skus, size=size, replace=False):
            qty = int(rng.integers(1, 4))
            rows.append(f"O{o},{when},C,{dest},{tier},{network.sku_ids[k]},{qty}")
    path = tmp_path / f"orders{seed}.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n" + "\n".join(rows)
    )
    return read_orders(path, network)


def _check_agreement(network: Network, orders: object) -> int:
    from tierflow.data.orders import Orders

    assert isinstance(orders, Orders)
    idx = np.arange(orders.n_orders)
    ref = price_orders(network, orders, idx, POLICY)
    units, _, kg = order_totals(network, orders, idx)
    pricer = OrderPricer(network, POLICY)
    stamps = orders.created_at.astype("datetime64[s]").astype(np.int64)
    checked = 0
    for o in idx:
        t = int(orders.tier[o])
        args = (int(stamps[o]), int(orders.dest[o]), float(kg[o]), float(units[o]))
        for relaxed, prefix in ((False, ""), (True, "relaxed_")):
            q = pricer.quote(*args, relaxed=relaxed)
            service = getattr(ref, prefix + "service")[o]
            ok = service >= 0
            np.testing.assert_array_equal(q.service[t], service, err_msg=f"order {o}")
            np.testing.assert_array_equal(
                q.delivery[t][ok],
                getattr(ref, prefix + "delivery")[o][ok].astype(np.int64),
                err_msg=f"order {o}",
            )
            for name in ("shipping", "penalty"):
                np.testing.assert_allclose(
                    getattr(q, name)[t],
                    getattr(ref, prefix + name)[o],
                    rtol=0,
                    atol=1e-9,
                    err_msg=f"order {o} {prefix}{name}",
                )
        np.testing.assert_array_equal(q.ship, ref.ship_date[o].astype(np.int64))
        assert q.promised[t] == ref.promised[o].astype(np.int64)
        np.testing.assert_allclose(q.handling, ref.handling[o], rtol=0, atol=1e-9)
        checked += 1
    return checked


def test_agrees_with_price_orders_on_the_sample(
    sample_network: Network, tmp_path: Path
) -> None:
    orders = _random_orders(sample_network, 1500, seed=1, tmp_path=tmp_path)
    assert _check_agreement(sample_network, orders) == 1500


def test_agrees_with_holidays_on_the_tiny_network(tmp_path: Path) -> None:
    network = load_network(TINY_NETWORK, calendar=HOLIDAYS)
    orders = _random_orders(network, 1500, seed=2, tmp_path=tmp_path)
    assert _check_agreement(network, orders) == 1500


def test_agrees_in_holiday_weeks_on_the_sample(
    sample_network: Network, tmp_path: Path
) -> None:
    """The carrier calendar (Thanksgiving, Christmas, New Year's Day)."""
    orders = _random_orders(sample_network, 800, 3, tmp_path, HOLIDAY_WEEKS)
    assert _check_agreement(sample_network, orders) == 800


def test_agrees_in_holiday_weeks_with_service_calendars(tmp_path: Path) -> None:
    """Per-service weekdays and closures (``tests/data/tiny_calendar``)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    for name in ("holidays.csv", "services.csv"):
        shutil.copy(DATA_DIR / "tiny_calendar" / name, folder / name)
    network = load_network(folder)
    assert network.calendar.service_days(2) != network.calendar.promise_days
    orders = _random_orders(network, 1500, 4, tmp_path, HOLIDAY_WEEKS)
    assert _check_agreement(network, orders) == 1500


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calendar_tables_match_numpy_busday(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cal = DeliveryCalendar(
        ship_weekmask="1111100",
        delivery_weekmask="1111110",
        holidays=tuple(
            day_to_date(int(d)) for d in rng.integers(20_400, 20_700, size=25)
        ),
    )
    tables = CalendarTables.build(cal, 20_300, 600)
    holidays = np.array(cal.holidays, dtype="datetime64[D]")
    days = rng.integers(20_350, 20_750, size=300)
    as_dates = days.astype("datetime64[D]")
    roll = np.busday_offset(
        as_dates, 0, roll="forward", weekmask="1111100", holidays=holidays
    )
    np.testing.assert_array_equal(
        tables.ship_roll[days - 20_300], roll.astype(np.int64)
    )
    k = rng.integers(0, 9, size=300)
    deliver = np.busday_offset(
        as_dates, k, roll="forward", weekmask="1111110", holidays=holidays
    )
    got = tables.delivery_days[tables.position[days - 20_300] + k]
    np.testing.assert_array_equal(got, deliver.astype(np.int64))
    other = days + rng.integers(0, 60, size=300)  # busday_count for begin <= end
    count = np.busday_count(
        as_dates, other.astype("datetime64[D]"), weekmask="1111110", holidays=holidays
    )
    np.testing.assert_array_equal(
        tables.position[other - 20_300] - tables.position[days - 20_300], count
    )


def test_service_tables_match_numpy_busday() -> None:
    """Each service's own days: ``service_days[s][service_position[s][d] + k]``
    is ``busday_offset(d, k)`` on its calendar, ``service_rank`` its place in
    the promise calendar."""
    rng = np.random.default_rng(7)
    closed = tuple(day_to_date(int(d)) for d in rng.integers(20_400, 20_700, 25))
    services = (
        OperatingDays("1111110", closed[:10]),
        OperatingDays("1111100", closed),
        OperatingDays("1010100", closed[5:]),
    )
    cal = DeliveryCalendar(holidays=closed[5:10], services=services)
    tables = CalendarTables.build(cal, 20_300, 600, n_services=4)
    days = rng.integers(20_350, 20_700, size=300)
    k = rng.integers(0, 9, size=300)
    for s in range(4):
        expected = cal.delivery_dates(days.astype("datetime64[D]"), k, s)
        got = tables.service_days[s][tables.service_position[s][days - 20_300] + k]
        np.testing.assert_array_equal(got, expected.astype(np.int64))
        rank = tables.service_rank[s][tables.service_position[s][days - 20_300]]
        first = cal.delivery_dates(days.astype("datetime64[D]"), 0, s)
        np.testing.assert_array_equal(
            rank, tables.position[first.astype(np.int64) - 20_300]
        )
    assert cal.service_days(3) == cal.promise_days


@pytest.mark.parametrize(("now", "ships", "later"), WH_EAST_SHIP_DAYS)
def test_a_ship_delay_ships_that_many_ship_days_later(
    tiny_network: Network, now: dt.datetime, ships: str, later: str
) -> None:
    """The overflow tier's delay: one ship day after the ship day the order
    gets anyway (WH-EAST, New York, cutoff 18:00, the carrier calendar),
    promised from the order's date all the same."""
    pricer = OrderPricer(tiny_network, POLICY)
    dest = tiny_network.dest_idx("100")
    east = tiny_network.node_idx("WH-EAST")
    today = pricer.quote(now, dest, 0.3, 1.0)
    delayed = pricer.quote(now, dest, 0.3, 1.0, ship_delay=1)
    assert day_to_date(int(today.ship[east])) == dt.date.fromisoformat(ships)
    assert day_to_date(int(delayed.ship[east])) == dt.date.fromisoformat(later)
    assert (delayed.delivery > delayed.ship[None, :]).all()
    np.testing.assert_array_equal(today.promised, delayed.promised)
    assert today.today == delayed.today == date_to_day(now.date())
    with pytest.raises(ValueError, match="ship_delay"):
        pricer.quote(now, dest, 0.3, 1.0, ship_delay=-1)


@pytest.mark.parametrize("delay", [1, 2, 5])
def test_a_delayed_quote_is_price_orders_at_its_ship_day(
    sample_network: Network, tmp_path: Path, delay: int
) -> None:
    """Every node's delayed ship day is ``delay`` ship days after its own
    (``busday_offset`` on the ship calendar), and the shipment from there is
    priced as ``price_orders`` prices the order released that morning
    (service, delivery, shipping, penalty), promised from the order's date:
    random instants in the holiday weeks, Saturday nights and Sundays among
    them."""
    net = sample_network
    orders = _random_orders(net, 60, 5 + delay, tmp_path, HOLIDAY_WEEKS)
    assert isinstance(orders, Orders)
    pricer = OrderPricer(net, POLICY)
    idx = np.arange(orders.n_orders)
    units, _, kg = order_totals(net, orders, idx)
    stamps = orders.created_at.astype("datetime64[s]").astype(np.int64)
    quotes = []
    for o in idx:
        args = (int(stamps[o]), int(orders.dest[o]), float(kg[o]), float(units[o]))
        now, delayed = pricer.quote(*args), pricer.quote(*args, ship_delay=delay)
        expected = net.calendar.ship_days.offset(
            now.ship.astype("datetime64[D]"), delay
        )
        np.testing.assert_array_equal(delayed.ship, expected.astype(np.int64))
        assert (delayed.ship > now.ship).all()
        np.testing.assert_array_equal(delayed.promised, now.promised)
        quotes.append(delayed)
    # price_orders, each (order, node) released at 09:00 local on the
    # node's delayed ship day (before every cutoff of the sample)
    n = net.n_nodes
    rows = np.repeat(idx, n)
    release = np.empty(rows.size, dtype="datetime64[s]")
    for k, (o, j) in enumerate(zip(rows, np.tile(np.arange(n), idx.size), strict=True)):
        day = day_to_date(int(quotes[o].ship[j]))
        zone = net.timezones[net.node_tz[j]]
        local = pd.Timestamp(f"{day}T09:00").tz_localize(zone).tz_convert("UTC")
        release[k] = np.datetime64(local.tz_localize(None), "s")
    ref = price_orders(net, orders, rows, POLICY, release=release)
    for k, o in enumerate(rows):
        j, t, q = k % n, int(orders.tier[o]), quotes[o]
        assert int(ref.ship_date[k, j].astype(np.int64)) == int(q.ship[j])
        assert int(ref.service[k, j]) == int(q.service[t, j]), (o, j)
        if q.service[t, j] < 0:
            continue
        assert int(ref.delivery[k, j].astype(np.int64)) == int(q.delivery[t, j])
        assert ref.shipping[k, j] == pytest.approx(q.shipping[t, j], abs=1e-9)
        assert ref.penalty[k, j] == pytest.approx(q.penalty[t, j], abs=1e-9)
        assert int(ref.promised[k].astype(np.int64)) == int(q.promised[t])


@pytest.mark.parametrize("dropped", ["economy", "next_day", "two_day"])
def test_agrees_on_a_network_without_a_service(tmp_path: Path, dropped: str) -> None:
    """A rate card that does not price a service (nodes offering only the
    others): its cost is ``nan`` in the card, and the online pricer's masked
    prices all became ``nan``: every tier was infeasible at every node, and
    checkout offered nothing on a network without economy."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    rates = pd.read_csv(folder / "rates.csv")
    rates[rates["service"] != dropped].to_csv(folder / "rates.csv", index=False)
    nodes = pd.read_csv(folder / "nodes.csv")
    nodes["services"] = [
        ";".join(s for s in offered.split(";") if s != dropped)
        for offered in nodes["services"]
    ]
    nodes.to_csv(folder / "nodes.csv", index=False)
    network = load_network(folder)
    orders = _random_orders(network, 600, 5, tmp_path)
    assert _check_agreement(network, orders) == 600
    pricer = OrderPricer(network, POLICY)
    gold = TIERS.index("gold")
    quote = pricer.quote(
        int(pd.Timestamp("2026-01-05T15:00Z").value // 10**9), 0, 1.0, 1.0
    )
    assert (quote.service[gold] >= 0).any()  # some node ships Gold


def test_price_table_is_the_rate_cards_price(tiny_network: Network) -> None:
    # every (service, zone) cell at weights across every bracket and past the
    # heaviest (several parcels), the cache emptied: the card's own price
    # (nan where a service is not priced, inf in the table)
    rates = tiny_network.rates
    pricer = OrderPricer(tiny_network, TierPolicy())
    n_s, n_z = rates.cost.shape[:2]
    s, z = np.meshgrid(np.arange(n_s), np.arange(n_z) + 2, indexing="ij")
    weights = [0.0, 0.1, *np.unique(rates.max_weight).tolist(), 0.75, 7.3, 250.0]
    for w in weights:
        pricer._prices.clear()
        want = rates.price(s, z, w)
        np.testing.assert_array_equal(
            pricer.price_table(w), np.where(np.isnan(want), np.inf, want)
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_price_tables_kept_per_bracket_interval_are_each_weights_price(
    tiny_network: Network, seed: int
) -> None:
    """Up to the lightest heaviest bracket, a weight's table is kept for
    every weight between the same two bracket bounds (a cart's weight
    rarely repeats): each weight, in any order, on a bound or a float's
    width beside one, still gets the card's own price."""
    rates = tiny_network.rates
    pricer = OrderPricer(tiny_network, TierPolicy())
    n_s, n_z = rates.cost.shape[:2]
    s, z = np.meshgrid(np.arange(n_s), np.arange(n_z) + 2, indexing="ij")
    bounds = [b for b in np.unique(rates.max_weight).tolist() if np.isfinite(b)]
    near = [np.nextafter(b, d) for b in bounds for d in (-np.inf, np.inf)]
    rng = np.random.default_rng(seed)
    top = float(rates.top_weight.min())
    weights = [0.0, top, *bounds, *near, *rng.uniform(0, 1.2 * top, 300).tolist()]
    for w in rng.permutation(np.asarray(weights, dtype=np.float64)).tolist():
        want = rates.price(s, z, w)
        np.testing.assert_array_equal(
            pricer.price_table(w),
            np.where(np.isnan(want), np.inf, want),
            err_msg=f"weight {w!r}",
        )
    assert pricer._interval_prices  # the intervals were kept
