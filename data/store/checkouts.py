"""Checkout holds: the stock of a chosen option, held until confirmed.

A checkout is *held* with one reservation per shipment (ids
``<request_id>#<attempt>.<k>``), all taken in one transaction, plus a
``checkouts`` row. Every action on a checkout first takes its request id's
lock, so two workers never act on one checkout at once. Confirming commits the reservations and writes the
order's lines to ``online_orders`` (the orders the next allocation batch
reads) and logs each node's share of the order's work as a
``backlog_delta`` capacity event, in the same transaction; cancelling
releases them; a hold past its TTL expires like any reservation (its stock
is free at once).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

from tierflow.data.errors import InputError, TierflowError
from tierflow.data.orders import ORDER_COLUMNS
from tierflow.data.store.capacity_log import (
    StoredEvent,
    events_after_at_commit,
    log_events_later,
    stored_events,
)
from tierflow.data.store.database import (
    Connection,
    Cursor,
    StorePart,
    Transaction,
    chunks,
    clock,
    later_rows,
    marks,
    retried,
)
from tierflow.data.store.hold_tally import (
    LAPSED,
    TALLY_STATE,
    hold_counts,
    move_tally_later,
    tally_mismatches,
)
from tierflow.data.store.ledger import (
    Hold,
    Ledger,
    StockShortfall,
    StoredHold,
    check_request,
    normalize_lines,
    stored_holds,
    taking,
)
from tierflow.data.store.upgrades import (
    UpgradeNote,
    charge_upgrade_later,
    note_selection_later,
)
from tierflow.data.vocabulary import HoldStatus

#: What a checkout keeps per order line: ``orders.csv``'s columns plus where
#: the checkout promised to ship from, how, and when it is due.
CHECKOUT_LINE_COLUMNS = (
    *ORDER_COLUMNS,
    "node_id",
    "service",
    "ship_date",
    "delivery_date",
)
#: Event id prefix of a confirmed checkout's work on a node's backlog
#: (``checkout:<request_id>:<node_id>``, a ``backlog_delta``).
ORDER_WORK = "checkout:"
#: Columns of ``online_orders``: a checkout line and when it was confirmed.
ONLINE_ORDER_COLUMNS = (*CHECKOUT_LINE_COLUMNS, "confirmed_at")


class UnknownCheckout(InputError):
    """No option was ever selected for this request id: it has no checkout.

    ``quote_cancelled``: :meth:`Checkouts.cancel_checkout` closed the
    request's open option set as cancelled, under the checkout's lock (so no
    select can hold from it after)."""

    quote_cancelled: bool = False


class CustomerMismatch(InputError):
    """The caller's customer id is not the checkout's (HTTP 403)."""


class HeldAtClosedNode(InputError):
    """A confirm's hold ships from a node the caller's capacity map has
    stopped (closed, without staff, of no capacity): nothing was written,
    the hold stands."""

    def __init__(self, request_id: str, option_id: str, node_id: str) -> None:
        super().__init__(
            f"option {option_id!r} ships from {node_id}, which is closed",
            field="request_id",
            value=request_id,
        )
        self.option_id = option_id
        self.node_id = node_id


class HeldAtUnknownNode(InputError):
    """A confirm's hold ships from a node the caller's network lacks (another
    server of the store, on another network, answered and held it): the
    caller cannot judge that node, so it orders nothing; the hold stands."""

    def __init__(self, request_id: str, node_id: str) -> None:
        super().__init__(
            f"node {node_id!r} of this checkout is not in this server's network",
            field="request_id",
            value=request_id,
        )
        self.node_id = node_id


class HoldRecounted(InputError):
    """A confirm's hold was cut by a stock count below what open checkouts
    held (``hold_cuts``): nothing was written. :attr:`cut` is the position
    recounted, ``(node_id, sku, cut_at)``, which the operator's message
    names and the shopper's must not (the node)."""

    def __init__(self, request_id: str, cut: tuple[str, str, float]) -> None:
        super().__init__(
            f"{recount_words(cut)}; select an option again",
            field="request_id",
            value=request_id,
        )
        self.cut = cut


class QuoteChanged(TierflowError):
    """The stored option set is no longer the revision the caller held
    from (another replica requoted or closed it): nothing was written."""


