"""Seeded synthetic orders (``tierflow generate orders``): intraday and weekly
seasonality in the shopper's local time, population-weighted destinations,
Zipf baskets and tier shares. The recipe: ``docs/data.md``."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.limits import DATA_WINDOW, TIME_OF_DAY
from tierflow.data.network import Network
from tierflow.data.orders import ORDER_COLUMNS
from tierflow.data.table_reader import Column, check_reference, read_table, table_path
from tierflow.data.vocabulary import TIERS
from tierflow.data.written_numbers import (
    PLAIN_DIGITS,
    decimal_number,
    python_would_read,
)
from tierflow.data.zip_codes import ZIP3_PATTERN, zip3_error

#: Relative order intensity per local hour (0..23).
HOURLY_PROFILE = np.array(
    [0.28, 0.16, 0.10, 0.07, 0.06, 0.09, 0.2, 0.38, 0.58, 0.74, 0.86, 0.97,
     1.08, 1.02, 0.94, 0.9, 0.92, 0.98, 1.08, 1.22, 1.32, 1.24, 0.96, 0.56]
)  # fmt: skip
#: Relative intensity per weekday, Monday first.
WEEKLY_PROFILE = np.array([1.08, 1.03, 1.0, 0.98, 0.93, 0.86, 1.12])
TIER_P = (0.06, 0.52, 0.34, 0.08)
GIFT_SHARE = 0.08
SPIKE_MINUTES = 60
#: First day of generated orders by default: the Monday after the sample's
#: purchase history ends.
DEFAULT_START = dt.date(2026, 1, 5)

#: The most a promotion multiplies an hour's demand by.
MAX_SPIKE_FACTOR = 100.0
_TIME_OF_DAY = re.compile(TIME_OF_DAY)


@dataclass(frozen=True, slots=True)
class Spike:
    """A daily promotion spike: the hour from ``minute`` ``factor`` times as
    busy as the other hours' profile makes it. It weights when orders come,
    not how many: the generator's ``n_orders`` stays the total, so the
    hour's extra orders are the rest of the day's (``docs/data.md``)."""

    minute: int
    factor: float

    @classmethod
    def parse(cls, text: str) -> Spike:
        """Parse ``HH:MM,factor`` (e.g. ``12:00,4``), naming the part that is
        wrong (it said "expected HH:MM,factor" of a factor out of range)."""
        clock, comma, written = (part.strip() for part in text.strip().partition(","))
        if not comma:
            raise InputError("expected HH:MM,factor", field="--spike", value=text)
        match = _TIME_OF_DAY.fullmatch(clock)
        if match is None:
            raise InputError(
                f"{clock!r} is not a time of day HH:MM", field="--spike", value=text
            )
        factor = decimal_number(written)
        if factor is None or math.isnan(factor):
            plain = factor is None and python_would_read(written)  # not 'nan'
            why = f": {PLAIN_DIGITS}" if plain else ""
            raise InputError(
                f"factor {written!r} is not a number{why}", field="--spike", value=text
            )
        if not 0 < factor <= MAX_SPIKE_FACTOR:  # 1e400 was inf: every order at 23:59
            raise InputError(
                f"factor {written!r} is out of range: it must be in "
                f"(0, {MAX_SPIKE_FACTOR:g}]",
                field="--spike",
                value=text,
            )
        return cls(int(match.group(1)) * 60 + int(match.group(2)), factor)


def _minute_intensity() -> NDArray[np.float64]:
    hours = np.arange(24 * 60) / 60.0
    ext = np.append(HOURLY_PROFILE, HOURLY_PROFILE[0])
    # piecewise linear through the hour midpoints, periodic
    x = np.arange(25) + 0.5
    return np.asarray(np.interp((hours - 0.5) % 24 + 0.5, x, ext), dtype=np.float64)


def _load_customers(
    folder: Path | None, network: Network
) -> tuple[NDArray[np.object_], NDArray[np.intp]] | None:
    if folder is None or table_path(folder, "customers") is None:
        return None
    frame, path = read_table(
        folder,
        "customers",
        [
            Column("customer_id", identifier=True),
            Column("home_zip3", pattern=ZIP3_PATTERN, unmatched=zip3_error),
        ],
        unique=[("customer_id",)],
    )
    if frame.empty:  # orders drawn from nobody
        raise InputError(
            "no customers (a header only): give some, or remove the file to "
            "generate customers",
            file=path.name,
        )
    check_reference(frame, path, "home_zip3", network.dest_zip3, "destinations")
    home = frame["home_zip3"].map(network.dest_index)
    return frame["customer_id"].to_numpy(dtype=object), home.to_numpy(dtype=np.intp)


@dataclass(frozen=True, slots=True, eq=False)
class Shoppers:
    """The ``customers.csv`` :func:`generate_orders` draws its shoppers from,
    read once for a job that generates orders more than once (``tierflow
    simulate``: its check, the day's carts and the history before the day
    each read the file again)."""

    #: Each customer's id and home destination; None: the network has no
    #: such table (the generator makes its shoppers up).
    loaded: tuple[NDArray[np.object_], NDArray[np.intp]] | None

    @property
    def count(self) -> int | None:
        """How many customers the table holds, None without one."""
        return None if self.loaded is None else len(self.loaded[0])


def read_shoppers(network: Network, customers_dir: Path | None = None) -> Shoppers:
    """Read and check the ``customers.csv`` :func:`generate_orders` draws its
    shoppers from (as it reads it), for a job to call before its slow part
    (``tierflow simulate`` trains the CLTV model before it generates carts,
    so a header-only table was refused only after the training) and then
    give to :func:`generate_orders`."""
    return Shoppers(_load_customers(customers_dir or network.source, network))


def check_customers(network: Network, customers_dir: Path | None = None) -> int | None:
    """:func:`read_shoppers`'s count (``tierflow network validate``): how
    many customers it holds, None without one."""
    return read_shoppers(network, customers_dir).count


def generate_orders(
    network: Network,
    *,
    n_orders: int,
    days: int = 1,
    seed: int = 0,
    start: dt.date = DEFAULT_START,
    spike: Spike | None = None,
    customers_dir: Path | None = None,
    shoppers: Shoppers | None = None,
) -> pd.DataFrame:
    """Generate ``n_orders`` orders over ``days`` days (see ``docs/data.md``).

    Parameters
    ----------
    network
        Destinations, SKUs and popularity come from it.
    n_orders, days, seed
        Size, horizon and seed; the output is a pure function of the inputs.
    start
        First local day.
    spike
        Optional daily promotion spike.
    customers_dir
        Folder holding ``customers.csv`` (``customer_id, home_zip3``); default
        the network's own folder.
    shoppers
        That table as :func:`read_shoppers` read it (then the file is not
        read again).

    Returns
    -------
    pandas.DataFrame
        One row per line, columns :data:`data.orders.ORDER_COLUMNS`, sorted
        by ``created_at``.
    """
    if n_orders < 1:
        raise InputError("must be >= 1", field="--orders", value=n_orders)
    if days < 1:
        raise InputError("must be >= 1", field="--days", value=days)
    # what orders.csv accepts, so that what is written can be read
    last = start + dt.timedelta(days=days - 1)
    DATA_WINDOW.require_days(start, start, field="--start")
    DATA_WINDOW.require_days(  # the start fits, the days run past the window
        start, last, field="--days", value=f"{days} (through {last})"
    )
    _require_local_days_in_window(network, start, last, days)
    rng = np.random.default_rng(seed)
    if shoppers is None:
        shoppers = read_shoppers(network, customers_dir)
    customer, dest = _shoppers(network, rng, n_orders, seed, shoppers)
    when = _order_times(network, rng, dest, days=days, start=start, spike=spike)
    lines = _baskets(network, rng, n_orders)
    tier = rng.choice(len(TIERS), size=n_orders, p=TIER_P)
    prefix = f"O{start:%Y%m%d}-{seed}-"
    return _order_table(network, lines, customer, dest, tier, when, prefix=prefix)


def _require_local_days_in_window(
    network: Network, start: dt.date, last: dt.date, days: int
) -> None:
    """The local days ``start`` .. ``last`` of every destination's zone as
    instants inside the window ``orders.csv`` accepts (which runs by UTC
    days): on the window's last day, a US evening's orders fall on the next
    UTC day, and ``generate orders --start`` that day wrote a file that
    ``allocate`` refused (``row 116: field 'created_at': value
    '2028-12-08T19:14:22-05:00': outside the allowed window``); east of UTC,
    the first day's night falls on the UTC day before."""
    lo, hi = DATA_WINDOW.bounds()
    zones = [zone_info(name) for name in network.dest_timezones]
    first = min(dt.datetime.combine(start, dt.time(0), tzinfo=z) for z in zones)
    end = max(dt.datetime.combine(last, dt.time.max, tzinfo=z) for z in zones)
    if first < lo:
        on = first.astimezone(dt.UTC).date()
        raise InputError(
            DATA_WINDOW.describe(),
            field="--start",
            value=f"{start} (its first local hours fall on {on} in UTC)",
        )
    if end > hi:
        on = end.astimezone(dt.UTC).date()
        hours = f"last local hours fall on {on} in UTC"
        raise InputError(
            DATA_WINDOW.describe(),
            field="--start" if start == last else "--days",
            value=f"{start} (its {hours})"
            if start == last
            else f"{days} (through {last}, whose {hours})",
        )


