"""The upgrade allowance ledger: noted on select, charged once on confirm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import downgrade_store
from tierflow.data.errors import InputError
from tierflow.data.store import SCHEMA_VERSION, UPGRADE_COLUMNS, SqliteStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "s.db") as s:
        yield s


def test_charged_once_when_the_noted_option_is_confirmed(store: SqliteStore) -> None:
    store.note_upgrade("r1", "platinum", "C1", 12.5, predicted_spend=900, now=100)
    assert store.upgrade_spent("C1", since=0) == 0.0  # selected, not confirmed
    store.note_upgrade("r1", "platinum", "C1", 11.0, predicted_spend=900, now=110)
    assert store.charge_upgrade("r1", "platinum", now=120)
    assert not store.charge_upgrade("r1", "platinum", now=130)  # repeat confirm
    store.note_upgrade("r1", "platinum", "C1", 99.0, predicted_spend=900, now=140)
    assert store.upgrade_spent("C1", since=0) == 11.0  # a charge never changes
    assert store.upgrade_spent("C1", since=120) == 0.0  # outside the period
    assert store.upgrade_spent("C2", since=0) == 0.0
    frame = store.confirmed_upgrades()
    assert frame.columns.tolist() == list(UPGRADE_COLUMNS)
    assert frame[["request_id", "amount", "predicted_spend"]].values.tolist() == [
        ["r1", 11.0, 900.0]
    ]


def test_another_option_confirmed_charges_nothing(store: SqliteStore) -> None:
    """Selected Platinum, then switched to Gold and confirmed."""
    store.note_upgrade("r2", "platinum", "C1", 12.5, predicted_spend=900, now=100)
    assert not store.charge_upgrade("r2", "gold", now=120)
    assert not store.charge_upgrade("unknown", "platinum", now=120)
    assert store.upgrade_spent("C1", since=0) == 0.0
    assert store.confirmed_upgrades().empty


@pytest.mark.parametrize(
    ("amount", "spend", "field"),
    [
        (-1.0, 10.0, "amount"),
        (float("nan"), 10.0, "amount"),
        (1.0, -2.0, "predicted_spend"),
    ],
)
def test_bad_notes_are_refused(
    store: SqliteStore, amount: float, spend: float, field: str
) -> None:
    with pytest.raises(InputError, match=rf"^field '{field}'"):
        store.note_upgrade("r", "platinum", "C1", amount, predicted_spend=spend)


def test_migration_4_adds_the_ledger_to_a_version_3_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    downgrade_store(path, 3)
    with SqliteStore(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.upgrade_spent("C1", since=0) == 0.0


def test_a_noted_upgrade_is_forgotten_until_it_is_charged(
    state_location: Path | str,
) -> None:
    with open_store(state_location) as s:
        s.note_upgrade("r3", "platinum", "C1", 12.5, predicted_spend=900, now=100)
        assert s.forget_upgrade("r3") is True
        assert not s.charge_upgrade("r3", "platinum", now=110)  # nothing noted
        assert s.forget_upgrade("r3") is False
        s.note_upgrade("r4", "platinum", "C1", 12.5, predicted_spend=900, now=100)
        assert s.charge_upgrade("r4", "platinum", now=110)
        assert s.forget_upgrade("r4") is False  # a charge stays
        assert s.upgrade_spent("C1", since=0) == 12.5
