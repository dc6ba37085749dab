"""The store's seams: the protocols cover both stores exactly, and the
allocation columns of ``data/allocation_rows.py`` match both schemas."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.postgres import run_sql
from tierflow.data.allocation_rows import (
    ALLOCATION_COLUMNS,
    ALLOCATION_EXTRA_COLUMNS,
    ALLOCATION_FIELDS,
    ALLOCATION_LINE,
    COST_PARTS,
    AllocationRow,
    allocation_rows,
)
from tierflow.data.store import (
    AllocationStockStore,
    AllocationStore,
    BidPriceStore,
    CapacityEventLog,
    CheckoutReadStore,
    CheckoutStore,
    QuoteStore,
    ScoreStore,
    SqliteStore,
    StateStore,
    StockStore,
    UpgradeStore,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.postgres_store import PostgresStore
from tierflow.data.store.protocols import StockNewsStore
from tierflow.data.vocabulary import AllocationStatus

CONCERNS: tuple[type, ...] = (
    StockStore,
    CheckoutReadStore,
    CheckoutStore,
    AllocationStockStore,
    QuoteStore,
    CapacityEventLog,
    StockNewsStore,
    ScoreStore,
    AllocationStore,
    BidPriceStore,
    UpgradeStore,
)


def _declared(protocol: type) -> set[str]:
    """Public names a protocol declares (its own and its bases')."""
    return {
        name
        for cls in protocol.__mro__
        if cls.__module__ == StateStore.__module__
        for name in vars(cls)
        if not name.startswith("_")
    }


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    with open_store(state_location) as s:
        yield s


@pytest.mark.parametrize("backend_class", [SqliteStore, PostgresStore])
def test_state_store_declares_every_public_method_of_each_store(
    backend_class: type,
) -> None:
    public = {
        name
        for name, member in inspect.getmembers(backend_class)
        if not name.startswith("_")
        and (callable(member) or isinstance(member, property))
    }
    assert public - _declared(StateStore) == set()


def test_state_store_declares_only_what_the_store_has(store: StateStore) -> None:
    assert {n for n in _declared(StateStore) if not hasattr(store, n)} == set()


def test_each_concern_is_part_of_state_store() -> None:
    for concern in CONCERNS:
        assert issubclass(StateStore, concern), concern.__name__
    covered = set().union(*(_declared(c) for c in CONCERNS))
    assert _declared(StateStore) - covered == {
        "location",
        "reopen",
        "schema_version",
        "migrated_from",
        "follow_schema",
        "schema_moved_on",
        "watch_schema_at_each_write",
        "check_consistency",
        "checkpoint",
        "prune_state",
        "close",
    }


def test_store_satisfies_every_protocol(store: StateStore) -> None:
    for protocol in (*CONCERNS, StateStore):
        assert isinstance(store, protocol), protocol.__name__
    # the same, checked with signatures by mypy
    whole: StateStore = store
    stock: StockStore = store
    checkouts: CheckoutStore = store
    events: CapacityEventLog = store
    news: StockNewsStore = store
    scores: ScoreStore = store
    runs: AllocationStore = store
    prices: BidPriceStore = store
    upgrades: UpgradeStore = store
    quotes: QuoteStore = store
    assert quotes is store
    assert all(p is store for p in (whole, stock, checkouts, events, scores, runs))
    assert prices is store and upgrades is store and news is store


def test_allocation_columns_are_one_schema() -> None:
    names = [c.name for c in ALLOCATION_LINE]
    assert list(AllocationRow._fields) == [n for n in names if n != "batch"]
    decision = ("order_id", "sku", "quantity", "node_id", "service", "ship_date",
                "promised_date", "cost")  # fmt: skip
    # allocations.csv's header is a contract (tests/cli/test_allocate.py)
    assert ALLOCATION_FIELDS[:8] == decision
    assert ALLOCATION_FIELDS[8:12] == ("batch", "status", "reason", "delivery_date")
    assert ALLOCATION_FIELDS[12:15] == ("expected_delivery", "released_at", "split")
    assert ALLOCATION_FIELDS[15:] == COST_PARTS
    assert ALLOCATION_COLUMNS[:8] == decision
    assert ALLOCATION_COLUMNS[8:] == ("status", "reason")
    assert ALLOCATION_EXTRA_COLUMNS[:4] == (
        "delivery_date",
        "expected_delivery",
        "released_at",
        "split",
    )
    assert (
        ALLOCATION_EXTRA_COLUMNS[4:]
        == COST_PARTS
        == ("shipping", "handling", "penalty")
    )


#: How PostgreSQL names the SQLite column types of the migrations.
_POSTGRES_TYPE = {"TEXT": "text", "INTEGER": "integer", "REAL": "double precision"}


def _allocation_columns(location: Path | str) -> dict[str, tuple[str, bool]]:
    """``name: (SQLite type, NOT NULL)`` of the table the migrations built."""
    if is_postgres_url(location):
        back = {pg: lite for lite, pg in _POSTGRES_TYPE.items()}
        rows = run_sql(
            location,
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'allocations'",
        )
        return {str(n): (back[str(t)], nullable == "NO") for n, t, nullable in rows}
    info = run_sql(location, "PRAGMA table_info(allocations)")
    return {str(row[1]): (str(row[2]), bool(row[3])) for row in info}


def test_allocations_table_matches_the_columns(state_location: Path | str) -> None:
    open_store(state_location).close()
    table = _allocation_columns(state_location)
    assert table.pop("run_id") == ("TEXT", True)
    for col in ALLOCATION_LINE:
        assert table.pop(col.name) == (col.kind.upper(), not col.nullable), col.name
    assert table == {}


def test_allocation_rows_convert_each_cell_by_its_column() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "sku": ["A", "B"],
            "quantity": [2, 1],
            "node_id": ["N1", None],
            "service": ["ground", float("nan")],
            "ship_date": ["2026-01-05", None],
            "promised_date": ["2026-01-08", "2026-01-09"],
            "cost": [1, float("nan")],
            "status": [AllocationStatus.ALLOCATED, "deferred"],
            "reason": ["", None],
            "delivery_date": ["2026-01-07", ""],
        }
    )
    first, second = allocation_rows(frame)
    assert first == AllocationRow(
        "O1", "A", 2, "N1", "ground", "2026-01-05", "2026-01-08", 1.0,
        "allocated", "", "2026-01-07", None, None, "", None, None, None,
    )  # fmt: skip
    assert second == AllocationRow(
        "O2", "B", 1, None, None, None, "2026-01-09", None,
        "deferred", "", None, None, None, "", None, None, None,
    )  # fmt: skip
    assert type(first.status) is str and type(first.cost) is float


def test_every_migration_has_its_postgres_twin() -> None:
    from tierflow.data.store import MIGRATIONS, POSTGRES_MIGRATIONS

    assert len(POSTGRES_MIGRATIONS) == len(MIGRATIONS)