_HELD = HoldStatus.HELD
_CONFIRMED = HoldStatus.CONFIRMED
_CANCELLED = HoldStatus.CANCELLED


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """A checkout hold as stored (:meth:`Checkouts.hold_checkout` and after).

    Attributes
    ----------
    status
        ``held`` (stock reserved until ``expires_at``), ``expired`` (a hold
        past its TTL: its stock is free again), ``confirmed``, ``cancelled``,
        or ``rejected`` (not enough stock; nothing written).
    replayed
        The same call was already recorded: nothing was written.
    shortfall
        For a rejection, ``(node_id, sku, requested, available)`` per short line.
    cut
        For a rejection of a checkout whose hold a stock count cut
        (``hold_cuts``): ``(node_id, sku, cut_at)`` of the position
        recounted, as its confirm names it; None otherwise.
    nodes, customer_id
        The nodes the held option ships from (in shipment order) and the
        customer, read from the order lines.
    capacity_events
        For a confirm asked for them (``events_after``): the capacity log
        after that ``seq`` as the confirm committed, its own work events
        included; None when not read (not asked, or a replayed confirm).
    """

    request_id: str
    option_id: str
    status: HoldStatus
    expires_at: float | None
    reservation_ids: tuple[str, ...] = ()
    replayed: bool = False
    shortfall: tuple[tuple[str, str, int, int], ...] = ()
    nodes: tuple[str, ...] = ()
    customer_id: str = ""
    cut: tuple[str, str, float] | None = None
    capacity_events: tuple[StoredEvent, ...] | None = None

    @property
    def ok(self) -> bool:
        """Whether the stock is held or the order confirmed."""
        return self.status.holds_stock


class CheckoutRow(NamedTuple):
    """A ``checkouts`` row (``updated_at``: when its status last changed)."""

    option_id: str
    status: HoldStatus
    attempt: int
    reservation_ids: tuple[str, ...]
    order_lines: str
    expires_at: float
    updated_at: float = -math.inf

    def state(
        self,
        request_id: str,
        *,
        replayed: bool = False,
        lines: Sequence[Mapping[str, Any]] | None = None,
    ) -> CheckoutState:
        """The row as a :class:`CheckoutState` (``lines``: its order lines,
        when the caller has them decoded already)."""
        if lines is None:
            lines = json.loads(self.order_lines)
        return CheckoutState(
            request_id,
            self.option_id,
            self.status,
            self.expires_at,
            self.reservation_ids,
            replayed=replayed,
            nodes=tuple(dict.fromkeys(str(r["node_id"]) for r in lines)),
            customer_id=str(lines[0]["customer_id"]) if lines else "",
        )

    def cancelled_state(self, request_id: str, *, replayed: bool) -> CheckoutState:
        """A cancelled checkout: ``expired`` when its hold had lapsed before
        the cancel (the same answer however often cancel is repeated)."""
        lapsed = self.expires_at <= self.updated_at
        status = HoldStatus.EXPIRED if lapsed else _CANCELLED
        return self._replace(status=status).state(request_id, replayed=replayed)


