"""Coordinates in range but wrong: nodes whose latitude and longitude were
written the other way round, and places left at lat 0, lon 0.

Chicago written ``lat -87.65, lon 41.85`` is in range and was taken without
a word, and every distance, zone and ETA from it was wrong. Such a node is
refused when all of these hold, so no real network is:

- it lies south of 60°S (the Southern Ocean and Antarctica, where no city
  is: Ushuaia is at 54.8°S) — every swapped US node east of 90°W lands
  there, and west of it the swapped latitude is out of range (refused as
  such);
- it is over :data:`FAR_MILES` from every destination (an Aleutian ZIP
  code is at most about 1,200 miles from its nearest prefix's centroid);
- swapped back, it is within :data:`NEAR_MILES` of a destination (99 % of
  US ZIP codes are within 80 miles of their nearest prefix's centroid).

Hawaii, Alaska and Puerto Rico nodes are nowhere near 60°S, so they pass.

A destination is refused on the same terms, by
:func:`check_swapped_destinations`, measured from the nodes (a whole
``destinations`` file swapped is all in Antarctica, near itself) and, swapped
back, against the nodes, the other destinations and the real US ZIP
prefixes (a swapped Miami is within 300 miles of no other destination of a
sparse file, but 2 miles from its own prefix's centroid).

Elsewhere a swap lands in range among real places (Berlin written ``lat
13.40, lon 52.52`` is by the Arabian Sea), where a node far from every
destination can be real (an overseas 3PL), so it is a warning, not a
refusal: :func:`swapped_coordinate_warnings` names every node over
:data:`FAR_MILES` from every destination that is within :data:`NEAR_MILES`
of one swapped back.

``lat 0, lon 0`` ("Null Island", open sea in the Gulf of Guinea) is what a
geocoder that found nothing, or a spreadsheet's empty cell exported as a
number, writes; no warehouse, store or ZIP prefix is there, and a node there
was priced at zone 8 to everywhere and still promised two-day delivery.
:func:`check_null_island` refuses it in ``nodes`` and ``destinations``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError
from tierflow.data.table_reader import file_line, first_error
from tierflow.data.wording import listed
from tierflow.data.zones import great_circle_miles

FloatArray = NDArray[np.float64]

#: South of this latitude (degrees) a node is in the Southern Ocean or Antarctica.
SOUTH_OF_EVERY_CITY = -60.0
#: A node this far from every destination (miles) is outside their region.
FAR_MILES = 1500.0
#: Swapped back, a node this near a destination (miles) fits the region.
NEAR_MILES = 300.0
#: How many swapped-looking nodes get a warning of their own.
SHOW = 5


def _miles_to(lat: FloatArray, lon: FloatArray, places: pd.DataFrame) -> FloatArray:
    """``(len(lat), len(places))`` great-circle miles from each point to each place."""
    return np.asarray(
        great_circle_miles(
            lat[:, None],
            lon[:, None],
            places["lat"].to_numpy(dtype=np.float64)[None, :],
            places["lon"].to_numpy(dtype=np.float64)[None, :],
        ),
        dtype=np.float64,
    )


def _nearest(
    lat: FloatArray, lon: FloatArray, dest: pd.DataFrame
) -> tuple[FloatArray, NDArray[np.intp]]:
    """Per point, the distance to its nearest destination and that one's row."""
    miles = _miles_to(lat, lon, dest)
    at = miles.argmin(axis=1)
    return miles[np.arange(len(lat)), at], at


def _southern(places: pd.DataFrame) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
    """``lat``, ``lon`` and the rows south of every city whose ``lon`` could
    be a latitude: the only candidates for a swap."""
    lat = places["lat"].to_numpy(dtype=np.float64)
    lon = places["lon"].to_numpy(dtype=np.float64)
    south = (lat < SOUTH_OF_EVERY_CITY) & (np.abs(lon) <= 90.0)
    return lat, lon, np.flatnonzero(south)


