"""A count below what open checkouts hold (shrinkage found by a cycle
count): refused unless the caller cuts holds; with ``cut_holds`` the count
is written and the newest checkouts' holds at the over-held positions are
released whole, in the count's transaction, on both backends; a cut
checkout's confirm is refused naming the position; migration 17."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.data.order_lines import order_line
from tests.postgres import downgrade_store, run_sql
from tierflow.data.errors import InputError
from tierflow.data.store import (
    SCHEMA_VERSION,
    ChangeIdConflict,
    HoldCut,
    StateStore,
    StockChange,
    StockReceipt,
    open_store,
)

#: Checkouts of N1's 5 TEE: A (2, oldest), B (2 TEE and 1 MUG), C (1, newest).
HOLDS = {
    "A": [("TEE", 2)],
    "B": [("TEE", 2), ("MUG", 1)],
    "C": [("TEE", 1)],
}
#: A count of 3 TEE cuts C, then B (newest first) until 3 or fewer are held.
CUTS = (
    HoldCut("C", "N1", "TEE", 1),
    HoldCut("B", "N1", "MUG", 1),
    HoldCut("B", "N1", "TEE", 2),
)
REFUSED = (
    "on_hand would be 3, below the 5 units reserved (held by open checkouts): "
    "cut_holds (tierflow stock load --cut-holds) writes it and releases the "
    "newest holds there"
)


def _line(request_id: str, sku: str, qty: int) -> dict[str, Any]:
    """A line of ``request_id`` from N1."""
    return order_line(request_id, "N1", sku, qty)


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    """N1: 5 TEE and 4 MUG, held by A, B and C (at 100, 101 and 102 s)."""
    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame({"node_id": "N1", "sku": ["TEE", "MUG"], "on_hand": [5, 4]})
        )
        for t, (rid, lines) in enumerate(HOLDS.items(), start=100):
            order = [_line(rid, sku, q) for sku, q in lines]
            held = s.hold_checkout(
                rid, "gold", [("N1", lines)], 600, order_lines=order, now=t
            )
            assert held.ok
        yield s


def _cells(store: StateStore) -> dict[str, tuple[int, int]]:
    frame = store.inventory_frame()
    return {
        str(s): (int(q), int(r))
        for s, q, r in zip(
            frame["sku"], frame["on_hand"], frame["reserved"], strict=True
        )
    }


def test_a_count_below_the_holds_is_refused_naming_the_flag(store: StateStore) -> None:
    with pytest.raises(InputError) as refused:
        store.change_stock([("N1", "TEE", 3)], now=200)
    assert (refused.value.reason, refused.value.index) == (REFUSED, 0)
    assert (refused.value.field, refused.value.value) == ("on_hand", 3)
    assert _cells(store) == {"TEE": (5, 5), "MUG": (4, 1)}


def test_cut_holds_writes_the_count_and_cuts_the_newest_checkouts_whole(
    store: StateStore,
) -> None:
    version = store.stock_version()
    done = store.change_stock_once(
        [("N1", "TEE", 3)], change_id=None, cut_holds=True, now=200
    )
    assert done == StockReceipt([StockChange("N1", "TEE", 5, 3, 2)], False, CUTS)
    # B's MUG went with its TEE: no checkout confirms part of its lines
    assert _cells(store) == {"TEE": (3, 2), "MUG": (4, 0)}
    # the open pages of both SKUs are answered again
    assert store.stock_changed_since(version)[1] == {"TEE", "MUG"}
    assert store.confirm_checkout("A", now=201).status == "confirmed"
    for rid in ("B", "C"):
        with pytest.raises(InputError) as refused:
            store.confirm_checkout(rid, now=201)
        assert str(refused.value) == (
            f"field 'request_id': value '{rid}': hold cut at "
            "1970-01-01T00:03:20+00:00: the stock of TEE at N1 was recounted "
            "below what open checkouts held; select an option again"
        )
    assert _cells(store) == {"TEE": (1, 0), "MUG": (4, 0)}
    assert store.check_consistency() == []


def test_a_checkout_is_cut_at_every_node_it_holds(store: StateStore) -> None:
    """F ships from N1 and N2: a count of N1's TEE that cuts F frees its
    N2 line too, listed; F's confirm names the position recounted."""
    store.upsert_inventory(
        pd.DataFrame({"node_id": ["N1", "N2"], "sku": "TEE", "on_hand": [6, 3]})
    )
    order = [_line("F", "TEE", 1), {**_line("F", "TEE", 2), "node_id": "N2"}]
    holds = [("N1", [("TEE", 1)]), ("N2", [("TEE", 2)])]
    assert store.hold_checkout("F", "gold", holds, 600, order_lines=order, now=103).ok
    done = store.change_stock_once(
        [("N1", "TEE", 5)], change_id=None, cut_holds=True, now=200
    )
    assert done.cuts == (HoldCut("F", "N1", "TEE", 1), HoldCut("F", "N2", "TEE", 2))
    assert store.available("N2", ["TEE"], now=200) == {"TEE": 3}
    with pytest.raises(InputError, match="the stock of TEE at N1 was recounted"):
        store.confirm_checkout("F", now=201)
    assert store.check_consistency() == []


