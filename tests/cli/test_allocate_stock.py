"""``tierflow allocate --state``: the day starts from the store's live stock
(counts, receipts, checkouts), on both backends; a store without stock
starts from the network's ``inventory.csv``, as before."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
from click.testing import CliRunner, Result

from tests.cli.test_allocate import _committed, _kill_once_committed
from tests.conftest import TINY_NETWORK
from tests.postgres import NewState
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.cli.main import cli
from tierflow.data.orders import write_orders
from tierflow.data.store import open_store

#: Whole-node counts of TEE: none anywhere.
NO_TEE = "node_id,sku,on_hand\nWH-EAST,TEE,0\nWH-WEST,TEE,0\nST-CHI,TEE,0\n"


def _orders(path: Path, n: int, mug_every: int = 4) -> Path:
    """``n`` one-line orders over a Monday on the tiny network: a MUG (2
    units) every ``mug_every``-th, else a TEE."""
    lines = ["order_id,created_at,customer_id,dest,tier,sku,quantity"]
    for i in range(n):
        minute = int(i * 600 / n)
        stamp = f"2026-01-05T{8 + minute // 60:02d}:{minute % 60:02d}:00-05:00"
        sku, qty = ("MUG", 2) if i % mug_every == 0 else ("TEE", 1)
        tier = ("gold", "silver", "platinum")[i % 3]
        lines.append(f"O{i:04d},{stamp},C{i % 11},606,{tier},{sku},{qty}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _count(state: Path | str, folder: Path, rows: str) -> None:
    """``tierflow stock load`` of ``rows`` (a count) into ``state``."""
    path = folder / "count.csv"
    path.write_text(rows)
    done = CliRunner().invoke(
        cli,
        [
            *("stock", "load", "--network", str(TINY_NETWORK)),
            *("--state", str(state), "--inventory", str(path)),
        ],
    )
    assert done.exit_code == 0, done.output


def _allocate(orders: Path, out: Path, *options: str) -> tuple[dict[str, Any], Result]:
    """``tierflow allocate --json`` on the tiny network (greedy): its summary."""
    result = CliRunner().invoke(
        cli,
        [
            *("allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)),
            *("--engine", "greedy", *options, "--out", str(out), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]), result


def _shipped(out: Path, sku: str) -> int:
    """Units of ``sku`` the run in ``out`` allocated."""
    rows = pd.read_csv(out / "allocations.csv")
    mine = rows[(rows["sku"] == sku) & (rows["status"] == "allocated")]
    return int(mine["quantity"].sum())


def test_a_count_of_zero_ships_none_of_the_sku(
    tmp_path: Path, new_state: NewState
) -> None:
    """QA: a count setting TEE to 0 at every node, then allocate with that
    store, shipped TEEs from inventory.csv's stock (an oversell against the
    store's own count). Every TEE line is now unfillable (no node holds it
    this morning) and the MUGs still ship; a fresh store (no stock rows)
    ships TEEs from inventory.csv as before, and the summary says which
    stock each run used."""
    orders = _orders(tmp_path / "orders.csv", 40)
    fresh, counted = new_state(), new_state()
    before, _ = _allocate(orders, tmp_path / "fresh", "--state", str(fresh))
    assert before["stock"] == {
        "source": "network",
        "store_positions": 0,
        "units_held": 0,
        "units_added_back": 0,
        "differs_from_network": False,
    }
    assert _shipped(tmp_path / "fresh", "TEE") == 30
    _count(counted, tmp_path, NO_TEE)
    after, result = _allocate(orders, tmp_path / "counted", "--state", str(counted))
    assert _shipped(tmp_path / "counted", "TEE") == 0
    rows = pd.read_csv(tmp_path / "counted" / "allocations.csv")
    tee = rows[rows["sku"] == "TEE"]
    assert len(tee) == 30 and set(tee["status"]) == {"unfillable"}
    mugs = _shipped(tmp_path / "fresh", "MUG")  # the count left them alone
    assert mugs > 0 and _shipped(tmp_path / "counted", "MUG") == mugs
    assert after["n_unfillable"] == 30
    assert after["stock"] == {
        "source": "store",
        "store_positions": 3,
        "units_held": 0,
        "units_added_back": 0,
        "differs_from_network": True,
    }
    assert "starting stock: the store's for 3 positions" in result.stderr
    assert after["run_id"] != before["run_id"]


def test_a_count_raising_stock_ships_more_in_a_new_run(
    tmp_path: Path, state_location: Path | str
) -> None:
    """40 MUG orders of 2 against inventory.csv's 20 at WH-EAST ship 20
    units; a count of 100 there, then the same command on the same store,
    is a new run (not the finished one resumed) that ships 80."""
    orders = _orders(tmp_path / "orders.csv", 40, mug_every=1)
    state = ("--state", str(state_location), "--no-bid-prices")
    first, _ = _allocate(orders, tmp_path / "a", *state)
    assert _shipped(tmp_path / "a", "MUG") == 20
    _count(state_location, tmp_path, "node_id,sku,on_hand\nWH-EAST,MUG,100\n")
    second, _ = _allocate(orders, tmp_path / "b", *state)
    assert second["resumed_batches"] == 0 and second["run_id"] != first["run_id"]
    assert _shipped(tmp_path / "b", "MUG") == 80
    assert second["n_allocated"] == 40
    # the same command once more is that run, resumed whole: the same day
    again, _ = _allocate(orders, tmp_path / "c", *state)
    assert again["run_id"] == second["run_id"] and again["resumed_batches"] > 0
    assert (tmp_path / "c" / "allocations.csv").read_bytes() == (
        tmp_path / "b" / "allocations.csv"
    ).read_bytes()


def test_confirmed_orders_units_are_counted_back_once(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Checkouts confirmed on the store took their units out of on_hand
    (both SOFAs of WH-EAST among them): allocating those very orders from
    the store counts their units back once, so the day starts from
    inventory.csv's stock (the same run id and lines' nodes as a
    fresh store's), where on_hand alone (0 SOFAs left) made the SOFA line
    unfillable."""
    carts = [[("TEE", 1)], [("TEE", 2), ("MUG", 1)], [("SOFA", 2)]]
    with tiny_router(tmp_path, state=state_location) as router:
        for k, lines in enumerate(carts):
            now = MONDAY_10 + dt.timedelta(minutes=k)
            answer = router.generate_fulfillment_options(f"C{k}", lines, "606", now=now)
            assert router.select(answer.request_id, "gold", now=now).ok
            router.confirm(answer.request_id, now=now)
    with open_store(state_location) as store:
        orders = write_orders(store.online_orders(), tmp_path / "orders.csv")
        left = store.inventory_frame().set_index(["node_id", "sku"])["on_hand"]
    assert left[("WH-EAST", "SOFA")] == 0
    live, _ = _allocate(orders, tmp_path / "live", "--state", str(state_location))
    assert live["stock"] == {
        "source": "store",
        "store_positions": 6,
        "units_held": 0,
        "units_added_back": 6,
        "differs_from_network": False,
    }
    assert live["n_unfillable"] == 0  # the SOFAs: held this morning
    fresh, _ = _allocate(orders, tmp_path / "fresh")
    assert fresh["run_id"] == live["run_id"]
    # where each line goes (the penalties differ: the store has CLTV scores)
    decided = ["order_id", "sku", "node_id", "status"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "live" / "allocations.csv")[decided],
        pd.read_csv(tmp_path / "fresh" / "allocations.csv")[decided],
    )


