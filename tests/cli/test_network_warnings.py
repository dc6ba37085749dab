"""A network's warnings (``Network.warnings``: a node's lat and lon swapped,
no stock, ...) from every command that loads it, not only from ``network
validate``: one log line each on stderr, once, and a ``network_warnings``
list in the summaries written; stdout and the exit code as they were."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from tests.data.test_network import _european_network, _place
from tests.service.replicas import serve_process
from tierflow.cli.main import cli

#: Berlin's warehouse written lat 13.518, lon 52.387: by the Arabian Sea.
BERLIN_SWAPPED = (
    "nodes.csv: row 2: node WH-EAST: lat 13.518, lon 52.387 is 3,345 miles "
    "from the nearest destination; swapped (lat 52.387, lon 13.518) it is 10 "
    "miles from ZIP prefix 101: are lat and lon the other way round?"
)
#: A log line's time stamp (``2026-12-05 07:09:04 ``), taken off to compare.
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


@pytest.fixture
def berlin(tmp_path: Path) -> Path:
    """The tiny network in Europe, its Berlin warehouse's lat and lon swapped."""
    folder = _european_network(tmp_path / "berlin")
    _place("WH-EAST", "13.5180", "52.3870", "Europe/Berlin")(folder)
    return folder


def _network_lines(stderr: str) -> list[str]:
    """The stderr lines of the ``tierflow.network`` logger, without stamps."""
    lines = [_STAMP.sub("", line) for line in stderr.splitlines()]
    return [line for line in lines if "tierflow.network:" in line]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_allocate_says_the_network_s_warnings(berlin: Path, tmp_path: Path) -> None:
    """``allocate`` on a network whose Berlin node lies by the Arabian Sea
    ran without a word of it (``network validate`` alone said so)."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
        "O1,2026-01-05T08:00:00+01:00,C1,101,gold,TEE,1\n"
        "O2,2026-01-05T09:00:00+01:00,C2,750,silver,MUG,1\n"
        "O3,2026-01-05T10:00:00+01:00,C3,201,platinum,TEE,2\n"
    )
    out = tmp_path / "out"
    args = ["allocate", "--network", str(berlin), "--orders", str(orders)]
    result = _run(*args, "--engine", "greedy", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert _network_lines(result.stderr) == [
        f"WARNING tierflow.network: network {berlin}: {BERLIN_SWAPPED}"
    ]
    printed = json.loads(result.stdout)  # stdout is the summary alone
    assert printed["network_warnings"] == [BERLIN_SWAPPED]
    written = json.loads((out / "summary.json").read_text())
    assert written["network_warnings"] == [BERLIN_SWAPPED]
    assert written["n_orders"] == 3


def test_simulate_says_the_network_s_warnings_once(
    berlin: Path, tmp_path: Path
) -> None:
    """Once for the day, not once per policy allocated or per checkout."""
    scores = tmp_path / "scores.csv"
    scores.write_text("customer_id,predicted_spend,p_active,segment\nC1,100,0.5,gold\n")
    out = tmp_path / "sim"
    result = _run(
        "simulate", "--network", str(berlin), "--checkouts", "5", "--engine",
        "greedy", "--cltv-scores", str(scores), "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _network_lines(result.stderr) == [
        f"WARNING tierflow.network: network {berlin}: {BERLIN_SWAPPED}"
    ]
    assert json.loads(result.stdout)["network_warnings"] == [BERLIN_SWAPPED]
    written = json.loads((out / "summary.json").read_text())
    assert written["network_warnings"] == [BERLIN_SWAPPED]


def test_the_log_format_json_carries_the_folder_and_the_warning(
    berlin: Path, tmp_path: Path
) -> None:
    out = tmp_path / "orders.csv"
    args = ["generate", "orders", "--network", str(berlin), "--orders", "10"]
    result = _run("--log-format", "json", *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    said = [r for r in records if r["logger"] == "tierflow.network"]
    fields = [(r["level"], r["network"], r["network_warning"]) for r in said]
    assert fields == [("warning", str(berlin), BERLIN_SWAPPED)]
    assert said[0]["message"] == f"network {berlin}: {BERLIN_SWAPPED}"


def test_the_sample_says_nothing(sample_dir: Path, tmp_path: Path) -> None:
    """The sample network has no warning: a demo's stderr is as it was."""
    out = tmp_path / "orders.csv"
    result = _run("generate", "orders", "--orders", "10", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr, result.stderr


def test_validate_says_them_on_stdout_only(berlin: Path) -> None:
    """``network validate`` prints them under its verdict, not twice."""
    result = _run("network", "validate", str(berlin))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == f"  warning: {BERLIN_SWAPPED}"
    assert _network_lines(result.stderr) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_says_them_once_and_on_the_capacity_map(
    berlin: Path, tmp_path: Path, workers: str
) -> None:
    """At start-up, once (not once per worker), and in ``GET /v1/capacity``
    (the ``/ops`` page shows them)."""
    log = tmp_path / "serve.log"
    # the later --network is the one serve_process's tiny network gives way to
    more = ("--network", str(berlin), "--workers", workers)
    with serve_process(tmp_path / "state.db", log, *more) as (url, _):
        capacity = httpx.get(f"{url}/v1/capacity", timeout=30).json()
    assert capacity["network_warnings"] == [BERLIN_SWAPPED]
    assert _network_lines(log.read_text()) == [
        f"WARNING tierflow.network: network {berlin}: {BERLIN_SWAPPED}"
    ]
