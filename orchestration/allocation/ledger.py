"""What a day's batches have taken so far: capacity, stock and placements.

The ledger is the allocator's state between batches. A batch is compiled
against :meth:`CapacityLedger.remaining` and ``stock``; its solution is taken
from both; a capacity event pulls back the placements it hits that were not
yet released to the floor (at a node whose room fell, or on a lane whose
congestion rose), giving their capacity and stock back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.capacity.events import CapacityEvent
from tierflow.capacity.monitor import CapacityMonitor
from tierflow.data.network import Network
from tierflow.data.orders import Orders
from tierflow.formulations.order_pricing import fillable_lines
from tierflow.orchestration.allocation.batch_plan import epoch_seconds


@dataclass(frozen=True, slots=True)
class HeldLine:
    """One line of a split order shipped from ``node``, kept until released
    as a whole order is (:class:`Placement`): an event at its node or on its
    lane pulls its order back.

    Attributes
    ----------
    line, node, service
        The order line, where it ships from and by what (its lane).
    cost, work
        What it costs there, and the node's capacity it took (its workload
        times its lane's congestion then).
    """

    line: int
    node: int
    service: int
    cost: float
    work: float


def _by_line(line: HeldLine) -> int:
    return line.line


@dataclass(frozen=True, slots=True)
class Placement:
    """An order allocated whole, or the shipped lines of a split order,
    kept until released in case it is rerouted.

    Attributes
    ----------
    node, cost
        Where it goes and what it costs there.
    batch
        The batch that placed it.
    release_ts
        When it is released to the node (epoch seconds); until then a
        capacity event at the node pulls it back.
    work
        The node's capacity it took: its workload times its lane's
        congestion when it was placed (given back as such if pulled back).
    service
        The service it ships by from ``node`` (its lane; -1: none, a lane
        never congested): a rise of that lane's congestion above the factor
        it was placed at pulls it back.
    lines
        A split order's shipped lines (empty: the order ships whole). Pulled
        back, ``node`` and ``service`` are those of the line the event hit,
        ``cost`` and ``work`` its lines' sum.
    """

    node: int
    cost: float
    batch: int
    release_ts: float
    work: float
    service: int = -1
    lines: tuple[HeldLine, ...] = ()

    def left_for(self, node: int) -> int | None:
        """The node it leaves if it now ships whole from ``node``: the one
        an event hit, else another of its lines' (None: it stays)."""
        if node != self.node:
            return self.node
        return next((ln.node for ln in self.lines if ln.node != node), None)


#: A lane's congestion events in a batch's window, in time order: when,
#: and its factor after.
LaneSteps = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class EventHits:
    """What the events up to a batch's close hit: the nodes whose room fell,
    each with when it happened for good (epoch seconds), and the lanes,
    ``(node, service)``, whose congestion rose above the batch before's,
    each with its steps in the window (:data:`LaneSteps`). An order placed
    on such a lane is hit when the lane rose above the factor it was
    decided at (:meth:`hit_at`): it took its room at that factor, too
    little now."""

    nodes: dict[int, float]
    lanes: dict[tuple[int, int], LaneSteps]

    def __bool__(self) -> bool:
        return bool(self.nodes or self.lanes)

    def hit_at(self, node: int, service: int, work: float, workload: float) -> float:
        """When an event hit what ships from ``node`` by ``service`` and took
        ``work`` of its room for ``workload`` (epoch seconds; inf: none):
        its node's fall, or its lane's rise above ``work / workload``, the
        factor it was decided at, for good (a rise judged against the batch
        before's factor pulled back an order decided at a higher one, which
        holds the room the lane now asks: a fall, then a rise)."""
        return min(
            self.nodes.get(node, np.inf),
            _rose_above(self.lanes.get((node, service), ()), work, workload),
        )


def _rose_above(steps: LaneSteps, work: float, workload: float) -> float:
    """When a lane of ``steps`` came to ask more than ``work`` for
    ``workload`` and kept asking more until the window's close (inf: it
    does not at the close)."""
    when = np.inf
    for ts, factor in steps:  # a step at or under the factor starts again
        above = workload * factor > work * (1 + 1e-9)
        when = min(when, ts) if above else np.inf
    return when