def _refuse_first_swapped(
    places: pd.DataFrame,
    path: Path,
    rows: NDArray[np.intp],
    here: FloatArray,
    there: FloatArray,
    nearest: tuple[str, Callable[[int], str]],
) -> None:
    """Raise at the first of ``rows`` ``here`` miles from the nearest of
    ``nearest[0]`` as written and within reach of ``nearest[1](k)`` swapped
    (``there`` miles); nothing when none is."""
    swapped = (here > FAR_MILES) & (there <= NEAR_MILES)
    if not swapped.any():
        return
    k = int(np.flatnonzero(swapped)[0])
    pos = int(rows[k])
    lat, lon = float(places["lat"].iloc[pos]), float(places["lon"].iloc[pos])
    raise InputError(
        f"lat {lat:g}, lon {lon:g} is in the Southern Ocean or Antarctica, "
        f"{_miles(here[k])} from the nearest {nearest[0]}; swapped (lat {lon:g}, "
        f"lon {lat:g}) it is {_miles(there[k])} from {nearest[1](k)}: are lat "
        "and lon the other way round?",
        file=path.name,
        row=file_line(places, pos),
        field="lat",
        value=f"{lat:g}",
    )


def check_swapped_coordinates(
    nodes: pd.DataFrame, path: Path, dest: pd.DataFrame
) -> None:
    """Refuse the first node whose ``lat`` and ``lon`` look swapped (see the
    module's docstring), naming both values and where the swapped pair is.

    Raises
    ------
    InputError
        At the node's ``lat`` cell.
    """
    lat, lon, rows = _southern(nodes)
    if len(rows) == 0 or len(dest) == 0:
        return
    here, _ = _nearest(lat[rows], lon[rows], dest)
    there, near = _nearest(lon[rows], lat[rows], dest)
    zip3 = dest["zip3"].to_numpy()
    _refuse_first_swapped(
        nodes,
        path,
        rows,
        here,
        there,
        ("destination", lambda k: f"ZIP prefix {zip3[int(near[k])]}"),
    )


def check_swapped_destinations(
    dest: pd.DataFrame, path: Path, nodes: pd.DataFrame
) -> None:
    """Refuse the first destination whose ``lat`` and ``lon`` look swapped
    (see the module's docstring), in a node's words: both values, and where
    the swapped pair is (a node, another destination or any US ZIP prefix,
    so a lone swapped row of a sparse table is caught too).

    Raises
    ------
    InputError
        At the destination's ``lat`` cell.
    """
    lat, lon, rows = _southern(dest)
    if len(rows) == 0 or len(nodes) == 0:
        return
    from tierflow.data.geography import zip3_destinations

    here = _miles_to(lat[rows], lon[rows], nodes).min(axis=1)
    us = zip3_destinations()
    names = [f"node {n}" for n in nodes["node_id"]]
    names += [f"ZIP prefix {z}" for z in dest["zip3"]]
    names += [f"ZIP prefix {z}" for z in us["zip3"]]
    others = _miles_to(lon[rows], lat[rows], dest)
    others[np.arange(len(rows)), rows] = np.inf  # not itself
    miles = np.hstack(
        [
            _miles_to(lon[rows], lat[rows], nodes),
            others,
            _miles_to(lon[rows], lat[rows], us),
        ]
    )
    near = miles.argmin(axis=1)
    there = miles[np.arange(len(rows)), near]
    _refuse_first_swapped(
        dest, path, rows, here, there, ("node", lambda k: names[int(near[k])])
    )


def check_null_island(places: pd.DataFrame, path: Path) -> None:
    """Refuse the first row at exactly ``lat 0, lon 0`` (see the module's
    docstring): coordinates left unset, not a place.

    Raises
    ------
    InputError
        At the row's ``lat`` cell.
    """
    lat = places["lat"].to_numpy(dtype=np.float64)
    lon = places["lon"].to_numpy(dtype=np.float64)
    unset = (lat == 0.0) & (lon == 0.0)
    if unset.any():
        raise first_error(  # quoting the cell as written
            path,
            places.attrs.get("raw", places),
            unset,
            "lat",
            "lat 0, lon 0 is open sea in the Gulf of Guinea, where nothing is "
            "shipped from or to: coordinates left unset (a geocoder that found "
            "nothing, an empty cell saved as 0)? give the place's lat and lon",
        )


