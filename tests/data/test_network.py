"""Network loading: the bad-input table with asserted messages, and the model."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network

Mutation = Callable[[Path], None]


def _edit(file: str, row: int, column: str, value: str) -> Mutation:
    """Set the cell at file line ``row`` (header = 1) of ``column`` to ``value``."""

    def apply(folder: Path) -> None:
        frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
        frame.loc[row - 2, column] = value
        frame.to_csv(folder / file, index=False)

    return apply


def _drop_rows(file: str, query: Callable[[pd.DataFrame], pd.Series]) -> Mutation:
    def apply(folder: Path) -> None:
        frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
        frame[~query(frame)].to_csv(folder / file, index=False)

    return apply


def _drop_column(file: str, column: str) -> Mutation:
    def apply(folder: Path) -> None:
        frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
        frame.drop(columns=[column]).to_csv(folder / file, index=False)

    return apply


def _both(*mutations: Mutation) -> Mutation:
    def apply(folder: Path) -> None:
        for mutation in mutations:
            mutation(folder)

    return apply


def _write(name: str, text: str) -> Mutation:
    def mutate(folder: Path) -> None:
        (folder / name).write_text(text)

    return mutate


def _no_skus(folder: Path) -> None:
    """Every SKU gone, and every inventory row with it (only the headers)."""
    _drop_rows("skus.csv", lambda f: f["sku"] != "")(folder)
    _drop_rows("inventory.csv", lambda f: f["sku"] != "")(folder)


def _remove(file: str) -> Mutation:
    return lambda folder: (folder / file).unlink()


BAD_INPUT: list[tuple[str, Mutation, str]] = [
    (
        "lat not a number",
        _edit("nodes.csv", 3, "lat", "abc"),
        r"^nodes\.csv: row 3: field 'lat': value 'abc': not a number$",
    ),
    (
        "lat out of range",
        _edit("nodes.csv", 2, "lat", "91"),
        r"^nodes\.csv: row 2: field 'lat': value '91': must be <= 90$",
    ),
    (
        "unknown kind",
        _edit("nodes.csv", 4, "kind", "depot"),
        r"^nodes\.csv: row 4: field 'kind': value 'depot': must be one of",
    ),
    (
        "bad timezone",
        _edit("nodes.csv", 2, "timezone", "Mars/Base"),
        r"^nodes\.csv: row 2: field 'timezone': value 'Mars/Base': not an IANA",
    ),
    # zoneinfo loads these, but they name no place's clock: 'localtime' was
    # the clock of whichever machine read the network
    (
        "the machine's own zone",
        _edit("nodes.csv", 3, "timezone", "localtime"),
        r"^nodes\.csv: row 3: field 'timezone': value 'localtime': not an IANA "
        r"timezone \('localtime' is the zone of whichever machine reads it: name "
        r"the zone, e\.g\. America/New_York\)$",
    ),
    (
        "tzdata's placeholder zone",
        _edit("destinations.csv", 4, "timezone", "Factory"),
        r"^destinations\.csv: row 4: field 'timezone': value 'Factory': not an "
        r"IANA timezone \('Factory' is tzdata's placeholder, no place's clock: "
        r"name the zone, e\.g\. America/New_York\)$",
    ),
    (
        "the posixrules file",
        _edit("nodes.csv", 2, "timezone", "posixrules"),
        r"^nodes\.csv: row 2: field 'timezone': value 'posixrules': not an IANA "
        r"timezone \('posixrules' is a copy of a zone the machine's tzdata chose",
    ),
    (
        "a leap-second zone",
        _edit("nodes.csv", 2, "timezone", "right/America/New_York"),
        r"^nodes\.csv: row 2: field 'timezone': value 'right/America/New_York': "
        r"not an IANA timezone \(right/ zones count leap seconds, 27 s off civil "
        r"time: write 'America/New_York'\)$",
    ),
    # what exports write for a zone: both were a bare "not an IANA timezone"
    (
        "a zone in other case",
        _edit("nodes.csv", 2, "timezone", "america/new_york"),
        r"^nodes\.csv: row 2: field 'timezone': value 'america/new_york': not an "
        r"IANA timezone \(names are case-sensitive: write 'America/New_York'\)$",
    ),
    (
        "a Windows zone name",
        _edit("destinations.csv", 3, "timezone", "Central Standard Time"),
        r"^destinations\.csv: row 3: field 'timezone': value 'Central Standard "
        r"Time': not an IANA timezone \(a Windows zone name: write "
        r"'America/Chicago'\)$",
    ),
    (
        "bad cutoff",
        _edit("nodes.csv", 3, "cutoff_local", "25:00"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '25:00': not a time "
        r"HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a cutoff at 24:00",
        _edit("nodes.csv", 3, "cutoff_local", "24:00"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '24:00': not a time "
        r"HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a cutoff's minutes out of range",
        _edit("nodes.csv", 3, "cutoff_local", "7:60"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '7:60': not a time "
        r"HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a cutoff without minutes",
        _edit("nodes.csv", 3, "cutoff_local", "7"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '7': not a time "
        r"HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a cutoff with three digits of hour",
        _edit("nodes.csv", 3, "cutoff_local", "007:00"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '007:00': not a time "
        r"HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a single-digit cutoff with seconds past its minute",
        _edit("nodes.csv", 3, "cutoff_local", "07:00:30"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '07:00:30': seconds "
        r"other than :00 \(times of day are whole minutes: write 07:00 or 07:01\)$",
    ),
    (
        "a cutoff with seconds past its minute",
        _edit("nodes.csv", 3, "cutoff_local", "17:59:59"),
        r"^nodes\.csv: row 3: field 'cutoff_local': value '17:59:59': seconds "
        r"other than :00 \(times of day are whole minutes: write 17:59 or 18:00\)$",
    ),
    (
        "a cutoff with seconds past the last minute",
        _edit("nodes.csv", 2, "cutoff_local", "23:59:30"),
        r"^nodes\.csv: row 2: field 'cutoff_local': value '23:59:30': seconds "
        r"other than :00 \(times of day are whole minutes: write 23:59\)$",
    ),
    (
        "a cutoff with a fraction of a second",
        _edit("nodes.csv", 4, "cutoff_local", "15:00:00.5"),
        r"^nodes\.csv: row 4: field 'cutoff_local': value '15:00:00\.5': not a "
        r"time HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "a cutoff's seconds out of range",
        _edit("nodes.csv", 4, "cutoff_local", "15:00:60"),
        r"^nodes\.csv: row 4: field 'cutoff_local': value '15:00:60': not a "
        r"time HH:MM or H:MM \(00:00-23:59\)$",
    ),
    (
        "unknown service",
        _edit("nodes.csv", 4, "services", "ground;drone"),
        r"^nodes\.csv: row 4: field 'services': value 'ground;drone': "
        r"unknown service 'drone'",
    ),
    (
        "duplicate node",
        _edit("nodes.csv", 4, "node_id", "WH-EAST"),
        r"^nodes\.csv: row 4: field 'node_id': value 'WH-EAST': duplicate node_id$",
    ),
    # the two look the same: 'É' as one code point and as 'E' and an accent
    (
        "a node id twice in other Unicode code points",
        _both(
            _edit("nodes.csv", 2, "node_id", "WH-\u00c9"),
            _edit("nodes.csv", 4, "node_id", "WH-E\u0301"),
        ),
        r"^nodes\.csv: row 4: field 'node_id': value 'WH-E\u0301': duplicate "
        r"node_id \(row 2 has 'WH-\u00c9', the same text in other Unicode code "
        r"points\)$",
    ),
    (
        "a SKU twice in other Unicode code points",
        _both(
            _edit("skus.csv", 2, "sku", "CAF\u00c9"),
            _edit("skus.csv", 3, "sku", "CAFE\u0301"),
        ),
        r"^skus\.csv: row 3: field 'sku': value 'CAFE\u0301': duplicate sku "
        r"\(row 2 has 'CAF\u00c9', the same text in other Unicode code points\)$",
    ),
    # a position of one node: its ids normalized once per distinct text
    (
        "an inventory position twice in other Unicode code points",
        _both(
            _edit("inventory.csv", 2, "sku", "CAF\u00c9"),
            _edit("inventory.csv", 3, "sku", "CAFE\u0301"),
        ),
        r"^inventory\.csv: row 3: field 'sku': value 'CAFE\u0301': duplicate "
        r"node_id/sku \(row 2 has 'CAF\u00c9', the same text in other Unicode "
        r"code points\)$",
    ),
    # a NUL in an id: PostgreSQL refused the inventory, with a traceback
    (
        "a control character in a node id",
        _both(
            _edit("nodes.csv", 3, "node_id", "WH-\x00WEST"),
            _edit("inventory.csv", 2, "node_id", "WH-\x00WEST"),
        ),
        r"^nodes\.csv: row 3: field 'node_id': value 'WH-\\x00WEST': a control "
        r"character \('\\x00'\): an id is stored, logged and written to CSV "
        r"files as it is$",
    ),
    # a zero-width space pasted after an id: nodes.csv visibly had WH-WEST,
    # and the inventory's WH-WEST was "unknown node_id"
    (
        "an invisible character in a node id",
        _edit("nodes.csv", 3, "node_id", "WH-WEST\u200b"),
        r"^nodes\.csv: row 3: field 'node_id': value 'WH-WEST\\u200b': an "
        r"invisible character \('\\u200b', ZERO WIDTH SPACE, as text pasted "
        r"from a web page or a document holds\): it makes another id of one "
        r"that looks the same; delete it$",
    ),
    # and where only the reference holds one, the id it stands for is named
    (
        "an invisible character in an inventory node id",
        _edit("inventory.csv", 2, "node_id", "WH-EAST\u200b"),
        r"^inventory\.csv: row 2: field 'node_id': value 'WH-EAST\\u200b': "
        r"unknown node_id \(not in nodes\.csv\); nodes\.csv has 'WH-EAST': "
        r"this one holds an invisible character \('\\u200b', ZERO WIDTH "
        r"SPACE\): delete it$",
    ),
    (
        "a tab in a SKU",
        _edit("skus.csv", 4, "sku", "SPR\tAY"),
        r"^skus\.csv: row 4: field 'sku': value 'SPR\\tAY': a control "
        r"character \('\\t'\)",
    ),
    (
        "missing capacity",
        _edit("nodes.csv", 3, "capacity_units_per_day", ""),
        r"^nodes\.csv: row 3: field 'capacity_units_per_day': value '': missing value$",
    ),
    (
        "negative handling cost",
        _edit("nodes.csv", 2, "handling_cost", "-1"),
        r"^nodes\.csv: row 2: field 'handling_cost': value '-1': must be >= 0$",
    ),
    (
        "zero weight",
        _edit("skus.csv", 5, "weight_kg", "0"),
        r"^skus\.csv: row 5: field 'weight_kg': value '0': must be > 0$",
    ),
    (
        "fragile not a boolean",
        _edit("skus.csv", 3, "fragile", "maybe"),
        r"^skus\.csv: row 3: field 'fragile': value 'maybe': not a boolean",
    ),
    (
        "inventory unknown node",
        _edit("inventory.csv", 6, "node_id", "WH-MOON"),
        r"^inventory\.csv: row 6: field 'node_id': value 'WH-MOON': "
        r"unknown node_id \(not in nodes\.csv\)$",
    ),
    (
        "inventory unknown sku",
        _edit("inventory.csv", 3, "sku", "HAT"),
        r"^inventory\.csv: row 3: field 'sku': value 'HAT': "
        r"unknown sku \(not in skus\.csv\)$",
    ),
    (
        "inventory sku in other case",
        _edit("inventory.csv", 3, "sku", "tee"),
        r"^inventory\.csv: row 3: field 'sku': value 'tee': unknown sku \(not in "
        r"skus\.csv\); skus\.csv has 'TEE', which differs in case only \(ids are "
        r"case-sensitive\)$",
    ),
    (
        "fractional on_hand",
        _edit("inventory.csv", 4, "on_hand", "1.5"),
        r"^inventory\.csv: row 4: field 'on_hand': value '1\.5': not an integer$",
    ),
    (
        "negative on_hand",
        _edit("inventory.csv", 8, "on_hand", "-3"),
        r"^inventory\.csv: row 8: field 'on_hand': value '-3': must be >= 0$",
    ),
    (
        "duplicate inventory position",
        _edit("inventory.csv", 3, "sku", "TEE"),
        r"^inventory\.csv: row 3: field 'sku': value 'TEE': duplicate node_id/sku$",
    ),
    (
        "zone out of range",
        _edit("rates.csv", 2, "zone", "9"),
        r"^rates\.csv: row 2: field 'zone': value '9': must be <= 8$",
    ),
    (
        "rate falls with weight",
        _edit("rates.csv", 3, "cost", "1.00"),
        r"^rates\.csv: row 3: field 'cost': value '1\.00': cost falls below",
    ),
    (
        "transit zone missing",
        _drop_rows(
            "transit.csv", lambda f: (f["service"] == "ground") & (f["zone"] == "5")
        ),
        r"^transit\.csv: field 'zone': value 5: service ground has no transit time",
    ),
    (
        "node service not priced",
        _drop_rows("rates.csv", lambda f: f["service"] == "economy"),
        r"^nodes\.csv: row 2: field 'services': value '.*economy': "
        r"service not priced in rates\.csv$",
    ),
    (
        "missing file",
        _remove("inventory.csv"),
        r"missing required file inventory\.csv \(or inventory\.parquet\)$",
    ),
    (
        "missing column",
        _drop_column("inventory.csv", "on_hand"),
        r"^inventory\.csv: row 1: field 'on_hand': missing column",
    ),
    (
        "complexity weight of a plain unit 0",
        _write("complexity.csv", "key,value\nfragile,0.5\nbase,0\n"),
        r"^complexity\.csv: row 3: field 'value': value '0': must be > 0$",
    ),
    (
        "bad zip3",
        _edit("destinations.csv", 4, "zip3", "90"),
        r"^destinations\.csv: row 4: field 'zip3': value '90': not a 3-digit ZIP "
        r"prefix \(2 digits: a prefix that lost its leading zero\? write 090\)$",
    ),
    (  # validated with a warning, then generate orders and simulate crashed
        "no SKUs",
        _no_skus,
        r"^skus\.csv: no SKUs$",
    ),
    # an empty table, its references left: the inventory was blamed
    # ("inventory.csv: row 2: field 'node_id': value 'WH-EAST': unknown
    # node_id (not in nodes.csv)")
    # services written as a list reads (it was "unknown service" alone, as
    # if a name were wrong)
    (
        "services separated by commas",
        _edit("nodes.csv", 3, "services", "ground, economy"),
        r"^nodes\.csv: row 3: field 'services': value 'ground, economy': unknown "
        r"service 'ground, economy' \(one of \['next_day', 'two_day', 'ground', "
        r"'economy'\]\): separate services with ';': write ground;economy$",
    ),
    (
        "a service in other case",
        _edit("nodes.csv", 2, "services", "next_day;Ground"),
        r"^nodes\.csv: row 2: field 'services': value 'next_day;Ground': unknown "
        r"service 'Ground' \(one of \[.*\]\): names are lower case: write ground$",
    ),
    (
        "a header-only nodes file",
        _drop_rows("nodes.csv", lambda f: f["node_id"] != ""),
        r"^nodes\.csv: no nodes$",
    ),
    (
        "a header-only SKU file",
        _drop_rows("skus.csv", lambda f: f["sku"] != ""),
        r"^skus\.csv: no SKUs$",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "message"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_located(tmp_path: Path, mutation: Mutation, message: str) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    mutation(folder)
    with pytest.raises(InputError, match=message):
        load_network(folder)


def test_cli_validate_bad_input_exits_1_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit("skus.csv", 4, "height_cm", "tall")(folder)
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: skus.csv: row 4: field 'height_cm': value 'tall': not a number\n"
    )


def test_parquet_tables_load_like_csv(tmp_path: Path, tiny_network: Network) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    for name in ("nodes", "inventory"):
        frame = pd.read_csv(folder / f"{name}.csv")
        frame.to_parquet(folder / f"{name}.parquet")
        (folder / f"{name}.csv").unlink()
    loaded = load_network(folder)
    assert loaded.node_ids == tiny_network.node_ids
    np.testing.assert_array_equal(loaded.inventory, tiny_network.inventory)
    frame = pd.read_parquet(folder / "inventory.parquet")
    frame.loc[2, "on_hand"] = -4
    frame.to_parquet(folder / "inventory.parquet")
    with pytest.raises(
        InputError, match=r"^inventory\.parquet: row 4: field 'on_hand': value '-4'"
    ):
        load_network(folder)


def test_a_cutoff_with_seconds_is_its_minute(
    tmp_path: Path, tiny_network: Network
) -> None:
    """``18:00:00`` (a database's TIME column, a Parquet ``time64``) was "not
    a time HH:MM"; it is 18:00, so every ship date (checkout promises, the
    simulated day) is the one of ``18:00``."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    frame = pd.read_csv(folder / "nodes.csv", dtype=str, keep_default_na=False)
    frame["cutoff_local"] = frame["cutoff_local"] + ":00"
    frame.to_csv(folder / "nodes.csv", index=False)
    seconds = load_network(folder)
    np.testing.assert_array_equal(seconds.cutoff_minutes, [1080, 1080, 900])
    frame["cutoff_local"] = pd.to_datetime(
        frame["cutoff_local"], format="%H:%M:%S"
    ).dt.time
    frame.to_parquet(folder / "nodes.parquet")  # pyarrow's time64
    (folder / "nodes.csv").unlink()
    np.testing.assert_array_equal(
        load_network(folder).cutoff_minutes, tiny_network.cutoff_minutes
    )
    # 17:59:59 in New York: before WH-EAST's cutoff, it ships that day
    now = pd.Timestamp("2026-06-02 21:59:59", tz="UTC").to_pydatetime()
    for net in (seconds, tiny_network):
        ship, _ = net.ship_and_delivery_dates(now, "ground", 0)
        assert str(ship[net.node_idx("WH-EAST")]) == "2026-06-02"


