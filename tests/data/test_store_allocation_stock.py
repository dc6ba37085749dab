"""``allocation_stock``: an allocation's starting stock (stock levels and the
confirmed lines of its orders) read as one snapshot, on both backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.data.order_lines import order_line
from tierflow.data.store import StateStore, open_store
from tierflow.data.store import checkouts as checkouts_module
from tierflow.data.store.database import Connection


def _hold(store: StateStore, order_id: str, node: str, sku: str, qty: int) -> None:
    """A checkout of one line held at ``now`` 0 for 60 s."""
    lines = [order_line(order_id, node, sku, qty)]
    held = store.hold_checkout(
        order_id, "gold", [(node, [(sku, qty)])], 60, order_lines=lines, now=0
    )
    assert held.ok


@pytest.fixture
def store(state_location: Path | str) -> Iterator[StateStore]:
    with open_store(state_location) as s:
        s.upsert_inventory(
            pd.DataFrame(
                [("N1", "TEE", 10), ("N1", "MUG", 3), ("N2", "TEE", 4)],
                columns=["node_id", "sku", "on_hand"],
            )
        )
        yield s


def test_it_is_what_the_two_reads_give(store: StateStore) -> None:
    """Without a write between them, it is ``stock_levels`` and
    ``confirmed_lines`` (a confirmed order, a live hold, a hold lapsed at
    ``now``, an order the store never saw)."""
    for order_id, node, sku, qty in [
        ("q1", "N1", "TEE", 2),
        ("q2", "N1", "MUG", 1),
        ("q3", "N2", "TEE", 3),
    ]:
        _hold(store, order_id, node, sku, qty)
    assert store.confirm_checkout("q1", now=1).status == "confirmed"
    ids = ["q1", "q2", "q3", "nobody"]
    read = store.allocation_stock(ids, now=61)  # q2, q3 lapsed: free
    pd.testing.assert_frame_equal(read.levels, store.stock_levels(now=61))
    pd.testing.assert_frame_equal(read.confirmed, store.confirmed_lines(ids))
    levels = read.levels.set_index(["node_id", "sku"])["available"].to_dict()
    assert levels == {("N1", "MUG"): 3, ("N1", "TEE"): 8, ("N2", "TEE"): 4}
    assert read.confirmed.values.tolist() == [["q1", "TEE", "N1", 2]]
    live = store.allocation_stock(ids, now=30).levels  # q2, q3 still held
    assert live["available"].tolist() == [2, 8, 1]
    assert store.allocation_stock([], now=30).confirmed.empty


def test_a_confirm_between_its_reads_is_not_counted_twice(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout another connection confirms after the stock levels were
    read and before the confirmed lines are: both reads see the store as it
    was (the hold, lapsed at the allocation's ``now`` but confirmed by a
    server whose clock is behind, counted free; no line counted back), so
    the starting stock is the 10 TEE there are. Read apart, the units were
    counted free and counted back: 12."""
    _hold(store, "q", "N1", "TEE", 2)
    confirmed: list[str] = []
    read_lines = checkouts_module.confirmed_lines_in

    def confirm_first(conn: Connection, order_ids: Iterable[str]) -> pd.DataFrame:
        with store.reopen() as server:  # its own connection
            confirmed.append(server.confirm_checkout("q", now=30).status)
        return read_lines(conn, order_ids)

    monkeypatch.setattr(checkouts_module, "confirmed_lines_in", confirm_first)
    read = store.allocation_stock(["q"], now=100)
    assert confirmed == ["confirmed"]  # it landed between the reads
    monkeypatch.undo()

    def units(levels: pd.DataFrame, lines: pd.DataFrame) -> int:
        tee = levels[(levels["node_id"] == "N1") & (levels["sku"] == "TEE")]
        return int(tee["available"].sum()) + int(lines["quantity"].sum())

    assert units(read.levels, read.confirmed) == 10
    assert read.confirmed.empty  # the store as it stood before the confirm
    after = store.allocation_stock(["q"], now=100)
    assert after.confirmed.values.tolist() == [["q", "TEE", "N1", 2]]
    assert units(after.levels, after.confirmed) == 10
