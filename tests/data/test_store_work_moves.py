"""A batch moves a confirmed order's work where it decides its lines: the
live capacity map's backlog per node after each batch, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.data.order_lines import order_line
from tests.postgres import downgrade_store, run_sql
from tests.service_fixtures import tiny_network
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.store import SCHEMA_VERSION, StateStore, is_work_move, open_store

#: Per order: its checkout's node and lines ``(sku, quantity, workload)``.
CONFIRMED = {
    "A": ("ST-CHI", [("TEE", 1, 1.0), ("MUG", 1, 1.5)]),
    "B": ("WH-EAST", [("TEE", 2, 2.0)]),
    "C": ("ST-CHI", [("TEE", 1, 1.0)]),
}
#: The allocator's complexity-weighted work per line (TEE 1, MUG 1.5 a unit).
LINE_WORK = {("A", "TEE"): 1.0, ("A", "MUG"): 1.5, ("B", "TEE"): 2.0}


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    """A store with the three orders confirmed, each its work logged."""
    with open_store(state_location) as s:
        _confirm(s)
        yield s


def _confirm(store: StateStore) -> None:
    """Stock everywhere, and the orders of :data:`CONFIRMED` confirmed."""
    store.upsert_inventory(
        pd.DataFrame(
            [(n, k, 10) for n in tiny_network().node_ids for k in ("TEE", "MUG")],
            columns=["node_id", "sku", "on_hand"],
        )
    )
    for k, (order, (node, lines)) in enumerate(CONFIRMED.items()):
        rows = [_line(order, node, sku, qty, work) for sku, qty, work in lines]
        held = [(node, [(sku, qty) for sku, qty, _ in lines])]
        store.hold_checkout(order, "gold", held, 600, order_lines=rows, now=k)
        store.confirm_checkout(order, now=k + 0.5)


def _line(order: str, node: str, sku: str, qty: int, work: float) -> dict[str, object]:
    return order_line(order, node, sku, qty) | {"dest": "606", "workload": work}


def _rows(*lines: tuple[str, str, str | None]) -> pd.DataFrame:
    """A batch's rows: ``(order, sku, node)`` allocated there, or waiting
    (node None)."""
    return pd.DataFrame(
        {
            "order_id": [o for o, _, _ in lines],
            "sku": [k for _, k, _ in lines],
            "quantity": 1,
            "node_id": [n or "" for _, _, n in lines],
            "service": "ground",
            "ship_date": "2026-01-05",
            "promised_date": "2026-01-08",
            "cost": 1.0,
            "status": ["allocated" if n else "deferred" for _, _, n in lines],
            "reason": "",
        }
    )


def _backlog(store: StateStore) -> dict[str, float]:
    """The backlog per node of a capacity map rebuilt from the store's log."""
    monitor = CapacityMonitor.open(tiny_network(), store)
    return {
        n: float(monitor.backlog[i]) for i, n in enumerate(monitor.network.node_ids)
    }


def _moves(store: StateStore) -> int:
    return sum(is_work_move(e.event_id) for e in store.events_after(0))


def test_a_batch_moves_work_where_it_ships_and_off_what_waits(
    store: StateStore,
) -> None:
    """A's TEE ships from WH-EAST (its MUG stays at ST-CHI), B waits, C
    ships where it was confirmed; a later batch reroutes A to WH-WEST and
    ships B there. Each replay of a batch moves nothing again."""
    assert _backlog(store) == {"WH-EAST": 2.0, "WH-WEST": 0.0, "ST-CHI": 3.5}
    store.start_allocation_run("day", {})
    first = _rows(("A", "TEE", "WH-EAST"), ("A", "MUG", "ST-CHI"), ("B", "TEE", None),
                  ("C", "TEE", "ST-CHI"))  # fmt: skip
    assert store.write_allocation_batch("day", 0, first, line_work=LINE_WORK)
    after_first = {"WH-EAST": 1.0, "WH-WEST": 0.0, "ST-CHI": 2.5}
    assert _backlog(store) == after_first
    assert _moves(store) == 3  # A at ST-CHI and WH-EAST, B at WH-EAST
    assert not store.write_allocation_batch("day", 0, first, line_work=LINE_WORK)
    assert _backlog(store) == after_first
    second = _rows(
        ("A", "TEE", "WH-WEST"), ("A", "MUG", "WH-WEST"), ("B", "TEE", "WH-WEST")
    )
    assert store.write_allocation_batch(
        "day", 1, second, supersede=["A"], line_work=LINE_WORK
    )
    after_second = {"WH-EAST": 0.0, "WH-WEST": 4.5, "ST-CHI": 1.0}
    assert _backlog(store) == after_second
    assert not store.write_allocation_batch(
        "day", 1, second, supersede=["A"], line_work=LINE_WORK
    )
    assert _backlog(store) == after_second
    assert _moves(store) == 3 + 4  # A off ST-CHI, WH-EAST, to WH-WEST; B to it


def test_without_line_work_an_order_shares_its_work_by_quantity(
    store: StateStore,
) -> None:
    """A's 2.5 at ST-CHI over its two units: its TEE moves 1.25."""
    store.start_allocation_run("day", {})
    rows = _rows(("A", "TEE", "WH-EAST"), ("A", "MUG", "ST-CHI"))
    assert store.write_allocation_batch("day", 0, rows)
    assert _backlog(store) == {"WH-EAST": 3.25, "WH-WEST": 0.0, "ST-CHI": 2.25}


