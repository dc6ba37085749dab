"""Stock levels per node and SKU, and what is available after live holds.

Available = on hand − reserved + stock held by reservations past their TTL
(they count as free at once, before the next write sweeps them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.errors import InputError, listed
from tierflow.data.limits import MAX_UNITS
from tierflow.data.network import Network
from tierflow.data.store.database import (
    Connection,
    Cursor,
    StoreConflict,
    StorePart,
    Transaction,
    chunks,
    clock,
    later_rows,
    marks,
    retried,
)
from tierflow.data.store.ledger import Ledger, sweep_lapsed
from tierflow.data.store.retention import PRUNED_RESULT
from tierflow.data.store.schema import LIVE_RESERVATION
from tierflow.data.store.stock_news import note_stock_changed
from tierflow.data.vocabulary import HoldStatus
from tierflow.data.wording import counted

log = logging.getLogger("tierflow.store")


class StockChange(NamedTuple):
    """One stock position a :meth:`Inventory.change_stock` wrote (or found
    as it was): ``on_hand`` before and after, and the units reserved."""

    node_id: str
    sku: str
    before: int
    after: int
    reserved: int


class HoldCut(NamedTuple):
    """Units of one line a count with ``cut_holds`` released: the hold's
    ``request_id`` (its checkout's; a plain reservation's own id), and the
    position and units of the line."""

    request_id: str
    node_id: str
    sku: str
    units: int


class StockReceipt(NamedTuple):
    """What a :meth:`Inventory.change_stock_once` did: the positions (as
    :meth:`Inventory.change_stock` returns them), whether its
    ``change_id`` had done it already (a retry: nothing written, the
    positions and cuts are the first's), and the hold lines it ``cuts``
    (``cut_holds``), in the order cut; with a ``change_id``, when it was
    applied (``applied_at``, epoch seconds on the store's clock: a retry's,
    the first's)."""

    changes: list[StockChange]
    duplicate: bool
    cuts: tuple[HoldCut, ...] = ()
    applied_at: float | None = None


class ChangeIdConflict(InputError):
    """A ``change_id`` already used by another stock change (another mode,
    changes or ``cut_holds``): the id is an idempotency key, so the change is refused
    (HTTP: 409, a clash with what the store holds)."""

    def __init__(self, change_id: str) -> None:
        super().__init__(
            "already used by another stock change (another mode, changes or cut_holds): "
            "a change_id is an idempotency key; nothing written",
            field="change_id",
            value=change_id,
        )


class ChangeIdPruned(ChangeIdConflict):
    """A ``change_id`` whose change was applied, and whose answer ``tierflow
    state prune`` dropped (it keeps the id, compacted: ``retention.py``):
    a repeat, the same body or not, is refused, never applied again (a
    receipt replayed from a queue weeks later was added twice)."""

    def __init__(self, change_id: str, received_at: float) -> None:
        InputError.__init__(
            self,
            f"applied on {dt.datetime.fromtimestamp(received_at, dt.UTC).isoformat()}"
            "; `tierflow state prune` dropped its answer, so a repeat of it is "
            "refused, never applied again; nothing written",
            field="change_id",
            value=change_id,
        )


class Inventory(StorePart):
    """The ``inventory`` table: stock on hand and reserved, and its reads."""

    @retried
    def upsert_inventory(self, rows: pd.DataFrame) -> int:
        """Set ``on_hand`` for ``node_id, sku`` rows (reservations are kept).

        Raises
        ------
        InputError
            A row would put ``on_hand`` below what is reserved; nothing is
            written then.
        """
        data = sorted(  # one cell order for every writer: no lock cycles
            (
                (str(n), str(s), int(q))
                for n, s, q in zip(
                    rows["node_id"], rows["sku"], rows["on_hand"], strict=True
                )
            ),
            key=lambda row: row[:2],  # stable: the last of duplicate cells wins
        )
        try:
            with self._db.tx() as conn:
                conn.executemany(
                    "INSERT INTO inventory (node_id, sku, on_hand) VALUES (?, ?, ?) "
                    "ON CONFLICT (node_id, sku) DO UPDATE SET on_hand = excluded.on_hand",
                    data,
                )
        except self._db.integrity_error as exc:
            raise InputError(f"on_hand below reserved or negative ({exc})") from None
        return len(data)

    def change_stock(
        self,
        changes: Sequence[tuple[str, str, int]],
        *,
        add: bool = False,
        unheld: Mapping[tuple[str, str], int] | None = None,
        now: float | None = None,
        cut_holds: bool = False,
    ) -> list[StockChange]:
        """Set (a count) or, with ``add``, move (a receipt, an adjustment)
        ``on_hand`` of ``(node_id, sku, quantity)`` positions, all in one
        transaction or none; reservations are kept, unless ``cut_holds``.

        A position the store holds no row of starts from ``unheld`` (the
        network's ``on_hand`` there, what a router would seed; 0 when not
        given). Holds past their TTL are swept first (their own
        transaction, as a take sweeps them): they hold nothing. The rows
        are locked in ``(node, sku)`` order, as a take locks them.

        ``cut_holds``: a position whose new ``on_hand`` is below what open
        checkouts hold there (shrinkage a cycle count found) is written,
        and holds there are released in the same transaction, newest
        first, until it holds no more than its new ``on_hand``. A
        checkout's holds go whole (every line, every node: a confirm
        commits all of a checkout's lines or none, so none is left to
        confirm part of an order), and its checkout's hold ends then (its
        confirm is refused naming the position; ``hold_cuts``); a plain
        reservation goes alone. Without it such a position is refused.

        Returns
        -------
        list of StockChange
            One per position, in the order given (``reserved``: after any
            cut).

        Raises
        ------
        InputError
            The first position (``index``: its place in ``changes``) whose
            ``on_hand`` would be below 0, above the limit or (without
            ``cut_holds``) below what is reserved, or given twice; nothing
            is written (nor cut) then.
        """
        return self._change(changes, add, unheld, now, None, cut_holds).changes

    def change_stock_once(
        self,
        changes: Sequence[tuple[str, str, int]],
        *,
        change_id: str | None,
        add: bool = False,
        unheld: Mapping[tuple[str, str], int] | None = None,
        now: float | None = None,
        cut_holds: bool = False,
    ) -> StockReceipt:
        """:meth:`change_stock`, once per ``change_id`` (the caller's
        idempotency key), with the holds it cut: the id, a digest of the
        request (``add``, the changes in their order, ``cut_holds``: a
        retry is the same request byte for byte) and the positions
        written and holds cut are recorded in the stock write's transaction
        (``stock_changes``). A repeat of the request answers the first's
        positions and cuts (``duplicate``) and writes (and cuts) nothing;
        its id is claimed first in the transaction, so a repeat arriving at
        once (another replica) waits for the first's commit. A change
        refused records nothing. ``change_id`` None: no id, nothing
        recorded (:meth:`change_stock`, its cuts answered too).

        Raises
        ------
        ChangeIdConflict
            ``change_id`` was recorded with another request; nothing is
            written.
        InputError
            As :meth:`change_stock`.
        """
        key = None if change_id is None else str(change_id)
        return self._change(changes, add, unheld, now, key, cut_holds)

    @retried
    def _change(
        self,
        changes: Sequence[tuple[str, str, int]],
        add: bool,
        unheld: Mapping[tuple[str, str], int] | None,
        now: float | None,
        change_id: str | None,
        cut_holds: bool = False,
    ) -> StockReceipt:
        cells = [(str(n), str(s), int(q)) for n, s, q in changes]
        seen: dict[tuple[str, str], int] = {}
        for i, (node, sku, _) in enumerate(cells):
            if (node, sku) in seen:
                raise InputError(
                    f"{node}/{sku} given twice (first at index {seen[node, sku]})",
                    index=i,
                )
            seen[node, sku] = i
        t = clock(now)
        sweep_lapsed(self._db, t)
        start = unheld or {}
        request = (
            _request_digest(cells, add=add, cut_holds=cut_holds),
            _request_digest(cells, add=add, cut_holds=None),
        )
        locks = {c[:2] for c in cells}
        while True:
            try:
                return self._write_change(
                    cells, add, start, t, change_id, request, cut_holds, locks
                )
            except _LockFirst as more:  # rolled back: lock them all in order
                locks |= more.cells

    def _write_change(
        self,
        cells: Sequence[tuple[str, str, int]],
        add: bool,
        start: Mapping[tuple[str, str], int],
        t: float,
        change_id: str | None,
        request: tuple[str, str],
        cut_holds: bool,
        locks: set[tuple[str, str]],
    ) -> StockReceipt:
        """:meth:`_change`'s transaction, the stock rows ``locks`` (the
        positions changed, and those a cut frees) locked first in
        ``(node, sku)`` order.

        Raises
        ------
        _LockFirst
            A cut frees rows at positions not in ``locks`` (PostgreSQL): it
            is rolled back, to be run again with them locked first.
        """
        order = sorted(range(len(cells)), key=lambda i: cells[i][:2])
        with self._db.tx() as conn:
            if change_id is not None:
                done = _claim(conn, change_id, request, cut_holds, t)
                if done is not None:
                    return done
            conn.execute_each(
                "INSERT INTO inventory (node_id, sku, on_hand) VALUES (?, ?, ?) "
                "ON CONFLICT (node_id, sku) DO NOTHING",
                [
                    (*cells[i][:2], max(0, int(start.get(cells[i][:2], 0))))
                    for i in order
                ],
            )
            held = locked_cells(conn, sorted(locks))
            out = []
            for i, (node, sku, qty) in enumerate(cells):
                before, reserved = held[node, sku]
                after = before + qty if add else qty
                problem = _stock_problem(
                    before, qty, after, reserved, add=add, cut=cut_holds
                )
                if problem:
                    raise InputError(problem, index=i, field="on_hand", value=qty)
                out.append(StockChange(node, sku, before, after, reserved))
            cuts: tuple[HoldCut, ...] = ()
            if any(c.after < c.reserved for c in out):  # only with cut_holds
                out, cuts = cut_newest(Ledger(conn, t), out, locks)
            moved = sorted(c for c in out if c.after != c.before)
            if moved:
                conn.later_many(
                    "UPDATE inventory SET on_hand = ? WHERE node_id = ? AND sku = ?",
                    [(c.after, c.node_id, c.sku) for c in moved],
                )
            # every replica's live hub re-answers its checkouts of them (and
            # of every line a cut released, at any position)
            note_stock_changed(conn, [c.sku for c in moved] + [c.sku for c in cuts])
            if change_id is not None:
                conn.later(
                    "UPDATE stock_changes SET result = ? WHERE change_id = ?",
                    (
                        json.dumps(
                            {
                                "changes": [list(c) for c in out],
                                "cuts": [list(c) for c in cuts],
                            }
                        ),
                        change_id,
                    ),
                )
        applied = None if change_id is None else t
        return StockReceipt(out, duplicate=False, cuts=cuts, applied_at=applied)

    def load_network_inventory(self, network: Network) -> int:
        """Seed the inventory table from a :class:`~tierflow.data.network.Network`."""
        ni, si = np.nonzero(np.asarray(network.inventory) >= 0)
        frame = pd.DataFrame(
            {
                "node_id": np.asarray(network.node_ids, dtype=object)[ni],
                "sku": np.asarray(network.sku_ids, dtype=object)[si],
                "on_hand": np.asarray(network.inventory)[ni, si],
            }
        )
        return self.upsert_inventory(frame[frame["on_hand"] > 0])

    def seed_network_inventory(self, network: Network) -> int:
        """Load a network's ``on_hand`` once per stock position (node, SKU):
        the positions the store holds no row of (all of them in a fresh
        store); a position already there is live state and stays as it is.

        Seeding only an empty table left a store used first with another
        network (one node of it) answering "out of stock" for every other
        node of this one, silently; seeding per node did the same for a SKU
        added to a node the store knew. The check and the insert are one
        transaction, so routers opening a fresh store concurrently seed it
        exactly once. Returns rows written; the store's nodes this network
        does not have are logged (another network's store?).
        """
        ni, si = np.nonzero(np.asarray(network.inventory) > 0)
        rows = [
            (str(network.node_ids[i]), str(network.sku_ids[k]), int(q))
            for i, k, q in zip(
                ni.tolist(),
                si.tolist(),
                np.asarray(network.inventory)[ni, si].tolist(),
                strict=True,
            )
        ]
        with self._db.tx() as conn:
            conn.lock("inventory_seed")
            positions = {
                (str(node), str(sku))
                for node, sku in conn.execute(
                    "SELECT node_id, sku FROM inventory"
                ).fetchall()
            }
            rows = [r for r in rows if (r[0], r[1]) not in positions]
            if rows:
                conn.executemany(
                    "INSERT INTO inventory (node_id, sku, on_hand) VALUES (?, ?, ?)",
                    rows,
                )
        held = {node for node, _ in positions}
        if rows and positions:
            log.info(
                "%s: %s new in the network seeded (a SKU or "
                "node the store had no row of)",
                self._db.location,
                counted(len(rows), "stock position"),
            )
        others = sorted(held - set(network.node_ids))
        if others:
            log.warning(
                "%s: the state store holds stock of %s the network does "
                "not have (%s): a store of another network?",
                self._db.location,
                counted(len(others), "node"),
                listed(others),
            )
        return len(rows)

    def inventory_frame(self) -> pd.DataFrame:
        """The inventory table: ``node_id, sku, on_hand, reserved``."""
        return self._db.frame(
            "SELECT node_id, sku, on_hand, reserved FROM inventory "
            f"ORDER BY node_id{self._db.byte_order}, sku{self._db.byte_order}"
        )

    def stock_levels(self, *, now: float | None = None) -> pd.DataFrame:
        """``node_id, sku, on_hand, reserved, available`` of every position
        the store holds, by node and SKU; available counts the holds past
        their TTL as free (as :meth:`available` does). Its two reads are one
        snapshot: a sweep of those holds between them lost their units."""
        with self._db.snapshot() as conn:
            return stock_levels_in(conn, clock(now))

    def available(
        self, node_id: str, skus: Sequence[str], *, now: float | None = None
    ) -> dict[str, int]:
        """On hand minus live (unexpired, active) reservations, per SKU (0 if none)."""
        t = clock(now)
        out = dict.fromkeys(skus, 0)
        for chunk in chunks(list(skus)):
            rows = self._db.execute(
                f"""SELECT i.sku, i.on_hand - i.reserved + COALESCE((
                        SELECT SUM(l.quantity) FROM reservation_lines l
                        JOIN reservations r ON r.request_id = l.request_id
                        WHERE r.{LIVE_RESERVATION} AND r.expires_at <= ?
                          AND r.node_id = i.node_id AND l.sku = i.sku), 0)
                    FROM inventory i
                    WHERE i.node_id = ? AND i.sku IN ({marks(len(chunk))})""",
                (t, node_id, *chunk),
            ).fetchall()
            out.update({str(s): int(a) for s, a in rows})
        return out

    def available_matrix(
        self,
        node_ids: Sequence[str],
        sku_ids: Sequence[str],
        *,
        now: float | None = None,
    ) -> NDArray[np.int64]:
        """Dense ``(len(node_ids), len(sku_ids))`` available units (one query)."""
        t = clock(now)
        node_pos = {n: i for i, n in enumerate(node_ids)}
        sku_pos = {s: j for j, s in enumerate(sku_ids)}
        out = np.zeros((len(node_ids), len(sku_ids)), dtype=np.int64)
        rows = self._db.execute(
            "SELECT node_id, sku, on_hand - reserved FROM inventory"
        ).fetchall()
        stale = self._lapsed(t)
        for n, s, a in [*rows, *stale]:
            i, j = node_pos.get(n), sku_pos.get(s)
            if i is not None and j is not None:
                out[i, j] += int(a)
        return out

    def _lapsed(self, t: float) -> list[Any]:
        """``(node_id, sku, units)`` held by live holds past their TTL at
        ``t``, per position: free already, before a write sweeps them."""
        return lapsed_holds(self._db, t)

    def available_by_sku(
        self, skus: Sequence[str], *, now: float | None = None
    ) -> list[tuple[str, str, int]]:
        """``(node_id, sku, available)`` of every node holding one of ``skus``.

        Available = on hand − live reservations (holds past their TTL count
        as free even before a write sweeps them). A read, never blocked by
        writers (WAL); one indexed query however many nodes, which also says
        whether any hold has lapsed unswept (a second query adds those back
        only then): one statement per checkout answer, one round trip on
        PostgreSQL.
        """
        t = clock(now)
        return stock_rows(self._db, self._db.execute(*stock_query(skus, t)), skus, t)

    def _reserved_mismatches(self) -> list[str]:
        """Cells whose ``reserved`` differs from their live reservation lines."""
        bad = self._db.execute(
            f"""SELECT i.node_id, i.sku, i.reserved, COALESCE(x.q, 0) FROM inventory i
               LEFT JOIN (SELECT r.node_id, l.sku, SUM(l.quantity) AS q
                          FROM reservation_lines l JOIN reservations r
                          ON r.request_id = l.request_id WHERE r.{LIVE_RESERVATION}
                          GROUP BY r.node_id, l.sku) x
               ON x.node_id = i.node_id AND x.sku = i.sku
               WHERE i.reserved != COALESCE(x.q, 0)""",
        ).fetchall()
        return [f"reserved mismatch {n}/{s}: {r} != {q}" for n, s, r, q in bad]


def locked_cells(
    conn: Transaction, cells: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """``on_hand, reserved`` of ``cells`` (in ``(node, sku)`` order),
    locked until commit: one statement per node and chunk of SKUs."""
    by_node: dict[str, list[str]] = {}
    for node, sku in cells:
        by_node.setdefault(node, []).append(sku)
    statements = [
        (
            "SELECT node_id, sku, on_hand, reserved FROM inventory "
            f"WHERE node_id = ? AND sku IN ({marks(len(chunk))}) "
            f"ORDER BY sku{conn.byte_order}{conn.for_update}",
            (node, *chunk),
        )
        for node, skus in by_node.items()
        for chunk in chunks(skus)
    ]
    return {
        (str(n), str(s)): (int(q), int(r))
        for rows in conn.execute_all(statements)
        for n, s, q, r in rows.fetchall()
    }


def _request_digest(
    cells: Sequence[tuple[str, str, int]], *, add: bool, cut_holds: bool | None
) -> str:
    """What a ``change_id`` is recorded with: the SHA-256 of its request
    (the mode, the changes in their order and ``cut_holds``), to tell a
    retry from another change under the id. ``cut_holds`` None: the digest
    recorded before the flag was part of it (schemas 16 and 17 until
    2026-12-06), which a retry of those ids is compared with."""
    request: list[Any] = ["add" if add else "set", [list(c) for c in cells]]
    if cut_holds is not None:
        request.append({"cut_holds": cut_holds})
    return hashlib.sha256(json.dumps(request).encode()).hexdigest()


def _claim(
    conn: Transaction,
    change_id: str,
    request: tuple[str, str],
    cut_holds: bool,
    t: float,
) -> StockReceipt | None:
    """Record ``change_id`` in ``conn`` (None: it is new, and the caller
    writes its stock), or the positions its first request wrote and the
    holds it cut (a retry, ``duplicate``). The unique key makes a
    concurrent claim of the id wait for this transaction's end
    (PostgreSQL), and read the row it committed.

    ``request``: the request's digest and the one recorded before
    ``cut_holds`` was part of it (:func:`_request_digest`). An id
    recorded with that older digest answers its retry whichever the flag,
    unless its answer tells the flag it was sent with: holds cut (with
    it), an answer of schema 16 (without it).

    Raises
    ------
    ChangeIdConflict
        The id was recorded with another request.
    ChangeIdPruned
        The id's answer was pruned (a :class:`ChangeIdConflict`).
    """
    claimed = conn.execute(
        "INSERT INTO stock_changes (change_id, request, result, received_at) "
        "VALUES (?, ?, '[]', ?) ON CONFLICT (change_id) DO NOTHING "
        "RETURNING change_id",
        (change_id, request[0], t),
    ).fetchone()
    if claimed is not None:
        return None
    row = conn.execute(
        "SELECT request, result, received_at FROM stock_changes WHERE change_id = ?",
        (change_id,),
    ).fetchone()
    if row is None:  # gone between the claim and the read: claim it again
        raise StoreConflict(f"stock change {change_id!r} pruned meanwhile")
    if str(row[1]) == PRUNED_RESULT:
        raise ChangeIdPruned(change_id, float(row[2]))
    if str(row[0]) not in request:
        raise ChangeIdConflict(change_id)
    result = json.loads(row[1])
    sent_with: bool | None = None  # the flag of an older digest's request
    if isinstance(result, list):  # recorded before hold cuts (schema 16)
        result, sent_with = {"changes": result, "cuts": []}, False
    elif result["cuts"]:
        sent_with = True
    if str(row[0]) == request[1] and sent_with not in (None, cut_holds):
        raise ChangeIdConflict(change_id)
    return StockReceipt(
        [
            StockChange(str(n), str(s), int(b), int(a), int(r))
            for n, s, b, a, r in result["changes"]
        ],
        duplicate=True,
        cuts=tuple(
            HoldCut(str(rid), str(n), str(s), int(u)) for rid, n, s, u in result["cuts"]
        ),
        applied_at=float(row[2]),
    )


def quantity_problem(qty: float, *, add: bool, as_given: str | None = None) -> str:
    """Why a change's quantity ``qty`` no position can take, whatever it holds
    (on_hand is 0 to ``MAX_UNITS``), is refused, in :func:`_stock_problem`'s
    words ("" for a quantity some position may take): for a quantity past
    what a file's column or a request carries to the store (+-``MAX_MAGNITUDE``),
    shown ``as_given`` (the file's text; default: the integer).
    ``stock load`` and ``POST /v1/stock`` name this one bound, 10^9, for
    any quantity past it."""
    shown = f"{int(qty)}" if as_given is None else as_given
    if add and qty > MAX_UNITS:
        return f"on_hand would be above {MAX_UNITS:.0f} ({shown} added)"
    if add and qty < -MAX_UNITS:
        return f"on_hand would be below 0 ({shown} added)"
    if not add and qty > MAX_UNITS:
        return f"on_hand would be {shown}: above {MAX_UNITS:.0f}"
    if not add and qty < 0:
        return f"on_hand would be {shown}: below 0"
    return ""


def _stock_problem(
    before: int, qty: int, after: int, reserved: int, *, add: bool, cut: bool
) -> str:
    """Why ``on_hand`` may not become ``after`` ("" when it may; below what
    is reserved, only ``cut``: the holds are cut)."""
    how = f" ({before} on hand, {qty} added)" if add else ""
    if after < 0:
        return f"on_hand would be {after}{how}: below 0"
    if after > MAX_UNITS:
        return f"on_hand would be {after}{how}: above {MAX_UNITS:.0f}"
    if after < reserved and not cut:
        return (
            f"on_hand would be {after}{how}, below the {reserved} units reserved "
            "(held by open checkouts): cut_holds (tierflow stock load "
            "--cut-holds) writes it and releases the newest holds there"
        )
    return ""


class _LockFirst(Exception):
    """A cut frees stock rows its transaction had not locked (``cells``):
    rolled back and run again with them locked first, in one ``(node,
    sku)`` run with the rows counted (PostgreSQL)."""

    def __init__(self, cells: set[tuple[str, str]]) -> None:
        super().__init__(f"{len(cells)} stock row(s) to lock first")
        self.cells = cells


def cut_newest(
    ledger: Ledger,
    changes: Sequence[StockChange],
    locked: Collection[tuple[str, str]] = (),
) -> tuple[list[StockChange], tuple[HoldCut, ...]]:
    """In a stock change's transaction (its positions locked): release the
    newest live holds at each position of ``changes`` whose ``after`` is
    below its ``reserved``, until it holds no more than ``after``; the
    lines released, in the order cut, and ``changes`` with the units
    reserved after them.

    A hold is a checkout's: its reservations go whole (every line, at
    every node), claimed as an expiry claims them (their stock returns
    once), each recorded in ``hold_cuts`` with the position that cut it,
    and the checkout's hold ends now (``expires_at``): a select may hold
    again, a confirm is refused naming the position. A reservation of no
    checkout goes alone. Holds past their TTL are expired first, as the
    sweep before the transaction would have (one that lapsed since): they
    are not cut, they hold nothing.

    ``locked``: the stock rows the transaction locked (with those of
    ``changes``). On PostgreSQL a cut that frees others (another line of
    a checkout, at another SKU or node) raises :class:`_LockFirst` before
    it writes anything: freed after the rows counted, they were a second
    ``(node, sku)`` run, against the order a take locks them in.
    """
    conn, t = ledger.conn, ledger.now
    if ledger.expire_stale():  # their stock back (queued): read the cells again
        cells = locked_cells(conn, sorted((c.node_id, c.sku) for c in changes))
        changes = [c._replace(reserved=cells[c.node_id, c.sku][1]) for c in changes]
    over = sorted((c.node_id, c.sku, c.reserved - c.after) for c in changes)
    freed: dict[tuple[str, str], int] = {}
    done: set[str] = set()
    cuts: list[HoldCut] = []
    cut_by: dict[str, tuple[str, str]] = {}  # reservation: the position
    ended: list[str] = []
    for node, sku, excess in over:
        if excess - freed.get((node, sku), 0) <= 0:
            continue
        holds = conn.execute(
            "SELECT r.request_id, COALESCE(r.checkout_id, r.request_id) "
            "FROM reservations r JOIN reservation_lines l "
            "ON l.request_id = r.request_id "
            f"WHERE r.node_id = ? AND l.sku = ? AND r.{LIVE_RESERVATION} "
            "ORDER BY r.created_at DESC, r.request_id DESC",
            (node, sku),
        ).fetchall()
        for _, owner in holds:
            if excess - freed.get((node, sku), 0) <= 0:
                break
            if str(owner) in done:
                continue
            done.add(str(owner))
            lines = conn.execute(
                "SELECT r.request_id, r.node_id, l.sku, l.quantity "
                "FROM reservations r JOIN reservation_lines l "
                "ON l.request_id = r.request_id "
                f"WHERE r.{LIVE_RESERVATION} AND (r.checkout_id = ? OR "
                "(r.checkout_id IS NULL AND r.request_id = ?)) "
                f"ORDER BY r.request_id{conn.byte_order}, l.sku{conn.byte_order}",
                (owner, owner),
            ).fetchall()
            for rid, n, s, q in lines:
                freed[str(n), str(s)] = freed.get((str(n), str(s)), 0) + int(q)
                cuts.append(HoldCut(str(owner), str(n), str(s), int(q)))
                cut_by[str(rid)] = (node, sku)
            ended.append(str(owner))
    unlocked = {(c.node_id, c.sku) for c in cuts} - set(locked)
    if unlocked and conn.for_update:  # SQLite: one writer, no lock order
        raise _LockFirst(unlocked)
    ledger.expire_active(sorted(cut_by))
    later_rows(
        conn,
        "INSERT INTO hold_cuts (request_id, node_id, sku, cut_at)",
        [(rid, node, sku, t) for rid, (node, sku) in sorted(cut_by.items())],
        " ON CONFLICT (request_id) DO UPDATE SET node_id = excluded.node_id, "
        "sku = excluded.sku, cut_at = excluded.cut_at",
    )
    for chunk in chunks(ended):
        conn.later(
            "UPDATE checkouts SET expires_at = ? WHERE status = ? AND request_id "
            f"IN ({marks(len(chunk))}) AND expires_at > ?",
            (t, HoldStatus.HELD, *chunk, t),
        )
    left = _left_after(changes, cuts)
    return [c._replace(reserved=left[c.node_id, c.sku]) for c in changes], tuple(cuts)


def _left_after(
    changes: Sequence[StockChange], cuts: Sequence[HoldCut]
) -> dict[tuple[str, str], int]:
    """The units reserved at each position of ``changes`` after ``cuts``."""
    left = {(c.node_id, c.sku): c.reserved for c in changes}
    for cut in cuts:
        if (cut.node_id, cut.sku) in left:
            left[cut.node_id, cut.sku] -= cut.units
    return left


def stock_query(skus: Sequence[str], t: float) -> tuple[str, tuple[Any, ...]]:
    """The statement :meth:`Inventory.available_by_sku` runs first: every
    node's available units of ``skus``, and whether any hold lapsed unswept
    at ``t`` (:func:`stock_rows` reads it)."""
    return (
        f"SELECT node_id, sku, on_hand - reserved, (SELECT 1 FROM reservations "
        f"WHERE {LIVE_RESERVATION} AND expires_at <= ? LIMIT 1) FROM inventory "
        f"WHERE sku IN ({marks(len(skus))}) AND on_hand > 0",
        (t, *skus),
    )


def own_hold_query(
    checkout_id: str, skus: Sequence[str], t: float
) -> tuple[str, tuple[Any, ...]]:
    """The units of ``skus`` that checkout ``checkout_id``'s live holds
    (unlapsed at ``t``) take, per ``(node_id, sku)``: stock that checkout
    may still use, since selecting again releases its hold first
    (:func:`with_own_holds`)."""
    return (
        f"""SELECT r.node_id, l.sku, SUM(l.quantity)
            FROM reservations r JOIN reservation_lines l
              ON l.request_id = r.request_id
            WHERE r.checkout_id = ? AND r.{LIVE_RESERVATION} AND r.expires_at > ?
              AND l.sku IN ({marks(len(skus))})
            GROUP BY r.node_id, l.sku""",
        (checkout_id, t, *skus),
    )


def with_own_holds(
    rows: list[tuple[str, str, int]], held: Cursor
) -> list[tuple[str, str, int]]:
    """``rows`` (:func:`stock_rows`) with the units :func:`own_hold_query`
    read added back: its checkout's own hold is not another's stock."""
    own = {(str(n), str(s)): int(q) for n, s, q in held.fetchall()}
    if not own:
        return rows
    return [(n, s, a + own.get((n, s), 0)) for n, s, a in rows]


def stock_rows(
    db: Connection, found: Cursor, skus: Sequence[str], t: float
) -> list[tuple[str, str, int]]:
    """``(node_id, sku, available)`` from :func:`stock_query`'s rows, the
    units of lapsed holds added back (a second statement, only when one has
    lapsed unswept)."""
    rows_found = found.fetchall()
    rows: list[tuple[str, str, int]] = [(n, s, a) for n, s, a, _ in rows_found]
    if not rows_found or rows_found[0][3] is None:
        return rows
    freed = {
        (str(n), str(s)): int(q)
        for n, s, q in db.execute(
            f"""SELECT r.node_id, l.sku, SUM(l.quantity)
                FROM reservations r JOIN reservation_lines l
                  ON l.request_id = r.request_id
                WHERE r.{LIVE_RESERVATION} AND r.expires_at <= ?
                  AND l.sku IN ({marks(len(skus))})
                GROUP BY r.node_id, l.sku""",
            (t, *skus),
        ).fetchall()
    }
    return [(n, s, a + freed.get((n, s), 0)) for n, s, a in rows]


def lapsed_holds(conn: Connection, t: float) -> list[Any]:
    """``(node_id, sku, units)`` held by live holds past their TTL at ``t``,
    per position: free already, before a write sweeps them."""
    return conn.execute(
        f"""SELECT r.node_id, l.sku, SUM(l.quantity) FROM reservation_lines l
           JOIN reservations r ON r.request_id = l.request_id
           WHERE r.{LIVE_RESERVATION} AND r.expires_at <= ?
           GROUP BY r.node_id, l.sku""",
        (t,),
    ).fetchall()


def stock_levels_in(conn: Connection, t: float) -> pd.DataFrame:
    """:meth:`Inventory.stock_levels` at ``t``, read on ``conn`` (one
    snapshot's reads, which may read more in it)."""
    columns = ["node_id", "sku", "on_hand", "reserved"]
    rows = conn.execute(
        f"SELECT {', '.join(columns)} FROM inventory "
        f"ORDER BY node_id{conn.byte_order}, sku{conn.byte_order}"
    ).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    lapsed = {(str(n), str(s)): int(q) for n, s, q in lapsed_holds(conn, t)}
    frame["available"] = [
        int(q) - int(r) + lapsed.get((str(n), str(s)), 0)
        for n, s, q, r in zip(
            frame["node_id"],
            frame["sku"],
            frame["on_hand"],
            frame["reserved"],
            strict=True,
        )
    ]
    return frame
