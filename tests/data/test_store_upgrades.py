"""The upgrade allowance ledger: noted on select, charged once on confirm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.postgres import downgrade_store, set_schema_version
from tierflow.cli.state_location import open_state
from tierflow.data.errors import InputError
from tierflow.data.store import (
    SCHEMA_VERSION,
    UPGRADE_COLUMNS,
    SchemaMovedOn,
    SqliteStore,
    UpgradeNote,
    open_store,
)


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


def test_each_hold_notes_what_its_selection_is(state_location: Path | str) -> None:
    """The note goes with the hold, in its transaction: an upgrade's hold
    notes it, any other selection's drops an unconfirmed note, a rejected
    hold notes nothing, and a charged note never changes."""
    line = {"order_id": "r", "created_at": "2026-01-05T15:00:00Z",
            "customer_id": "C1", "dest": "100", "tier": "platinum", "sku": "TEE",
            "quantity": 1, "node_id": "N1", "service": "next_day",
            "ship_date": "2026-01-05", "delivery_date": "2026-01-06"}  # fmt: skip
    up = UpgradeNote("platinum", "C1", 12.5, 900.0)

    def hold(
        rid: str, option: str, qty: int, upgrade: UpgradeNote | None, now: float
    ) -> str:
        return s.hold_checkout(
            rid, option, [("N1", [("TEE", qty)])], 60,
            order_lines=[{**line, "order_id": rid, "quantity": qty}], now=now,
            upgrade=upgrade,
        ).status  # fmt: skip

    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame([("N1", "TEE", 3)], columns=["node_id", "sku", "on_hand"])
        )
        assert hold("r", "platinum", 1, up, 0) == "held"
        assert hold("r", "platinum", 1, None, 1) == "held"  # requoted at its price
        assert hold("r", "platinum", 9, up, 2) == "rejected"  # notes nothing
        assert s.confirm_checkout("r", now=3).option_id == "platinum"
        assert s.upgrade_spent("C1", since=0) == 0.0  # the price was paid
        assert hold("u", "platinum", 1, up, 4) == "held"
        assert hold("u", "gold", 1, None, 5) == "held"  # switched: no note
        assert hold("u", "platinum", 1, up, 6) == "held"
        assert s.confirm_checkout("u", now=7).status == "confirmed"
        assert s.upgrade_spent("C1", since=0) == 12.5
        with pytest.raises(InputError, match="checkout already confirmed"):
            hold("u", "platinum", 1, None, 8)  # rolled back with its note
        assert s.upgrade_spent("C1", since=0) == 12.5  # a charge never changes
        with pytest.raises(InputError, match="value nan: must be a finite number"):
            UpgradeNote("platinum", "C1", float("nan"), 1.0).check("q")


def test_the_confirm_transaction_charges_the_noted_upgrade(
    state_location: Path | str,
) -> None:
    """The order and its charge land together: a confirm charges the note of
    the option it confirms (no second write to forget); a confirm refused
    (the hold lapsed) or of another option than the noted one charges
    nothing."""
    line = {"order_id": "", "created_at": "2026-01-05T15:00:00Z",
            "customer_id": "C1", "dest": "100", "tier": "platinum", "sku": "TEE",
            "quantity": 1, "node_id": "N1", "service": "next_day",
            "ship_date": "2026-01-05", "delivery_date": "2026-01-06"}  # fmt: skip
    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame([("N1", "TEE", 9)], columns=["node_id", "sku", "on_hand"])
        )
        for rid, ttl, option in (
            ("ok", 60, "platinum"),
            ("late", 5, "platinum"),
            ("gold", 60, "gold"),
        ):
            order = [{**line, "order_id": rid}]
            assert s.hold_checkout(
                rid, option, [("N1", [("TEE", 1)])], ttl, order_lines=order, now=0,
                upgrade=UpgradeNote("platinum", "C1", 12.5, 900.0),
            ).ok  # fmt: skip
        assert s.confirm_checkout("ok", now=10).status == "confirmed"
        assert s.upgrade_spent("C1", since=0) == 12.5
        assert s.confirm_checkout("ok", now=11).replayed
        with pytest.raises(InputError, match="hold expired"):
            s.confirm_checkout("late", now=10)
        assert s.confirm_checkout("gold", now=10).status == "confirmed"
        assert s.upgrade_spent("C1", since=0) == 12.5
        assert s.confirmed_upgrades()["request_id"].tolist() == ["ok"]


def test_a_command_s_store_reads_the_schema_version_before_each_write(
    state_location: Path | str,
) -> None:
    """A command's store (``open_state``) sees a newer tierflow's migration
    at its next write, on both backends, and writes again once the version
    is back (a server's follows it once a second instead)."""
    with open_state(state_location) as store:
        assert store.start_allocation_run("r1", {"n": 1}) is None
        set_schema_version(state_location, SCHEMA_VERSION + 1)
        with pytest.raises(SchemaMovedOn, match=f"store schema {SCHEMA_VERSION + 1}"):
            store.start_allocation_run("r2", {"n": 2})
        set_schema_version(state_location, SCHEMA_VERSION)
        assert store.start_allocation_run("r2", {"n": 2}) is None


def test_a_confirm_without_a_noted_upgrade_sends_no_charge(
    state_location: Path | str,
) -> None:
    """The confirm's read of its checkout says whether an upgrade of the
    confirmed option is noted: only then is the charge sent (it was sent on
    every confirm, one statement wasted on each). Counted on SQLite by its
    trace of the statements run (PostgreSQL's client offers no such trace
    and pg_stat_statements is not installed); the charges, on both. A note
    made by ``note_upgrade`` after the hold is charged as before."""
    line = {"order_id": "", "created_at": "2026-01-05T15:00:00Z",
            "customer_id": "C1", "dest": "100", "tier": "gold", "sku": "TEE",
            "quantity": 1, "node_id": "N1", "service": "ground",
            "ship_date": "2026-01-05", "delivery_date": "2026-01-08"}  # fmt: skip
    sent: list[str] = []
    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame([("N1", "TEE", 9)], columns=["node_id", "sku", "on_hand"])
        )
        for rid, option, upgrade in (
            ("plain", "gold", None),
            ("noted", "platinum", UpgradeNote("platinum", "C1", 12.5, 900.0)),
            ("other", "gold", None),
            ("late", "gold", None),
        ):
            assert s.hold_checkout(
                rid, option, [("N1", [("TEE", 1)])], 60,
                order_lines=[{**line, "order_id": rid}], now=0, upgrade=upgrade,
            ).ok  # fmt: skip
        s.note_upgrade("other", "platinum", "C1", 3.0, predicted_spend=900, now=1)
        s.note_upgrade("late", "gold", "C1", 2.0, predicted_spend=900, now=1)
        traced = isinstance(s, SqliteStore)
        if traced:
            s._db._conn.set_trace_callback(sent.append)  # type: ignore[attr-defined]
        charges = []
        for rid in ("plain", "noted", "other", "late"):
            assert s.confirm_checkout(rid, now=10).status == "confirmed"
            charges.append(sum(q.startswith("UPDATE upgrades") for q in sent))
            sent.clear()
        if traced:
            s._db._conn.set_trace_callback(None)  # type: ignore[attr-defined]
            assert charges == [0, 1, 0, 1]
        assert sorted(s.confirmed_upgrades()["request_id"]) == ["late", "noted"]
        assert s.upgrade_spent("C1", since=0) == 14.5
