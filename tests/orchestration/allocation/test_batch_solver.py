"""The batch solver and the rows of a solved batch, on the tiny network."""

from __future__ import annotations

import numpy as np
import pytest

from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.vocabulary import AllocationStatus
from tierflow.formulations.fulfillment import CompiledBatch
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.allocation.allocation_rows import (
    SPLIT_REASON,
    BatchRows,
)
from tierflow.orchestration.allocation.batch_compiler import BatchCompiler
from tierflow.orchestration.allocation.batch_solver import BatchSolver
from tierflow.orchestration.allocation.ledger import Placement
from tierflow.orchestration.allocation.settings import NEAREST, AllocationSettings

ROWS = [
    "A,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1",  # New York
    "B,2026-01-05T10:01:00-05:00,C2,900,gold,TEE,2",  # Los Angeles
    "C,2026-01-05T10:02:00-05:00,C3,606,gold,TEE,1",  # Chicago
    "M,2026-01-05T10:03:00-05:00,C4,606,silver,MUG,1",  # split
    "M,2026-01-05T10:03:00-05:00,C4,606,silver,SPRAY,1",
]


def _batch(net: Network, orders: Orders) -> CompiledBatch:
    compiler = BatchCompiler(
        net, orders, TierPolicy(), np.zeros(orders.n_orders), net.inventory
    )
    stages = compiler.compile(
        np.arange(orders.n_orders, dtype=np.intp),
        capacity=net.capacity,
        stock=net.inventory.astype(np.int64),
    )
    joint = stages.solvable()
    assert joint is not None
    return joint


@pytest.mark.parametrize(
    ("engine", "backend"), [("greedy", "none"), ("highs", "none"), (NEAREST, "none")]
)
def test_engines_answer_every_item(
    tiny_network: Network, make_orders: MakeOrders, engine: str, backend: str
) -> None:
    orders = make_orders(ROWS)
    joint = _batch(tiny_network, orders)
    settings = AllocationSettings(engine=engine, backend=backend)
    solution = BatchSolver(tiny_network, orders, settings).solve(joint)
    assert (solution.result.assignment >= 0).all()
    assert not solution.fallback
    assert solution.solve_s >= 0.0
    if engine == NEAREST:  # the nearest node with stock, whatever the cost
        chi = tiny_network.node_idx("ST-CHI")
        pos = list(joint.item_order).index(orders.order_ids.index("C"))
        assert solution.result.assignment[pos] == chi


def test_regions_solved_in_parallel_give_a_verified_answer(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    settings = AllocationSettings(engine="greedy", backend="threading")
    solution = BatchSolver(tiny_network, orders, settings).solve(
        _batch(tiny_network, orders)
    )
    assert (solution.result.assignment >= 0).all()


def test_rows_of_a_solved_batch(tiny_network: Network, make_orders: MakeOrders) -> None:
    orders = make_orders(ROWS)
    joint = _batch(tiny_network, orders)
    result = BatchSolver(
        tiny_network, orders, AllocationSettings(engine="greedy")
    ).solve(joint)
    rows = BatchRows(tiny_network, orders)
    b = orders.order_ids.index("B")
    east = tiny_network.node_idx("WH-EAST")
    pulled = {b: Placement(east, 1.0, 0, 0.0, 1.0)}
    reasons = rows.reasons(joint, result.result.assignment, pulled)
    frame = rows.solved(joint, result.result, 3, reasons)
    assert len(frame) == orders.n_lines
    assert set(frame["status"]) == {AllocationStatus.ALLOCATED}
    parts = frame["shipping"] + frame["handling"] + frame["penalty"]
    assert np.allclose(parts, frame["cost"], atol=1e-6)
    by_line = frame.set_index(["order_id", "sku"])
    assert by_line.loc[("M", "MUG"), "reason"] == SPLIT_REASON
    assert by_line.loc[("B", "TEE"), "reason"] == (
        "rerouted from WH-EAST after a capacity event"
    )
    assert by_line.loc[("A", "TEE"), "reason"] == ""
    assert (frame["batch"] == 3).all()


def test_waiting_and_unfillable_rows(
    tiny_network: Network, make_orders: MakeOrders
) -> None:
    orders = make_orders(ROWS)
    joint = _batch(tiny_network, orders)
    rows = BatchRows(tiny_network, orders)
    waiting = rows.waiting(joint, 1, "no room")
    assert set(waiting["status"]) == {AllocationStatus.DEFERRED}
    assert set(waiting["reason"]) == {"no room"}
    assert (waiting["node_id"] == "").all()
    assert np.allclose(waiting["cost"], waiting["penalty"], atol=1e-6)
    gone = rows.unfillable(np.array([0, 1], dtype=np.intp), 2, "none left")
    assert gone["order_id"].tolist() == ["A", "B"]
    assert set(gone["status"]) == {AllocationStatus.UNFILLABLE}
    assert gone["cost"].sum() == 0.0


@pytest.mark.parametrize("engine", ["greedy", "cpsat", "highs"])
def test_a_line_without_room_says_room_left_today(
    tiny_network: Network, make_orders: MakeOrders, engine: str
) -> None:
    """A batch's capacity is the room each node has left today: a line the
    engine could place nowhere says so in the day's words, not the engine's
    ("the capacity of every eligible node"); an exact engine's too (it said
    the optimizer found the day cheaper with it waiting)."""
    orders = make_orders(ROWS[:3])
    compiler = BatchCompiler(
        tiny_network,
        orders,
        TierPolicy(),
        np.zeros(orders.n_orders),
        tiny_network.inventory,
    )
    stages = compiler.compile(
        np.arange(orders.n_orders, dtype=np.intp),
        capacity=np.full(tiny_network.n_nodes, 1.0),
        stock=tiny_network.inventory.astype(np.int64),
    )
    joint = stages.solvable()
    assert joint is not None
    solution = BatchSolver(
        tiny_network, orders, AllocationSettings(engine=engine)
    ).solve(joint)
    frame = BatchRows(tiny_network, orders).solved(joint, solution.result, 1, {})
    assert solution.result.unassigned_reason == {
        1: "larger than the capacity of every eligible node"
    }
    by_order = frame.set_index("order_id")
    assert by_order.loc["B", "status"] == AllocationStatus.DEFERRED
    assert by_order.loc["B", "reason"] == (
        "deferred: larger than the room left today at every eligible node"
    )
