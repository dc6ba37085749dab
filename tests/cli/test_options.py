"""``tierflow options`` and ``tierflow bench online`` through click's runner."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, TINY_NETWORK
from tests.service_fixtures import tiny_router
from tests.ship_days import WH_EAST_SHIP_DAYS
from tierflow.cli.main import cli

OPTION_FIELDS = {
    "option_id",
    "tier",
    "label",
    "nodes",
    "service",
    "ship_date",
    "delivery_date",
    "price",
    "cost",
    "discount",
    "satisfaction_score",
    "explanation",
}


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["options", "--network", str(TINY_NETWORK), "--state", str(tmp_path / "s.db"),
         *args],
    )  # fmt: skip
    return result.exit_code, result.output


def test_options_json(tmp_path: Path) -> None:
    code, out = _run(
        tmp_path,
        *("--customer", "C1", "--items", "TEE:1,MUG:1", "--dest", "60601"),
        *("--now", "2026-01-05T15:00:00Z", "--json"),
    )
    assert code == 0, out
    data = json.loads(out)
    assert {"request_id", "options", "missing", "recommended", "customer"} <= set(data)
    assert (
        data["dest"] == "606" and data["recommended"] == data["options"][0]["option_id"]
    )
    assert data["items"] == [
        {"sku": "TEE", "quantity": 1},
        {"sku": "MUG", "quantity": 1},
    ]
    for option in data["options"]:
        assert set(option) >= OPTION_FIELDS
    gold = next(o for o in data["options"] if o["tier"] == "gold")
    assert gold["nodes"] == ["WH-EAST"] and gold["ship_date"] == "2026-01-05"
    scores = [o["satisfaction_score"] for o in data["options"]]
    assert scores == sorted(scores, reverse=True)
    assert data["missing"]["platinum"].startswith("no CLTV scores stored")


def test_options_text(tmp_path: Path) -> None:
    code, out = _run(
        tmp_path,
        *("--customer", "C1", "--items", "TEE:1", "--dest", "100"),
        *("--now", "2026-01-05T15:00:00Z", "--prefer", "cost=1,speed=0"),
    )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("request ") and "dest 100" in lines[0]
    assert lines[1].startswith("customer C1: predicted spend $0.00 (new; ")
    assert lines[1].endswith("; Platinum threshold unknown")  # not "from unknown"
    assert " 1  silver" in out  # cost-minded: the cheapest first
    assert "platinum: not offered: no CLTV scores stored" in out


def test_options_text_prints_the_instant_in_utc(tmp_path: Path) -> None:
    """The text header printed ``created_at`` in the offset ``--now`` was
    written in, where docs/cli.md and ``--json`` say UTC."""
    code, out = _run(
        tmp_path,
        *("--customer", "C1", "--items", "TEE:1", "--dest", "100"),
        *("--now", "2026-01-05T10:30:00-06:00"),
    )
    assert code == 0, out
    assert out.splitlines()[0].endswith("  at 2026-01-05T16:30:00+00:00"), out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--items", "TEE:0", "--dest", "100"),
         "Error: field 'quantity': index 0: value 0: must be an integer >= 1"),
        (("--items", "HAT:1", "--dest", "100"),
         "Error: field 'sku': index 0: value 'HAT': unknown SKU"),
        # a SKU in the wrong case names the one meant, as orders.csv's does
        (("--items", "TEE:1,mug:1", "--dest", "100"),
         "Error: field 'sku': index 1: value 'mug': unknown SKU; the network "
         "has 'MUG', which differs in case only (ids are case-sensitive)"),
        (("--items", "TEE:1", "--dest", "00000"),
         "Error: field 'dest': value '00000': unknown ZIP prefix (not a network "
         "destination)"),
        (("--items", "TEE:1", "--dest", "10-01"),
         "Error: field 'dest': value '10-01': not a US ZIP code"),
        # a spreadsheet's 02134 (the checkout and orders.csv say it alike)
        (("--items", "TEE:1", "--dest", "2134"),
         "Error: field 'dest': value '2134': not a US ZIP code (12345, "
         "12345-6789 or a 3-digit prefix; 4 digits: a ZIP code that lost its "
         "leading zero? write 02134)"),
        (("--items", "TEE", "--dest", "100"),
         "Error: field 'items': index 0: value 'TEE': expected SKU:QTY"),
        (("--items", "TEE:1,,SOCK:2", "--dest", "100"),
         "Error: field 'items': index 1: value '': an empty item (a comma too many?):"
         " expected SKU:QTY"),
        (("--items", "TEE:1,", "--dest", "100"),
         "Error: field 'items': index 1: value '': an empty item (a comma too many?):"
         " expected SKU:QTY"),
        (("--items", "TEE:two", "--dest", "100"),
         "Error: field 'quantity': index 0: value 'two': not an integer"),
        (("--items", "TEE:1", "--dest", "100", "--now", "2026-01-05T10:00"),
         "Error: field 'now': value '2026-01-05T10:00': no timezone offset"),
        (("--items", "TEE:99999999999999999999999", "--dest", "100"),
         "Error: field 'quantity': index 0: value 99999999999999999999999: more than 10,000 units on one line"),
        (("--items", "TEE:6000,TEE:5000", "--dest", "100"),
         "Error: field 'quantity': index 1: value 5000: lines of SKU 'TEE' add up to 11,000 units, more than 10,000 on one order line"),
        # ISO 8601's basic form is taken (20260228T150000Z): its day, named
        (("--items", "TEE:1", "--dest", "100", "--now", "20260229T150000Z"),
         "Error: field 'now': value '20260229T150000Z': no such day: 2026 is not a leap year"),
        (("--items", "TEE:1", "--dest", "100", "--now", "9999-12-31T23:00:00Z"),
         "Error: field 'now': value '9999-12-31T23:00:00Z': outside the years 1900-2200"),
        (("--items", "TEE:1", "--dest", "100", "--prefer", "fast=1"),
         "Error: field 'prefer': index 0: value 'fast=1': expected KEY=WEIGHT"),
        # float() read '3_0' as 30 and ' 5 ' as 5 (2026-12-07)
        (("--items", "TEE:1", "--dest", "100", "--prefer", "speed=3_0"),
         "Error: field 'preferences.speed': value '3_0': not a number: write it in "
         "digits 0-9"),
        (("--items", "TEE:1", "--dest", "100", "--prefer", "cost=1,eco=fast"),
         "Error: field 'preferences.eco': value 'fast': not a number\n"),
        # a weight given twice: the last one won without a word (2026-12-07)
        (("--items", "TEE:1", "--dest", "100", "--prefer", "speed=1,cost=0,speed=0"),
         "Error: field 'prefer': index 2: value 'speed=0': speed given twice (first "
         "at index 0: which one was meant?)"),
    ],
)  # fmt: skip
def test_options_bad_input_exit_1(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """One line, exit 1, and no store left behind: a request refused by the
    network (an unknown SKU or ZIP prefix, a quantity of 0) created and
    seeded a new state store before it was refused (2026-12-07)."""
    code, out = _run(tmp_path, "--customer", "C1", *args)
    assert code == 1
    assert out.startswith(message) and len(out.strip().splitlines()) == 1
    assert "Traceback" not in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("customer", ["Ünï", "C 12", "C/12", " C9", "", "C" * 65])
def test_options_takes_the_customer_ids_the_api_takes(
    tmp_path: Path, customer: str
) -> None:
    """One rule for a checkout's customer id, the HTTP API's (422 there):
    the CLI quoted 'Ünï' and 'C 12' and stored their checkouts (2026-12-07)."""
    result = CliRunner().invoke(
        cli,
        ["options", "--network", str(TINY_NETWORK), "--state", str(tmp_path / "s.db"),
         "--customer", customer, "--items", "TEE:1", "--dest", "100"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        f"Error: field 'customer_id': value {customer!r}: must be letters A-Z a-z, "
        "digits 0-9 and _.:- only, up to 64 characters\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_options_takes_every_character_of_the_rule(tmp_path: Path) -> None:
    """The rule's every character, 64 of them, is taken."""
    code, out = _run(
        tmp_path, "--customer", "aZ09_.:-" * 8, "--items", "TEE:1", "--dest", "100"
    )
    assert code == 0, out
    assert "customer aZ09_.:-aZ09" in out


