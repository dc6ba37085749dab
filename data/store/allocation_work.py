"""A confirmed order's work, moved where an allocation batch decides its lines.

Confirming a checkout logs each node's share of the order's work
(``checkout:<order_id>:<node_id>``, a ``backlog_delta``: ``checkouts.py``),
so every replica's capacity map counts it at once at the node the checkout
promised. A batch of ``tierflow allocate`` may ship a line from another node,
or leave it waiting (another day's work): its work then moves with the
batch's rows, in their transaction, as ``backlog_delta`` events of ids
``checkout:<order_id>:<node_id>:allocation:<run_id>:<batch>`` (a batch is
written once, so a resumed run moves none twice). The ``checkout:`` prefix
keeps them the order's own work: no live event may take such an id, and
they are no news of the feed. The work follows the latest batch written,
of any run: each batch that places confirmed work takes the next
``allocation_batches.work_seq`` (schema 19), under a lock, so the batches
of two runs written at once place it one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tierflow.data.allocation_rows import AllocationRow
from tierflow.data.store.capacity_log import logged_events_of
from tierflow.data.store.checkouts import ORDER_WORK, backlog_delta_event
from tierflow.data.store.database import Transaction, chunks, marks
from tierflow.data.vocabulary import AllocationStatus

#: What follows ``checkout:<order_id>:<node_id>`` in the id of a batch's move
#: of that order's work (``:allocation:<run_id>:<batch>``).
WORK_MOVE = ":allocation:"
#: The lock under which a batch reads where confirmed work is and places it.
WORK_LOCK = "allocation_work"
#: An order line: ``(order_id, sku)``.
LineKey = tuple[str, str]

_ALLOCATED = AllocationStatus.ALLOCATED
_REROUTED = AllocationStatus.REROUTED


def is_work_move(event_id: str) -> bool:
    """Whether ``event_id`` is a batch's move of an order's work (not the
    work its confirm logged)."""
    return event_id.startswith(ORDER_WORK) and WORK_MOVE in event_id


def work_moves(
    conn: Transaction,
    run_id: str,
    batch: int,
    lines: Sequence[AllocationRow],
    line_work: Mapping[LineKey, float] | None,
    t: float,
) -> list[dict[str, Any]]:
    """The ``backlog_delta`` events that move the work of ``lines`` (one
    batch's rows) to where the batch decided them, dated ``t``.

    A line's work is counted where the latest row of it put it, of any run
    (the batch with the highest ``work_seq``; an allocated or rerouted row:
    its node; a waiting or unfillable one: nowhere today), else at the node
    its checkout confirmed it at; an allocated row moves it to its node, any
    other row off today's backlog. Rows of batches without a ``work_seq``
    (written before schema 19, when a batch moved no work) leave it where
    it was. Its amount is its share of the order's logged work at that node
    (the confirm's event), by ``line_work`` (complexity-weighted units; a
    line without one weighs its quantity). Lines of orders no checkout of
    this store confirmed (an orders file of another source) move nothing.
    One event per order and node, the net of its lines. A batch with lines
    of confirmed work takes the next ``work_seq`` (its rows are then the
    latest of those lines).
    """
    confirmed = _confirmed_lines(conn, sorted({line.order_id for line in lines}))
    share = _work_shares(conn, confirmed, line_work or {})
    if not any((line.order_id, line.sku) in share for line in lines):
        return []
    conn.lock(WORK_LOCK)  # another run's batch places the same lines after us
    before = _placed_nodes(conn, sorted({o for o, _ in share}))
    conn.later(
        "UPDATE allocation_batches SET work_seq = (SELECT COALESCE(MAX(work_seq), 0) "
        "+ 1 FROM allocation_batches) WHERE run_id = ? AND batch = ?",
        (run_id, int(batch)),
    )
    delta: dict[tuple[str, str], float] = {}
    for line in lines:
        key = (line.order_id, line.sku)
        work = share.get(key)
        if not work:
            continue
        at = before[key] if key in before else confirmed[key][0]
        to = (line.node_id or None) if line.status == _ALLOCATED else None
        if at == to:
            continue
        if at is not None:
            delta[line.order_id, at] = delta.get((line.order_id, at), 0.0) - work
        if to is not None:
            delta[line.order_id, to] = delta.get((line.order_id, to), 0.0) + work
    ts = dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
    return [
        backlog_delta_event(
            f"{ORDER_WORK}{order}:{node}{WORK_MOVE}{run_id}:{batch}", ts, node, value
        )
        for (order, node), value in sorted(delta.items())
        if value != 0.0
    ]


def _confirmed_lines(
    conn: Transaction, order_ids: Sequence[str]
) -> dict[LineKey, tuple[str, int]]:
    """Per line of ``order_ids`` a checkout confirmed: its node and quantity."""
    out: dict[LineKey, tuple[str, int]] = {}
    for chunk in chunks(list(order_ids)):
        rows = conn.execute(
            "SELECT order_id, sku, node_id, quantity FROM online_orders "
            f"WHERE order_id IN ({marks(len(chunk))})",
            tuple(chunk),
        ).fetchall()
        for order, sku, node, qty in rows:
            out[str(order), str(sku)] = (str(node), int(qty))
    return out


def _work_shares(
    conn: Transaction,
    confirmed: Mapping[LineKey, tuple[str, int]],
    line_work: Mapping[LineKey, float],
) -> dict[LineKey, float]:
    """Per confirmed line, its share of its order's logged work at its node."""
    weight = {k: float(line_work.get(k, qty)) for k, (_, qty) in confirmed.items()}
    total: dict[tuple[str, str], float] = {}
    for key, (node, _) in confirmed.items():
        total[key[0], node] = total.get((key[0], node), 0.0) + weight[key]
    logged = logged_events_of(
        conn, [f"{ORDER_WORK}{order}:{node}" for order, node in total]
    )
    out = {}
    for key, (node, _) in confirmed.items():
        ev = logged.get(f"{ORDER_WORK}{key[0]}:{node}")
        whole = total[key[0], node]
        if ev is not None and whole > 0:
            out[key] = float(ev.payload["value"]) * weight[key] / whole
    return out


def _placed_nodes(
    conn: Transaction, order_ids: Sequence[str]
) -> dict[LineKey, str | None]:
    """Per line of ``order_ids`` with a row in a batch that placed confirmed
    work (any run's), where its latest such row counted its work (None:
    nowhere today)."""
    out: dict[LineKey, str | None] = {}
    for chunk in chunks(list(order_ids)):
        rows = conn.execute(
            "SELECT a.order_id, a.sku, a.node_id, a.status FROM allocations a "
            "JOIN allocation_batches b ON b.run_id = a.run_id AND b.batch = a.batch "
            f"WHERE a.order_id IN ({marks(len(chunk))}) AND b.work_seq IS NOT NULL "
            "ORDER BY b.work_seq",
            tuple(chunk),
        ).fetchall()
        for order, sku, node, status in rows:  # the latest row of a line wins
            placed = status in (_ALLOCATED, _REROUTED) and node
            out[str(order), str(sku)] = str(node) if placed else None
    return out
