"""``tierflow stock load`` and ``stock show``: counts and receipts written to
a live store's stock (on both backends), every row checked first."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import TINY_NETWORK
from tierflow.cli.main import cli
from tierflow.data.store import open_store

HEADER = "node_id,sku,on_hand\n"


def _stock(state: Path | str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["stock", *args, "--network", str(TINY_NETWORK), "--state", str(state)],
        prog_name="tierflow",
    )


def _file(tmp_path: Path, rows: str) -> str:
    path = tmp_path / "stock.csv"
    path.write_text(HEADER + rows)
    return str(path)


def _on_hand(state: Path | str) -> dict[tuple[str, str], int]:
    with open_store(state) as store:
        frame = store.inventory_frame()
    return {
        (str(n), str(s)): int(q)
        for n, s, q in zip(
            frame["node_id"], frame["sku"], frame["on_hand"], strict=True
        )
    }


def _seeded(state: Path | str) -> None:
    """The store as a router leaves it: seeded from the tiny network."""
    from tierflow.data.network import load_network

    with open_store(state) as store:
        store.seed_network_inventory(load_network(TINY_NETWORK))


def test_a_count_sets_on_hand_and_a_receipt_adds_to_it(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A cycle count (``--mode set``) replaces on_hand; a receipt
    (``--mode add``) moves it, a negative quantity down; what changed is
    printed, and ``stock show`` reads it back."""
    _seeded(state_location)
    count = _file(tmp_path, "WH-EAST,TEE,80\nWH-WEST,SPRAY,15\nST-CHI,TEE,5\n")
    done = _stock(state_location, "load", "--inventory", count)
    assert done.exit_code == 0, done.output
    assert done.output == (
        "stock.csv: 2 of 3 positions changed (set): 5 units up, 20 units down\n"
    )
    receipt = _file(tmp_path, "WH-EAST,SOFA,3\nST-CHI,TEE,-5\n")
    done = _stock(
        state_location, "load", "--inventory", receipt, "--mode", "add", "--json"
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "file": "stock.csv",
        "mode": "add",
        "positions": 2,
        "changed": 2,
        "units_up": 3,
        "units_down": 5,
        "changes": [
            {
                "node_id": "WH-EAST",
                "sku": "SOFA",
                "before": 2,
                "after": 5,
                "reserved": 0,
            },
            {"node_id": "ST-CHI", "sku": "TEE", "before": 5, "after": 0, "reserved": 0},
        ],
    }
    assert _on_hand(state_location)[("WH-EAST", "TEE")] == 80
    shown = _stock(state_location, "show", "--node", "WH-EAST", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == [
        {
            "node_id": "WH-EAST",
            "sku": "MUG",
            "on_hand": 20,
            "reserved": 0,
            "available": 20,
        },
        {
            "node_id": "WH-EAST",
            "sku": "SOFA",
            "on_hand": 5,
            "reserved": 0,
            "available": 5,
        },
        {
            "node_id": "WH-EAST",
            "sku": "TEE",
            "on_hand": 80,
            "reserved": 0,
            "available": 80,
        },
    ]


def test_a_position_the_store_does_not_hold_starts_from_the_network(
    tmp_path: Path,
) -> None:
    """On a fresh store a receipt adds to the network's on_hand (what a
    router would seed), not to nothing; the others stay unseeded."""
    state = tmp_path / "state.db"
    done = _stock(
        state,
        "load",
        "--inventory",
        _file(tmp_path, "WH-EAST,TEE,5\n"),
        "--mode",
        "add",
    )
    assert done.exit_code == 0, done.output
    assert _on_hand(state) == {("WH-EAST", "TEE"): 105}


@pytest.mark.parametrize(
    ("rows", "mode", "error"),
    [
        (
            "WH-NOPE,TEE,1\n",
            "set",
            "stock.csv: row 3: field 'node_id': value 'WH-NOPE': unknown node_id "
            "(not in nodes.csv)",
        ),
        (
            "WH-EAST,HAT,1\n",
            "set",
            "stock.csv: row 3: field 'sku': value 'HAT': unknown sku (not in skus.csv)",
        ),
        (
            "WH-EAST,MUG,1.5\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '1.5': not an integer",
        ),
        (  # the store's words, as POST /v1/stock says it (was "must be >= 0")
            "WH-EAST,MUG,-1\n",
            "set",
            "stock.csv: row 3: field 'on_hand': value '-1': on_hand would be -1: "
            "below 0",
        ),
        (
            "WH-EAST,TEE,7\n",
            "set",
            "stock.csv: row 3: field 'sku': value 'TEE': duplicate node_id/sku",
        ),
        (
            "WH-EAST,SOFA,-3\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '-3': on_hand would be -1 "
            "(2 on hand, -3 added): below 0",
        ),
        (  # the 10^9 limit was "must be <= 1e+09" here, the store's wording below
            "WH-EAST,MUG,1000000001\n",
            "set",
            "stock.csv: row 3: field 'on_hand': value '1000000001': on_hand would be "
            "1000000001: above 1000000000",
        ),
        (
            "WH-EAST,SOFA,1000000000\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '1000000000': on_hand would be "
            "1000000002 (2 on hand, 1000000000 added): above 1000000000",
        ),
        (  # was "must be >= -1e+09"
            "WH-EAST,SOFA,-1000000001\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '-1000000001': on_hand would be "
            "-999999999 (2 on hand, -1000000001 added): below 0",
        ),
        (  # as written: was "value 1000000000000"
            "WH-EAST,MUG,1e12\n",
            "set",
            "stock.csv: row 3: field 'on_hand': value '1e12': on_hand would be "
            "1000000000000: above 1000000000",
        ),
        (
            "WH-EAST,SOFA,-3e0\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '-3e0': on_hand would be -1 "
            "(2 on hand, -3 added): below 0",
        ),
        (  # past a file column's 10^12 too: was "must be <= 1e+12"
            "WH-EAST,MUG,1000000000001\n",
            "set",
            "stock.csv: row 3: field 'on_hand': value '1000000000001': on_hand would "
            "be 1000000000001: above 1000000000",
        ),
        (  # as written, not as float64 holds it (1e20)
            "WH-EAST,MUG,99999999999999999999\n",
            "set",
            "stock.csv: row 3: field 'on_hand': value '99999999999999999999': "
            "on_hand would be 99999999999999999999: above 1000000000",
        ),
        (
            "WH-EAST,SOFA,5e12\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '5e12': on_hand would be "
            "above 1000000000 (5e12 added)",
        ),
        (  # was "must be >= -1e+12"
            "WH-EAST,SOFA,-1000000000001\n",
            "add",
            "stock.csv: row 3: field 'on_hand': value '-1000000000001': on_hand "
            "would be below 0 (-1000000000001 added)",
        ),
        (  # a field left out: was "field 'sku': value '5': unknown sku"
            "WH-EAST,5\n",
            "set",
            "stock.csv: row 3: value 'WH-EAST,5': 2 fields where the header has 3",
        ),
        (
            "WH-EAST,MUG,5,1\n",
            "set",
            "stock.csv: row 3: value 'WH-EAST,MUG,5,1': 4 fields where the header "
            "has 3 (extra: '1')",
        ),
    ],
    ids=[
        "node",
        "sku",
        "integer",
        "negative",
        "duplicate",
        "below-zero",
        "above-limit",
        "added-above-limit",
        "added-below-limit",
        "as-written",
        "added-as-written",
        "past-file-limit",
        "past-float64",
        "added-past-file-limit",
        "added-below-file-limit",
        "short-row",
        "long-row",
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(
    tmp_path: Path, rows: str, mode: str, error: str
) -> None:
    state = tmp_path / "state.db"
    _seeded(state)
    before = _on_hand(state)
    path = _file(tmp_path, "WH-EAST,TEE,1\n" + rows)
    done = _stock(state, "load", "--inventory", path, "--mode", mode)
    assert (done.exit_code, done.output) == (1, f"Error: {error}\n")
    assert _on_hand(state) == before


def test_a_count_below_what_is_held_is_refused(
    tmp_path: Path, state_location: Path | str
) -> None:
    """2 SOFA held by an open checkout at WH-EAST: a count of 1 would leave
    the hold without stock; refused with the units reserved, nothing
    written (the row before it neither)."""
    _seeded(state_location)
    with open_store(state_location) as store:
        store.reserve("r1", [("SOFA", 2)], "WH-EAST", ttl_s=600.0)
    path = _file(tmp_path, "WH-EAST,TEE,1\nWH-EAST,SOFA,1\n")
    done = _stock(state_location, "load", "--inventory", path)
    assert (done.exit_code, done.output) == (
        1,
        "Error: stock.csv: row 3: field 'on_hand': value '1': on_hand would be 1, "
        "below the 2 units reserved (held by open checkouts): cut_holds "
        "(tierflow stock load --cut-holds) writes it and releases the newest "
        "holds there\n",
    )
    assert _on_hand(state_location)[("WH-EAST", "TEE")] == 100
    shown = _stock(state_location, "show", "--sku", "SOFA")
    assert shown.exit_code == 0, shown.output
    assert shown.output == (
        "node_id  sku   on_hand  reserved  available\n"
        "WH-EAST  SOFA        2         2          0\n"
    )


def test_a_count_with_cut_holds_releases_the_newest_holds(
    tmp_path: Path, state_location: Path | str
) -> None:
    """WH-EAST's 2 SOFA held by r1 and then r2: a count of 1 with
    ``--cut-holds`` is written and cuts r2 (the newest), which is listed;
    r1 still holds its unit."""
    _seeded(state_location)
    with open_store(state_location) as store:
        store.reserve("r1", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
        store.reserve("r2", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
    path = _file(tmp_path, "WH-EAST,SOFA,1\n")
    done = _stock(state_location, "load", "--inventory", path, "--cut-holds")
    assert (done.exit_code, done.output) == (
        0,
        "stock.csv: 1 of 1 position changed (set): 0 units up, 1 unit down\n"
        "stock.csv: holds cut (the count is below what they held): "
        "r2 WH-EAST/SOFA 1 unit\n",
    )
    as_json = _stock(
        state_location, "load", "--inventory", path, "--cut-holds", "--json"
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["holds_cut"] == []
    with open_store(state_location) as store:
        assert store.reservation_status("r1") == "active"
        assert store.reservation_status("r2") == "expired"
    shown = _stock(state_location, "show", "--sku", "SOFA")
    assert shown.output == (
        "node_id  sku   on_hand  reserved  available\n"
        "WH-EAST  SOFA        1         1          0\n"
    )


def test_an_adjustment_down_with_cut_holds_releases_the_newest_holds(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``--cut-holds`` is not a count's alone: ``--mode add`` takes negative
    units (an adjustment down: units found damaged), which can leave less
    than open checkouts hold. Refused without the flag as a count is, and
    with it written and r2 (the newest) cut; a receipt (units up) never
    lowers stock, so the flag cuts nothing there."""
    _seeded(state_location)
    with open_store(state_location) as store:
        store.reserve("r1", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
        store.reserve("r2", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
    path = _file(tmp_path, "WH-EAST,SOFA,-1\n")
    refused = _stock(state_location, "load", "--inventory", path, "--mode", "add")
    assert (refused.exit_code, refused.output) == (
        1,
        "Error: stock.csv: row 2: field 'on_hand': value '-1': on_hand would be 1 "
        "(2 on hand, -1 added), below the 2 units reserved (held by open "
        "checkouts): cut_holds (tierflow stock load --cut-holds) writes it and "
        "releases the newest holds there\n",
    )
    assert _on_hand(state_location)[("WH-EAST", "SOFA")] == 2
    load = ("load", "--inventory", path, "--mode", "add", "--cut-holds")
    done = _stock(state_location, *load)
    assert (done.exit_code, done.output) == (
        0,
        "stock.csv: 1 of 1 position changed (add): 0 units up, 1 unit down\n"
        "stock.csv: holds cut (the count is below what they held): "
        "r2 WH-EAST/SOFA 1 unit\n",
    )
    with open_store(state_location) as store:
        assert store.reservation_status("r1") == "active"
        assert store.reservation_status("r2") == "expired"
    receipt = _file(tmp_path, "WH-EAST,SOFA,1\n")
    added = _stock(
        state_location, "load", "--inventory", receipt, "--mode", "add",
        "--cut-holds", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["holds_cut"] == []
    with open_store(state_location) as store:
        assert store.reservation_status("r1") == "active"


def test_cut_holds_from_a_variable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standing setting would cut holds at every load: command line only."""
    state = tmp_path / "state.db"
    _seeded(state)
    monkeypatch.setenv("TIERFLOW_STOCK_LOAD_CUT_HOLDS", "true")
    done = _stock(state, "load", "--inventory", _file(tmp_path, "WH-EAST,TEE,1\n"))
    assert (done.exit_code, done.output) == (
        1,
        "Error: field '--cut-holds': value True: set by a settings file or "
        "variable: give it on the command line, for the load that needs it; "
        "nothing written\n",
    )
    assert _on_hand(state)[("WH-EAST", "TEE")] == 100


def test_show_refuses_an_unknown_node(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _seeded(state)
    done = _stock(state, "show", "--node", "WH-NOPE")
    assert (done.exit_code, done.output) == (
        1,
        "Error: field '--node': value 'WH-NOPE': unknown node_id (not in the "
        "network nor the store)\n",
    )


@pytest.mark.parametrize(
    ("flag", "given", "known"),
    [("--node", "wh-east", "WH-EAST"), ("--sku", "Tee", "TEE")],
)
def test_show_names_an_id_that_differs_in_case_only(
    tmp_path: Path, flag: str, given: str, known: str
) -> None:
    """``--node wh-east`` said only "unknown node_id", where ``stock load``
    names the id in other case: the same hint here."""
    state = tmp_path / "state.db"
    _seeded(state)
    done = _stock(state, "show", flag, given)
    column = "node_id" if flag == "--node" else "sku"
    assert (done.exit_code, done.output) == (
        1,
        f"Error: field '{flag}': value '{given}': unknown {column} (not in the "
        f"network nor the store); the network has '{known}', which differs in "
        "case only (ids are case-sensitive)\n",
    )


def test_a_receipt_loaded_again_with_its_change_id_adds_nothing(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A receipt's load retried (its answer lost) with ``--change-id``:
    the first's figures, said to be a repeat, nothing written; the id with
    another file is refused (exit 1), naming it."""
    _seeded(state_location)
    receipt = _file(tmp_path, "WH-EAST,SOFA,3\nST-CHI,TEE,-5\n")
    load = ("load", "--inventory", receipt, "--mode", "add", "--change-id", "rcv-7")
    done = _stock(state_location, *load)
    assert (done.exit_code, done.output) == (
        0,
        "stock.csv: 2 of 2 positions changed (add): 3 units up, 5 units down\n",
    )
    again = _stock(state_location, *load)
    as_json = _stock(state_location, *load, "--json")
    assert as_json.exit_code == 0, as_json.output
    applied = json.loads(as_json.output)["applied_at"]  # the first load's instant
    assert dt.datetime.fromisoformat(applied).utcoffset() == dt.timedelta(0)
    assert (again.exit_code, again.output) == (
        0,
        f"stock.csv: change 'rcv-7' was loaded already (at {applied}); nothing "
        "written (its first load: 2 of 2 positions changed (add): 3 units up, "
        "5 units down)\n",
    )
    assert json.loads(as_json.output) == {
        "file": "stock.csv",
        "mode": "add",
        "positions": 2,
        "changed": 2,
        "units_up": 3,
        "units_down": 5,
        "changes": [
            {"node_id": "WH-EAST", "sku": "SOFA", "before": 2, "after": 5, "reserved": 0},
            {"node_id": "ST-CHI", "sku": "TEE", "before": 5, "after": 0, "reserved": 0},
        ],
        "change_id": "rcv-7",
        "duplicate": True,
        "applied_at": applied,
    }  # fmt: skip
    other = _file(tmp_path, "WH-EAST,SOFA,4\nST-CHI,TEE,-5\n")
    refused = _stock(
        state_location, "load", "--inventory", other, "--mode", "add",
        "--change-id", "rcv-7",
    )  # fmt: skip
    assert (refused.exit_code, refused.output) == (
        1,
        "Error: field '--change-id': value 'rcv-7': already used by another "
        "stock change (another mode, changes or cut_holds): a change_id is an "
        "idempotency key; nothing written\n",
    )
    assert _on_hand(state_location)[("WH-EAST", "SOFA")] == 5
    assert _on_hand(state_location)[("ST-CHI", "TEE")] == 0


def test_a_blank_change_id_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _seeded(state)
    path = _file(tmp_path, "WH-EAST,TEE,1\n")
    done = _stock(state, "load", "--inventory", path, "--change-id", " ")
    assert (done.exit_code, done.output) == (
        1,
        "Error: field '--change-id': value '': missing or empty change id\n",
    )


def test_a_file_of_a_header_only_is_refused_and_records_no_id(tmp_path: Path) -> None:
    """A WMS export that failed after its header was "0 of 0 positions
    changed" (exit 0) and, with ``--change-id``, recorded the receipt's id
    with nothing: the real receipt sent again under it was then refused as
    another change. ``POST /v1/stock`` refuses an empty ``changes`` (422);
    the file is refused the same way, nothing written."""
    state = tmp_path / "state.db"
    _seeded(state)
    before = _on_hand(state)
    path = _file(tmp_path, "")
    done = _stock(state, "load", "--inventory", path, "--change-id", "rcv-9")
    assert (done.exit_code, done.output) == (
        1,
        "Error: stock.csv: no positions (a header and no rows): nothing written\n",
    )
    assert _on_hand(state) == before
    path = _file(tmp_path, "WH-EAST,TEE,1\n")
    done = _stock(state, "load", "--inventory", path, "--change-id", "rcv-9")
    assert done.exit_code == 0, done.output
    assert "1 of 1 position changed" in done.output


def test_a_load_of_thousands_says_both_counts_in_one_format(
    tmp_path: Path, sample_dir: Path
) -> None:
    """The sample network's 15,345 positions counted one unit up each: the
    summary said "15345 of 15,345 positions changed", the count changed
    without its thousands separator and the positions with it."""
    lines = (sample_dir / "inventory.csv").read_text().splitlines()
    rows = [line.rsplit(",", 1) for line in lines[1:]]
    path = tmp_path / "count.csv"
    path.write_text(HEADER + "".join(f"{key},{int(qty) + 1}\n" for key, qty in rows))
    done = CliRunner().invoke(
        cli,
        ["stock", "load", "--network", str(sample_dir), "--inventory", str(path),
         "--state", str(tmp_path / "state.db")],
    )  # fmt: skip
    positions = f"{len(rows):,}"
    assert (done.exit_code, done.output) == (
        0,
        f"count.csv: {positions} of {positions} positions changed (set): "
        f"{positions} units up, 0 units down\n",
    )


def test_a_repeated_count_with_cut_holds_says_its_cuts_are_the_first_loads(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A count that cut r2, retried under its ``--change-id``, cuts nothing
    (r1 keeps its hold) and answers the first load's cuts; its text said
    "holds cut (the count is below what they held): r2 ..." under "nothing
    written", as if the retry had cut r2 again (an operator telling its
    shopper twice, or looking for a second cut checkout)."""
    _seeded(state_location)
    with open_store(state_location) as store:
        store.reserve("r1", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
        store.reserve("r2", [("SOFA", 1)], "WH-EAST", ttl_s=600.0)
    path = _file(tmp_path, "WH-EAST,SOFA,1\n")
    load = ("load", "--inventory", path, "--cut-holds", "--change-id", "cc-1")
    first = _stock(state_location, *load)
    assert first.exit_code == 0, first.output
    again = _stock(state_location, *load)
    assert again.exit_code == 0, again.output
    figures = "1 of 1 position changed (set): 0 units up, 1 unit down"
    (said,) = re.findall(r"\(at (\S+)\)", again.output)
    assert again.output == (
        f"stock.csv: change 'cc-1' was loaded already (at {said}); nothing "
        f"written (its first load: {figures})\n"
        "stock.csv: holds its first load cut (none cut now): "
        "r2 WH-EAST/SOFA 1 unit\n"
    )
    with open_store(state_location) as store:
        assert store.reservation_status("r1") == "active"
        assert store.reservation_status("r2") == "expired"


def test_show_lists_the_positions_a_fresh_store_starts_from_the_network(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The README's first ``stock load`` then ``stock show --sku`` on a fresh
    store: the show listed the loaded position alone (the store's only row),
    while the checkout and ``allocate`` took the SKU's other nodes at
    ``inventory.csv``'s on_hand, and a router seeded them on its next open.
    Now it lists them as the store will hold them, the same before and after
    a router seeds them (QA docs walk, 2026-12-08)."""
    count = _file(tmp_path, "WH-EAST,TEE,80\n")
    assert _stock(state_location, "load", "--inventory", count).exit_code == 0
    before = _stock(state_location, "show", "--sku", "TEE")
    assert before.exit_code == 0, before.output
    assert before.output == (
        "node_id  sku  on_hand  reserved  available\n"
        "ST-CHI   TEE        5         0          5\n"
        "WH-EAST  TEE       80         0         80\n"
        "WH-WEST  TEE       50         0         50\n"
    )
    every = _stock(state_location, "show", "--json")
    _seeded(state_location)
    assert _stock(state_location, "show", "--sku", "TEE").output == before.output
    assert _stock(state_location, "show", "--json").output == every.output
    assert len(json.loads(every.output)) == 6  # ST-CHI's MUG at 0 is no position