def _shoppers(
    network: Network,
    rng: np.random.Generator,
    n_orders: int,
    seed: int,
    shoppers: Shoppers,
) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """Who places each order (heavy-tailed activity) and where it goes (home,
    or a gift to a prefix drawn by population)."""
    loaded = shoppers.loaded
    if loaded is None:
        pool = max(1000, n_orders // 2)
        cust_ids = np.array([f"G{seed}-{i:07d}" for i in range(pool)], dtype=object)
        cust_home = rng.choice(network.n_dests, size=pool, p=network.dest_weight)
    else:
        cust_ids, cust_home = loaded
    activity = rng.gamma(0.6, 1.0, size=len(cust_ids))
    who = rng.choice(len(cust_ids), size=n_orders, p=activity / activity.sum())
    dest = cust_home[who].copy()
    gift = rng.random(n_orders) < GIFT_SHARE
    dest[gift] = rng.choice(
        network.n_dests, size=int(gift.sum()), p=network.dest_weight
    )
    return cust_ids[who], dest


@dataclass(frozen=True, slots=True)
class _OrderTimes:
    """Per order: the UTC instant and the destination's UTC offset (minutes)."""

    utc: NDArray[np.datetime64]
    offset_min: NDArray[np.int64]


def _order_times(
    network: Network,
    rng: np.random.Generator,
    dest: NDArray[np.intp],
    *,
    days: int,
    start: dt.date,
    spike: Spike | None,
) -> _OrderTimes:
    """Draw each order's instant from its destination timezone's profile,
    over the minutes that really pass in the local days (a day the clocks go
    back has two 01:xx hours, each weighted as an 01:xx; one they go forward
    has no 02:xx, and no other hour gets its orders)."""
    per_minute = _minute_intensity()
    utc = np.empty(dest.size, dtype="datetime64[s]")
    offset_min = np.empty(dest.size, dtype=np.int64)
    order_tz = network.dest_tz[dest]
    for g in np.unique(order_tz):
        members = np.flatnonzero(order_tz == g)
        timezone = network.dest_timezones[int(g)]
        minutes = _local_minutes(timezone, start, days)
        weights = _minute_weights(
            per_minute, minutes, start, spike, network.main_timezone
        )
        cdf = np.cumsum(weights)
        cell = np.searchsorted(cdf, rng.random(members.size) * cdf[-1], side="right")
        cell = np.minimum(cell, len(minutes.utc) - 1)
        seconds = rng.integers(0, 60, size=members.size).astype("timedelta64[s]")
        utc[members] = minutes.utc[cell] + seconds
        offset_min[members] = minutes.offset_min[cell]
    return _OrderTimes(utc, offset_min)


@dataclass(frozen=True, slots=True)
class _LocalMinutes:
    """Every minute that passes from the first local midnight of the
    horizon to the one after its last day: its UTC start, the zone's offset
    then (minutes east of UTC), the local day (0: ``start``) and minute of
    that day on the clock (0 .. 1439)."""

    utc: NDArray[np.datetime64]
    offset_min: NDArray[np.int64]
    day: NDArray[np.int64]
    clock_minute: NDArray[np.int64]


def _local_midnight(timezone: str, day: dt.date) -> pd.Timestamp:
    """The instant a local day starts (its first minute, should the clocks
    skip midnight)."""
    return pd.Timestamp(day).tz_localize(
        timezone, ambiguous=True, nonexistent="shift_forward"
    )


def _local_minutes(timezone: str, start: dt.date, days: int) -> _LocalMinutes:
    """:class:`_LocalMinutes` of ``days`` local days from ``start``."""
    first = _local_midnight(timezone, start)
    end = _local_midnight(timezone, start + dt.timedelta(days=days))
    utc = pd.date_range(first, end, freq="min", inclusive="left").tz_convert("UTC")
    local = utc.tz_convert(timezone)
    wall = local.tz_localize(None)
    as_utc = utc.tz_localize(None).to_numpy("datetime64[s]")
    offset = (wall.to_numpy("datetime64[s]") - as_utc) // np.timedelta64(60, "s")
    day = (wall.normalize() - pd.Timestamp(start)).days.to_numpy()
    clock = (wall.hour * 60 + wall.minute).to_numpy()
    return _LocalMinutes(
        as_utc,
        offset.astype(np.int64),
        day.astype(np.int64),
        clock.astype(np.int64),
    )


def _minute_weights(
    per_minute: NDArray[np.float64],
    minutes: _LocalMinutes,
    start: dt.date,
    spike: Spike | None,
    spike_zone: str,
) -> NDArray[np.float64]:
    """Relative intensity of every minute of the horizon: its local day's
    weekday weight times its clock minute's (times the spike's factor in
    the spike's hour on ``spike_zone``'s clock, the network's main zone: one
    promotion, at one instant everywhere)."""
    dow = (minutes.day + start.weekday()) % 7
    weights = WEEKLY_PROFILE[dow] * per_minute[minutes.clock_minute]
    if spike is not None:
        starts = _spike_starts(spike, spike_zone, minutes.utc)
        last = np.searchsorted(starts, minutes.utc, side="right") - 1
        since = minutes.utc - starts[np.maximum(last, 0)]
        hit = (last >= 0) & (since < np.timedelta64(SPIKE_MINUTES * 60, "s"))
        weights = weights * np.where(hit, spike.factor, 1.0)
    return np.asarray(weights, dtype=np.float64)


def _spike_starts(
    spike: Spike, zone: str, utc: NDArray[np.datetime64]
) -> NDArray[np.datetime64]:
    """The instant each day's spike starts (UTC ``datetime64[s]``, sorted),
    for every day of ``zone`` that ``utc`` touches: the first time its clock
    reads the spike's HH:MM, or the first minute after a skipped one. Every
    spike lasts :data:`SPIKE_MINUTES` of elapsed time (matching clock minutes
    made it 90 minutes on a day the clocks go back, 30 on one they go
    forward)."""
    ends = pd.DatetimeIndex(utc[[0, -1]]).tz_localize("UTC").tz_convert(zone)
    first = ends[0].date() - dt.timedelta(days=1)
    n_days = (ends[1].date() - first).days + 1
    clock = pd.date_range(first, periods=n_days, freq="D") + pd.Timedelta(
        minutes=spike.minute
    )
    local = clock.tz_localize(
        zone, ambiguous=np.ones(n_days, dtype=bool), nonexistent="shift_forward"
    )
    starts: NDArray[np.datetime64] = (
        local.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[s]")
    )
    return starts


def _baskets(network: Network, rng: np.random.Generator, n_orders: int) -> pd.DataFrame:
    """Lines ``o`` (order), ``k`` (SKU), ``q`` (quantity), repeats merged."""
    n_lines = np.minimum(rng.zipf(2.3, size=n_orders), 12)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    pop = network.sku_popularity
    p = pop / pop.sum() if pop.sum() > 0 else None
    line_sku = rng.choice(network.n_skus, size=line_order.size, p=p)
    qty = np.minimum(rng.zipf(3.0, size=line_order.size), 10)
    return (
        pd.DataFrame({"o": line_order, "k": line_sku, "q": qty})
        .groupby(["o", "k"], sort=False, as_index=False)["q"]
        .sum()
    )


def _local_stamps(
    utc: NDArray[np.datetime64], offset_min: NDArray[np.int64]
) -> NDArray[np.object_]:
    """ISO 8601 local times with their offset, e.g. ``2026-01-05T19:42:07-06:00``."""
    local = utc + (offset_min * 60).astype("timedelta64[s]")
    sign = np.where(offset_min < 0, "-", "+")
    hh, mm = np.abs(offset_min) // 60, np.abs(offset_min) % 60
    stamp = pd.DatetimeIndex(local).strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    stamp = stamp + sign + pd.Series(hh).map("{:02d}".format).to_numpy(dtype=object)
    return np.asarray(
        stamp + ":" + pd.Series(mm).map("{:02d}".format).to_numpy(dtype=object)
    )


def _order_table(
    network: Network,
    lines: pd.DataFrame,
    customer: NDArray[np.object_],
    dest: NDArray[np.intp],
    tier: NDArray[np.int64],
    when: _OrderTimes,
    *,
    prefix: str,
) -> pd.DataFrame:
    """One row per line, sorted by time; order ids are numbered in that order."""
    n_orders = dest.size
    seq = np.empty(n_orders, dtype=np.int64)
    seq[np.argsort(when.utc, kind="stable")] = np.arange(n_orders)
    width = max(6, len(str(n_orders)))
    o = lines["o"].to_numpy()
    frame = pd.DataFrame(
        {
            "order_id": [f"{prefix}{s:0{width}d}" for s in seq[o]],
            "created_at": _local_stamps(when.utc[o], when.offset_min[o]),
            "customer_id": customer[o],
            "dest": np.asarray(network.dest_zip3, dtype=object)[dest[o]],
            "tier": np.asarray(TIERS, dtype=object)[tier[o]],
            "sku": np.asarray(network.sku_ids, dtype=object)[lines["k"].to_numpy()],
            "quantity": lines["q"].to_numpy(dtype=np.int64),
            "_s": seq[o],
        }
    )
    frame = frame.sort_values(["_s", "sku"], kind="stable").reset_index(drop=True)
    return frame[list(ORDER_COLUMNS)]