class Checkouts(StorePart):
    """Checkout holds (hold, confirm, cancel) and the orders they became."""

    @retried
    def hold_checkout(
        self,
        request_id: str,
        option_id: str,
        holds: Sequence[tuple[str, Iterable[tuple[str, int]]]],
        ttl_s: float,
        *,
        order_lines: Sequence[Mapping[str, Any]],
        now: float | None = None,
        quote_revision: int | None = None,
        upgrade: UpgradeNote | None = None,
    ) -> CheckoutState:
        """Reserve every shipment of a checkout option atomically, or nothing.

        One write transaction takes stock for every ``(node_id, lines)`` hold
        with the same conditional updates as ``reserve`` (no oversell).
        Selecting another option of a held checkout — or the same option with
        other holds (a requote moved it) — swaps the holds in that transaction
        (if the new one does not fit, the old hold stays). Repeating the held
        option with the same holds replays it; a hold past its TTL may be
        selected again. ``order_lines`` (rows of :data:`CHECKOUT_LINE_COLUMNS`)
        are kept for :meth:`confirm_checkout`.

        ``upgrade``: what the selection charges the allowance on confirm, noted
        in the same transaction (None: not an upgrade, and any earlier
        selection's unconfirmed note goes): a rejected hold notes nothing,
        and a confirm never charges an upgrade its checkout no longer holds.

        ``quote_revision``: the revision of the request's option set the
        holds were made from, checked in the same transaction (and the same
        round trip as the checkout's own row): a caller that kept the option
        set need not read it first.

        Raises
        ------
        QuoteChanged
            The stored option set is at another revision, or closed (a quote
            the store never kept is taken as the caller's).
        InputError
            Bad holds or TTL, or a confirmed or cancelled checkout.
        """
        check_request(request_id, ttl_s)
        wanted = _wanted_holds(holds)
        _check_order_lines(order_lines)
        if upgrade is not None:
            upgrade.check(request_id)
        t = clock(now)
        held_by: list[tuple[str, ...]] = []  # the reservations held before

        def hold() -> CheckoutState:
            with self._db.tx() as conn:
                conn.lock(f"checkout:{request_id}")
                ledger = Ledger(conn, t)
                if quote_revision is None:
                    prior = _read_checkout(conn, request_id)
                else:
                    prior = _read_checkout_of_quote(conn, request_id, quote_revision)
                if prior is not None or upgrade is not None:
                    # (an unconfirmed note lives only beside its checkout's
                    # row: prune_checkouts deletes them together)
                    note_selection_later(conn, request_id, upgrade, t)
                if prior is not None:
                    held_by[:] = [prior.reservation_ids]
                    replay = _reselect(ledger, prior, option_id, wanted, request_id)
                    if replay is not None:
                        return replay
                attempt = 1 if prior is None else prior.attempt + 1
                ids = tuple(f"{request_id}#{attempt}.{k}" for k in range(len(wanted)))
                expires = ledger.take(ids, wanted, ttl_s, checkout_id=request_id)
                held = CheckoutRow(
                    option_id, _HELD, attempt, ids, _lines_json(order_lines), expires
                )
                _write_checkout(ledger, request_id, held)
                moves = {(option_id, _HELD.value): 1}
                if prior is not None:  # the row held another option, or this
                    moves[prior.option_id, _HELD.value] = (
                        moves.get((prior.option_id, _HELD.value), 0) - 1
                    )
                move_tally_later(conn, moves, request_id)
            return held.state(request_id, lines=order_lines)

        try:
            return taking(self._db, self._sweeps, t, hold)
        except StockShortfall as short:
            # a checkout a count cut, selected again short: the position
            # recounted (a read only then)
            return CheckoutState(
                request_id,
                option_id,
                HoldStatus.REJECTED,
                None,
                shortfall=short.shortfall,
                cut=_cut_of(self._db, held_by[0]) if held_by else None,
            )

    @retried
    def confirm_checkout(
        self,
        request_id: str,
        *,
        now: float | None = None,
        customer_id: str | None = None,
        events_after: int | None = None,
        closed_nodes: Collection[str] = (),
        known_nodes: Collection[str] | None = None,
    ) -> CheckoutState:
        """Turn a held checkout into an order, in one transaction.

        The holds are committed (their units leave ``on_hand``: the order owns
        them at the promised nodes) and the order's lines are written to
        ``online_orders`` for the next allocation batch (:meth:`online_orders`).
        Idempotent for a confirmed id. The checkout's quote is closed in the
        same transaction (as :meth:`close_quote` would: one write, not two),
        and a noted upgrade of the confirmed option is charged in it (as
        :meth:`charge_upgrade` would: never an order without its charge).
        With ``events_after``, the capacity log after that ``seq`` comes back
        as the confirm committed (``capacity_events``): a capacity map brought
        up to date with the order's own work, read with the commit (on
        PostgreSQL no round trip of its own).

        ``closed_nodes``: the nodes that ship nothing now on the caller's
        capacity map (closed, without staff, of no capacity). A hold that
        ships from one is refused under the checkout's lock, before anything
        changes: its order would go to a node that cannot ship it, its work
        to that node's backlog. ``known_nodes`` (None: any): the caller's
        network's nodes; a hold that ships from another is refused the same
        way (the caller's map cannot say whether that node ships).

        Raises
        ------
        UnknownCheckout
            No option was selected for ``request_id``.
        CustomerMismatch
            ``customer_id`` is given and is not the checkout's (checked under
            the checkout's lock, before anything changes: no read of its own).
        HeldAtClosedNode
            The hold ships from one of ``closed_nodes`` (the hold stands: a
            select of a requoted option swaps it, or it lapses).
        HeldAtUnknownNode
            The hold ships from a node not in ``known_nodes`` (the hold
            stands).
        InputError
            A cancelled checkout, or a hold past its TTL (its stock may be
            gone: select again).
        """
        t = clock(now)
        with self._db.tx() as conn:
            conn.lock(f"checkout:{request_id}")
            ledger = Ledger(conn, t)
            # the checkout's row and its live holds, locked, in one round trip
            found, live = conn.execute_all(
                [_confirm_read(request_id), ledger.live_of_checkout(request_id)]
            )
            row, upgrade_noted = _found_checkout(found, request_id)
            lines = json.loads(row.order_lines)
            _check_customer(customer_id, lines)
            if row.status == _CONFIRMED:
                return row.state(request_id, replayed=True, lines=lines)
            if row.status == _CANCELLED:
                raise InputError(
                    "checkout was cancelled", field="request_id", value=request_id
                )
            _refuse_closed(request_id, row.option_id, lines, closed_nodes, known_nodes)
            if row.expires_at <= t or not ledger.commit_live(
                row.reservation_ids, live.fetchall()
            ):
                raise _hold_ended(conn, request_id, row)
            later_rows(
                conn,
                f"INSERT INTO online_orders ({', '.join(ONLINE_ORDER_COLUMNS)})",
                [(*(r[c] for c in CHECKOUT_LINE_COLUMNS), t) for r in lines],
            )
            _set_checkout_status(ledger, request_id, _CONFIRMED)
            move_tally_later(conn, _ended(row.option_id, _CONFIRMED.value), request_id)
            _close_quote(conn, request_id, _CONFIRMED, t)
            # a noted upgrade of the confirmed option is charged with the order
            # (the read above saw whether one is: no statement for nothing)
            if upgrade_noted:
                charge_upgrade_later(conn, request_id, row.option_id, t)
            # last: the log's lock serializes every writer's events until commit
            log_events_later(conn, work_events(request_id, lines, t))
            logged = (
                None
                if events_after is None
                else events_after_at_commit(conn, int(events_after))
            )
        state = row._replace(status=_CONFIRMED).state(request_id, lines=lines)
        if logged is None:
            return state
        return dataclasses.replace(state, capacity_events=tuple(stored_events(logged)))

    @retried
    def cancel_checkout(
        self,
        request_id: str,
        *,
        now: float | None = None,
        customer_id: str | None = None,
    ) -> CheckoutState:
        """Release a checkout's holds (idempotent); ``expired`` if already lapsed.

        The checkout's quote is closed in the same transaction.

        Raises
        ------
        UnknownCheckout
            No option was selected for ``request_id``: its option set, if
            stored and open, is closed as cancelled in the same transaction
            and lock a select takes (``quote_cancelled``), so a select on
            another replica either came first (and is cancelled here) or
            finds the option set closed. Closing it in a later step let a
            select and confirm in between place an order this cancel had
            answered ``cancelled``.
        CustomerMismatch
            ``customer_id`` is given and is not the checkout's (checked as
            :meth:`confirm_checkout` does).
        InputError
            A confirmed checkout.
        """
        t = clock(now)
        with self._db.tx() as conn:
            conn.lock(f"checkout:{request_id}")
            ledger = Ledger(conn, t)
            # the row and the checkout's holds (locked), in one round trip
            found, held = conn.execute_all(
                [_checkout_read(request_id), ledger.stored_of_checkout(request_id)]
            )
            fetched = found.fetchone()
            if fetched is not None:
                row = _checkout_row(fetched)
                stored = stored_holds(held.fetchall())
                return _cancel_held(ledger, request_id, row, customer_id, stored)
            closed = _cancel_open_quote(conn, request_id, customer_id, t)
        unknown = _unknown_checkout(request_id)
        unknown.quote_cancelled = closed
        raise unknown

    def checkout_state(
        self, request_id: str, *, now: float | None = None
    ) -> CheckoutState | None:
        """Stored state of a checkout (a lapsed hold reads ``expired``), or None."""
        row = _read_checkout(self._db, request_id)
        if row is None:
            return None
        if row.status == _CANCELLED:
            return row.cancelled_state(request_id, replayed=True)
        if row.status == _HELD and row.expires_at <= clock(now):
            row = row._replace(status=HoldStatus.EXPIRED)
        return row.state(request_id)

    def hold_counts(self, *, now: float | None = None) -> dict[tuple[str, str], int]:
        """Checkouts by ``(option_id, state)``: ``active`` (a hold on stock
        now), ``expired`` (a hold that lapsed unconfirmed, cancelled or not),
        ``confirmed`` and ``cancelled`` (in time). For ``/metrics``: the
        tally kept as checkouts change plus the live holds (``hold_tally.py``),
        so its cost does not grow with the day's checkouts."""
        return hold_counts(self._db, clock(now))

    def _tally_mismatches(self) -> list[str]:
        """Where the hold tally differs from a count of the checkouts."""
        return tally_mismatches(self._db)

    @retried
    def prune_checkouts(
        self, *, now: float | None = None, grace_s: float = 0.0, limit: int = 500
    ) -> int:
        """Delete what checkouts that ended more than ``grace_s`` ago left;
        returns how many checkouts went (at most ``limit`` per call: call
        again while it returns ``limit``).

        A checkout has ended when its hold's expiry (``expires_at``) and its
        last change are past and its quote is gone (deleted by
        ``prune_quotes``, or never stored): its ``checkouts`` row, the
        reservations of every hold it took (found by their stored
        ``checkout_id``, however many there were and however they are named)
        with their lines, and an upgrade note never charged go in one
        transaction. The order (``online_orders``), its work in the capacity
        log and a charged upgrade stay. A lapsed hold no write has swept yet
        is expired first (its stock comes back, as the sweep gives it back).
        """
        cutoff = clock(now) - grace_s
        with self._db.tx() as conn:
            rows = conn.execute(
                f"SELECT c.request_id, c.option_id, {TALLY_STATE} FROM checkouts c "
                "WHERE c.expires_at < ? AND c.updated_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM quotes q WHERE q.request_id = c.request_id) LIMIT ?",
                (cutoff, cutoff, int(limit)),
            ).fetchall()
            ended = [str(rid) for rid, _, _ in rows]
            gone: dict[tuple[str, str], int] = {}
            for _, option, state in rows:
                gone[str(option), str(state)] = (
                    gone.get((str(option), str(state)), 0) - 1
                )
            reservations = [
                str(rid)
                for chunk in chunks(ended)
                for (rid,) in conn.execute(
                    "SELECT request_id FROM reservations WHERE checkout_id IN "
                    f"({marks(len(chunk))})",
                    chunk,
                ).fetchall()
            ]
            # a lapsed hold no write swept yet: its stock back, in one run
            Ledger(conn, clock(now)).expire_active(reservations)
            for chunk in chunks(reservations):
                conn.later(
                    "DELETE FROM reservation_lines WHERE request_id IN "
                    f"({marks(len(chunk))})",
                    chunk,
                )
                conn.later(
                    f"DELETE FROM hold_cuts WHERE request_id IN ({marks(len(chunk))})",
                    chunk,
                )
                conn.later(
                    f"DELETE FROM reservations WHERE request_id IN ({marks(len(chunk))})",
                    chunk,
                )
            for chunk in chunks(ended):
                conn.later(
                    "DELETE FROM upgrades WHERE confirmed_at IS NULL AND request_id "
                    f"IN ({marks(len(chunk))})",
                    chunk,
                )
                conn.later(
                    f"DELETE FROM checkouts WHERE request_id IN ({marks(len(chunk))})",
                    chunk,
                )
            move_tally_later(conn, gone, ended[0] if ended else "")
        return len(ended)

    def confirmed_lines(self, order_ids: Iterable[str]) -> pd.DataFrame:
        """``order_id, sku, node_id, quantity`` of the confirmed orders among
        ``order_ids``: the units each line's confirm committed at ``node_id``
        (they left ``on_hand`` there, the order owns them), so that a reader
        of ``on_hand`` who plans these orders again can count them back
        once (``tierflow allocate --state``)."""
        with self._db.snapshot() as conn:
            return confirmed_lines_in(conn, order_ids)

    def online_orders(self, *, since: float | None = None) -> pd.DataFrame:
        """Confirmed checkout orders (:data:`ONLINE_ORDER_COLUMNS` and
        ``promised_date``), oldest first.

        The first seven columns and ``promised_date`` are ``orders.csv``'s, so
        ``data.orders.write_orders(store.online_orders(), path)`` is an orders
        file the allocator reads, keeping the date shown at checkout as the
        promise; ``since`` (epoch seconds) keeps orders confirmed after it
        (the next batch's).
        """
        frame = self._db.frame(
            f"SELECT {', '.join(ONLINE_ORDER_COLUMNS)} FROM online_orders "
            "WHERE confirmed_at > ? ORDER BY confirmed_at, "
            f"order_id{self._db.byte_order}, sku{self._db.byte_order}",
            (-math.inf if since is None else float(since),),
        )
        # the date the customer was shown (the option's: its last shipment's)
        # under orders.csv's name, so an export keeps the promise for the
        # allocator; an order's lines are confirmed at once, so ``since``
        # never splits one
        frame["promised_date"] = frame.groupby("order_id")["delivery_date"].transform(
            "max"
        )
        return frame