def swapped_coordinate_warnings(
    nodes: pd.DataFrame, path: Path, dest: pd.DataFrame
) -> tuple[str, ...]:
    """One warning per node whose ``lat`` and ``lon`` look swapped anywhere
    (see the module's docstring), naming the file row, the node, both
    positions and their distances; the first :data:`SHOW` in full, the rest
    counted in one more."""
    lat = nodes["lat"].to_numpy(dtype=np.float64)
    lon = nodes["lon"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.abs(lon) <= 90.0)  # swapped, lon is a latitude
    if len(rows) == 0 or len(dest) == 0:
        return ()
    # one node × destination matrix: as written, then swapped
    miles, near = _nearest(
        np.concatenate([lat[rows], lon[rows]]),
        np.concatenate([lon[rows], lat[rows]]),
        dest,
    )
    here, there, near = miles[: len(rows)], miles[len(rows) :], near[len(rows) :]
    flagged = np.flatnonzero((here > FAR_MILES) & (there <= NEAR_MILES))
    out = []
    for k in flagged[:SHOW]:
        pos = int(rows[k])
        zip3 = dest["zip3"].iloc[int(near[k])]
        node = nodes["node_id"].iloc[pos]
        out.append(
            f"{path.name}: row {file_line(nodes, pos)}: node {node}: "
            f"lat {lat[pos]:g}, lon {lon[pos]:g} is {_miles(here[k])} from the "
            f"nearest destination; swapped (lat {lon[pos]:g}, lon {lat[pos]:g}) "
            f"it is {_miles(there[k])} from ZIP prefix {zip3}: are lat and lon "
            "the other way round?"
        )
    if len(flagged) > SHOW:
        more = [str(nodes["node_id"].iloc[int(rows[k])]) for k in flagged[SHOW:]]
        out.append(
            f"{path.name}: {len(more)} more nodes ({listed(more, SHOW)}) are over "
            f"{FAR_MILES:,.0f} miles from every destination and within "
            f"{NEAR_MILES:,.0f} miles of one swapped: are their lat and lon the "
            "other way round?"
        )
    return tuple(out)


def far_node_warnings(
    nodes: pd.DataFrame, path: Path, dest: pd.DataFrame
) -> tuple[str, ...]:
    """One warning per node over :data:`FAR_MILES` from every destination
    that does not look swapped (:func:`swapped_coordinate_warnings` names
    those), the first :data:`SHOW` in full, the rest counted in one more.

    A US node's longitude written without its minus sign (``lon 74.41`` for
    Edison NJ: Kyrgyzstan) or a latitude typed wrong (``84.5``: the Arctic
    Ocean) validated "OK" without a word, and the node shipped from there at
    its distance's zone. A node that far can be real (an overseas 3PL), so
    it is a warning: a sign that, flipped, brings it within
    :data:`NEAR_MILES` of a destination is named, else the place is
    questioned."""
    if len(nodes) == 0 or len(dest) == 0:
        return ()
    lat = nodes["lat"].to_numpy(dtype=np.float64)
    lon = nodes["lon"].to_numpy(dtype=np.float64)
    here, _ = _nearest(lat, lon, dest)
    far = here > FAR_MILES
    if far.any():  # swapped ones have their own warning
        swapped, _ = _nearest(lon, lat, dest)
        far &= ~((np.abs(lon) <= 90.0) & (swapped <= NEAR_MILES))
    rows = np.flatnonzero(far)
    if len(rows) == 0:
        return ()
    zip3 = dest["zip3"].to_numpy()
    out = []
    for pos in rows[:SHOW]:
        where = (
            f"{path.name}: row {file_line(nodes, int(pos))}: node "
            f"{nodes['node_id'].iloc[int(pos)]}: lat {lat[pos]:g}, lon "
            f"{lon[pos]:g} is {_miles(here[pos])} from the nearest destination"
        )
        for what, written, flat, flon in _sign_flips(float(lat[pos]), float(lon[pos])):
            miles, near = _nearest(np.array([flat]), np.array([flon]), dest)
            if miles[0] <= NEAR_MILES:
                out.append(
                    f"{where}; with {written} it is {_miles(miles[0])} from ZIP "
                    f"prefix {zip3[int(near[0])]}: is the sign of {what} wrong "
                    "(a minus lost or added)?"
                )
                break
        else:
            out.append(f"{where}: is the place right?")
    if len(rows) > SHOW:
        more = [str(nodes["node_id"].iloc[int(pos)]) for pos in rows[SHOW:]]
        out.append(
            f"{path.name}: {len(more)} more nodes ({listed(more, SHOW)}) are over "
            f"{FAR_MILES:,.0f} miles from every destination: are their places right?"
        )
    return tuple(out)