class CapacityLedger:
    """Capacity and stock left for the rest of the day.

    Parameters
    ----------
    network, orders
        The nodes and the day's orders.
    events
        Capacity events, applied in time order by :meth:`apply_events`.
    capacity
        Nominal capacity per node (default ``network.capacity``).
    stock
        Stock per (node, SKU) at the start (default ``network.inventory``).
    release_minutes
        A placement is released to its node this long after its decision.
    """

    def __init__(
        self,
        network: Network,
        orders: Orders,
        *,
        events: Sequence[CapacityEvent] = (),
        capacity: NDArray[np.float64] | None = None,
        stock: NDArray[np.int64] | None = None,
        release_minutes: float = 60.0,
    ) -> None:
        self.orders = orders
        self.events = sorted(events, key=lambda e: e.ts)
        self.monitor = CapacityMonitor(network)
        if capacity is not None:
            self.monitor.nominal = np.asarray(capacity, dtype=np.float64).copy()
        self.network = network
        self.nominal_start = self.monitor.nominal.copy()
        start = network.inventory if stock is None else stock
        self.initial_stock = start.astype(np.int64).copy()
        self.stock = start.astype(np.int64).copy()
        self.used = np.zeros(network.n_nodes)
        #: Per line, whether some node held it this morning: an order placed
        #: whole is the shipment of these of its lines (the others are
        #: unfillable and take nothing).
        self.ships = fillable_lines(orders, self.initial_stock)
        units = orders.line_workload(network)
        self.workload = np.bincount(
            orders.line_order, weights=units * self.ships, minlength=orders.n_orders
        ).astype(np.float64)
        self.release_minutes = release_minutes
        self.placed: dict[int, Placement] = {}
        #: Per split order, its shipped lines not yet released (as ``placed``).
        self.held: dict[int, Placement] = {}
        self.trace: list[tuple[float, NDArray[np.float64]]] = []
        self._next_event = 0

    # ------------------------------------------------------------ capacity
    def effective_capacity(self) -> NDArray[np.float64]:
        """Today's capacity per node from the monitor (staffing, outage, backlog)."""
        return np.asarray(np.maximum(self.monitor.room(), 0.0), dtype=np.float64)

    def remaining(self) -> NDArray[np.float64]:
        """Effective capacity not yet taken."""
        return np.asarray(np.maximum(self.effective_capacity() - self.used, 0.0))

    def utilization(self) -> NDArray[np.float64]:
        """Capacity taken / effective capacity per node (0 where there is none)."""
        eff = self.effective_capacity()
        return np.where(eff > 0, self.used / np.maximum(eff, 1e-9), 0.0)

    def record(self, at: float) -> None:
        """Append the utilization now to the trace (``at``: epoch seconds)."""
        self.trace.append((at, self.utilization()))

    @property
    def applied_events(self) -> int:
        """How many of the events have been applied so far."""
        return self._next_event

    def apply_events(self, until: float) -> dict[int, float]:
        """Apply events up to ``until``; nodes whose capacity at ``until`` is
        below what it was before, each with when it went below and stayed
        there (an outage over by ``until`` hits nothing: its orders stay)."""
        return self.advance(until).nodes

    def advance(self, until: float) -> EventHits:
        """Apply events up to ``until``; the nodes whose capacity is at
        ``until`` below what it was before, each with when it crossed and
        stayed there, and the lanes whose congestion is above, each with
        its steps (an outage over, a lane back to its factor by ``until``
        hits nothing: its orders stay; a lane's fall hits nothing, its
        orders hold their room)."""
        start = self.effective_capacity()
        lanes_before = self.monitor.congestion.copy()
        below: dict[int, float] = {}
        steps: dict[tuple[int, int], list[tuple[float, float]]] = {}
        while (
            self._next_event < len(self.events)
            and self.events[self._next_event].ts <= until
        ):
            ev = self.events[self._next_event]
            self._next_event += 1
            self.monitor.ingest([ev])
            if self.effective_capacity()[ev.node] < start[ev.node] - 1e-9:
                below.setdefault(ev.node, ev.ts)
            else:
                below.pop(ev.node, None)
            if ev.service >= 0:
                lane = (ev.node, ev.service)
                factor = float(self.monitor.congestion[lane])
                steps.setdefault(lane, []).append((ev.ts, factor))
        rose = {
            lane: tuple(s)
            for lane, s in steps.items()
            if self.monitor.congestion[lane] > lanes_before[lane] + 1e-9
        }
        return EventHits(below, rose)

    def shipping_nodes_at(self, times: Sequence[float]) -> list[NDArray[np.bool_]]:
        """The nodes that can ship (:meth:`CapacityMonitor.shipping_nodes`)
        once the events up to each of ``times`` (ascending epoch seconds) are
        applied, replayed from the start of the day on a monitor of their own
        (the run's may have skipped to a resumed batch)."""
        return [m.shipping_nodes() for m in self._replayed(times)]

    def congestion_at(self, times: Sequence[float]) -> list[NDArray[np.float64]]:
        """The lanes' congestion (``(n_nodes, n_services)``) once the events
        up to each of ``times`` (ascending epoch seconds) are applied, as
        :meth:`shipping_nodes_at`: what a batch then weighed its items by."""
        return [m.congestion.copy() for m in self._replayed(times)]

    def _replayed(self, times: Sequence[float]) -> Iterator[CapacityMonitor]:
        """A monitor of its own with the events up to each of ``times``
        applied, from the start of the day (the same monitor, advanced)."""
        monitor = CapacityMonitor(self.network)
        monitor.nominal = self.nominal_start.copy()
        k = 0
        for until in times:
            while k < len(self.events) and self.events[k].ts <= until:
                monitor.ingest([self.events[k]])
                k += 1
            yield monitor

    # --------------------------------------------------------------- orders
    def _lines(self, order: int) -> NDArray[np.intp]:
        """The lines of ``order`` that ship (not unfillable)."""
        start = self.orders.line_start
        lines = np.arange(int(start[order]), int(start[order + 1]), dtype=np.intp)
        return lines[self.ships[lines]]

    def n_shipping(self, order: int) -> int:
        """How many lines of ``order`` ship (a whole order's rows)."""
        return int(self._lines(order).size)

    def take_order(self, order: int, node: int, work: float | None = None) -> None:
        """Every line of ``order`` that ships ships from ``node``, taking
        ``work`` of its capacity (default the order's workload: an
        uncongested lane)."""
        ls = self._lines(order)
        np.subtract.at(
            self.stock[node], self.orders.line_sku[ls], self.orders.line_qty[ls]
        )
        self.used[node] += self.workload[order] if work is None else work

    def release_order(self, order: int, node: int, work: float | None = None) -> None:
        """Undo :meth:`take_order` (the same ``work``)."""
        ls = self._lines(order)
        np.add.at(self.stock[node], self.orders.line_sku[ls], self.orders.line_qty[ls])
        self.used[node] -= self.workload[order] if work is None else work

    def take_line(self, node: int, sku: int, quantity: int, workload: float) -> None:
        """One line of a split order ships from ``node``, taking ``workload``
        of its capacity (its lane's congestion counted)."""
        self.stock[node, sku] -= quantity
        self.used[node] += workload

    def release_line(self, line: HeldLine) -> None:
        """Undo :meth:`hold_line`'s take of ``line`` (its stock and the
        capacity it took)."""
        o = self.orders
        sku, qty = int(o.line_sku[line.line]), int(o.line_qty[line.line])
        self.take_line(line.node, sku, -qty, -line.work)

    def hold_line(
        self,
        order: int,
        line: HeldLine,
        batch: int,
        decided: np.datetime64,
    ) -> None:
        """Take ``line`` of split ``order`` (:meth:`take_line`) and keep it
        with the order's other lines until released: an event at its node
        or on its lane pulls the order back as one at a whole order's."""
        o = self.orders
        qty = int(o.line_qty[line.line])
        self.take_line(line.node, int(o.line_sku[line.line]), qty, line.work)
        release_ts = epoch_seconds(decided) + 60.0 * self.release_minutes
        was = self.held.get(order)
        # in line order: the sums are the same however they were taken
        lines = tuple(sorted((*was.lines, line) if was else (line,), key=_by_line))
        self.held[order] = Placement(
            line.node,
            sum(ln.cost for ln in lines),
            batch,
            release_ts,
            sum(ln.work for ln in lines),
            line.service,
            lines,
        )

    def place(
        self,
        order: int,
        node: int,
        cost: float,
        batch: int,
        decided: np.datetime64,
        work: float | None = None,
        service: int = -1,
    ) -> None:
        """Take ``order`` at ``node`` (``work`` of its capacity, as
        :meth:`take_order`, by ``service``) and keep it until released."""
        taken = float(self.workload[order]) if work is None else work
        self.take_order(order, node, taken)
        release_ts = epoch_seconds(decided) + 60.0 * self.release_minutes
        self.placed[order] = Placement(node, cost, batch, release_ts, taken, service)

    def line_workload(self, line: int) -> float:
        """The workload of one line (its SKU's complexity times its units):
        what a split line takes of its node at a lane's factor of 1."""
        o = self.orders
        sku = int(o.line_sku[line])
        return float(self.network.sku_complexity[sku] * o.line_qty[line])

    def pull_back(
        self,
        hit: Mapping[int, float],
        lanes: Mapping[tuple[int, int], LaneSteps] | None = None,
    ) -> dict[int, Placement]:
        """Placements not released when their node's room fell (``hit``:
        node -> when) or their lane's congestion rose above the factor they
        were decided at (``lanes``: ``(node, service)`` -> its steps,
        :meth:`EventHits.hit_at`), given back (order -> placement) at the
        work they took."""
        hits = EventHits(dict(hit), dict(lanes or {}))
        pulled: dict[int, Placement] = {}
        for order, p in list(self.placed.items()):
            at = hits.hit_at(p.node, p.service, p.work, float(self.workload[order]))
            if p.release_ts > at:
                pulled[order] = p
                self.release_order(order, p.node, p.work)
                del self.placed[order]
        # a split order's lines share one batch: the line hit first pulls
        # them all back (its order is solved again, every line given back)
        for order, p in list(self.held.items()):
            times = [
                hits.hit_at(ln.node, ln.service, ln.work, self.line_workload(ln.line))
                for ln in p.lines
            ]
            first = int(np.argmin(times))
            if p.release_ts <= times[first]:
                continue
            for ln in p.lines:
                self.release_line(ln)
            del self.held[order]
            hit_line = p.lines[first]
            pulled[order] = dataclasses.replace(
                p, node=hit_line.node, service=hit_line.service
            )
        return pulled
