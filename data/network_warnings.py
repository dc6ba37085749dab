"""Suspicious but valid networks: what ``tierflow network validate`` warns
about (no stock at all, no capacity anywhere, SKUs no node can ship, a
node's timezone on another clock than the destinations around it, every
population or every popularity 0). A
node whose lat and lon look swapped is warned about too, found while the
files are read (``Network.file_warnings``, :mod:`tierflow.data.swapped_coordinates`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.wording import listed

if TYPE_CHECKING:
    from tierflow.data.network import Network

#: How many ids a warning lists before "and N more".
_SHOW = 5
#: Up to this share of the SKUs may have no stock anywhere without a
#: warning: a few SKUs out everywhere (discontinued, awaiting a delivery) is
#: an ordinary catalogue, the sample's included (1 %); every command that
#: loads a network prints its warnings, so one it always has is noise.
UNSTOCKED_SKUS_SHARE = 0.02
#: Destinations this close to a node (miles) show the clock of its place.
CLOCK_MILES = 100.0


def _some(what: str, ids: Sequence[str], picked: NDArray[np.bool_] | np.bool_) -> str:
    """``"2 of 3 nodes ... (A, B)"``-style count and the first few ids."""
    names = [ids[int(i)] for i in np.flatnonzero(picked)]
    return f"{len(names)} of {len(ids)} {what} ({listed(names, _SHOW)})"


def _stock_warnings(network: Network) -> list[str]:
    stocked = network.inventory > 0
    if not stocked.any():
        return ["inventory: no node holds any stock (no row with on_hand > 0)"]
    out = []
    unstocked_skus = ~stocked.any(axis=0)
    if unstocked_skus.mean() > UNSTOCKED_SKUS_SHARE:
        some = _some("SKUs", network.sku_ids, unstocked_skus)
        out.append(f"inventory: {some} have no stock at any node")
    idle = ~stocked.any(axis=1)
    if idle.any():
        out.append(f"inventory: {_some('nodes', network.node_ids, idle)} hold no stock")
    return out


def _capacity_warnings(network: Network) -> list[str]:
    zero = network.capacity <= 0
    if zero.all():
        return ["nodes: every node has capacity_units_per_day 0"]
    if zero.any():
        some = _some("nodes", network.node_ids, zero)
        return [f"nodes: {some} have capacity_units_per_day 0"]
    return []


@lru_cache(maxsize=256)
def _clock(zone: str, year: int) -> tuple[int, ...]:
    """``zone``'s UTC offsets (minutes) on the 1st and 15th of each month."""
    days = [
        dt.datetime(year, m, d, 12, tzinfo=dt.UTC)
        for m in range(1, 13)
        for d in (1, 15)
    ]
    tz = zone_info(zone)
    return tuple(
        int((day.astimezone(tz).utcoffset() or dt.timedelta()).total_seconds()) // 60
        for day in days
    )


def _offsets(clock: tuple[int, ...]) -> str:
    """``"UTC-05:00 and UTC-04:00"``: the distinct offsets of a clock."""
    words = [
        f"UTC{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
        for m in sorted(set(clock))
    ]
    return " and ".join(words)


def _clock_warnings(network: Network) -> list[str]:
    """A node whose timezone keeps another clock, all or part of the year,
    than every destination within :data:`CLOCK_MILES` (``EST`` for a New
    York node: no daylight saving, its cutoff an hour late all summer)."""
    year = dt.datetime.now(dt.UTC).year  # this year's rules
    dest_clocks = [_clock(z, year) for z in network.dest_timezones]
    out = []
    for i, node in enumerate(network.node_ids):
        near = np.flatnonzero(network.distance_mi[i] <= CLOCK_MILES)
        if near.size == 0:
            continue
        zone = network.timezones[int(network.node_tz[i])]
        clock = _clock(zone, year)
        theirs = {dest_clocks[int(network.dest_tz[j])] for j in near}
        if clock in theirs:
            continue
        j = int(near[np.argmin(network.distance_mi[i, near])])
        nearest = network.dest_timezones[int(network.dest_tz[j])]
        seen = _offsets(tuple(m for c in theirs for m in c))
        out.append(
            f"nodes: node {node}: timezone {zone!r} keeps {_offsets(clock)}, while "
            f"within {CLOCK_MILES:.0f} miles the destinations keep {seen} (nearest: "
            f"ZIP prefix {network.dest_zip3[j]}, {nearest}, "
            f"{network.distance_mi[i, j]:,.0f} miles): its cutoff is judged on "
            "another clock than its place's"
        )
    return out


def network_warnings(network: Network) -> tuple[str, ...]:
    """Warnings about a valid network that cannot do all it is for."""
    out = _stock_warnings(network) + _capacity_warnings(network)
    out += _clock_warnings(network)
    if network.n_dests and not (network.dest_population > 0).any():
        out.append("destinations: every population is 0 (demand spread evenly)")
    if network.n_skus and not (network.sku_popularity > 0).any():
        # orders, stock prices and bid prices draw SKUs evenly then
        out.append("skus: every popularity is 0 (demand spread evenly)")
    return tuple(out)
