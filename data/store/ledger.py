"""Reservations as rows that hold stock, inside one write transaction.

:class:`Ledger` is the one stock-taking routine behind both
:meth:`~tierflow.data.store.Reservations.reserve` and checkout holds: a
conditional ``UPDATE`` per line (never oversells), the shortfall of every
line that does not fit, and the sweeps that give stock back. Every status
change is conditional on the reservation still being ``active`` and stock
is given back only for a row that changed, so two workers acting on one
reservation at once (PostgreSQL, READ COMMITTED) give it back once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from tierflow.data.errors import InputError
from tierflow.data.store.database import (
    ROW_PARAMETERS,
    Cadence,
    Database,
    Transaction,
    chunks,
    later_rows,
    marks,
)
from tierflow.data.store.schema import LIVE_RESERVATION
from tierflow.data.store.stock_news import note_stock_changed, noting_sold_out
from tierflow.data.vocabulary import ReservationStatus


class Line(NamedTuple):
    """Units of one SKU."""

    sku: str
    quantity: int


class Hold(NamedTuple):
    """Lines held at one node under one reservation id (a shipment)."""

    node_id: str
    lines: tuple[Line, ...]


class Shortfall(NamedTuple):
    """A line that did not fit: what was asked for and what was free."""

    node_id: str
    sku: str
    requested: int
    available: int


class ReservationRow(NamedTuple):
    """A stored reservation's node, status and expiry."""

    node_id: str
    status: ReservationStatus
    expires_at: float


class StoredHold(NamedTuple):
    """A stored reservation and its lines, by SKU (:meth:`Ledger.stored`)."""

    row: ReservationRow
    lines: list[Line]


class StockShortfall(Exception):
    """Raised inside the transaction (rolling it back) when a line does not fit."""

    def __init__(self, shortfall: tuple[Shortfall, ...]) -> None:
        super().__init__(f"{len(shortfall)} line(s) short")
        self.shortfall = shortfall


def check_request(request_id: str, ttl_s: float) -> None:
    """A request needs an id and a finite TTL > 0."""
    if not request_id:
        raise InputError("empty request id", field="request_id", value=request_id)
    if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
        raise InputError("must be > 0 seconds", field="ttl_s", value=ttl_s)


def normalize_lines(lines: Iterable[tuple[str, int]]) -> tuple[Line, ...]:
    """Validated lines, one per SKU (quantities summed), sorted by SKU."""
    merged: dict[str, int] = {}
    for i, item in enumerate(lines):
        try:
            sku, qty = item
        except (TypeError, ValueError):
            raise InputError(
                "expected (sku, quantity)", field="lines", index=i
            ) from None
        if not isinstance(sku, str) or not sku:
            raise InputError("empty SKU", field="sku", index=i, value=sku)
        if isinstance(qty, bool) or not isinstance(qty, int | np.integer) or qty < 1:
            raise InputError(
                "must be an integer >= 1", field="quantity", index=i, value=qty
            )
        merged[sku] = merged.get(sku, 0) + int(qty)
    if not merged:
        raise InputError("no lines", field="lines")
    return tuple(Line(s, q) for s, q in sorted(merged.items()))