def test_a_cutoff_with_a_single_digit_hour_is_read(tmp_path: Path) -> None:
    """A spreadsheet writes 7:00 for 07:00; it was "not a time HH:MM"."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    frame = pd.read_csv(folder / "nodes.csv", dtype=str, keep_default_na=False)
    frame["cutoff_local"] = ["7:00", "0:05", "9:59:00"]
    frame.to_csv(folder / "nodes.csv", index=False)
    np.testing.assert_array_equal(load_network(folder).cutoff_minutes, [420, 5, 599])


def _place(node: str, lat: str, lon: str, timezone: str) -> Mutation:
    """Move ``node`` to (``lat``, ``lon``) in ``timezone``."""

    def apply(folder: Path) -> None:
        frame = pd.read_csv(folder / "nodes.csv", dtype=str, keep_default_na=False)
        at = frame["node_id"] == node
        frame.loc[at, ["lat", "lon", "timezone"]] = [lat, lon, timezone]
        frame.to_csv(folder / "nodes.csv", index=False)

    return apply


def test_a_node_with_lat_and_lon_swapped_is_refused(tmp_path: Path) -> None:
    """Chicago written lat -87.65, lon 41.85 is in range and was taken: every
    distance, zone and ETA from it was wrong. It is refused, naming both
    values and where the swapped pair lies, against the folder's
    destinations and against the real US prefixes alike."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _place("ST-CHI", "-87.65", "41.85", "America/Chicago")(folder)
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == (
        "nodes.csv: row 4: field 'lat': value '-87.65': lat -87.65, lon 41.85 "
        "is in the Southern Ocean or Antarctica, 8,083 miles from the nearest "
        "destination; swapped (lat 41.85, lon -87.65) it is 2 miles from ZIP "
        "prefix 606: are lat and lon the other way round?"
    )
    (folder / "destinations.csv").unlink()  # the real US prefixes
    with pytest.raises(InputError, match=r"row 4: field 'lat': value '-87\.65'.*"
                       r"swapped \(lat 41\.85, lon -87\.65\) it is \d+ miles from "
                       r"ZIP prefix 60\d: are lat and lon"):  # fmt: skip
        load_network(folder)