def confirmed_lines_in(conn: Connection, order_ids: Iterable[str]) -> pd.DataFrame:
    """:meth:`Checkouts.confirmed_lines` read on ``conn`` (one snapshot's
    reads: one statement per 500 orders)."""
    columns = ["order_id", "sku", "node_id", "quantity"]
    rows = [
        row
        for chunk in chunks(list(dict.fromkeys(order_ids)))
        for row in conn.execute(
            f"SELECT {', '.join(columns)} FROM online_orders "
            f"WHERE order_id IN ({marks(len(chunk))}) "
            f"ORDER BY order_id{conn.byte_order}, sku{conn.byte_order}",
            tuple(chunk),
        ).fetchall()
    ]
    return pd.DataFrame.from_records(rows, columns=columns)


def _ended(option_id: str, ending: str) -> dict[tuple[str, str], int]:
    """The tally's moves of a hold of ``option_id`` that ended in ``ending``."""
    return {(option_id, _HELD.value): -1, (option_id, ending): 1}


def _wanted_holds(holds: Sequence[tuple[str, Iterable[tuple[str, int]]]]) -> list[Hold]:
    """Validated holds: a node and normalized lines each."""
    wanted = [Hold(str(node), normalize_lines(lines)) for node, lines in holds]
    if not wanted or any(not hold.node_id for hold in wanted):
        raise InputError("needs one node per hold", field="holds")
    return wanted


