"""Which guaranteed items every policy keeps on time: a node the other orders
released by the item's decision could not fill (room and every line's stock)
even if all of them shipped from it."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.formulations.guarantee_fallback import (
    GuaranteedLate,
    OrderContents,
    ShipColumns,
    surely_kept,
)

T0 = np.datetime64("2026-01-05T10:00:00")
HOUR = np.timedelta64(1, "h")
N_SKUS = 2


def _ships(orders: list[tuple[int, float, int, int, float]]) -> ShipColumns:
    """One column per ``(order, workload, hour, sku, qty)``, all at node 0."""
    n = len(orders)
    return ShipColumns(
        node=np.zeros(n, dtype=np.int64),
        order=np.array([o for o, *_ in orders], dtype=np.int64),
        workload=np.array([w for _, w, *_ in orders]),
        release=np.array([T0 + h * HOUR for _, _, h, *_ in orders]),
        use_col=np.arange(n, dtype=np.int64),
        use_sku=np.array([s for *_, s, _ in orders], dtype=np.int64),
        use_qty=np.array([q for *_, q in orders]),
    )


def _item(workload: float, hour: int, qty: float) -> GuaranteedLate:
    """Order 0: one line of SKU 0, may be late; node 0 could keep it."""
    one = np.zeros(1, dtype=np.int64)
    return GuaranteedLate(
        late_col=one,
        late_owner=one,
        order=one,
        release=np.array([T0 + hour * HOUR]),
        workload=np.array([workload]),
        keeper_owner=one,
        keeper_node=one,
        line_owner=one,
        line_sku=one,
        line_qty=np.array([qty]),
    )


def _contents(work: list[float], qty: list[float]) -> OrderContents:
    """Order ``k`` has ``qty[k]`` units of SKU 0 and workload ``work[k]``."""
    keys = np.arange(len(qty), dtype=np.int64) * N_SKUS
    return OrderContents(np.array(work), keys, np.array(qty))


# order 0 is the item (its own columns never count); orders 1-2 came before
# it (hours 0 and 1), order 3 after it (hour 5)
SHIPS = _ships(
    [(0, 3.0, 2, 0, 1), (1, 4.0, 0, 0, 2), (2, 4.0, 1, 0, 2), (3, 50, 5, 0, 9)]
)
CONTENTS = _contents([3.0, 4.0, 4.0, 50.0], [1, 2, 2, 9])


@pytest.mark.parametrize(
    ("capacity", "stock", "kept"),
    [
        (11.0, 5, True),  # 8 + 3 <= 11 and 4 + 1 <= 5: nothing can run out
        (10.9, 5, False),  # orders 1-2 may fill the node before the item
        (11.0, 4, False),  # they may take 4 of the 4 units the item needs 1 of
    ],
)
def test_a_node_too_big_to_fill_keeps_the_item_on_time(
    capacity: float, stock: int, kept: bool
) -> None:
    got = surely_kept(
        _item(3.0, 2, 1.0),
        SHIPS,
        np.array([capacity]),
        np.array([[stock, 0]], dtype=np.int64),
        CONTENTS,
    )
    assert got.tolist() == [kept]


def test_an_order_counts_at_most_what_it_holds() -> None:
    """Order 1 has a whole column and two line columns at the node (4 + 2 +
    2 of workload, 2 + 1 + 1 units): it can take at most its 4 and 2."""
    ships = _ships([(1, 4.0, 0, 0, 2), (1, 2.0, 0, 0, 1), (1, 2.0, 0, 0, 1)])
    contents = _contents([3.0, 4.0], [1, 2])
    got = surely_kept(
        _item(3.0, 2, 1.0),
        ships,
        np.array([7.0]),
        np.array([[3, 0]], dtype=np.int64),
        contents,
    )
    assert got.tolist() == [True]