@pytest.mark.parametrize(
    ("row", "lat", "lon", "message"),
    [
        # Chicago: nearest, swapped back, is the real prefix's centroid
        (3, "-87.6755", "41.8669",
         "lat -87.6755, lon 41.8669 is in the Southern Ocean or Antarctica, "
         "8,722 miles from the nearest node; swapped (lat 41.8669, lon "
         "-87.6755) it is 0 miles from ZIP prefix 606: are lat and lon the "
         "other way round?"),
        # Miami: no node or other destination is within 300 miles, the real
        # US prefixes are
        (6, "-80.1918", "25.7617",
         "lat -80.1918, lon 25.7617 is in the Southern Ocean or Antarctica, "
         "9,088 miles from the nearest node; swapped (lat 25.7617, lon "
         "-80.1918) it is 1 mile from ZIP prefix 332: are lat and lon the "
         "other way round?"),
    ],
    ids=["chicago", "miami"],
)  # fmt: skip
def test_a_destination_with_lat_and_lon_swapped_is_refused(
    tmp_path: Path, row: int, lat: str, lon: str, message: str
) -> None:
    """A swapped destination was taken: zone 8 from every node, its demand
    weighed in Antarctica. Refused as a swapped node is, at its row, by
    ``validate`` with exit 1."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit("destinations.csv", row, "lat", lat)(folder)
    _edit("destinations.csv", row, "lon", lon)(folder)
    where = f"destinations.csv: row {row}: field 'lat': value '{lat}'"
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == f"{where}: {message}"
    code, output = _validate(folder)
    assert (code, output) == (1, f"Error: {where}: {message}\n")


def test_a_destinations_file_swapped_throughout_is_refused(tmp_path: Path) -> None:
    """Every destination swapped lies in Antarctica beside the others (those
    west of 90°W are out of range swapped, so the file keeps the eastern
    ones): it is measured from the nodes, and its first row is refused."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    frame = pd.read_csv(folder / "destinations.csv", dtype=str)
    frame = frame[frame["lon"].astype(float) > -90.0]
    frame[["lat", "lon"]] = frame[["lon", "lat"]].to_numpy()
    frame.to_csv(folder / "destinations.csv", index=False)
    with pytest.raises(InputError, match=r"^destinations\.csv: row 2: field 'lat': "
                       r"value '-73\.9743': lat -73\.9743, lon 40\.7667 is in the "
                       r"Southern Ocean"):  # fmt: skip
        load_network(folder)