def _check_order_lines(order_lines: Sequence[Mapping[str, Any]]) -> None:
    """Order lines are given and carry every :data:`CHECKOUT_LINE_COLUMNS`."""
    missing = [
        c for c in CHECKOUT_LINE_COLUMNS if order_lines and c not in order_lines[0]
    ]
    if not order_lines or missing:
        raise InputError(f"order lines need {missing}", field="order_lines")


def _lines_json(order_lines: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([dict(r) for r in order_lines], default=str)


_CHECKOUT_FIELDS = (
    "option_id, status, attempt, reservation_ids, order_lines, expires_at, updated_at"
)


_CHECKOUT_OF_QUOTE = (
    "SELECT q.revision, q.closed, "
    + ", ".join(f"c.{f}" for f in _CHECKOUT_FIELDS.split(", "))
    + " FROM quotes q LEFT JOIN checkouts c ON c.request_id = q.request_id "
    "WHERE q.request_id = ?"
)


def _checkout_read(request_id: str) -> tuple[str, tuple[str]]:
    """The statement that reads a checkout's row."""
    return f"SELECT {_CHECKOUT_FIELDS} FROM checkouts WHERE request_id = ?", (
        request_id,
    )


def _confirm_read(request_id: str) -> tuple[str, tuple[str]]:
    """:func:`_checkout_read` and, after the row's fields, whether an
    upgrade of its option is noted and not yet charged (the confirm's
    charge is sent only then; it ran on every confirm, changing nothing on
    most). Read under the checkout's lock, which every hold's note is
    written under too."""
    return (
        f"SELECT {_CHECKOUT_FIELDS}, EXISTS (SELECT 1 FROM upgrades u "
        "WHERE u.request_id = checkouts.request_id "
        "AND u.option_id = checkouts.option_id AND u.confirmed_at IS NULL) "
        "FROM checkouts WHERE request_id = ?",
        (request_id,),
    )


def _read_checkout(conn: Connection, request_id: str) -> CheckoutRow | None:
    row = conn.execute(*_checkout_read(request_id)).fetchone()
    return None if row is None else _checkout_row(row)


def _found_checkout(rows: Cursor, request_id: str) -> tuple[CheckoutRow, bool]:
    """The checkout row a read of :func:`_confirm_read` found, and whether
    an upgrade of its option is noted (:class:`UnknownCheckout` when none)."""
    row = rows.fetchone()
    if row is None:
        raise _unknown_checkout(request_id)
    return _checkout_row(row), bool(row[-1])


def _read_checkout_of_quote(
    conn: Connection, request_id: str, revision: int
) -> CheckoutRow | None:
    """The checkout's row, read with its stored quote's revision and
    ending in one statement; :class:`QuoteChanged` unless the quote is still
    open at ``revision`` (or was never stored)."""
    row = conn.execute(_CHECKOUT_OF_QUOTE, (request_id,)).fetchone()
    if row is None:  # the quote's write failed: the caller's copy stands
        return _read_checkout(conn, request_id)
    if int(row[0]) != revision or row[1] is not None:
        raise QuoteChanged(
            f"{request_id}: option set at revision {row[0]}"
            f"{'' if row[1] is None else ', ' + str(row[1])}, not {revision}"
        )
    return None if row[2] is None else _checkout_row(row[2:])


def _checkout_row(row: Sequence[Any]) -> CheckoutRow:
    """A :class:`CheckoutRow` from the values of :data:`_CHECKOUT_FIELDS`."""
    return CheckoutRow(
        str(row[0]),
        HoldStatus(row[1]),
        int(row[2]),
        tuple(json.loads(row[3])),
        str(row[4]),
        float(row[5]),
        float(row[6]),
    )


def work_events(
    request_id: str, lines: Sequence[Mapping[str, Any]], t: float
) -> list[dict[str, Any]]:
    """The confirmed order's work as capacity events: one ``backlog_delta``
    per node, the summed ``workload`` of its lines (lines without one add
    nothing), ids ``checkout:<request_id>:<node_id>``."""
    work: dict[str, float] = {}
    for line in lines:
        if line.get("workload") is not None:
            node = str(line["node_id"])
            work[node] = work.get(node, 0.0) + float(line["workload"])
    ts = dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
    return [
        backlog_delta_event(f"{ORDER_WORK}{request_id}:{node}", ts, node, value)
        for node, value in work.items()
        if value > 0
    ]


def backlog_delta_event(
    event_id: str, ts: str, node_id: str, value: float
) -> dict[str, Any]:
    """One ``backlog_delta`` capacity event as the store logs it: the work a
    confirm adds to a node, or a batch moves between nodes."""
    return {
        "event_id": event_id,
        "ts": ts,
        "node_id": node_id,
        "type": "backlog_delta",
        "value": value,
    }


def _refuse_closed(
    request_id: str,
    option_id: str,
    lines: Sequence[Mapping[str, Any]],
    closed: Collection[str],
    known: Collection[str] | None = None,
) -> None:
    """Raise :class:`HeldAtClosedNode` for the first of the order's lines
    (shipment order) that ships from a ``closed`` node, and
    :class:`HeldAtUnknownNode` for one from a node not ``known``."""
    for line in lines:
        if known is not None and line["node_id"] not in known:
            raise HeldAtUnknownNode(request_id, str(line["node_id"]))
        if line["node_id"] in closed:
            raise HeldAtClosedNode(request_id, option_id, str(line["node_id"]))


def _hold_ended(conn: Transaction, request_id: str, row: CheckoutRow) -> InputError:
    """Why a held checkout cannot be confirmed: its hold expired, or a
    stock count below what open checkouts held cut it (``hold_cuts``:
    named by the position recounted), a read only then."""
    cut = _cut_of(conn, row.reservation_ids)
    if cut is not None:
        return HoldRecounted(request_id, cut)
    stamp = dt.datetime.fromtimestamp(row.expires_at, dt.UTC).isoformat()
    return InputError(
        f"hold expired at {stamp}; select an option again",
        field="request_id",
        value=request_id,
    )


def _cut_of(conn: Connection, ids: Sequence[str]) -> tuple[str, str, float] | None:
    """``(node_id, sku, cut_at)`` of the position whose count cut the
    reservations ``ids`` (``hold_cuts``), or None."""
    if not ids:
        return None
    row = conn.execute(
        "SELECT node_id, sku, cut_at FROM hold_cuts WHERE request_id IN "
        f"({marks(len(ids))}) ORDER BY request_id{conn.byte_order} LIMIT 1",
        tuple(ids),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), float(row[2]))


