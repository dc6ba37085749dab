"""Stock changes written with a ``change_id`` (an idempotency key): applied
once, a retry answered from the record, another body under the id refused,
on both backends; and migration 16, which adds their table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.postgres import downgrade_store, run_sql
from tierflow.data.errors import InputError
from tierflow.data.store import (
    SCHEMA_VERSION,
    ChangeIdConflict,
    StateStore,
    StockChange,
    StockReceipt,
    open_store,
)

RECEIPT = [("N1", "TEE", 5), ("N1", "MUG", -2)]
DONE = [StockChange("N1", "TEE", 50, 55, 0), StockChange("N1", "MUG", 50, 48, 0)]


def _stocked(store: StateStore) -> StateStore:
    store.upsert_inventory(
        pd.DataFrame({"node_id": "N1", "sku": ["TEE", "MUG"], "on_hand": 50})
    )
    return store


#: When the tests' changes are applied (the store's clock, epoch seconds).
T0 = 1_800_000_000.0


def _on_hand(store: StateStore) -> dict[str, int]:
    frame = store.inventory_frame()
    return dict(zip(frame["sku"], frame["on_hand"].astype(int), strict=True))


def test_a_receipt_retried_with_its_id_is_counted_once(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as store:
        _stocked(store)
        first = store.change_stock_once(RECEIPT, change_id="rcv-1", add=True, now=T0)
        assert first == StockReceipt(DONE, duplicate=False, applied_at=T0)
        # a retry an hour later says when the first was applied
        again = store.change_stock_once(
            RECEIPT, change_id="rcv-1", add=True, now=T0 + 3600
        )
        assert again == StockReceipt(DONE, duplicate=True, applied_at=T0)
        assert _on_hand(store) == {"MUG": 48, "TEE": 55}
        # another id is another receipt
        other = store.change_stock_once(RECEIPT, change_id="rcv-2", add=True, now=T0)
        assert other == StockReceipt(
            [StockChange("N1", "TEE", 55, 60, 0), StockChange("N1", "MUG", 48, 46, 0)],
            duplicate=False,
            applied_at=T0,
        )
        assert _on_hand(store) == {"MUG": 46, "TEE": 60}


@pytest.mark.parametrize(
    ("changes", "add"),
    [
        ([("N1", "TEE", 6), ("N1", "MUG", -2)], True),  # another quantity
        ([("N1", "MUG", -2), ("N1", "TEE", 5)], True),  # another order
        (RECEIPT, False),  # a count, not a receipt
    ],
)
def test_another_body_under_a_used_id_is_refused_and_writes_nothing(
    state_location: Path | str, changes: list[tuple[str, str, int]], add: bool
) -> None:
    with open_store(state_location) as store:
        _stocked(store)
        store.change_stock_once(RECEIPT, change_id="rcv-1", add=True)
        with pytest.raises(ChangeIdConflict) as refused:
            store.change_stock_once(changes, change_id="rcv-1", add=add)
        assert isinstance(refused.value, InputError)
        assert str(refused.value) == (
            "field 'change_id': value 'rcv-1': already used by another stock "
            "change (another mode, changes or cut_holds): a change_id is an idempotency "
            "key; nothing written"
        )
        assert _on_hand(store) == {"MUG": 48, "TEE": 55}


def test_a_refused_change_records_no_id(state_location: Path | str) -> None:
    """Nothing written, nothing recorded: the corrected change under the
    same id is applied."""
    with open_store(state_location) as store:
        _stocked(store)
        with pytest.raises(InputError, match="below 0"):
            store.change_stock_once([("N1", "TEE", -60)], change_id="a-1", add=True)
        done = store.change_stock_once(
            [("N1", "TEE", -6)], change_id="a-1", add=True, now=T0
        )
        assert done == StockReceipt(
            [StockChange("N1", "TEE", 50, 44, 0)], False, (), T0
        )
        assert _on_hand(store) == {"MUG": 50, "TEE": 44}


def test_a_count_that_changed_nothing_is_recorded_too(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as store:
        _stocked(store)
        done = store.change_stock_once([("N1", "TEE", 50)], change_id="c-1", now=T0)
        assert done == StockReceipt(
            [StockChange("N1", "TEE", 50, 50, 0)], False, (), T0
        )
        store.change_stock([("N1", "TEE", 40)])  # a count without an id
        again = store.change_stock_once([("N1", "TEE", 50)], change_id="c-1")
        assert again == StockReceipt(
            [StockChange("N1", "TEE", 50, 50, 0)], True, (), T0
        )
        assert _on_hand(store)["TEE"] == 40


def test_migration_16_adds_the_record_to_a_version_15_store(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as store:
        _stocked(store)
    downgrade_store(state_location, 15)
    with open_store(state_location) as store:
        assert store.schema_version() == SCHEMA_VERSION
        done = store.change_stock_once([("N1", "TEE", 1)], change_id="m-1", add=True)
        assert done.changes == [StockChange("N1", "TEE", 50, 51, 0)]
    assert run_sql(state_location, "SELECT change_id FROM stock_changes") == [("m-1",)]