def test_a_destination_far_south_that_is_no_swap_passes(tmp_path: Path) -> None:
    """A destination south of 60°S whose swap lands near nothing the network
    knows (Palmer Station, on the Antarctic Peninsula) is a place, if an
    odd one: it loads."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit("destinations.csv", 6, "lat", "-64.7743")(folder)
    _edit("destinations.csv", 6, "lon", "-64.0531")(folder)
    assert load_network(folder).dest_lat[4] == -64.7743


_NULL_ISLAND = (
    "lat 0, lon 0 is open sea in the Gulf of Guinea, where nothing is shipped "
    "from or to: coordinates left unset (a geocoder that found nothing, an "
    "empty cell saved as 0)? give the place's lat and lon"
)


@pytest.mark.parametrize(
    ("file", "row", "lat", "lon", "where"),
    [
        ("nodes.csv", 3, "0", "0", "nodes.csv: row 3: field 'lat': value '0'"),
        ("nodes.csv", 4, "0.0", "-0", "nodes.csv: row 4: field 'lat': value '0.0'"),
        (
            "destinations.csv",
            2,
            "0",
            "0",
            "destinations.csv: row 2: field 'lat': value '0'",
        ),
    ],
    ids=["node", "node-signed-zero", "destination"],
)
def test_a_place_at_lat_0_lon_0_is_refused(
    tmp_path: Path, file: str, row: int, lat: str, lon: str, where: str
) -> None:
    """Coordinates left unset as 0, 0 are in range and were taken: a
    warehouse in the Gulf of Guinea, 5,385 miles from New York, priced at
    zone 8 and still promised two-day delivery there. Refused, naming the
    row, in ``nodes`` and ``destinations`` alike, by ``validate`` with exit 1."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit(file, row, "lat", lat)(folder)
    _edit(file, row, "lon", lon)(folder)
    with pytest.raises(InputError) as caught:
        load_network(folder)
    assert str(caught.value) == f"{where}: {_NULL_ISLAND}"
    code, output = _validate(folder)
    assert code == 1
    assert output == f"Error: {where}: {_NULL_ISLAND}\n"


