"""The carrier calendar: holidays from the ``holidays`` package, per-service
weekdays (``services.csv``) and closures (``holidays.csv``), their bad rows,
and the summary ``tierflow network validate`` prints."""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR, TINY_NETWORK
from tierflow.data.carrier_calendar import (
    CARRIER_HOLIDAYS,
    FIRST_YEAR,
    LAST_YEAR,
    _carrier_year,
    carrier_calendar,
    carrier_holidays,
    parse_weekdays,
    projected_holidays,
    weekdays_label,
)
from tierflow.data.delivery_calendar import OperatingDays
from tierflow.data.errors import InputError
from tierflow.data.limits import INSTANT_YEARS
from tierflow.data.network import Network, load_network
from tierflow.data.rates import SERVICES

D = dt.date
NY = dt.timezone(dt.timedelta(hours=-5))
TINY_CALENDAR = DATA_DIR / "tiny_calendar"
#: ``[first, end)`` of every day the carrier holidays cover.
EVERY = (D(FIRST_YEAR, 1, 1), D(LAST_YEAR + 1, 1, 1))
NEXT_DAY, TWO_DAY, GROUND, ECONOMY = range(4)


def calendar_network(tmp_path: Path, **tables: str) -> Path:
    """The tiny network with the tiny calendar's tables, or the given ones
    (``holidays="..."`` replaces ``holidays.csv``; an empty text drops it)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    for name in ("holidays", "services"):
        text = tables.get(name, (TINY_CALENDAR / f"{name}.csv").read_text())
        if text:
            (folder / f"{name}.csv").write_text(text)
    return folder


@pytest.fixture(scope="module")
def tiny_calendar_network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    """The tiny network with ``tests/data/tiny_calendar``'s tables."""
    return load_network(calendar_network(tmp_path_factory.mktemp("calendar")))


def test_carrier_holidays_of_2026_and_observance() -> None:
    closed = carrier_holidays()
    in_2026 = {d: n for d, n in closed.items() if d.year == 2026}
    assert in_2026 == {
        D(2026, 1, 1): "New Year's Day",
        D(2026, 5, 25): "Memorial Day",
        D(2026, 7, 4): "Independence Day",  # a Saturday: Friday 3rd stays open
        D(2026, 9, 7): "Labor Day",
        D(2026, 11, 26): "Thanksgiving Day",
        D(2026, 12, 25): "Christmas Day",
    }
    # Christmas 2022 and New Year 2023 fell on Sundays: closed the Monday after
    assert closed[D(2022, 12, 26)] == "Christmas Day (observed)"
    assert closed[D(2023, 1, 2)] == "New Year's Day (observed)"
    assert D(2021, 12, 24) not in closed  # Christmas 2021 was a Saturday


def test_every_year_has_the_six_carrier_holidays() -> None:
    closed = carrier_holidays()
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        names = {n for d, n in closed.items() if d.year == year}
        assert {n.removesuffix(" (observed)") for n in names} == set(CARRIER_HOLIDAYS)


def test_the_holidays_cover_every_year_an_instant_may_fall_in() -> None:
    # a promise from the last instant year runs into the next; 2000-2099
    # only were computed, so a checkout in 2150 or 1999 had no holiday
    assert (INSTANT_YEARS[0], INSTANT_YEARS[1] + 1) == (FIRST_YEAR, LAST_YEAR)
    closed = carrier_holidays()
    assert closed[D(1999, 12, 25)] == "Christmas Day"
    assert closed[D(1999, 11, 25)] == "Thanksgiving Day"
    assert closed[D(1900, 5, 30)] == "Memorial Day"  # May 30th before 1971
    assert closed[D(2150, 12, 25)] == "Christmas Day"
    assert closed[D(2150, 11, 26)] == "Thanksgiving Day"
    assert closed[D(2201, 1, 1)] == "New Year's Day"
    # New Year 2147 falls on a Sunday: observed on the Monday, as before 2101
    assert closed[D(2147, 1, 2)] == "New Year's Day (observed)"


def test_projected_years_follow_the_packages_rules() -> None:
    # the package stops at 2100; later years follow today's rules, which
    # give the package's own days for the years both cover
    closed = carrier_holidays()
    projected = projected_holidays(2026, 2100)
    assert projected == {d: n for d, n in closed.items() if 2026 <= d.year <= 2100}