def recount_words(cut: tuple[str, str, float], *, name_node: bool = True) -> str:
    """What a checkout's confirm, or its select again, says of its hold
    cut at ``(node_id, sku, cut_at)``: the node named to the operator
    only (``name_node``; a shopper reads no node ids)."""
    stamp = dt.datetime.fromtimestamp(cut[2], dt.UTC).isoformat()
    where = f" at {cut[0]}" if name_node else ""
    return (
        f"hold cut at {stamp}: the stock of {cut[1]}{where} was "
        "recounted below what open checkouts held"
    )


def _unknown_checkout(request_id: str) -> UnknownCheckout:
    return UnknownCheckout(
        "unknown checkout (no option selected for it)",
        field="request_id",
        value=request_id,
    )


def _cancel_held(
    ledger: Ledger,
    request_id: str,
    row: CheckoutRow,
    customer_id: str | None,
    stored: Mapping[str, StoredHold],
) -> CheckoutState:
    """:meth:`Checkouts.cancel_checkout` of a checkout that has a row, in
    the transaction that swept lapsed holds and read its ``stored`` holds."""
    conn, t = ledger.conn, ledger.now
    if customer_id is not None:
        _check_customer(customer_id, json.loads(row.order_lines))
    if row.status == _CANCELLED:
        return row.cancelled_state(request_id, replayed=True)
    if row.status == _CONFIRMED:
        raise InputError(
            "checkout already confirmed, cannot cancel",
            field="request_id",
            value=request_id,
        )
    ledger.release(row.reservation_ids, stored=stored)
    _set_checkout_status(ledger, request_id, _CANCELLED)
    ending = LAPSED if row.expires_at <= t else _CANCELLED.value
    move_tally_later(conn, _ended(row.option_id, ending), request_id)
    _close_quote(conn, request_id, _CANCELLED, t)
    return row._replace(updated_at=t).cancelled_state(request_id, replayed=False)