def test_a_place_on_the_equator_or_the_prime_meridian_passes(tmp_path: Path) -> None:
    """Only both at 0 is unset: a node on the equator by Quito (lat 0) and a
    prefix on the prime meridian (lon 0, by Greenwich) are real places."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _place("ST-CHI", "0", "-78.4678", "America/Guayaquil")(folder)
    _edit("destinations.csv", 2, "lon", "0")(folder)
    net = load_network(folder)
    assert net.node_lat[net.node_idx("ST-CHI")] == 0.0
    assert net.dest_lon[0] == 0.0


@pytest.mark.parametrize(
    ("lat", "lon", "timezone"),
    [
        ("21.3069", "-157.8583", "Pacific/Honolulu"),
        ("61.2181", "-149.9003", "America/Anchorage"),
        ("51.8800", "-176.6581", "America/Adak"),  # Adak, 1,190 mi from a prefix
        ("18.4655", "-66.1057", "America/Puerto_Rico"),
        ("13.4443", "144.7937", "Pacific/Guam"),
        ("-54.8019", "-68.3030", "America/Argentina/Ushuaia"),
    ],
    ids=["honolulu", "anchorage", "adak", "san-juan", "guam", "ushuaia"],
)
@pytest.mark.parametrize("destinations", ["folder", "us"])
def test_far_nodes_that_are_real_places_pass(
    tmp_path: Path, lat: str, lon: str, timezone: str, destinations: str
) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _place("ST-CHI", lat, lon, timezone)(folder)
    if destinations == "us":
        (folder / "destinations.csv").unlink()
    net = load_network(folder)
    assert net.node_lat[net.node_idx("ST-CHI")] == float(lat)


# Central Europe: zip3 is only the destinations' key, state the country.
_EUROPE = """zip3,lat,lon,state,timezone,population
101,52.5200,13.4050,DE,Europe/Berlin,3700000
200,53.5511,9.9937,DE,Europe/Berlin,1900000
750,48.8566,2.3522,FR,Europe/Paris,2100000
103,52.3676,4.9041,NL,Europe/Amsterdam,900000
201,45.4642,9.1900,IT,Europe/Rome,1400000
280,40.4168,-3.7038,ES,Europe/Madrid,3300000
"""


def _european_network(folder: Path) -> Path:
    """The tiny network moved to Europe: a Berlin warehouse, one in Lyon and
    a Milan store, shipping to six European destinations."""
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "destinations.csv").write_text(_EUROPE)
    _place("WH-EAST", "52.3870", "13.5180", "Europe/Berlin")(folder)
    _place("WH-WEST", "45.7640", "4.8357", "Europe/Paris")(folder)
    _place("ST-CHI", "45.4642", "9.1900", "Europe/Rome")(folder)
    return folder


def test_a_european_node_with_lat_and_lon_swapped_warns(tmp_path: Path) -> None:
    """Berlin written lat 13.518, lon 52.387 lies by the Arabian Sea, in
    range and south of no limit, so it was taken without a word and every
    distance, zone and ETA from it was wrong. A node that far from every
    destination can be real (an overseas 3PL), so it is a warning naming the
    row, the node, both positions and their distances, not a refusal."""
    folder = _european_network(tmp_path / "net")
    assert load_network(folder).warnings == ()
    _place("WH-EAST", "13.5180", "52.3870", "Europe/Berlin")(folder)
    warning = (
        "nodes.csv: row 2: node WH-EAST: lat 13.518, lon 52.387 is 3,345 miles "
        "from the nearest destination; swapped (lat 52.387, lon 13.518) it is "
        "10 miles from ZIP prefix 101: are lat and lon the other way round?"
    )
    assert load_network(folder).warnings == (warning,)
    code, output = _validate(folder)
    assert code == 0
    assert output.splitlines()[:2] == [
        f"network {folder}: OK with 1 warning",
        f"  warning: {warning}",
    ]
    assert json.loads(_validate(folder, "--json")[1])["warnings"] == [warning]


@pytest.mark.parametrize(
    ("lat", "lon", "said"),
    [
        # Edison NJ with its longitude's minus sign lost: Kyrgyzstan
        ("40.5187", "74.4121", "lat 40.5187, lon 74.4121 is 6,262 miles from the "
         "nearest destination; with lon -74.4121 it is 29 miles from ZIP prefix "
         "100: is the sign of lon wrong (a minus lost or added)?"),
        ("-40.5187", "-74.4121", "lat -40.5187, lon -74.4121 is 4,595 miles from "
         "the nearest destination; with lat 40.5187 it is 29 miles from ZIP "
         "prefix 100: is the sign of lat wrong (a minus lost or added)?"),
        # a latitude mistyped: the Arctic Ocean
        ("84.5187", "-74.4121", "lat 84.5187, lon -74.4121 is 2,687 miles from "
         "the nearest destination: is the place right?"),
    ],
)  # fmt: skip
def test_a_node_far_from_every_destination_warns(
    tmp_path: Path, lat: str, lon: str, said: str
) -> None:
    """A node thousands of miles from every destination, not swapped,
    validated "OK" without a word, and shipped from there at its distance's
    zone. It can be real (an overseas 3PL), so it is a warning, naming the
    sign to flip where one brings it home."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _place("WH-EAST", lat, lon, "America/New_York")(folder)
    warning = f"nodes.csv: row 2: node WH-EAST: {said}"
    assert load_network(folder).warnings == (warning,)
    code, output = _validate(folder)
    assert code == 0
    assert output.splitlines()[:2] == [
        f"network {folder}: OK with 1 warning",
        f"  warning: {warning}",
    ]


