"""Ship and delivery dates across cutoffs, timezones, DST and weekends."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tierflow.data.delivery_calendar import DEFAULT_CALENDAR, DeliveryCalendar
from tierflow.data.errors import InputError
from tierflow.data.network import Network

UTC = dt.UTC
LA = "America/Los_Angeles"
D = dt.date


def _dates(
    when: str, tz: str = LA, cutoff: int = 18 * 60, days: int = 1
) -> tuple[dt.date, dt.date]:
    return DEFAULT_CALENDAR.ship_and_deliver(
        dt.datetime.fromisoformat(when), tz, cutoff, days
    )


@pytest.mark.parametrize(
    ("when", "days", "ship", "deliver"),
    [
        # Wed 2025-03-05 17:59 PST: before the 18:00 cutoff -> ships Wed, next day Thu
        ("2025-03-06T01:59:00+00:00", 1, D(2025, 3, 5), D(2025, 3, 6)),
        # 18:00 PST exactly is not before the cutoff -> ships Thu
        ("2025-03-06T02:00:00+00:00", 1, D(2025, 3, 6), D(2025, 3, 7)),
        # Sat before cutoff ships Sat; next-day skips Sunday -> Mon
        ("2025-03-08T10:00:00-08:00", 1, D(2025, 3, 8), D(2025, 3, 10)),
        # Sat after cutoff: nothing ships Sunday -> ships Mon, arrives Tue
        ("2025-03-08T19:00:00-08:00", 1, D(2025, 3, 10), D(2025, 3, 11)),
        # Sunday order ships Monday; ground 3 days -> Thu
        ("2025-03-09T09:00:00-07:00", 3, D(2025, 3, 10), D(2025, 3, 13)),
        # Fri ground 3 days: Sat, Mon, Tue
        ("2025-03-07T09:00:00-08:00", 3, D(2025, 3, 7), D(2025, 3, 11)),
        # Mon 2025-11-03 17:30 PST (DST ended the day before): same-day ship.
        # With the summer offset (-07:00) it would wrongly read 18:30.
        ("2025-11-04T01:30:00+00:00", 2, D(2025, 11, 3), D(2025, 11, 5)),
        # zero transit delivers on the ship date
        ("2025-03-05T09:00:00-08:00", 0, D(2025, 3, 5), D(2025, 3, 5)),
    ],
)
def test_dates_across_cutoff_weekend_dst(
    when: str, days: int, ship: dt.date, deliver: dt.date
) -> None:
    assert _dates(when, days=days) == (ship, deliver)


def test_same_instant_different_timezones() -> None:
    # 23:30Z on Wed 2025-03-05 is 18:30 in New York (after cutoff), 15:30 in LA.
    when = "2025-03-05T23:30:00+00:00"
    assert _dates(when, tz="America/New_York")[0] == D(2025, 3, 6)
    assert _dates(when, tz=LA)[0] == D(2025, 3, 5)


def test_holidays_are_skipped() -> None:
    cal = DeliveryCalendar(holidays=(D(2025, 12, 25),))
    ship, deliver = cal.ship_and_deliver(
        dt.datetime(2025, 12, 24, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "America/New_York",
        18 * 60,
        1,
    )
    assert (ship, deliver) == (D(2025, 12, 26), D(2025, 12, 27))


def test_naive_time_is_rejected() -> None:
    with pytest.raises(InputError, match=r"field 'now': .*no timezone offset"):
        _dates("2025-03-05T09:00:00")


def test_vectorized_network_dates_match_scalar(tiny_network: Network) -> None:
    net = tiny_network
    now = dt.datetime(2025, 3, 5, 23, 30, tzinfo=UTC)  # Wed
    dest = net.dest_idx("606")
    ship, deliver = net.ship_and_delivery_dates(now, "ground", dest)
    for i in range(net.n_nodes):
        tz = net.timezones[net.node_tz[i]]
        days = int(net.rates.transit(2, net.zone[i, dest]))
        s, d = DEFAULT_CALENDAR.ship_and_deliver(
            now, tz, int(net.cutoff_minutes[i]), days
        )
        assert (str(ship[i]), str(deliver[i])) == (s.isoformat(), d.isoformat())
    # EAST (NY 18:30, cutoff 18:00) ships Thu; WEST (LA 15:30) Wed; CHI store
    # (17:30 CST, cutoff 15:00) Thu.
    assert [str(v) for v in ship] == ["2025-03-06", "2025-03-05", "2025-03-06"]
    ship, deliver = net.ship_and_delivery_dates(now, "next_day", dest)
    assert np.isnat(ship[2]) and np.isnat(deliver[2])  # the store has no next-day


@pytest.mark.parametrize("tz", [LA, "America/New_York", "Asia/Kolkata", "UTC"])
def test_scalar_ship_date_matches_the_array_rule(tz: str) -> None:
    # ship_date (plain Python, its rolled day kept) against local_clock +
    # ship_dates (the arrays) every 7 minutes over a week with a holiday,
    # a DST change (2025-11-02) and a weekend, at cutoffs on either side
    cal = DeliveryCalendar(holidays=(D(2025, 11, 4), D(2025, 11, 8)))
    start = dt.datetime(2025, 10, 31, 0, 0, 30, tzinfo=UTC)
    seen = set()
    for step in range(8 * 24 * 60 // 7):
        now = start + dt.timedelta(minutes=7 * step)
        for cutoff in (0, 15 * 60, 18 * 60, 24 * 60 - 1):
            dates, secs = cal.local_clock(now, (tz,), np.zeros(1, dtype=np.intp))
            arrays = cal.ship_dates(dates, secs, cutoff)[0]
            scalar = cal.ship_date(now, tz, cutoff)
            assert scalar.isoformat() == str(arrays), (now, cutoff)
            seen.add(scalar)
    assert D(2025, 11, 4) not in seen and D(2025, 11, 8) not in seen
    assert not any(d.weekday() == 6 for d in seen)  # nothing ships on Sunday


def test_scalar_ship_date_refuses_a_naive_time() -> None:
    with pytest.raises(InputError, match=r"field 'now': .*no timezone offset"):
        DEFAULT_CALENDAR.ship_date(dt.datetime(2025, 3, 5, 9), LA, 18 * 60)


def test_a_delivery_is_never_dated_before_the_customers_order_date() -> None:
    """01:00 Tuesday 2026-01-06 in Chicago is 21:00 Monday in Honolulu, before
    a 23:00 cutoff: the node ships Monday, and a 0-day service counted from
    it delivers Monday; with the customer's clock, not before Tuesday."""
    when = dt.datetime(2026, 1, 6, 7, 0, tzinfo=dt.UTC)
    args = (when, "Pacific/Honolulu", 23 * 60, 0, 0)
    assert DEFAULT_CALENDAR.ship_and_deliver(*args) == (
        dt.date(2026, 1, 5),
        dt.date(2026, 1, 5),
    )
    assert DEFAULT_CALENDAR.ship_and_deliver(
        *args, customer_timezone="America/Chicago"
    ) == (dt.date(2026, 1, 5), dt.date(2026, 1, 6))
    # a day later the rule changes nothing: Tuesday 1 day -> Wednesday
    ship = np.datetime64("2026-01-06")
    assert (
        str(DEFAULT_CALENDAR.delivery_dates(ship, 1, 0, ordered=ship)) == "2026-01-07"
    )