def _cancel_open_quote(
    conn: Transaction, request_id: str, customer_id: str | None, t: float
) -> bool:
    """Close a never-selected request's stored option set as cancelled
    when it is open (its customer checked first); whether it was."""
    row = conn.execute(
        "SELECT customer_id, closed FROM quotes WHERE request_id = ?", (request_id,)
    ).fetchone()
    if row is None or row[1] is not None:
        return False
    check_customer(customer_id, str(row[0]))
    _close_quote(conn, request_id, _CANCELLED, t)
    return True


def check_customer(given: str | None, actual: str) -> None:
    """A caller that names its customer must name the checkout's
    (:class:`CustomerMismatch` otherwise; nothing to check without one)."""
    if given is not None and actual and given != actual:
        raise CustomerMismatch(
            "not the customer of this checkout", field="customer_id", value=given
        )


def _check_customer(given: str | None, lines: Sequence[Mapping[str, Any]]) -> None:
    """:func:`check_customer` against the customer of the order lines."""
    check_customer(given, str(lines[0]["customer_id"]) if lines else "")


def _reselect(
    ledger: Ledger,
    prior: CheckoutRow,
    option_id: str,
    wanted: list[Hold],
    request_id: str,
) -> CheckoutState | None:
    """Selecting again: the replayed hold, or None after letting the old one go.

    A live hold of the same option and holds is replayed; any other live hold
    is released (the new one replaces it in the same transaction).
    """
    if prior.status != _HELD:
        raise InputError(
            f"checkout already {prior.status}", field="request_id", value=request_id
        )
    live = prior.expires_at > ledger.now
    if not live:
        return None
    ids = prior.reservation_ids
    stored = ledger.stored(ids)  # read once, for the replay's test and the release
    if prior.option_id == option_id and ledger.holds_of(ids, stored) == wanted:
        return prior.state(request_id, replayed=True)
    ledger.release(ids, then_take=wanted, stored=stored)
    return None