def test_a_destination_with_a_sign_lost_warns(tmp_path: Path) -> None:
    """New York written lon 73.9743 (its minus sign lost: Kyrgyzstan)
    validated "OK", and its 3 million people's parcels were zone 8 from
    every node. A destination far from every node is no warning otherwise
    (Hawaii, Guam): the sample's own destinations give none."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit("destinations.csv", 2, "lon", "73.9743")(folder)
    warning = (
        "destinations.csv: row 2: ZIP prefix 100: lat 40.7667, lon 73.9743 is "
        "over 1,500 miles from every node; with lon -73.9743 it is 29 miles "
        "from node WH-EAST: is the sign of lon wrong (a minus lost or added)?"
    )
    assert load_network(folder).warnings == (warning,)
    code, output = _validate(folder)
    assert (code, output.splitlines()[1]) == (0, f"  warning: {warning}")


def test_more_than_five_swapped_nodes_are_counted_in_one_warning() -> None:
    """Seven swapped nodes: five warnings of their own, the rest in one."""
    from tierflow.data.swapped_coordinates import swapped_coordinate_warnings

    dest = pd.read_csv(io.StringIO(_EUROPE), dtype={"zip3": str})
    nodes = pd.DataFrame(
        {
            "node_id": [f"N{i}" for i in range(8)],
            "lat": [13.405] * 7 + [52.52],
            "lon": [52.52] * 7 + [13.405],
        }
    )
    out = swapped_coordinate_warnings(nodes, Path("nodes.csv"), dest)
    assert len(out) == 6
    assert out[4].startswith("nodes.csv: row 6: node N4: lat 13.405, lon 52.52 ")
    assert out[5] == (
        "nodes.csv: 2 more nodes (N5, N6) are over 1,500 miles from every "
        "destination and within 300 miles of one swapped: are their lat and "
        "lon the other way round?"
    )


def test_the_sample_and_tiny_networks_have_no_swapped_coordinate_warning(
    sample_network: Network, tiny_network: Network
) -> None:
    """US networks: a swap east of 90°W is refused, west of it out of range."""
    from tierflow.data.network_warnings import network_warnings

    for net in (sample_network, tiny_network):
        assert net.file_warnings == ()
        assert net.warnings == network_warnings(net)
        assert not any("other way round" in w for w in net.warnings)


def test_tiny_network_arrays(tiny_network: Network) -> None:
    net = tiny_network
    assert net.node_ids == ("WH-EAST", "WH-WEST", "ST-CHI")
    assert net.inventory[net.node_idx("WH-EAST"), net.sku_index["SOFA"]] == 2
    assert net.inventory[net.node_idx("ST-CHI"), net.sku_index["SPRAY"]] == 0
    assert net.cutoff_minutes.tolist() == [1080, 1080, 900]
    # services bitmask: bit 0 next_day, 1 two_day, 2 ground, 3 economy
    assert net.services_mask.tolist() == [15, 15, 6]
    assert net.offers("next_day").tolist() == [True, True, False]
    # complexity: TEE plain 1.0; MUG fragile +0.5; SPRAY hazmat +1.0;
    # SOFA heavy (40 kg > 15) +1.0 and oversize (200 cm > 120) +1.5.
    np.testing.assert_allclose(net.sku_complexity, [1.0, 1.5, 2.0, 3.5])
    with pytest.raises(ValueError, match="read-only"):
        net.inventory[0, 0] = 1
    assert net.zone.shape == (3, 5)
    # Edison NJ -> Manhattan prefix 100 is ~25 miles: zone 2; LA prefix 900: zone 8
    assert net.zone[0, net.dest_idx("10001")] == 2
    assert net.zone[0, net.dest_idx("900")] == 8
    with pytest.raises(InputError, match=r"field 'dest': value '999': unknown ZIP"):
        net.dest_idx("999")
    with pytest.raises(InputError, match=r"field 'dest': value 'AB1': not a US ZIP"):
        net.dest_idx("AB1")
    with pytest.raises(InputError, match=r"field 'sku': value 'HAT': unknown SKU"):
        net.sku_idx(["TEE", "HAT"])


def test_order_helpers(tiny_network: Network) -> None:
    net = tiny_network
    skus = net.sku_idx(["TEE", "MUG"])
    qty = np.array([2, 1])
    assert net.order_workload(skus, qty) == pytest.approx(2 * 1.0 + 1.5)
    # actual 1.1 kg; volume 2*2250 + 2160 = 6660 cm3 -> 1.332 kg dimensional
    assert net.billed_weight(skus, qty) == pytest.approx(6660 / 5000)
    assert net.can_fill(skus, qty).tolist() == [True, False, False]
    cost = net.shipping_cost("ground", net.dest_idx("606"), 1.332)
    # ground base 8 + zone; bracket 5 kg adds 3. Edison->Chicago ~ 720 mi: zone 5
    assert net.zone[:, net.dest_idx("606")].tolist() == [5, 7, 2]
    np.testing.assert_allclose(cost, [8 + 5 + 3, 8 + 7 + 3, 8 + 2 + 3])
    cost = net.shipping_cost("next_day", net.dest_idx("606"), 1.0)
    assert np.isnan(cost[2]) and cost[0] == pytest.approx(20 + 5)


def test_sample_network_meets_the_brief(sample_network: Network) -> None:
    net = sample_network
    s = net.summary()
    assert s["nodes_by_kind"]["warehouse"] >= 10
    assert s["nodes_by_kind"]["store"] >= 30
    assert s["nodes_by_kind"]["3pl"] >= 3
    assert s["skus"] >= 500
    for flag in ("skus_fragile", "skus_hazmat", "skus_oversize"):
        assert 0.02 * s["skus"] <= s[flag] <= 0.2 * s["skus"], flag
    assert s["skus_out_of_stock_everywhere"] > 0
    carried = net.inventory[net.inventory > 0]
    # long tail: the top 10 % of positions hold a large share of the units
    top = np.sort(carried)[::-1][: len(carried) // 10].sum()
    assert top / carried.sum() > 0.4
    assert s["destinations"] > 850
    # Memphis hub at the GeoNames Memphis coordinates, in Central time
    i = net.node_idx("WH-MEM")
    assert (
        abs(net.node_lat[i] - 35.1495) < 0.01 and abs(net.node_lon[i] + 90.049) < 0.01
    )
    assert net.timezones[net.node_tz[i]] == "America/Chicago"


def test_the_sample_stocks_out_the_share_the_docs_state(sample_dir: Path) -> None:
    """docs/data.md: ~7 % of carried positions out at random plus 6 SKUs out
    everywhere, 8 % of inventory.csv's positions at 0."""
    inventory = pd.read_csv(sample_dir / "inventory.csv", dtype={"sku": str})
    empty = inventory["on_hand"] == 0
    out_everywhere = inventory.groupby("sku")["on_hand"].transform("max") == 0
    assert inventory.loc[out_everywhere, "sku"].nunique() == 6
    assert 0.065 < empty[~out_everywhere].mean() < 0.075
    assert 0.075 < empty.mean() < 0.085