def test_default_network_calendar_closes_the_carrier_holidays(
    tiny_network: Network,
) -> None:
    cal = tiny_network.calendar
    assert cal.promise_days.closed_between(EVERY[0], EVERY[1]) == tuple(
        carrier_holidays()
    )
    assert cal.ship_weekmask == cal.delivery_weekmask == "1111110"
    assert all(cal.service_days(s) == cal.promise_days for s in range(len(SERVICES)))


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("Mon-Sat", "1111110"),
        ("mon-fri", "1111100"),
        ("Mon;Wed;Fri", "1010100"),
        ("Tue-Thu;Sat", "0111010"),
        ("Sat", "0000010"),
    ],
)
def test_weekdays_round_trip(text: str, mask: str) -> None:
    assert parse_weekdays(text) == mask
    assert parse_weekdays(weekdays_label(mask)) == mask


def test_saturday_delivery_is_honoured_and_sunday_never(
    tiny_calendar_network: Network,
) -> None:
    """services.csv: next-day and two-day deliver Mon–Sat, ground Mon–Fri."""
    cal = tiny_calendar_network.calendar
    friday = np.datetime64("2026-03-06")
    assert str(cal.delivery_dates(friday, 1, NEXT_DAY)) == "2026-03-07"  # Saturday
    assert str(cal.delivery_dates(friday, 1, GROUND)) == "2026-03-09"  # Monday
    saturday = friday + 1
    assert str(cal.delivery_dates(saturday, 1, NEXT_DAY)) == "2026-03-09"
    # ground does not move on Saturday: shipped then, its day 1 is Tuesday
    assert str(cal.delivery_dates(saturday, 1, GROUND)) == "2026-03-10"
    days = np.arange("2026-01-01", "2027-01-01", dtype="datetime64[D]")
    for s in range(len(SERVICES)):
        delivered = cal.delivery_dates(days, 1, s)
        assert not (delivered.astype("datetime64[D]").view("int64") % 7 == 3).any()
    assert cal.delivery_weekmask == "1111110"  # promises count Saturdays


def test_holidays_csv_adds_and_removes_days(tiny_calendar_network: Network) -> None:
    net = tiny_calendar_network
    east, dest = net.node_idx("WH-EAST"), net.dest_idx("100")
    # added: the day after Thanksgiving is closed for every service
    morning = dt.datetime(2026, 11, 27, 9, tzinfo=NY)
    ship, deliver = net.ship_and_delivery_dates(morning, "two_day", dest)
    assert str(ship[east]) == "2026-11-28"
    assert str(deliver[east]) == "2026-12-01"  # Sat + two days: Mon 30th, Tue
    # removed for one service: next-day delivers on Thanksgiving, two-day not
    eve = dt.datetime(2026, 11, 25, 10, tzinfo=NY)
    _, by_next_day = net.ship_and_delivery_dates(eve, "next_day", dest)
    assert str(by_next_day[east]) == "2026-11-26"
    _, by_two_day = net.ship_and_delivery_dates(eve, "two_day", dest)
    assert str(by_two_day[east]) == "2026-11-30"  # skips 26th, 27th, Sunday
    # nodes ship on Thanksgiving (next-day picks up), not on the 27th
    assert net.calendar.ship_days.is_open(
        np.array(["2026-11-26", "2026-11-27"], dtype="datetime64[D]")
    ).tolist() == [True, False]
    # economy closed on Christmas Eve; New Year's Day worked by every service
    closed = net.calendar.service_days(ECONOMY).closed_between(*EVERY)
    assert D(2026, 12, 24) in closed and D(2027, 1, 1) not in closed
    assert D(2027, 1, 1) not in net.calendar.promise_days.closed_between(*EVERY)


def test_a_day_no_service_works_is_no_promise_day(tmp_path: Path) -> None:
    """Ground and economy deliver Mon-Fri (the tiny calendar), and
    ``holidays.csv`` closes Saturday 2026-10-10 for next-day and two-day:
    no service works that day, yet it stayed a promise day and a ship day
    (only days in every service's closed list were), so Friday's next-day
    promise was that Saturday, which nothing delivers, and Platinum was
    refused on Friday though next-day delivers on the Monday promised."""
    rows = "2026-10-10,next_day,closed\n2026-10-10,two_day,closed\n"
    folder = calendar_network(tmp_path, holidays="date,service,action\n" + rows)
    cal = load_network(folder).calendar
    assert D(2026, 10, 10) in cal.promise_days.closed_between(*EVERY)
    friday = np.datetime64("2026-10-09")
    assert str(cal.promised_dates(friday, 1)) == "2026-10-12"
    assert str(cal.delivery_dates(friday, 1, NEXT_DAY)) == "2026-10-12"
    assert not cal.ship_days.is_open(friday + 1)
    # a Saturday closed for one Saturday service only is still worked
    one = "date,service,action\n2026-10-10,two_day,closed\n"
    cal = load_network(calendar_network(tmp_path / "one", holidays=one)).calendar
    assert D(2026, 10, 10) not in cal.promise_days.closed_between(*EVERY)
    assert str(cal.promised_dates(friday, 1)) == "2026-10-10"