def test_a_run_from_the_stores_stock_killed_mid_way_resumes_to_the_same_bytes(
    tmp_path: Path, new_state: NewState
) -> None:
    """A day started from a count (TEE thin at WH-EAST), SIGKILLed after 5
    of its 50 batches and run again, resumes (the stock read again is the
    same: the same run) and writes the uninterrupted run's allocations.csv
    byte for byte."""
    orders = _orders(tmp_path / "orders.csv", 200)
    count = "node_id,sku,on_hand\nWH-EAST,TEE,30\nWH-WEST,TEE,40\n"
    clean_state, crashed_state = new_state(), new_state()
    for state in (clean_state, crashed_state):
        _count(state, tmp_path, count)
    base = ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
    clean, _ = _allocate(
        orders, tmp_path / "clean", *base[2:], "--state", str(clean_state)
    )
    assert clean["stock"]["differs_from_network"] and clean["n_batches"] == 50
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    args += [*base, "--state", str(crashed_state), "--out", str(tmp_path / "crashed")]
    _kill_once_committed(args, crashed_state, 5)
    resumed, result = _allocate(
        orders, tmp_path / "crashed", *base[2:], "--state", str(crashed_state)
    )
    assert resumed["resumed_batches"] >= 5, result.stderr
    assert resumed["run_id"] == clean["run_id"]
    assert resumed["stock"] == clean["stock"]
    assert (tmp_path / "crashed" / "allocations.csv").read_bytes() == (
        tmp_path / "clean" / "allocations.csv"
    ).read_bytes()


def test_a_run_not_resumed_after_a_count_says_so(tmp_path: Path) -> None:
    """A run killed mid-way, then a count, then the same command: the stock
    is another input, so the run starts from batch 0, and says why (it
    passed over the unfinished run without a word)."""
    orders = _orders(tmp_path / "orders.csv", 200)
    state = tmp_path / "state.db"
    base = ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    _kill_once_committed(
        [*args, *base, "--state", str(state), "--out", str(tmp_path / "o")], state, 5
    )
    kept = _committed(state)
    _count(state, tmp_path, "node_id,sku,on_hand\nWH-EAST,TEE,30\n")
    summary, result = _allocate(
        orders, tmp_path / "o", *base[2:], "--state", str(state)
    )
    assert summary["resumed_batches"] == 0
    assert (
        f"inputs ({kept} batches committed): the store's stock is not what it "
        "was when it started (a count, a receipt or a checkout since); this "
        "run starts from batch 0"
    ) in result.stderr, result.stderr