@pytest.mark.parametrize(("now", "gold_ships", "overflow_ships"), WH_EAST_SHIP_DAYS)
def test_options_ship_later_ships_later_on_any_day(
    tmp_path: Path, now: dt.datetime, gold_ships: str, overflow_ships: str
) -> None:
    """Every node 90 % backlogged: "Ship later" ships a ship day after Gold,
    and arrives later, so Silver is not hidden as "dominated by overflow:
    same date" (on a Saturday night, a Sunday and Thanksgiving it shipped
    with Gold, at a discount, and hid Silver)."""
    with (TINY_NETWORK / "nodes.csv").open(newline="") as f:
        nodes = list(csv.DictReader(f))
    events = tmp_path / "backlog90.jsonl"
    events.write_text(
        "".join(
            json.dumps({"event_id": f"b{i}", "ts": "2026-11-05T12:00:00-05:00",
                        "node_id": node["node_id"], "type": "backlog",
                        "value": 0.9 * float(node["capacity_units_per_day"])})
            + "\n"
            for i, node in enumerate(nodes)
        )
    )  # fmt: skip
    state = tmp_path / "s.db"
    ingest = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK),
         "--events", str(events), "--state", str(state)],
        env={"TIERFLOW_NOW": "2026-11-05T12:00:00-05:00"},  # a live feed's clock
    )  # fmt: skip
    assert ingest.exit_code == 0, ingest.output
    code, out = _run(
        tmp_path,
        *("--customer", "C1", "--items", "TEE:1", "--dest", "10001"),
        *("--now", now.isoformat(), "--json"),
    )
    assert code == 0, out
    data = json.loads(out)
    by_tier = {o["tier"]: o for o in data["options"]}
    gold, over = by_tier["gold"], by_tier["overflow"]
    assert gold["nodes"] == over["nodes"] == ["WH-EAST"]
    assert (gold["ship_date"], over["ship_date"]) == (gold_ships, overflow_ships)
    assert over["delivery_date"] > gold["delivery_date"] and over["discount"] >= 1
    assert "dominated by overflow" not in data["missing"].get("silver", "")