def test_a_count_that_fits_cuts_nothing(store: StateStore) -> None:
    done = store.change_stock_once(
        [("N1", "TEE", 5)], change_id=None, cut_holds=True, now=200
    )
    assert done == StockReceipt([StockChange("N1", "TEE", 5, 5, 5)], False)
    assert store.confirm_checkout("C", now=201).ok


def test_nothing_is_cut_or_written_when_a_later_row_is_bad(store: StateStore) -> None:
    with pytest.raises(InputError) as refused:
        store.change_stock(
            [("N1", "TEE", 3), ("N1", "MUG", -1)], cut_holds=True, now=200
        )
    assert (refused.value.reason, refused.value.index) == (
        "on_hand would be -1: below 0",
        1,
    )
    assert _cells(store) == {"TEE": (5, 5), "MUG": (4, 1)}
    for rid in HOLDS:
        assert store.confirm_checkout(rid, now=201).status == "confirmed"


def test_a_count_replayed_by_its_id_does_not_cut_again(store: StateStore) -> None:
    first = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=200
    )
    assert first.cuts == CUTS
    # D holds the one TEE the count left free; the count's retry cuts nothing
    order = [_line("D", "TEE", 1)]
    assert store.hold_checkout(
        "D", "gold", [("N1", [("TEE", 1)])], 600, order_lines=order, now=202
    ).ok
    again = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=203
    )
    assert again == first._replace(duplicate=True)
    assert _cells(store) == {"TEE": (3, 3), "MUG": (4, 0)}
    assert store.confirm_checkout("D", now=204).ok


def test_a_hold_past_its_ttl_is_freed_before_any_is_cut(store: StateStore) -> None:
    """C's hold lapsed (a select of 1 s): a count of 4 frees it and cuts none."""
    store.cancel_checkout("C", now=103)
    order = [_line("E", "TEE", 1)]
    store.hold_checkout(
        "E", "gold", [("N1", [("TEE", 1)])], 1, order_lines=order, now=104
    )
    done = store.change_stock_once(
        [("N1", "TEE", 4)], change_id=None, cut_holds=True, now=200
    )
    assert done == StockReceipt([StockChange("N1", "TEE", 5, 4, 4)], False)


