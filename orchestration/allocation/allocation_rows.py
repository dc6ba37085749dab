"""Allocation rows (one per order line) of a solved batch, and why."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import listed
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.data.rates import SERVICES
from tierflow.data.vocabulary import AllocationStatus
from tierflow.formulations.batch_compiler import SPLIT_STOCK
from tierflow.formulations.fulfillment import CompiledBatch
from tierflow.formulations.problem import AssignmentProblem
from tierflow.orchestration.allocation.ledger import Placement
from tierflow.solver import partial_assignment
from tierflow.solver.partial_assignment import ItemResources
from tierflow.solver.result import DEFERRED_BY_OPTIMIZER, SolveResult, Status

#: The ``split`` column per :attr:`CompiledBatch.split_kind`.
_SPLIT_NAMES = np.array(["", "stock", "room"], dtype=object)

SPLIT_REASON = "split: no single node holds every line"
LATE_REASON = "late: no node with the stock and room could deliver by the promised date"
SPLIT_FOR_ROOM_REASON = "split: no single node had the room for the whole order"
#: A guaranteed order a node held whole, split so each line is on time.
SPLIT_ON_TIME_REASON = (
    "split: no node with every line and the room could deliver the whole order "
    "by the promised date"
)
#: A whole order the optimizer left waiting though a node had the room for
#: it, whose lines then shipped alone (each dearer by an extra shipment).
SPLIT_CHEAPER_REASON = (
    "split: shipping these lines today was cheaper than the whole order waiting"
)
NO_ROOM_REASON = "deferred: no node has the room for the order or its lines"
UNFILLABLE_REASON = "no node holds the quantity ordered"
#: Why a pulled-back order moved or waits: the event that pulled it back (a
#: lane's rise adds which: :func:`lane_congested`).
AFTER_EVENT = "after a capacity event"


def lane_congested(service: str, factor: float) -> str:
    """:data:`AFTER_EVENT` for an order pulled back by its lane's rise
    (``after a capacity event (lane ground congested x2.5)``)."""
    return f"{AFTER_EVENT} (lane {service} congested x{factor:g})"


STOCK_TAKEN_REASON = (
    "deferred: the stock at every node offering the tier's service is taken"
)
#: Why no node could take an item, per node offering the tier's service, in
#: the order a node is named by the first that holds (:meth:`BatchRows.mixed`).
_NODE_CAUSES = (
    "no capacity at {} (nominal 0)",
    "{} closed (outage)",
    "no staff today at {} (staffing 0%)",
    "{} out of stock",
    "no room left today at {}",
    "stock at {} taken by other orders",
)
#: The engines' reasons for an item no node could take (not a choice to wait).
_NO_NODE = frozenset(
    {
        partial_assignment.TOO_LARGE_REASON,
        partial_assignment.ROOM_TAKEN_REASON,
        partial_assignment.STOCK_TAKEN_REASON,
        partial_assignment.NO_ELIGIBLE_REASON,
        partial_assignment.NO_STOCK_REASON,
    }
)
#: The engines' reasons in the day's words: a batch's capacity is the room
#: each node has left today, not its capacity (an order bigger than that
#: room read as one no node could ever take).
_DAY_WORDS = {
    partial_assignment.TOO_LARGE_REASON: (
        "larger than the room left today at every eligible node"
    ),
    partial_assignment.ROOM_TAKEN_REASON: (
        "the room left today at every eligible node taken by other orders"
    ),
    partial_assignment.STOCK_TAKEN_REASON: (
        "the stock at every eligible node taken by other orders"
    ),
    DEFERRED_BY_OPTIMIZER: (
        "the optimizer found the day cheaper with it waiting (its own cost, "
        "or the room it leaves to other orders)"
    ),
}


def all_deferred(problem: AssignmentProblem) -> SolveResult:
    """The trivial solution of items no node can take now: all wait."""
    return SolveResult(
        engine="none",
        status=Status.FEASIBLE,
        objective=problem.objective(np.full(problem.n_items, -1)),
        bound=None,
        runtime_s=0.0,
        assignment=np.full(problem.n_items, -1, dtype=np.int64),
    )


@dataclass(frozen=True, slots=True, eq=False)
class _Lines:
    """The lines of a solved batch: their item, node and share of its units."""

    item: NDArray[np.intp]
    node: NDArray[np.int64]
    share: NDArray[np.float64]

    @classmethod
    def of(
        cls, compiled: CompiledBatch, assignment: NDArray[np.int64], orders: Orders
    ) -> _Lines:
        n_items = assignment.size
        counts = np.diff(compiled.item_lines)
        item = np.repeat(np.arange(n_items), counts)
        units = orders.line_qty[compiled.lines].astype(np.float64)
        item_units = np.bincount(item, weights=units, minlength=n_items)
        share = units / np.maximum(item_units[item], 1.0)
        return cls(item, np.repeat(assignment, counts), share)

    @property
    def allocated(self) -> NDArray[np.bool_]:
        return np.asarray(self.node >= 0)

    @property
    def at(self) -> NDArray[np.int64]:
        """The node, 0 for lines that wait (mask with :attr:`allocated`)."""
        return np.maximum(self.node, 0)


def _cost_parts(
    compiled: CompiledBatch, assignment: NDArray[np.int64], lines: _Lines
) -> dict[str, NDArray[np.float64]]:
    """Each line's share of its item's cost, and of its shipping, handling and
    penalty (lateness and extra shipments, or the whole cost of waiting a day)."""
    a = assignment
    rows_i, safe = np.arange(a.size), np.maximum(a, 0)
    shipping, _ = compiled.parts()
    item_ship = np.where(a >= 0, shipping[rows_i, safe], 0.0)
    item_hand = np.where(a >= 0, compiled.options.handling[rows_i, safe], 0.0)
    item_cost = np.where(a >= 0, compiled.true_cost[rows_i, safe], 0.0)
    assert compiled.problem.defer_cost is not None
    defer_pen = compiled.problem.defer_cost
    li, share, allocated = lines.item, lines.share, lines.allocated
    return {
        "cost": np.where(allocated, item_cost[li] * share, defer_pen[li] * share),
        "shipping": np.where(allocated, item_ship[li] * share, 0.0),
        "handling": np.where(allocated, item_hand[li] * share, 0.0),
        "penalty": np.where(
            allocated,
            _no_residue((item_cost[li] - item_ship[li] - item_hand[li]) * share),
            defer_pen[li] * share,
        ),
    }


def _no_residue(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """A difference of costs that is zero up to floating-point residue
    (1e-15, even -1e-15, in allocations.csv) as exactly 0: a line without
    lateness or extra shipments has no penalty."""
    return np.where(np.abs(values) < 1e-9, 0.0, values)


def _service_and_dates(
    compiled: CompiledBatch, lines: _Lines
) -> dict[str, NDArray[np.object_]]:
    """The service, ship date and delivery date of each allocated line."""
    li, at, allocated = lines.item, lines.at, lines.allocated
    svc = np.where(allocated, compiled.service()[li, at], -1)
    names = np.array([*SERVICES, ""], dtype=object)
    ship = compiled.options.ship_date[li, at].astype(str)
    deliver = compiled.delivery()[li, at].astype(str)
    waiting = compiled.waiting_delivery[li]
    expected = np.where(allocated, deliver, waiting.astype(str))
    released = np.datetime_as_string(compiled.options.release[li], timezone="UTC")
    return {
        "service": names[np.where(svc >= 0, svc, -1)],
        "ship_date": np.where(allocated, ship, ""),
        "delivery_date": np.where(allocated, deliver, ""),
        "expected_delivery": np.where(expected == "NaT", "", expected),
        "released_at": released,
        # "room" is a shipment's mark: a waiting line ships nothing yet (every
        # deferred line of an order tried as split lines read "room"); "stock"
        # stays on a waiting line too: no node holds its order whole, so it
        # will ship alone, and waits priced as a line of its own (repricing)
        "split": np.where(
            allocated | (compiled.split_kind[li] == SPLIT_STOCK),
            _SPLIT_NAMES[compiled.split_kind[li]],
            "",
        ),
    }


def _day_words(reason: str) -> str:
    """An engine's reason for a line it placed nowhere, in the day's words
    (``deferred: …`` as the allocator's own reasons for waiting lines; a
    reason that says it already is not prefixed twice)."""
    if not reason:
        return ""
    reason = reason.removeprefix("deferred: ")
    return f"deferred: {_DAY_WORDS.get(reason, reason)}"


def _line_reasons(
    compiled: CompiledBatch,
    result: SolveResult,
    reasons: Mapping[int, str],
    lines: _Lines,
) -> NDArray[np.object_]:
    """Why a line waits or went where it did (empty when it is unremarkable)."""
    a = result.assignment
    reason = np.array(
        [
            reasons.get(int(i), _day_words(result.unassigned_reason.get(int(i), "")))
            if a[i] < 0 or int(i) in reasons
            else ""
            for i in lines.item
        ],
        dtype=object,
    )
    relaxed = compiled.use_relaxed[lines.item, lines.at] & lines.allocated
    both = np.char.add(reason.astype(str), "; " + LATE_REASON).astype(object)
    late = np.where(reason == "", LATE_REASON, both)
    return np.where(relaxed, late, reason)


def _off_reserved(
    reason: NDArray[np.object_],
    line: NDArray[np.intp],
    lines: _Lines,
    left: Mapping[int, tuple[int, str]],
) -> NDArray[np.object_]:
    """``reason`` with each line of ``left`` (it lost the node reserved for
    it at checkout) that is not at that node, placed elsewhere or waiting,
    saying so after its other reason (`; `-separated): without it the row
    gave no reason for leaving its node."""
    if not left:
        return reason
    out = reason.copy()
    for i in np.flatnonzero(np.isin(line, list(left))).tolist():
        node, why = left[int(line[i])]
        if int(lines.node[i]) != node:
            out[i] = f"{out[i]}; {why}" if out[i] else why
    return out


class BatchRows:
    """Turns a batch's decisions into allocation rows.

    Parameters
    ----------
    network, orders
        Node ids, SKU ids and order ids for the rows.
    """

    def __init__(self, network: Network, orders: Orders) -> None:
        self.network = network
        self.orders = orders
        self._order_ids = np.asarray(orders.order_ids, dtype=object)
        self._sku_ids = np.asarray(orders.line_sku_id, dtype=object)
        self._node_ids = np.asarray(network.node_ids, dtype=object)

    def solved(
        self,
        compiled: CompiledBatch,
        result: SolveResult,
        batch: int,
        reasons: Mapping[int, str],
        left: Mapping[int, tuple[int, str]] | None = None,
    ) -> pd.DataFrame:
        """Rows of a solved stage; ``reasons`` per item override the engine's;
        a line of ``left`` off its reserved node says why (:func:`_off_reserved`)."""
        o, line = self.orders, compiled.lines
        lines = _Lines.of(compiled, result.assignment, o)
        allocated = lines.allocated
        parts = _cost_parts(compiled, result.assignment, lines)
        dates = _service_and_dates(compiled, lines)
        status = np.where(
            allocated, AllocationStatus.ALLOCATED, AllocationStatus.DEFERRED
        ).astype(object)
        return pd.DataFrame(
            {
                "order_id": self._order_ids[o.line_order[line]],
                "sku": self._sku_ids[line],
                "quantity": o.line_qty[line],
                "node_id": np.where(allocated, self._node_ids[lines.at], ""),
                "service": dates["service"],
                "ship_date": dates["ship_date"],
                "promised_date": compiled.options.promised[lines.item].astype(str),
                "cost": np.round(parts["cost"], 6),
                "batch": batch,
                "status": status,
                "reason": _off_reserved(
                    _line_reasons(compiled, result, reasons, lines),
                    line,
                    lines,
                    left or {},
                ),
                "delivery_date": dates["delivery_date"],
                "expected_delivery": dates["expected_delivery"],
                "released_at": dates["released_at"],
                "split": dates["split"],
                "shipping": parts["shipping"],
                "handling": parts["handling"],
                "penalty": parts["penalty"],
            }
        )

    def mixed(
        self,
        compiled: CompiledBatch,
        result: SolveResult,
        closed: NDArray[np.bool_],
        no_capacity: NDArray[np.bool_] | None = None,
        unstaffed: NDArray[np.bool_] | None = None,
    ) -> dict[int, str]:
        """Per item no node could take, with a closed node (or one of
        ``no_capacity``: a nominal capacity of 0, configuration, which ships
        nothing on any day) among those offering the tier's service and
        another cause at another: each cause with its nodes, e.g.
        ``deferred: WH-EAST closed (outage); ST-CHI, WH-WEST out of stock``
        (the engine's reason named one: the closed node's room, "larger
        than the room left today at every eligible node"). A node is named
        once, by the first cause of :data:`_NODE_CAUSES` that holds; every
        such node closed reads ``deferred: WH-EAST, WH-WEST closed
        (outage)`` (of no capacity, ``deferred: no capacity at WH-EAST
        (nominal 0)``, as the checkout names its cause: it read "no room
        left today at WH-EAST"; of ``unstaffed``, a staffing of 0, ``deferred:
        no staff today at WH-EAST (staffing 0%)``, the checkout's "has no
        staff today (staffing 0%)": it read "no room left today at WH-EAST"
        beside a closed node, else the engine's reason alone); any other
        cause alone keeps the engine's reason."""
        a = result.assignment
        items = np.array(
            sorted(
                i
                for i, why in result.unassigned_reason.items()
                if a[i] < 0 and why in _NO_NODE
            ),
            dtype=np.intp,
        )
        zero = np.zeros_like(closed) if no_capacity is None else no_capacity
        idle = np.zeros_like(closed) if unstaffed is None else unstaffed
        if items.size == 0 or not (closed | zero | idle).any():
            return {}
        problem, options = compiled.problem, compiled.options
        offers = (options.service >= 0) | (options.relaxed_service >= 0)
        offers = offers[items]
        none = offers & zero[None, :]
        shut = offers & closed[None, :] & ~none
        staffless = offers & idle[None, :] & ~none & ~shut
        down = none | shut | staffless
        if not down.any():
            return {}
        held = left = np.ones_like(offers)
        resources = ItemResources.of(problem)
        if resources is not None and problem.stock is not None:
            n = problem.n_items
            held = resources.ok_matrix(problem.stock, n)[items]
            stock_left = problem.stock - problem.resource_load(a)
            left = resources.ok_matrix(stock_left, n)[items]
        room_left = problem.capacity - problem.load(a)
        room = problem.weight[items] <= room_left[None, :] + partial_assignment.TOL
        out_of_stock = offers & ~down & ~held
        no_room = offers & ~down & held & ~room
        taken = offers & ~down & held & room & ~left
        reasons = {}
        for k, item in enumerate(items.tolist()):
            causes = [
                cause.format(listed(self._node_ids[np.flatnonzero(at[k])]))
                for cause, at in zip(
                    _NODE_CAUSES,
                    (none, shut, staffless, out_of_stock, no_room, taken),
                    strict=True,
                )
                if at[k].any()
            ]
            # every node offering it closed: that, not the closed nodes' room
            every_closed = bool((down[k] == offers[k]).all())
            if down[k].any() and (len(causes) > 1 or every_closed):
                reasons[item] = "deferred: " + "; ".join(causes)
        return reasons

    def waiting(
        self,
        compiled: CompiledBatch,
        batch: int,
        reason: str,
        left: Mapping[int, tuple[int, str]] | None = None,
    ) -> pd.DataFrame:
        """Rows of items that all wait, for ``reason`` (and ``left``, as
        :meth:`solved`)."""
        n_items = compiled.problem.n_items
        return self.solved(
            compiled,
            all_deferred(compiled.problem),
            batch,
            dict.fromkeys(range(n_items), reason),
            left,
        )

    def unfillable(
        self, lines: NDArray[np.intp], batch: int, reason: str
    ) -> pd.DataFrame:
        """Rows of ``lines`` that cannot ship at all."""
        o = self.orders
        return pd.DataFrame(
            {
                "order_id": self._order_ids[o.line_order[lines]],
                "sku": self._sku_ids[lines],
                "quantity": o.line_qty[lines],
                "node_id": "",
                "service": "",
                "ship_date": "",
                "promised_date": "",
                "cost": 0.0,
                "batch": batch,
                "status": AllocationStatus.UNFILLABLE,
                "reason": reason,
                "delivery_date": "",
                "expected_delivery": "",
                "released_at": "",
                "split": "",
                "shipping": 0.0,
                "handling": 0.0,
                "penalty": 0.0,
            }
        )

    def reasons(
        self,
        compiled: CompiledBatch,
        assignment: NDArray[np.int64],
        pulled: Mapping[int, Placement],
        on_time: Collection[int] = (),
        after: Mapping[int, str] | None = None,
    ) -> dict[int, str]:
        """Per item: split lines placed, and pulled-back orders that moved.
        A line of an order of ``on_time`` (held whole by a node that could
        not deliver it on time, split so that each line is) says so. A
        moved order says the event that pulled it back: ``after``'s text
        for it (default :data:`AFTER_EVENT`)."""
        after = after or {}
        reasons: dict[int, str] = {}
        kept = set(on_time)
        for k in np.flatnonzero(compiled.split & (assignment >= 0)).tolist():
            order = int(compiled.item_order[k])
            reasons[k] = SPLIT_ON_TIME_REASON if order in kept else SPLIT_REASON
        for pos, order in enumerate(compiled.item_order.tolist()):
            node = int(assignment[pos])
            if compiled.split[pos] or node < 0 or order not in pulled:
                continue
            old = pulled[order].left_for(node)
            if old is not None:
                why = after.get(order, AFTER_EVENT)
                reasons[pos] = f"rerouted from {self.network.node_ids[old]} {why}"
        return reasons