class Ledger:
    """The reservation rows of one write transaction at time ``now``.

    Parameters
    ----------
    conn
        The open write transaction.
    now
        Epoch seconds the transaction acts at (TTLs are judged against it).
    """

    def __init__(self, conn: Transaction, now: float) -> None:
        self.conn = conn
        self.now = now
        #: Units a swap gives back (:meth:`release` ``then_take``), by
        #: ``(node, sku)``: given back in the round trip of the next take.
        self._back: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------- taking
    def take(
        self,
        ids: Sequence[str],
        holds: Sequence[Hold],
        ttl_s: float,
        *,
        checkout_id: str | None = None,
    ) -> float:
        """Hold every line of every hold (``ids[k]`` for ``holds[k]``), or raise.

        ``checkout_id``: the checkout the reservations hold stock for, stored
        with them so that whatever deletes the checkout finds them by it
        (never by how their ids are made); None for a plain reservation.
        Holds past their TTL are swept before, in a transaction of their own
        (:func:`taking`). Returns the new reservations' expiry.

        Raises
        ------
        StockShortfall
            Some line did not fit (every short line is listed); the caller's
            transaction rolls back.
        """
        short, low = self._take_lines(holds)
        if short:
            raise StockShortfall(tuple(short))
        if low:  # every replica's live hub re-answers its checkouts of them
            note_stock_changed(self.conn, low)
        expires = self.now + ttl_s
        later_rows(
            self.conn,
            "INSERT INTO reservations (request_id, node_id, status, created_at, "
            "expires_at, updated_at, checkout_id)",
            [
                (
                    rid,
                    hold.node_id,
                    ReservationStatus.ACTIVE,
                    self.now,
                    expires,
                    self.now,
                    checkout_id,
                )
                for rid, hold in zip(ids, holds, strict=True)
            ],
        )
        later_rows(
            self.conn,
            "INSERT INTO reservation_lines (request_id, sku, quantity)",
            [
                (rid, line.sku, line.quantity)
                for rid, hold in zip(ids, holds, strict=True)
                for line in hold.lines
            ],
        )
        return expires

    def _take_lines(self, holds: Sequence[Hold]) -> tuple[list[Shortfall], set[str]]:
        """Take each line with a conditional update; the lines that did not
        fit, and the SKUs of the positions a take left with fewer units than
        it took (:meth:`_take`).

        Rows are taken in ``(node, sku)`` order, so concurrent takes lock
        them in one order (PostgreSQL: every update in one round trip); the
        shortfall is listed in hold order.
        """
        cells = sorted(
            (hold.node_id, line.sku, line.quantity, k, j)
            for k, hold in enumerate(holds)
            for j, line in enumerate(hold.lines)
        )
        missed, low = self._take(cells)
        free = self.conn.execute_all(  # one round trip for every short line
            [
                (
                    "SELECT on_hand - reserved FROM inventory "
                    "WHERE node_id = ? AND sku = ?",
                    (node, sku),
                )
                for node, sku, _, _, _ in missed
            ]
        )
        short = {}
        for (node, sku, qty, k, j), rows in zip(missed, free, strict=True):
            row = rows.fetchone()
            short[k, j] = Shortfall(node, sku, qty, int(row[0]) if row else 0)
        return [short[key] for key in sorted(short)], low

    def _take(
        self, cells: list[tuple[str, str, int, int, int]]
    ) -> tuple[list[tuple[str, str, int, int, int]], set[str]]:
        """Take each ``(node, sku, quantity, ...)`` cell if it fits; the
        cells that did not, and the SKUs of the cells taken that left their
        position fewer units than they took (0 always): a cart like this
        one can no longer be served there, so open pages of the SKU are
        told (:func:`~tierflow.data.store.stock_news.note_stock_changed`).
        Each update returns the units it left: no statement of its own.

        The units a swap gives back (:meth:`release` ``then_take``) go
        first, in the same round trip, each returning the units it left:
        a position that had fewer units than it got back (0 always: sold
        out until now) has its SKU noted too, as a sweep's
        (:func:`_give_back_later`)."""
        back, self._back = sorted(self._back.items()), {}
        answers = self.conn.execute_all(
            [(_GIVE_BACK, (q, node, sku)) for (node, sku), q in back]
            + [
                (
                    "UPDATE inventory SET reserved = reserved + ? WHERE node_id = ? "
                    "AND sku = ? AND on_hand - reserved >= ? "
                    "RETURNING on_hand - reserved",
                    (qty, node, sku, qty),
                )
                for node, sku, qty, _, _ in cells
            ]
        )
        low = _sold_out_until_now(back, answers[: len(back)])
        taken = answers[len(back) :]
        missed = []
        for cell, rows in zip(cells, taken, strict=True):
            left = rows.fetchone()
            if left is None:
                missed.append(cell)
            elif int(left[0]) < cell[2]:
                low.add(cell[1])
        return missed, low

    # ------------------------------------------------------------ reading
    def reservation(self, request_id: str) -> ReservationRow | None:
        """The stored reservation (locked until commit), or None."""
        row = self.conn.execute(
            "SELECT node_id, status, expires_at FROM reservations "
            f"WHERE request_id = ?{self.conn.for_update}",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        return ReservationRow(str(row[0]), ReservationStatus(row[1]), float(row[2]))

    def lines_of(self, request_id: str) -> tuple[Line, ...]:
        """A reservation's lines, by SKU."""
        rows = self.conn.execute(
            "SELECT sku, quantity FROM reservation_lines WHERE request_id = ? "
            f"ORDER BY sku{self.conn.byte_order}",
            (request_id,),
        ).fetchall()
        return tuple(Line(str(s), int(q)) for s, q in rows)

    def stored(self, ids: Sequence[str]) -> dict[str, StoredHold]:
        """The stored reservations among ``ids`` with their lines (by SKU),
        read and locked until commit in one statement (a reservation and
        then its lines, each, took two round trips per id)."""
        if not ids:
            return {}
        return stored_holds(
            self.conn.execute(
                f"{_STORED} WHERE r.request_id IN ({marks(len(ids))}) "
                f"ORDER BY r.request_id, l.sku{self.conn.for_update}",
                tuple(ids),
            ).fetchall()
        )

    def stored_of_checkout(self, checkout_id: str) -> tuple[str, tuple[Any, ...]]:
        """The statement that reads what :meth:`stored` reads, for every
        reservation of a checkout (:func:`stored_holds` makes them a
        :meth:`stored`): it needs no reservation id, so it goes with the
        read of the checkout's row."""
        return (
            f"{_STORED} WHERE r.checkout_id = ? "
            f"ORDER BY r.request_id, l.sku{self.conn.for_update}",
            (checkout_id,),
        )

    def holds_of(
        self, ids: Sequence[str], stored: Mapping[str, StoredHold] | None = None
    ) -> list[Hold]:
        """The holds stored under reservation ``ids``, in order (``stored``:
        what :meth:`stored` read of them already)."""
        if stored is None:
            stored = self.stored(ids)
        out = []
        for rid in ids:
            held = stored.get(rid)
            out.append(
                Hold("", ())
                if held is None
                else Hold(held.row.node_id, tuple(held.lines))
            )
        return out

    def settle(self, row: ReservationRow) -> ReservationStatus:
        """A reservation's status now: an active one past its TTL is expired."""
        if row.status == ReservationStatus.ACTIVE and row.expires_at <= self.now:
            self.expire_stale()
            return ReservationStatus.EXPIRED
        return row.status

    # ------------------------------------------------------ giving back
    def expire_stale(self) -> int:
        """Expire every active reservation past its TTL (its stock returns).

        One conditional ``UPDATE`` claims the stale rows: a row another
        worker expired, released or committed first is not claimed again, so
        its stock comes back once.
        """
        return self._expire_where("expires_at <= ?", (self.now,))

    def expire_active(self, request_ids: Sequence[str]) -> int:
        """Expire those of ``request_ids`` still active, whatever their TTL
        (a finished checkout's holds, before they are deleted), claimed as
        :meth:`expire_stale` claims them: their stock returns once, in one
        ``(node, sku)`` run however many they are (claimed a chunk at a time
        and given back per chunk, two chunks' runs could cross a concurrent
        transaction's order)."""
        claimed = [
            row
            for chunk in chunks(list(request_ids))
            for row in self.conn.execute(
                *self._claim(f"request_id IN ({marks(len(chunk))})", tuple(chunk))
            ).fetchall()
        ]
        return self.give_back_claimed(claimed)

    def _claim(
        self, condition: str, parameters: Sequence[Any]
    ) -> tuple[str, tuple[Any, ...]]:
        """The conditional ``UPDATE`` that expires the active reservations
        matching ``condition`` and returns them (``request_id, node_id``)."""
        return (
            "UPDATE reservations SET status = ?, updated_at = ? "
            f"WHERE {LIVE_RESERVATION} AND {condition} RETURNING request_id, node_id",
            (ReservationStatus.EXPIRED, self.now, *parameters),
        )

    def _expire_where(self, condition: str, parameters: Sequence[Any]) -> int:
        """Expire the active reservations matching ``condition`` by one
        conditional ``UPDATE`` and give their stock back."""
        sql, values = self._claim(condition, parameters)
        return self.give_back_claimed(self.conn.execute(sql, values).fetchall())

    def give_back_claimed(self, claimed: Sequence[Sequence[Any]]) -> int:
        """Give back the stock of the reservations a claim (:meth:`_claim`)
        expired, ``(request_id, node_id)`` rows: their lines read in one
        statement (one per reservation before), the stock rows updated in
        ``(node, sku)`` order. How many there were."""
        nodes = {str(rid): str(node) for rid, node in claimed}
        cells: list[tuple[str, str, int]] = []
        for chunk in chunks(sorted(nodes)):
            rows = self.conn.execute(
                "SELECT request_id, sku, quantity FROM reservation_lines "
                f"WHERE request_id IN ({marks(len(chunk))})",
                tuple(chunk),
            ).fetchall()
            cells += [(nodes[str(rid)], str(sku), int(q)) for rid, sku, q in rows]
        self._give_back_cells(cells, consume=False)
        return len(nodes)

    def give_back(self, request_id: str, node_id: str, *, consume: bool) -> None:
        """Drop a reservation's units from ``reserved`` (and ``on_hand`` if consumed)."""
        self._give_back(node_id, self.lines_of(request_id), consume=consume)

    def _give_back(self, node_id: str, lines: Iterable[Line], *, consume: bool) -> None:
        self._give_back_cells(
            [(node_id, line.sku, line.quantity) for line in lines], consume=consume
        )

    def _give_back_cells(
        self, cells: Iterable[tuple[str, str, int]], *, consume: bool
    ) -> None:
        """Give back units of ``(node, sku, quantity)`` cells: the stock rows
        locked in ``(node, sku)`` order, as a take locks them (given back in
        the order of the reservations, two rows of a multi-node hold were
        locked in the hold's shipment order, against a take's order). Queued:
        on PostgreSQL no round trip of their own.

        ``consume``: the units leave ``on_hand`` too (a commit: what is
        available does not move). Otherwise (a sweep, a cancel, a release) a
        position that had fewer units than it got back (0 always: sold out
        until now) has its SKU noted as a stock change, the mirror of
        :meth:`_take`'s (:func:`_give_back_later`)."""
        units: dict[tuple[str, str], int] = {}
        for node, sku, qty in cells:
            units[node, sku] = units.get((node, sku), 0) + qty
        given = sorted(units.items())
        if given and consume:
            self.conn.later_many(
                "UPDATE inventory SET reserved = reserved - ?, "
                "on_hand = on_hand - ? WHERE node_id = ? AND sku = ?",
                [(q, q, node, sku) for (node, sku), q in given],
            )
        elif given:
            _give_back_later(self.conn, given)

    def release(
        self,
        ids: Sequence[str],
        *,
        then_take: Sequence[Hold] = (),
        stored: Mapping[str, StoredHold] | None = None,
    ) -> None:
        """Release the still active reservations among ``ids``.

        ``then_take``: the holds the transaction takes next (:meth:`take`,
        a swap to another option), which gives the released units back in
        its round trip (they are given back then, not here: the updates
        return the units they left, and a position sold out until then
        sends stock news, as a sweep's does, with no round trip of its
        own). Every stock row of both is locked first, in one
        ``(node, sku)`` order: the old hold given back, then the new one
        taken, locked two rows in the order of the swap, and two checkouts
        swapping each other's SKUs deadlocked (PostgreSQL aborts one after
        its ``deadlock_timeout``, a second, and the store runs it again).
        """
        if stored is None:
            stored = self.stored(ids)
        active = [
            (rid, held.row.node_id, held.lines)
            for rid in ids
            if (held := stored.get(rid)) is not None
            and held.row.status == ReservationStatus.ACTIVE
        ]
        if active and then_take:
            cells = {(node, line.sku) for _, node, lines in active for line in lines}
            cells |= {(h.node_id, line.sku) for h in then_take for line in h.lines}
            _lock_rows_later(self.conn, sorted(cells))
        given = [
            (node, line.sku, line.quantity)
            for _, node, lines in active
            for line in lines
        ]
        if then_take:  # given back in the take's round trip, with its news
            for node, sku, qty in given:
                self._back[node, sku] = self._back.get((node, sku), 0) + qty
        else:
            self._give_back_cells(given, consume=False)
        if active:
            self.set_status([rid for rid, _, _ in active], ReservationStatus.RELEASED)

    def live_of_checkout(self, checkout_id: str) -> tuple[str, tuple[Any, ...]]:
        """The statement that reads (and locks) a checkout's active,
        unexpired reservations with their lines, for :meth:`commit_live`'s
        ``rows``: it needs no reservation id, so it goes with the read of
        the checkout's row (one round trip, not two)."""
        return (
            f"{_LIVE_LINES} WHERE r.checkout_id = ? AND r.{LIVE_RESERVATION} AND "
            f"r.expires_at > ? ORDER BY r.request_id, l.sku{self.conn.for_update}",
            (checkout_id, self.now),
        )

    def commit_live(
        self, ids: Sequence[str], rows: Sequence[Sequence[Any]] | None = None
    ) -> bool:
        """Ship every reservation of ``ids`` if all are active and unexpired.

        Returns False (nothing written) when one is not. The reservations
        and their lines are read (and locked) in one statement; ``rows``:
        those read by :meth:`live_of_checkout` already (the ones of ``ids``
        count; read again by id when they miss one).
        """
        wanted = set(ids)
        live = _live_lines(rows or (), wanted)
        if len(live) != len(wanted):
            live = _live_lines(
                self.conn.execute(
                    f"{_LIVE_LINES} WHERE r.request_id IN ({marks(len(ids))}) "
                    f"AND r.{LIVE_RESERVATION} AND r.expires_at > ? "
                    f"ORDER BY r.request_id, l.sku{self.conn.for_update}",
                    (*ids, self.now),
                ).fetchall(),
                wanted,
            )
        if len(live) != len(wanted):
            return False
        self._give_back_cells(
            [
                (node, line.sku, line.quantity)
                for node, lines in live.values()
                for line in lines
            ],
            consume=True,
        )
        self.set_status(ids, ReservationStatus.COMMITTED)
        return True

    def set_status(self, ids: Sequence[str], status: ReservationStatus) -> None:
        """Move the still active reservations among ``ids`` to ``status``
        (every transition leaves ``active``)."""
        self.conn.later(
            "UPDATE reservations SET status = ?, updated_at = ? "
            f"WHERE request_id IN ({marks(len(ids))}) AND {LIVE_RESERVATION}",
            (status, self.now, *ids),
        )


#: The update that gives units back to a stock row and returns the units
#: it left (:func:`_sold_out_until_now` reads them).
_GIVE_BACK = (
    "UPDATE inventory SET reserved = reserved - ? "
    "WHERE node_id = ? AND sku = ? RETURNING on_hand - reserved"
)


def _lock_rows_later(conn: Transaction, cells: Sequence[tuple[str, str]]) -> None:
    """Lock the stock rows of ``cells`` (sorted) in ``(node, sku)`` order
    (queued); nothing on SQLite (one writer, no lock order)."""
    per = ROW_PARAMETERS // 2
    for i in range(0, len(cells) if conn.for_update else 0, per):
        part = cells[i : i + per]
        conn.later(
            "SELECT 1 FROM inventory WHERE (node_id, sku) IN "
            f"({', '.join(['(?, ?)'] * len(part))}) "
            f"ORDER BY node_id{conn.byte_order}, sku{conn.byte_order}"
            f"{conn.for_update}",
            [v for cell in part for v in cell],
        )


def _give_back_later(
    conn: Transaction, given: Sequence[tuple[tuple[str, str], int]]
) -> None:
    """Give back the units of ``((node, sku), units)`` (sorted), and note
    the SKU of a position that had fewer units than it got back as a stock
    change (:func:`_sold_out_until_now`), with no round trip of its own.

    SQLite (no round trips): each :data:`_GIVE_BACK` returns the units it
    left, as a take does. PostgreSQL: queued, sent with the transaction's
    next statement or its ``COMMIT``, the updates and the news in one
    statement per chunk (:func:`~tierflow.data.store.stock_news.noting_sold_out`:
    the counter moved and the SKUs stamped only when a position was sold
    out), after the rows were locked in ``(node, sku)`` order (one update of
    several rows locks them in the order of its plan)."""
    if not conn.for_update:
        left = conn.execute_all(
            [(_GIVE_BACK, (q, node, sku)) for (node, sku), q in given]
        )
        note_stock_changed(conn, _sold_out_until_now(given, left))
        return
    if len(given) > 1:
        _lock_rows_later(conn, [cell for cell, _ in given])
    per = ROW_PARAMETERS // 3
    for i in range(0, len(given), per):
        part = given[i : i + per]
        conn.later(
            _give_back_noting(len(part)),
            [v for (node, sku), q in part for v in (node, sku, q)],
        )


def _give_back_noting(n: int) -> str:
    """PostgreSQL's statement that gives back ``n`` ``(node, sku, units)``
    and notes the SKUs of the positions sold out until then."""
    rows = ", ".join(["(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER))"] * n)
    return noting_sold_out(
        f"given (node_id, sku, q) AS (VALUES {rows}), "
        "back AS (UPDATE inventory i SET reserved = i.reserved - g.q FROM given g "
        "WHERE i.node_id = g.node_id AND i.sku = g.sku "
        "RETURNING i.sku, i.on_hand - i.reserved - g.q < g.q AS low)",
        "SELECT sku FROM back WHERE low",
    )


def _sold_out_until_now(
    given: Sequence[tuple[tuple[str, str], int]], left: Sequence[Any]
) -> set[str]:
    """The SKUs of the ``((node, sku), units)`` given back whose position
    had fewer units than it got (``left``: each :data:`_GIVE_BACK`'s rows):
    a cart like the one that held them could not be served there until
    now."""
    out = set()
    for ((_, sku), q), rows in zip(given, left, strict=True):
        row = rows.fetchone()
        if row is not None and int(row[0]) - q < q:
            out.add(sku)
    return out


#: A read of reservations with their lines (``request_id, node_id, sku,
#: quantity``), before its ``WHERE``.
_LIVE_LINES = (
    "SELECT r.request_id, r.node_id, l.sku, l.quantity FROM reservations r "
    "JOIN reservation_lines l ON l.request_id = r.request_id"
)


def _live_lines(
    rows: Iterable[Sequence[Any]], ids: set[str]
) -> dict[str, tuple[str, list[Line]]]:
    """The node and lines of each reservation of ``ids`` among ``rows``."""
    live: dict[str, tuple[str, list[Line]]] = {}
    for rid, node, sku, qty in rows:
        if str(rid) in ids:
            live.setdefault(str(rid), (str(node), []))[1].append(
                Line(str(sku), int(qty))
            )
    return live


#: A read of reservations with their status, expiry and lines, before its
#: ``WHERE`` (:func:`stored_holds` reads its rows).
_STORED = (
    "SELECT r.request_id, r.node_id, r.status, r.expires_at, l.sku, l.quantity "
    "FROM reservations r JOIN reservation_lines l ON l.request_id = r.request_id"
)


def stored_holds(rows: Iterable[Sequence[Any]]) -> dict[str, StoredHold]:
    """The reservations of a read of :data:`_STORED`, by id."""
    out: dict[str, StoredHold] = {}
    for rid, node, status, expires, sku, qty in rows:
        held = out.get(str(rid))
        if held is None:
            row = ReservationRow(str(node), ReservationStatus(status), float(expires))
            held = out[str(rid)] = StoredHold(row, [])
        held.lines.append(Line(str(sku), int(qty)))
    return out


_R = TypeVar("_R")


def taking(db: Database, sweeps: Cadence, now: float, take: Callable[[], _R]) -> _R:
    """``take()``, a transaction that takes stock, with the holds past their
    TTL swept in a transaction of their own (:func:`sweep_lapsed`): before
    it when ``sweeps`` is due, and after it when it fell short and had not
    swept (then it runs again if the sweep gave any stock back).

    Swept inside the taking transaction, the lapsed holds' stock rows were
    a second ``(node, sku)`` run besides the take's, locked before it (or,
    after a short take, after the rows it took), and the two runs could
    cross a concurrent transaction's order: a deadlock PostgreSQL broke
    after its ``deadlock_timeout``, a second.

    Raises
    ------
    StockShortfall
        ``take()`` fell short with no lapsed hold left to give stock back.
    """
    swept = sweeps.due(now)
    if swept:
        sweep_lapsed(db, now)
    try:
        return take()
    except StockShortfall:
        if swept or not sweep_lapsed(db, now):
            raise
    return take()


def sweep_lapsed(db: Database, now: float) -> int:
    """Expire every active reservation past its TTL at ``now`` and give its
    stock back, in one transaction; how many there were. A read first: with
    none lapsed (most of the time) no write transaction is opened."""
    lapsed = db.execute(
        f"SELECT 1 FROM reservations WHERE {LIVE_RESERVATION} AND expires_at <= ? "
        "LIMIT 1",
        (now,),
    ).fetchone()
    if lapsed is None:
        return 0
    with db.tx() as conn:
        return Ledger(conn, now).expire_stale()