def _checkout_day(state: Path) -> None:
    """A store with CLTV scores and a day of confirmed checkouts (the day
    forecast, the upgrade allowance's period and the capacity log read it)."""
    with tiny_router(state.parent, state=state) as router:
        start = dt.datetime(2026, 1, 5, 13, 0, tzinfo=dt.UTC)
        for k in range(12):
            now = start + dt.timedelta(minutes=40 * k)
            dest = ("10001", "60601", "90012")[k % 3]
            answer = router.generate_fulfillment_options(
                f"C{k % 11}", [("TEE", 1)], dest, now=now
            )
            router.select(answer.request_id, answer.options[0].option_id, now=now)
            router.confirm(answer.request_id, now=now)


@pytest.mark.slow  # 8 processes, 2 s each
@pytest.mark.parametrize(
    "now",
    [
        # New York's 17:30, before its warehouse's 18:00 cutoff: ships today;
        # a machine clock in UTC (22:30) is past it
        "2026-01-05T22:30:00Z",
        # the UTC date is the 6th, New York's the 5th (after its cutoff)
        "2026-01-05T23:30:00-05:00",
    ],
)
def test_options_do_not_depend_on_the_machine_time_zone(
    tmp_path: Path, now: str
) -> None:
    """``--now`` is an instant: cutoffs and ship days are reckoned in each
    node's and destination's own zone, never the machine's (``TZ``). The
    same checkout on the same store answers the same (but for the random
    request id) in a process under ``TZ=UTC`` and one under
    ``TZ=America/New_York``."""
    answers = {}
    for tz in ("UTC", "America/New_York"):
        state = tmp_path / tz.replace("/", "_") / "s.db"
        state.parent.mkdir()
        _checkout_day(state)
        out: dict[str, str] = {}
        for as_json in (True, False):
            proc = subprocess.run(
                [sys.executable, "-m", "tierflow.cli.main", "options",
                 "--network", str(TINY_NETWORK), "--state", str(state),
                 "--customer", "C9", "--items", "TEE:1,MUG:1", "--dest", "10001",
                 "--now", now, *(["--json"] if as_json else [])],
                env={**os.environ, "TZ": tz, "PYTHONPATH": str(ROOT)},
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            if as_json:
                rid = json.loads(proc.stdout)["request_id"]
            else:  # "request RID  dest 100  at ..."
                rid = proc.stdout.split()[1]
            text = proc.stdout.replace(rid, "RID")
            # when the options stop working: the wall clock's, not --now's
            text = re.sub(r'("expires_at":\s*)"[^"]*"', r'\1"<wall clock>"', text)
            out["json" if as_json else "text"] = text
        answers[tz] = out
    assert answers["America/New_York"] == answers["UTC"]
    data = json.loads(answers["UTC"]["json"])
    instant = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert data["created_at"] == instant.astimezone(dt.UTC).isoformat()


def test_bench_online_small(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        cli,
        ["bench", "online", "--requests", "40", "--processes", "2", "--repeat", "1",
         "--network", str(TINY_NETWORK), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["latency"]["timed_requests"] == 20  # 40 minus 20 of warm-up
    assert data["latency"]["p50_us"] > 0 and data["latency"]["decision_p50_us"] > 0
    con = data["contention"]
    assert con["checkouts"] == 80 and con["oversold_positions"] == 0
    assert con["reserved_after_expiry"] == 0 and con["consistency_problems"] == []
    assert data["targets"]["no_oversell"] is True
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Online checkout benchmark (3 nodes, 1 run)\n")
    assert (out / "latency.csv").is_file()
    with open(out / "contention.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1  # one row per run


def test_options_text_columns_fit_a_long_label(tmp_path: Path) -> None:
    """A tier label set in ``[tiers.rules]`` may be longer than the column's
    default width: it ran into the nodes column ('…(2–3 days)WH-EAST')."""
    label = "Standard shipping (2–3 business days)"
    config = tmp_path / "tierflow.toml"
    config.write_text(f'[tiers.rules.gold]\nlabel = "{label}"\n', encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "options", "--network", str(TINY_NETWORK),
         "--state", str(tmp_path / "s.db"), "--customer", "C1", "--items", "TEE:1",
         "--dest", "100", "--now", "2026-01-05T15:00:00Z"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("#"))
    gold = next(line for line in lines if f"{label}  " in line)
    # every column starts where its header does
    for name in ("nodes", "service", "ships", "delivers"):
        start = header.index(name)
        assert gold[start - 2 : start] == "  " and gold[start] != " ", (header, gold)


def test_preferences_that_zero_the_configured_weights_are_refused_first(
    tmp_path: Path,
) -> None:
    """``[tiers.satisfaction_weights]`` weighs speed alone and ``--prefer
    speed=0`` takes it away: every weight is 0. It was refused after the
    state store was made and seeded, and in words that named the one
    weight given ("value {'speed': 0.0}: weights must not all be 0"); now
    before the store is opened, naming the weights it would have used."""
    config = tmp_path / "tierflow.toml"
    config.write_text(
        "[tiers.satisfaction_weights]\nspeed = 1\ncost = 0\neco = 0\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "options", "--network", str(TINY_NETWORK),
         "--state", str(tmp_path / "s.db"), "--customer", "C1", "--items", "TEE:1",
         "--dest", "100", "--prefer", "speed=0"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        "Error: field 'preferences': value {'speed': 0.0}: weights must not all "
        "be 0 (with the tier policy's for the others: speed 0, cost 0, eco 0)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tierflow.toml"]