def test_sample_cli_writes_the_same_files(tmp_path: Path, sample_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["network", "sample", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("nodes.csv", "skus.csv", "inventory.csv", "transactions.csv"):
        assert (tmp_path / name).read_bytes() == (sample_dir / name).read_bytes()
    result = CliRunner().invoke(cli, ["network", "validate", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"nodes": 52' in result.output


@pytest.mark.parametrize(
    ("where", "why"),
    [("file", "a file, not a folder"), ("file/sub", "Not a directory")],
)
def test_a_cache_folder_that_cannot_be_made_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, why: str
) -> None:
    """The embedded sample is written once to the cache folder; where that
    cannot be (a file there, a read-only home), every command defaulting
    to the sample said "Error: /srv/cache: File exists": neither what the
    folder was for nor how to do without it."""
    (tmp_path / "file").write_text("not a folder")
    cache = tmp_path / where
    monkeypatch.setenv("TIERFLOW_CACHE_DIR", str(cache))
    result = CliRunner().invoke(cli, ["network", "validate"])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {cache}: cannot write the embedded sample network here ({why}): "
        "set TIERFLOW_CACHE_DIR to a writable folder, or give --network\n",
    )


def test_sample_cli_refuses_a_folder_holding_a_network(tmp_path: Path) -> None:
    """An operator's network folder was overwritten by the sample's tables
    without a word, its holidays.csv kept beside them (a hybrid network)."""
    own = tmp_path / "net"
    own.mkdir()
    (own / "nodes.csv").write_text("node_id\nMINE\n")
    (own / "holidays.csv").write_text("date,name\n2026-12-25,Christmas\n")
    (own / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["network", "sample", "--out", str(own)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {own}: already holds a network (holidays.csv, nodes.csv): "
        "write the sample into another folder, or replace them with --force\n"
    )
    assert sorted(p.name for p in own.iterdir()) == [
        "holidays.csv", "nodes.csv", "notes.txt"
    ]  # fmt: skip
    assert (own / "nodes.csv").read_text() == "node_id\nMINE\n"
    forced = CliRunner().invoke(
        cli, ["network", "sample", "--out", str(own), "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert not (own / "holidays.csv").exists()  # not a hybrid of the two
    assert (own / "notes.txt").read_text() == "mine"  # not a table: kept
    again = CliRunner().invoke(cli, ["network", "validate", str(own), "--json"])
    assert again.exit_code == 0 and '"nodes": 52' in again.output


def test_cdnow_like_history(sample_dir: Path) -> None:
    tx = pd.read_csv(sample_dir / "transactions.csv")
    customers = pd.read_csv(sample_dir / "customers.csv")
    assert list(tx.columns)[:3] == ["customer_id", "order_date", "amount"]
    assert len(customers) == 50_000
    assert set(tx["customer_id"]) == set(customers["customer_id"])
    per = tx.groupby("customer_id").size()
    assert 0.55 <= (per == 1).mean() <= 0.8  # mostly one-time buyers
    spend = tx.groupby("customer_id")["amount"].sum().sort_values()
    assert spend.iloc[-len(spend) // 10 :].sum() / spend.sum() > 0.4  # heavy tail
    assert 25 <= tx["amount"].mean() <= 50
    dates = pd.to_datetime(tx["order_date"])
    assert dates.min() >= pd.Timestamp("2024-01-01")
    assert dates.max() <= pd.Timestamp("2025-12-31")
    assert {"signup_date", "loyalty_tier", "region", "home_zip3"} <= set(customers)


def test_network_pickles_for_parallel_workers(tiny_network: Network) -> None:
    import pickle

    back = pickle.loads(pickle.dumps(tiny_network))
    assert back.node_index == tiny_network.node_index
    np.testing.assert_array_equal(back.zone, tiny_network.zone)
    assert not back.zone.flags.writeable
    assert not back.rates.cost.flags.writeable


def _validate(folder: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["network", "validate", str(folder), *extra])
    return result.exit_code, result.output


def test_suspicious_networks_warn(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    assert load_network(folder).warnings == ()
    _drop_rows("inventory.csv", lambda f: f["on_hand"] != "")(folder)  # header only
    _edit("nodes.csv", 4, "capacity_units_per_day", "0")(folder)
    assert load_network(folder).warnings == (
        "inventory: no node holds any stock (no row with on_hand > 0)",
        "nodes: 1 of 3 nodes (ST-CHI) have capacity_units_per_day 0",
    )
    code, output = _validate(folder)
    assert code == 0
    assert output.splitlines()[:3] == [
        f"network {folder}: OK with 2 warnings",
        "  warning: inventory: no node holds any stock (no row with on_hand > 0)",
        "  warning: nodes: 1 of 3 nodes (ST-CHI) have capacity_units_per_day 0",
    ]
    for row in (2, 3):
        _edit("nodes.csv", row, "capacity_units_per_day", "0")(folder)
    code, output = _validate(folder, "--json")
    assert json.loads(output)["warnings"][1] == (
        "nodes: every node has capacity_units_per_day 0"
    )


@pytest.mark.parametrize(
    ("zone", "clock"),
    [
        ("EST", "UTC-05:00"),  # "Eastern" without daylight saving
        ("America/Chicago", "UTC-06:00 and UTC-05:00"),  # a copy-paste slip
        ("UTC", "UTC+00:00"),
    ],
)
def test_a_node_on_another_clock_than_its_place_warns(
    tmp_path: Path, zone: str, clock: str
) -> None:
    """WH-EAST (Edison NJ) with timezone ``EST``: a valid IANA name, but a
    fixed UTC-5, so from March to November its 18:00 cutoff was judged at
    19:00 New York time, and orders of 18:00-19:00 were promised a ship day
    the warehouse had closed; taken without a word. A node whose clock
    differs all or part of the year from every destination within 100
    miles warns (a node near a zone border, with one on its own clock, does
    not; nor do the sample's and tiny networks')."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _edit("nodes.csv", 2, "timezone", zone)(folder)
    assert load_network(folder).warnings == (
        f"nodes: node WH-EAST: timezone {zone!r} keeps {clock}, while within "
        "100 miles the destinations keep UTC-05:00 and UTC-04:00 (nearest: "
        "ZIP prefix 100, America/New_York, 29 miles): its cutoff is judged on "
        "another clock than its place's",
    )
    _edit("nodes.csv", 2, "timezone", "US/Eastern")(folder)  # a link: the same clock
    assert load_network(folder).warnings == ()


def test_the_sample_network_has_no_clock_warning(sample_network: Network) -> None:
    assert not any("clock" in w for w in sample_network.warnings)


def test_skus_and_nodes_without_stock_warn(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    _drop_rows("inventory.csv", lambda f: f["sku"] == "SPRAY")(folder)
    _drop_rows("inventory.csv", lambda f: f["node_id"] == "ST-CHI")(folder)
    assert load_network(folder).warnings == (
        "inventory: 1 of 4 SKUs (SPRAY) have no stock at any node",
        "inventory: 1 of 3 nodes (ST-CHI) hold no stock",
    )


def test_every_popularity_0_warns(tmp_path: Path) -> None:
    """A skus table of popularity 0 throughout loaded without a word; demand
    is then spread evenly over the SKUs (orders, stock and bid prices), as
    over the destinations when every population is 0, and both warn."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    skus = pd.read_csv(folder / "skus.csv", dtype=str, keep_default_na=False)
    skus.assign(popularity="0").to_csv(folder / "skus.csv", index=False)
    assert load_network(folder).warnings == (
        "skus: every popularity is 0 (demand spread evenly)",
    )
    code, output = _validate(folder)
    assert code == 0
    assert "skus: every popularity is 0 (demand spread evenly)" in output
    _edit("skus.csv", 2, "popularity", "0.5")(folder)
    assert load_network(folder).warnings == ()


def test_an_id_in_other_unicode_code_points_is_told_so(tmp_path: Path) -> None:
    """'CAFÉ' with É as one character (NFC) in skus.csv and as E plus an
    accent (NFD) in inventory.csv: "unknown sku 'CAFÉ'" beside a file that
    visibly holds it read as a contradiction. Orders say the same."""
    import unicodedata

    from tierflow.data.orders import read_orders

    nfc, nfd = (unicodedata.normalize(form, "CAFÉ") for form in ("NFC", "NFD"))
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    for name, form in (("skus.csv", nfc), ("inventory.csv", nfd)):
        path = folder / name
        path.write_text(path.read_text().replace("TEE", form))
    with pytest.raises(InputError) as err:
        load_network(folder)
    assert str(err.value).endswith(
        f"value {nfd!r}: unknown sku (not in skus.csv); skus.csv has {nfc!r}, the "
        "same text in other Unicode code points: write both alike (NFC)"
    )
    inventory = folder / "inventory.csv"
    inventory.write_text(inventory.read_text().replace(nfd, nfc))
    net = load_network(folder)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        f"A1,2026-01-05T10:00:00Z,C1,100,gold,{nfd},1\n"
    )
    with pytest.raises(InputError) as err:
        read_orders(orders, net)
    assert str(err.value).endswith(
        f"unknown SKU (not in the network's skus file); the network has {nfc!r}, "
        "the same text in other Unicode code points: write both alike (NFC)"
    )


def test_a_few_skus_out_everywhere_are_no_warning(sample_dir: Path) -> None:
    """The sample's 6 of 600 SKUs out everywhere (discontinued, awaiting a
    delivery: an ordinary catalogue) warned on every load, so every command
    that loads a network printed it at every demo; from more than 2 % of the
    SKUs it is a warning (1 of 4 above), and ``validate`` counts them always."""
    net = load_network(sample_dir)
    assert net.warnings == ()
    assert net.summary()["skus_out_of_stock_everywhere"] == 6


def test_cli_validate_a_short_row_names_its_fields(tmp_path: Path) -> None:
    """A nodes.csv row missing a middle field (its ``kind``): the values
    after it shifted left, and the column they shifted into was blamed
    ("field 'kind': value '34.0633': must be one of ..."); now the row is
    refused for its number of fields, exit 1, one line."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    path = folder / "nodes.csv"
    lines = path.read_text().split("\n")
    cells = lines[2].split(",")
    del cells[2]
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines))
    result = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: nodes.csv: row 3: value 'WH-WEST,")
    assert result.output.endswith(": 10 fields where the header has 11\n")
    assert "Traceback" not in result.output