def test_calendar_summary_lists_the_coming_year(
    tiny_calendar_network: Network,
) -> None:
    summary = tiny_calendar_network.summary(today=D(2026, 11, 1))["calendar"]
    assert summary["ship_days"] == "Mon-Sat"
    assert summary["delivery_days"] == {
        "next_day": "Mon-Sat",
        "two_day": "Mon-Sat",
        "ground": "Mon-Fri",
        "economy": "Mon-Fri",
    }
    assert summary["closed_days_from"] == "2026-11-01"
    closed = {c["date"]: (c["name"], c["services"]) for c in summary["closed_days"]}
    assert closed["2026-11-26"] == (
        "Thanksgiving Day",
        ["two_day", "ground", "economy"],
    )
    assert closed["2026-11-27"] == ("holidays.csv", list(SERVICES))
    assert closed["2026-12-24"] == ("holidays.csv", ["economy"])
    assert "2027-01-01" not in closed
    assert closed["2027-07-05"][0] == "Independence Day (observed)"
    assert max(closed) < "2027-11-01"


def test_a_parquet_holidays_table_is_named_as_it_is(tmp_path: Path) -> None:
    """The closed days of a ``holidays.parquet`` were listed as from
    ``holidays.csv``, a file the network does not have."""
    folder = calendar_network(tmp_path)
    holidays = pd.read_csv(folder / "holidays.csv", dtype=str)
    holidays.to_parquet(folder / "holidays.parquet")
    (folder / "holidays.csv").unlink()
    summary = load_network(folder).summary(today=D(2026, 11, 1))["calendar"]
    closed = {c["date"]: c["name"] for c in summary["closed_days"]}
    assert closed["2026-11-27"] == "holidays.parquet"


def test_a_calendar_without_a_folder_is_the_carrier_default() -> None:
    cal = carrier_calendar()
    assert cal.promise_days.closed_between(*EVERY) == tuple(carrier_holidays())