def test_migration_17_adds_the_cuts_to_a_version_16_store(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    downgrade_store(state_location, 16)
    with open_store(state_location) as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert run_sql(state_location, "SELECT COUNT(*) FROM hold_cuts") == [(0,)]


def test_a_cut_checkout_selected_again_short_names_the_position(
    store: StateStore,
) -> None:
    """C, cut by a count of 3, selected again finds no TEE free: rejected,
    with the position recounted and when (``cut``), as its confirm names
    them; a checkout rejected that was never cut has none."""
    store.change_stock_once([("N1", "TEE", 3)], change_id=None, cut_holds=True, now=200)
    order = [_line("D", "TEE", 1)]
    assert store.hold_checkout(
        "D", "gold", [("N1", [("TEE", 1)])], 600, order_lines=order, now=201
    ).ok
    again = store.hold_checkout(
        "C",
        "gold",
        [("N1", [("TEE", 1)])],
        600,
        order_lines=[_line("C", "TEE", 1)],
        now=202,
    )
    assert (again.status, again.shortfall) == ("rejected", (("N1", "TEE", 1, 0),))
    assert again.cut == ("N1", "TEE", 200.0)
    never = store.hold_checkout(
        "G",
        "gold",
        [("N1", [("TEE", 1)])],
        600,
        order_lines=[_line("G", "TEE", 1)],
        now=202,
    )
    assert (never.status, never.cut) == ("rejected", None)


def test_a_change_id_sent_again_with_cut_holds_or_without_is_another_change(
    store: StateStore,
) -> None:
    """``cut_holds`` is part of the request a ``change_id`` is recorded
    with: its retry with the flag dropped or added is refused, nothing
    written (it was answered as the first's duplicate)."""
    first = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=200
    )
    assert first.cuts == CUTS
    store.change_stock_once([("N1", "MUG", 4)], change_id="cnt-2", now=200)
    with pytest.raises(ChangeIdConflict, match="already used by another"):
        store.change_stock_once([("N1", "TEE", 3)], change_id="cnt-1", now=201)
    with pytest.raises(ChangeIdConflict, match="already used by another"):
        store.change_stock_once(
            [("N1", "MUG", 4)], change_id="cnt-2", cut_holds=True, now=201
        )
    again = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=202
    )
    assert again == first._replace(duplicate=True)
    assert _cells(store) == {"TEE": (3, 2), "MUG": (4, 0)}


def _old_digest(mode: str, cells: list[list[Any]]) -> str:
    """A ``stock_changes.request`` as recorded before ``cut_holds`` was
    part of it (schemas 16 and 17)."""
    return hashlib.sha256(json.dumps([mode, cells]).encode()).hexdigest()


def test_a_change_id_recorded_before_cut_holds_was_in_its_digest_still_answers(
    store: StateStore, state_location: Path | str
) -> None:
    """Ids recorded with the old digest (no flag in it) answer their
    retry as duplicates: a count that cut holds (schema 17), with the
    flag, and a receipt of schema 16 (its answer a list), without it; the
    flag each was plainly not sent with is refused."""
    cut = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=200
    )
    receipt = store.change_stock_once(
        [("N1", "MUG", 2)], change_id="rcv-1", add=True, now=200
    )
    run_sql(
        state_location,
        f"UPDATE stock_changes SET request = '{_old_digest('set', [['N1', 'TEE', 3]])}'"
        " WHERE change_id = 'cnt-1'",
        f"UPDATE stock_changes SET request = '{_old_digest('add', [['N1', 'MUG', 2]])}'"
        ", result = '[[\"N1\", \"MUG\", 4, 6, 0]]' WHERE change_id = 'rcv-1'",
    )
    again = store.change_stock_once(
        [("N1", "TEE", 3)], change_id="cnt-1", cut_holds=True, now=201
    )
    assert again == cut._replace(duplicate=True)
    twice = store.change_stock_once(
        [("N1", "MUG", 2)], change_id="rcv-1", add=True, now=201
    )
    assert twice == receipt._replace(duplicate=True)
    with pytest.raises(ChangeIdConflict):  # it cut: it was sent with the flag
        store.change_stock_once([("N1", "TEE", 3)], change_id="cnt-1", now=202)
    with pytest.raises(ChangeIdConflict):  # schema 16 had no flag
        store.change_stock_once(
            [("N1", "MUG", 2)], change_id="rcv-1", add=True, cut_holds=True, now=202
        )
    assert _cells(store) == {"TEE": (3, 2), "MUG": (6, 0)}