def test_lines_where_they_were_confirmed_or_never_confirmed_move_nothing(
    store: StateStore,
) -> None:
    """Every confirmed line ships from its checkout's node, and an order no
    checkout confirmed ships anywhere: no event is logged."""
    store.start_allocation_run("day", {})
    rows = _rows(("A", "TEE", "ST-CHI"), ("A", "MUG", "ST-CHI"), ("B", "TEE", "WH-EAST"),
                 ("C", "TEE", "ST-CHI"), ("X", "TEE", "WH-WEST"))  # fmt: skip
    seq = store.last_event_seq()
    assert store.write_allocation_batch("day", 0, rows, line_work=LINE_WORK)
    assert store.last_event_seq() == seq
    assert _backlog(store) == {"WH-EAST": 2.0, "WH-WEST": 0.0, "ST-CHI": 3.5}


def test_a_second_run_moves_work_from_where_the_first_run_left_it(
    store: StateStore,
) -> None:
    """Another run (other settings) over the same orders moves each line's
    work from where the latest row of any run put it: A's TEE, at WH-EAST
    already, does not move again; B, waiting, comes back to WH-EAST; A's MUG
    and C go to WH-WEST. A third run deciding as the first moves them all
    back. A replay of any of these batches moves nothing."""
    first = _rows(("A", "TEE", "WH-EAST"), ("A", "MUG", "ST-CHI"), ("B", "TEE", None),
                  ("C", "TEE", "ST-CHI"))  # fmt: skip
    store.start_allocation_run("day", {"engine": "greedy"})
    assert store.write_allocation_batch("day", 0, first, line_work=LINE_WORK)
    after_first = {"WH-EAST": 1.0, "WH-WEST": 0.0, "ST-CHI": 2.5}
    assert _backlog(store) == after_first
    second = _rows(("A", "TEE", "WH-EAST"), ("A", "MUG", "WH-WEST"),
                   ("B", "TEE", "WH-EAST"), ("C", "TEE", "WH-WEST"))  # fmt: skip
    store.start_allocation_run("day-cpsat", {"engine": "cpsat"})
    assert store.write_allocation_batch("day-cpsat", 0, second, line_work=LINE_WORK)
    after_second = {"WH-EAST": 3.0, "WH-WEST": 2.5, "ST-CHI": 0.0}
    assert _backlog(store) == after_second
    assert _moves(store) == 3 + 5  # A and C off ST-CHI, to WH-WEST; B to WH-EAST
    assert not store.write_allocation_batch("day", 0, first, line_work=LINE_WORK)
    assert not store.write_allocation_batch("day-cpsat", 0, second, line_work=LINE_WORK)
    assert _backlog(store) == after_second
    store.start_allocation_run("day-again", {"engine": "greedy", "again": True})
    assert store.write_allocation_batch("day-again", 0, first, line_work=LINE_WORK)
    assert _backlog(store) == after_first


def test_the_store_names_the_run_that_placed_the_work_after_a_run(
    store: StateStore,
) -> None:
    """``work_placed_after``: None for the run that placed the work last or
    one that placed none; the later run's id for one placed over since."""
    store.start_allocation_run("day", {"engine": "greedy"})
    assert store.work_placed_after("day") is None  # nothing placed yet
    rows = _rows(("A", "TEE", "WH-EAST"), ("C", "TEE", "ST-CHI"))
    assert store.write_allocation_batch("day", 0, rows, line_work=LINE_WORK)
    assert store.work_placed_after("day") is None
    store.start_allocation_run("day-cpsat", {"engine": "cpsat"})
    rows = _rows(("A", "TEE", "WH-WEST"), ("C", "TEE", "WH-WEST"))
    assert store.write_allocation_batch("day-cpsat", 0, rows, line_work=LINE_WORK)
    assert store.work_placed_after("day") == "day-cpsat"
    assert store.work_placed_after("day-cpsat") is None
    assert store.work_placed_after("never-ran") is None
    rows = _rows(("B", "TEE", "WH-EAST"))  # B's work where it was: no event
    assert store.write_allocation_batch("day", 1, rows, line_work=LINE_WORK)
    assert store.work_placed_after("day-cpsat") == "day"


def test_rows_of_a_batch_that_moved_no_work_count_at_the_checkouts_node(
    state_location: Path | str,
) -> None:
    """A store of schema 18 with a batch written before batches moved work
    (A's TEE at WH-EAST, nothing logged) is migrated; that row counts as
    the work still at ST-CHI, where the checkout put it: a new run shipping
    the TEE from WH-WEST moves it from ST-CHI, and a later one shipping it
    from WH-EAST moves it from WH-WEST."""
    with open_store(state_location) as store:
        _confirm(store)
    run_sql(
        state_location,
        "INSERT INTO allocation_runs (run_id, params, created_at) "
        "VALUES ('old', '{}', 1.0)",
        "INSERT INTO allocation_batches (run_id, batch, n_rows, committed_at) "
        "VALUES ('old', 0, 1, 2.0)",
        "INSERT INTO allocations (run_id, batch, order_id, sku, quantity, node_id, "
        "status) VALUES ('old', 0, 'A', 'TEE', 1, 'WH-EAST', 'allocated')",
    )
    downgrade_store(state_location, 18)
    with open_store(state_location) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert _backlog(store) == {"WH-EAST": 2.0, "WH-WEST": 0.0, "ST-CHI": 3.5}
        store.start_allocation_run("new", {})
        rows = _rows(("A", "TEE", "WH-WEST"))
        assert store.write_allocation_batch("new", 0, rows, line_work=LINE_WORK)
        assert _backlog(store) == {"WH-EAST": 2.0, "WH-WEST": 1.0, "ST-CHI": 2.5}
        store.start_allocation_run("newer", {})
        rows = _rows(("A", "TEE", "WH-EAST"))
        assert store.write_allocation_batch("newer", 0, rows, line_work=LINE_WORK)
        assert _backlog(store) == {"WH-EAST": 3.0, "WH-WEST": 0.0, "ST-CHI": 2.5}