def _write_checkout(ledger: Ledger, request_id: str, row: CheckoutRow) -> None:
    t = ledger.now
    ledger.conn.later(
        "INSERT INTO checkouts (request_id, option_id, status, attempt, "
        "reservation_ids, order_lines, created_at, expires_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) "
        "DO UPDATE SET option_id = excluded.option_id, status = excluded.status, "
        "attempt = excluded.attempt, reservation_ids = excluded.reservation_ids, "
        "order_lines = excluded.order_lines, expires_at = excluded.expires_at, "
        "updated_at = excluded.updated_at",
        (
            request_id,
            row.option_id,
            row.status,
            row.attempt,
            json.dumps(list(row.reservation_ids)),
            row.order_lines,
            t,
            row.expires_at,
            t,
        ),
    )


def _close_quote(
    conn: Transaction, request_id: str, ending: HoldStatus, t: float
) -> None:
    """``close_quote`` inside the checkout's own transaction (the first
    ending stays)."""
    conn.later(
        "UPDATE quotes SET closed = ?, updated_at = ? "
        "WHERE request_id = ? AND closed IS NULL",
        (ending.value, t, request_id),
    )


def _set_checkout_status(ledger: Ledger, request_id: str, status: HoldStatus) -> None:
    ledger.conn.later(
        "UPDATE checkouts SET status = ?, updated_at = ? WHERE request_id = ?",
        (status, ledger.now, request_id),
    )
