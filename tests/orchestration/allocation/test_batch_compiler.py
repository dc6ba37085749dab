"""The batch compiler: stages, release times, and the hindsight problem.

Tiny network stock: WH-EAST TEE 100, MUG 20, SOFA 2; WH-WEST TEE 50,
SPRAY 10; ST-CHI TEE 5.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.fulfillment import CompiledBatch, compile_lines
from tierflow.formulations.tiers import MAX_PROMISE_DAYS, TierPolicy
from tierflow.orchestration.allocation.batch_compiler import (
    BatchCompiler,
    subset_batch,
)

ROWS = [
    "W,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",  # whole at any node
    "M,2026-01-05T10:05:00-05:00,C2,606,silver,MUG,1",  # no node has both: split
    "M,2026-01-05T10:05:00-05:00,C2,606,silver,SPRAY,1",
    "X,2026-01-05T10:10:00-05:00,C3,606,gold,SOFA,3",  # 3 sofas: unfillable
    "X,2026-01-05T10:10:00-05:00,C3,606,gold,TEE,2",  # ... X is its TEE, whole
    "P,2026-01-05T10:15:00-05:00,C4,900,platinum,TEE,1",
]


def _compiler(
    net: Network, orders: Orders, policy: TierPolicy | None = None
) -> BatchCompiler:
    return BatchCompiler(
        net,
        orders,
        policy or TierPolicy(),
        np.zeros(orders.n_orders),
        net.inventory.astype(np.int64),
    )


def _items(batch: CompiledBatch) -> list[tuple[str, int]]:
    """Each item as ("order", order) or ("line", line)."""
    return [
        ("line", int(batch.lines[batch.item_lines[k]]))
        if batch.split[k]
        else ("order", int(batch.item_order[k]))
        for k in range(batch.problem.n_items)
    ]


def _costs(batch: CompiledBatch) -> list[tuple[list[float], float]]:
    """Each item's cost row and deferral cost."""
    p = batch.problem
    assert p.defer_cost is not None
    return [(p.cost[k].tolist(), float(p.defer_cost[k])) for k in range(p.n_items)]


def test_stages_whole_split_and_unfillable(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    compiler = _compiler(tiny_network, orders)
    idx = np.arange(orders.n_orders, dtype=np.intp)
    stages = compiler.compile(
        idx, capacity=tiny_network.capacity, stock=compiler.initial_stock
    )
    sku = np.asarray(orders.line_sku_id)
    assert sku[stages.unfillable].tolist() == ["SOFA"]
    assert stages.whole is not None and stages.split is not None
    whole_ids = [orders.order_ids[i] for i in stages.whole.item_order]
    # X is the shipment of its fillable TEE, not a split line (until 2026-12-05)
    assert whole_ids == ["W", "X", "P"]
    x = stages.whole.item_order.tolist().index(orders.order_ids.index("X"))
    first = stages.whole.item_lines[x]
    assert np.diff(stages.whole.item_lines)[x] == 1
    assert sku[stages.whole.lines[first]] == "TEE"
    assert sku[stages.split.lines].tolist() == ["MUG", "SPRAY"]
    assert stages.stuck() is None
    joint = stages.solvable()
    assert joint is not None and joint.problem.n_items == 5


def test_the_longest_promise_is_priced(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """Every tier promising :data:`MAX_PROMISE_DAYS` delivery days: each
    line is priced over the delivery calendar (a longer promise once ran
    past its end), and nothing is late, so no cost exceeds the default's."""
    rules = {
        tier: dataclasses.replace(rule, promise_days=MAX_PROMISE_DAYS)
        for tier, rule in TierPolicy().rules.items()
    }
    orders = make_orders(ROWS)
    idx = np.arange(orders.n_orders, dtype=np.intp)
    stages = {
        name: compiler.compile(
            idx, capacity=tiny_network.capacity, stock=compiler.initial_stock
        ).solvable()
        for name, compiler in (
            ("default", _compiler(tiny_network, orders)),
            ("longest", _compiler(tiny_network, orders, TierPolicy(rules=rules))),
        )
    }
    default, longest = stages["default"], stages["longest"]
    assert default is not None and longest is not None
    ok = np.isfinite(longest.problem.cost)
    assert np.array_equal(ok, np.isfinite(default.problem.cost)) and ok.any()
    assert np.all(longest.problem.cost[ok] <= default.problem.cost[ok] + 1e-9)


def test_hindsight_problem_has_the_batch_items_and_costs(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """One batch holding the day, and the day compiled for the bound: the
    same items at the same costs (split lines in line order for the bound)."""
    orders = make_orders(ROWS)
    compiler = _compiler(tiny_network, orders)
    idx = np.arange(orders.n_orders, dtype=np.intp)
    stages = compiler.compile(
        idx, capacity=tiny_network.capacity, stock=compiler.initial_stock
    )
    batch, day = stages.solvable(), stages.whole_day()
    assert batch is not None and day is not None
    assert sorted(_items(batch)) == sorted(_items(day))
    cost_of = dict(zip(_items(batch), _costs(batch), strict=True))
    for item, cost in zip(_items(day), _costs(day), strict=True):
        assert cost_of[item] == cost
    split = day.lines[day.split]
    assert split.tolist() == sorted(split.tolist())


def test_lines_reordered_equal_lines_compiled_in_that_order(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    """Pricing is per item, so reordering compiled lines is compiling them reordered."""
    orders = make_orders(ROWS)
    lines = np.array([4, 1, 2], dtype=np.intp)

    def compiled_in_order(order: NDArray[np.intp]) -> CompiledBatch:
        return compile_lines(
            tiny_network,
            orders,
            order,
            TierPolicy(),
            capacity=tiny_network.capacity,
            stock=tiny_network.inventory.astype(np.int64),
            predicted_spend=np.zeros(order.size),
        )

    compiled = compiled_in_order(lines)
    perm = np.argsort(lines, kind="stable")
    direct = compiled_in_order(lines[perm])
    moved = subset_batch(compiled, perm)
    assert moved.problem == direct.problem
    assert np.array_equal(moved.lines, direct.lines)
    assert np.array_equal(moved.true_cost, direct.true_cost)


def test_platinum_released_at_its_own_time_unless_rerouted(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    compiler = _compiler(tiny_network, orders)
    now = np.datetime64("2026-01-05T16:00:00", "s")
    gold, plat = orders.order_ids.index("W"), orders.order_ids.index("P")
    items = np.array([gold, plat], dtype=np.intp)
    own = orders.created_at[plat].astype("datetime64[s]")
    assert compiler.release_times(items, now, ()).tolist() == [
        now.item(),
        own.item(),
    ]
    assert compiler.release_times(items, now, {plat}).tolist() == [now.item()] * 2
    compiler.platinum_at_checkout = False
    assert compiler.release_times(items, now, ()).tolist() == [now.item()] * 2


@pytest.mark.parametrize("keep", [[], [1], [1, 0]])
def test_subset_keeps_items_and_their_lines(
    tiny_network: Network, make_orders: MakeOrders, keep: list[int]
) -> None:
    orders = make_orders(ROWS)
    compiler = _compiler(tiny_network, orders)
    stages = compiler.compile(
        np.arange(orders.n_orders, dtype=np.intp),
        capacity=tiny_network.capacity,
        stock=compiler.initial_stock,
    )
    split = stages.split
    assert split is not None
    sub = subset_batch(split, np.array(keep, dtype=np.intp))
    assert sub.problem.n_items == len(keep)
    assert sub.lines.tolist() == split.lines[keep].tolist()
    assert np.array_equal(sub.true_cost, split.true_cost[keep])