def flipped_destination_warnings(
    dest: pd.DataFrame, path: Path, nodes: pd.DataFrame
) -> tuple[str, ...]:
    """One warning per destination of a ``destinations`` file over
    :data:`FAR_MILES` from every node that, with the sign of its ``lat`` or
    ``lon`` flipped, is within :data:`NEAR_MILES` of a node or another
    destination (the first :data:`SHOW` in full, the rest counted).

    New York written ``lon 73.97`` (its minus sign lost: Kyrgyzstan)
    validated "OK", and its population's parcels were zone 8 from every node.
    A destination far from every node is otherwise no warning: Hawaii and
    Guam are that far from a mainland network."""
    if len(dest) == 0 or len(nodes) == 0:
        return ()
    lat = dest["lat"].to_numpy(dtype=np.float64)
    lon = dest["lon"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(_miles_to(lat, lon, nodes).min(axis=1) > FAR_MILES)
    if len(rows) == 0:
        return ()
    names = [f"node {n}" for n in nodes["node_id"]]
    names += [f"ZIP prefix {z}" for z in dest["zip3"]]
    zip3 = dest["zip3"].to_numpy()
    found = []
    for pos in rows:
        for what, written, flat, flon in _sign_flips(float(lat[pos]), float(lon[pos])):
            point = (np.array([flat]), np.array([flon]))
            miles = np.hstack([_miles_to(*point, nodes), _miles_to(*point, dest)])[0]
            miles[len(nodes) + pos] = np.inf  # not itself
            near = int(miles.argmin())
            if miles[near] <= NEAR_MILES:
                found.append(
                    f"{path.name}: row {file_line(dest, int(pos))}: ZIP prefix "
                    f"{zip3[pos]}: lat {lat[pos]:g}, lon {lon[pos]:g} is over "
                    f"{FAR_MILES:,.0f} miles from every node; with {written} it is "
                    f"{_miles(miles[near])} from {names[near]}: is the sign of "
                    f"{what} wrong (a minus lost or added)?"
                )
                break
    out = found[:SHOW]
    if len(found) > SHOW:
        out.append(
            f"{path.name}: {len(found) - SHOW} more destinations are over "
            f"{FAR_MILES:,.0f} miles from every node and near one with a sign "
            "flipped: are their signs right?"
        )
    return tuple(out)


def _sign_flips(lat: float, lon: float) -> list[tuple[str, str, float, float]]:
    """The places a lost or added minus sign may have moved ``(lat, lon)``
    from: what was flipped, the flipped coordinates as written, and the
    place (``lon`` first: the sign a US longitude loses most)."""
    return [
        ("lon", f"lon {-lon:g}", lat, -lon),
        ("lat", f"lat {-lat:g}", -lat, lon),
        ("lat and lon", f"lat {-lat:g}, lon {-lon:g}", -lat, -lon),
    ]


def _miles(miles: float) -> str:
    """``8,083 miles``, ``1 mile``."""
    text = f"{miles:,.0f}"
    return f"{text} mile" if text == "1" else f"{text} miles"