BAD_ROWS: list[tuple[str, dict[str, str], str]] = [
    (
        "bad date",
        {"holidays": "date,service,action\n2026/11/30,*,closed\n"},
        r"^holidays\.csv: row 2: field 'date': value '2026/11/30': "
        r"not ISO 8601: write 2026-11-30 \(YYYY-MM-DD, with '-'\)$",
    ),
    (  # a day the calendar has not says why: it read "not a date"
        "no February 29th",
        {"holidays": "date,service,action\n2026-02-28,*,closed\n"
         "2026-02-29,*,closed\n"},
        r"^holidays\.csv: row 3: field 'date': value '2026-02-29': "
        r"no such day: 2026 is not a leap year$",
    ),
    (
        "no 31st of November",
        {"holidays": "date,service,action\n2026-11-31,*,closed\n"},
        r"^holidays\.csv: row 2: field 'date': value '2026-11-31': "
        r"no such day: day 31 out of range for month 11 \(1-30\)$",
    ),
    (
        "no month 13",
        {"holidays": "date,service,action\n2026-13-01,*,closed\n"},
        r"^holidays\.csv: row 2: field 'date': value '2026-13-01': "
        r"no such day: month 13 out of range \(1-12\)$",
    ),
    (
        "unknown service",
        {"holidays": "date,service,action\n2026-03-02,drone,closed\n"},
        r"^holidays\.csv: row 2: field 'service': value 'drone': must be one of "
        r"\['\*', 'next_day', 'two_day', 'ground', 'economy'\]$",
    ),
    (
        "unknown action",
        {"holidays": "date,service,action\n2026-03-02,*,shut\n"},
        r"^holidays\.csv: row 2: field 'action': value 'shut': must be one of "
        r"\['closed', 'open'\]$",
    ),
    (
        "duplicate day and service",
        {"holidays": "date,service,action\n2026-03-02,ground,closed\n"
         "2026-03-03,ground,closed\n2026-03-02,ground,open\n"},
        r"^holidays\.csv: row 4: field 'service': value 'ground': "
        r"duplicate date/service$",
    ),
    (
        "open a working day",
        {"holidays": "date,service,action\n2026-11-27,*,closed\n"
         "2026-03-03,ground,open\n"},
        r"^holidays\.csv: row 3: field 'date': value '2026-03-03': not closed for "
        r"ground \(open only re-opens a closed day\)$",
    ),
    (
        "open every service on a working day",
        {"holidays": "date,service,action\n2026-03-03,*,open\n"},
        r"^holidays\.csv: row 2: field 'date': value '2026-03-03': not closed for "
        r"every service \(open only re-opens a closed day\)$",
    ),
    (
        "open a Sunday",
        {"holidays": "date,service,action\n2026-03-01,*,closed\n2026-03-01,ground,open\n"},
        r"^holidays\.csv: row 3: field 'date': value '2026-03-01': "
        r"a Sunday: Sunday is never a delivery day$",
    ),
    (
        "open a Saturday of a Mon-Fri service",
        {"holidays": "date,service,action\n2026-07-04,ground,open\n"},
        r"^holidays\.csv: row 2: field 'date': value '2026-07-04': "
        r"not a delivery weekday of ground \(services\.csv\)$",
    ),
    (
        "missing action column",
        {"holidays": "date,service\n2026-03-02,ground\n"},
        r"^holidays\.csv: row 1: field 'action': missing column",
    ),
    (
        "Sunday delivery",
        {"services": "service,delivery_days\nground,Mon-Sun\n"},
        r"^services\.csv: row 2: field 'delivery_days': value 'Mon-Sun': "
        r"Sunday is never a delivery day$",
    ),
    (
        "weekday typo",
        {"services": "service,delivery_days\nground,Mon-Fry\n"},
        r"^services\.csv: row 2: field 'delivery_days': value 'Mon-Fry': "
        r"not weekdays like Mon-Sat or Mon;Wed;Fri$",
    ),
    (
        "backwards range",
        {"services": "service,delivery_days\neconomy,Mon-Fri\nground,Sat-Mon\n"},
        r"^services\.csv: row 3: field 'delivery_days': value 'Sat-Mon': "
        r"Sat-Mon runs backwards \(Monday first\)$",
    ),
    (
        "duplicate service",
        {"services": "service,delivery_days\nground,Mon-Fri\nground,Mon-Sat\n"},
        r"^services\.csv: row 3: field 'service': value 'ground': "
        r"duplicate service$",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tables", "message"),
    [case[1:] for case in BAD_ROWS],
    ids=[case[0] for case in BAD_ROWS],
)
def test_bad_calendar_rows_are_located(
    tmp_path: Path, tables: dict[str, str], message: str
) -> None:
    folder = calendar_network(tmp_path, **tables)
    with pytest.raises(InputError, match=message):
        load_network(folder)


def test_the_carrier_holidays_are_built_per_year_when_asked_for(
    tmp_path: Path,
) -> None:
    """Every year 1900-2201 was computed (35-90 ms) in each process that
    loaded a network, and the network pickled all 1,949 dates per service
    (a 63 KB calendar): now a year is built when a date of it is asked
    about, and the calendar keeps the rule and the days named in
    ``holidays.csv``."""
    _carrier_year.cache_clear()
    cal = load_network(calendar_network(tmp_path)).calendar
    assert _carrier_year.cache_info().currsize <= 2  # holidays.csv's years
    friday = np.datetime64("2026-11-27")
    assert str(cal.delivery_dates(friday, 1, NEXT_DAY)) == "2026-11-30"
    assert _carrier_year.cache_info().currsize <= 5  # 2025-2028 or so
    assert len(pickle.dumps(cal, protocol=pickle.HIGHEST_PROTOCOL)) < 2_000


def test_the_per_year_calendar_answers_as_every_year_listed_did(
    tiny_calendar_network: Network,
) -> None:
    """offset, count and is_open give what a calendar listing every closed
    day of 1900-2201 gives, across the whole span and at its ends."""
    rng = np.random.default_rng(7)
    lo, hi = np.datetime64("1899-06-01"), np.datetime64("2202-06-01")
    starts = lo + rng.integers(0, (hi - lo).astype(np.int64), 400)
    ends = np.concatenate([lo + 5 + np.arange(20), hi - 25 + np.arange(20)])
    starts = np.concatenate([starts, ends])
    days = rng.integers(-40, 400, starts.size)
    cal = tiny_calendar_network.calendar
    for lazy in (cal.ship_days, cal.promise_days, *cal.services):
        listed = OperatingDays(lazy.weekmask, lazy.closed_between(*EVERY))
        assert (lazy.offset(starts, days) == listed.offset(starts, days)).all()
        assert (
            lazy.count(starts, starts + days) == listed.count(starts, starts + days)
        ).all()
        assert (lazy.is_open(starts) == listed.is_open(starts)).all()
        assert (lazy.offset(starts[0], 10**4) == listed.offset(starts[0], 10**4)).all()
