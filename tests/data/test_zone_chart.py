"""Carrier zone charts (``zones.csv``) over the mileage bands, on the tiny
network with ``tests/data/tiny_zone_chart`` laid over it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import DATA_DIR, TINY_NETWORK
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network

TINY_ZONE_CHART = DATA_DIR / "tiny_zone_chart"


def chart_network(tmp_path: Path, zones: str | None = None) -> Path:
    """The tiny network with the chart fixture's ``nodes.csv`` and ``zones.csv``
    (or the ``zones`` text given)."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    shutil.copy(TINY_ZONE_CHART / "nodes.csv", folder / "nodes.csv")
    text = zones if zones is not None else (TINY_ZONE_CHART / "zones.csv").read_text()
    (folder / "zones.csv").write_text(text)
    return folder


@pytest.fixture(scope="module")
def charted(tmp_path_factory: pytest.TempPathFactory) -> Network:
    """The tiny network with its zone chart."""
    return load_network(chart_network(tmp_path_factory.mktemp("chart")))


def test_origin_prefix_is_given_or_the_nearest_destination(
    charted: Network, tiny_network: Network
) -> None:
    assert charted.node_zip3 == ("088", "900", "606")  # WH-EAST from nodes.csv
    assert tiny_network.node_zip3 == ("100", "900", "606")  # all nearest
    assert tiny_network.zone_chart is None


def test_chart_overrides_the_listed_pairs_only(
    charted: Network, tiny_network: Network
) -> None:
    """Bands: EAST→606 zone 5, WEST→981 zone 5, CHI→331 zone 6; the chart says
    3, 4 and 7 (and 2 for EAST→100, as the band does)."""
    east, west, chi = (charted.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI"))
    expected = tiny_network.zone.copy()
    for node, dest, zone in ((east, "606", 3), (west, "981", 4), (chi, "331", 7)):
        assert tiny_network.zone[node, charted.dest_idx(dest)] != zone
        expected[node, charted.dest_idx(dest)] = zone
    np.testing.assert_array_equal(charted.zone, expected)
    assert charted.zone.dtype == np.int8 and not charted.zone.flags.writeable


def test_prices_follow_the_charted_zone(
    charted: Network, tiny_network: Network
) -> None:
    dest = charted.dest_idx("606")
    east = charted.node_idx("WH-EAST")
    by_chart = charted.shipping_cost("ground", dest, 0.3)[east]
    assert by_chart == charted.rates.price(2, 3, 0.3)
    assert by_chart < tiny_network.shipping_cost("ground", dest, 0.3)[east]


def test_summary_reports_the_chart(charted: Network, tiny_network: Network) -> None:
    assert charted.summary()["zone_chart"] == {
        "file": "zones.csv",
        "pairs": 4,
        "node_dest_pairs_charted": 4,
    }
    assert tiny_network.summary()["zone_chart"] is None


def test_rows_for_other_origins_are_valid_but_unused(tmp_path: Path) -> None:
    text = "origin_zip3,dest_zip3,zone\n331,100,8\n088,606,3\n"
    net = load_network(chart_network(tmp_path, text))
    assert net.summary()["zone_chart"]["node_dest_pairs_charted"] == 1


BAD_CHARTS: list[tuple[str, str, str]] = [
    (
        "unknown destination prefix",
        "origin_zip3,dest_zip3,zone\n088,606,3\n088,555,4\n",
        r"^zones\.csv: row 3: field 'dest_zip3': value '555': "
        r"unknown dest_zip3 \(not in destinations\.csv\)$",
    ),
    (
        "unknown origin prefix",
        "origin_zip3,dest_zip3,zone\n089,606,3\n",
        r"^zones\.csv: row 2: field 'origin_zip3': value '089': "
        r"unknown origin_zip3 \(not in destinations\.csv nor nodes\.csv\)$",
    ),
    (
        "zone above the rate card's",
        "origin_zip3,dest_zip3,zone\n088,606,9\n",
        r"^zones\.csv: row 2: field 'zone': value '9': must be <= 8$",
    ),
    (
        "zone below the rate card's",
        "origin_zip3,dest_zip3,zone\n088,606,3\n088,100,1\n",
        r"^zones\.csv: row 3: field 'zone': value '1': must be >= 2$",
    ),
    (
        "duplicate pair",
        "origin_zip3,dest_zip3,zone\n088,606,3\n088,100,2\n088,606,4\n",
        r"^zones\.csv: row 4: field 'dest_zip3': value '606': "
        r"duplicate origin_zip3/dest_zip3$",
    ),
    (
        "not a prefix",
        "origin_zip3,dest_zip3,zone\n88,606,3\n",
        r"^zones\.csv: row 2: field 'origin_zip3': value '88': not a 3-digit ZIP "
        r"prefix \(2 digits: a prefix that lost its leading zero\? write 088\)$",
    ),
    (
        "missing column",
        "origin,dest_zip3,zone\n088,606,3\n",
        r"^zones\.csv: row 1: field 'origin_zip3': missing column",
    ),
]


@pytest.mark.parametrize(
    ("zones", "message"),
    [case[1:] for case in BAD_CHARTS],
    ids=[case[0] for case in BAD_CHARTS],
)
def test_bad_charts_are_located(tmp_path: Path, zones: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_network(chart_network(tmp_path, zones))


def test_bad_node_prefix_is_located(tmp_path: Path) -> None:
    folder = chart_network(tmp_path)
    nodes = folder / "nodes.csv"
    nodes.write_text(nodes.read_text().replace(",088\n", ",08A\n"))
    with pytest.raises(
        InputError,
        match=r"^nodes\.csv: row 2: field 'zip3': value '08A': not a 3-digit ZIP "
        r"prefix$",
    ):
        load_network(folder)


def test_cli_validate_reports_calendar_and_chart(tmp_path: Path) -> None:
    folder = chart_network(tmp_path)
    for name in ("holidays.csv", "services.csv"):
        shutil.copy(DATA_DIR / "tiny_calendar" / name, folder / name)
    text = CliRunner().invoke(cli, ["network", "validate", str(folder)])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[-3] == (
        "  calendar      ships Mon-Sat; delivers next_day Mon-Sat, "
        "two_day Mon-Sat, ground Mon-Fri, economy Mon-Fri"
    )
    assert lines[-2].startswith("  closed days   from ")
    assert lines[-1] == "  zone chart    zones.csv, 4 pairs; others by mileage band"
    out = CliRunner().invoke(cli, ["network", "validate", str(folder), "--json"])
    summary = json.loads(out.output)
    assert summary["zone_chart"]["pairs"] == 4
    assert summary["calendar"]["delivery_days"]["ground"] == "Mon-Fri"
    assert {"date", "name", "services"} <= set(summary["calendar"]["closed_days"][0])
