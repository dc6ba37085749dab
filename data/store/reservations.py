"""Single-node stock reservations: reserve, commit, release, expire.

Life cycle: ``active`` (holds stock until ``expires_at``) → ``committed``
(stock leaves ``on_hand``), ``released`` or ``expired``. A rejected request
(not enough stock) is not recorded, so a retry after stock is freed may
succeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tierflow.data.errors import InputError
from tierflow.data.store.database import StorePart, clock, retried
from tierflow.data.store.ledger import (
    Hold,
    Ledger,
    Line,
    StockShortfall,
    check_request,
    normalize_lines,
    sweep_lapsed,
    taking,
)
from tierflow.data.vocabulary import ReservationStatus

_ACTIVE = ReservationStatus.ACTIVE
_COMMITTED = ReservationStatus.COMMITTED
_RELEASED = ReservationStatus.RELEASED
_EXPIRED = ReservationStatus.EXPIRED


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of :meth:`Reservations.reserve` / ``commit`` / ``release``.

    Attributes
    ----------
    ok
        The reservation holds (``active``) or was ``committed``.
    status
        ``active``, ``committed``, ``released``, ``expired`` or ``rejected``.
    replayed
        The request id was already known: nothing was written.
    shortfall
        For a rejection, ``(sku, requested, available)`` per short line.
    """

    request_id: str
    node_id: str
    ok: bool
    status: ReservationStatus
    expires_at: float | None
    replayed: bool = False
    shortfall: tuple[tuple[str, int, int], ...] = ()


class Reservations(StorePart):
    """Reservations of stock at one node, each under a caller's request id."""

    @retried
    def reserve(
        self,
        request_id: str,
        lines: Iterable[tuple[str, int]],
        node_id: str,
        ttl_s: float,
        *,
        now: float | None = None,
    ) -> ReserveResult:
        """Hold every line at ``node_id`` for ``ttl_s`` seconds, atomically.

        Returns
        -------
        ReserveResult
            ``ok`` with status ``active``; or status ``rejected`` with the
            shortfall (nothing written); or, for a known ``request_id``, the
            recorded state with ``replayed=True``.

        Raises
        ------
        InputError
            Bad lines or TTL, or a known ``request_id`` with different lines
            or node.
        """
        check_request(request_id, ttl_s)
        wanted = normalize_lines(lines)
        t = clock(now)

        def reserve() -> ReserveResult:
            with self._db.tx() as conn:
                conn.lock(f"reservation:{request_id}")
                ledger = Ledger(conn, t)
                known = _replay(ledger, request_id, wanted, node_id)
                if known is not None:
                    return known
                expires = ledger.take([request_id], [Hold(node_id, wanted)], ttl_s)
            return ReserveResult(request_id, node_id, True, _ACTIVE, expires)

        try:
            return taking(self._db, self._sweeps, t, reserve)
        except StockShortfall as short:
            return ReserveResult(
                request_id,
                node_id,
                False,
                ReservationStatus.REJECTED,
                None,
                shortfall=tuple(
                    (s.sku, s.requested, s.available) for s in short.shortfall
                ),
            )

    def commit(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Ship an active reservation: its units leave ``on_hand``.

        Idempotent for an already committed id; ``InputError`` for an
        unknown, expired or released one.
        """
        return self._finish(request_id, _COMMITTED, now)

    def release(self, request_id: str, *, now: float | None = None) -> ReserveResult:
        """Cancel an active reservation (idempotent; expired ones stay expired).

        ``InputError`` for an unknown or committed id.
        """
        return self._finish(request_id, _RELEASED, now)

    @retried
    def expire_stale(self, *, now: float | None = None) -> int:
        """Expire every active reservation past its TTL; returns the count."""
        return sweep_lapsed(self._db, clock(now))

    def reservation_status(self, request_id: str) -> str | None:
        """Stored status of a request id, or None when unknown."""
        row = self._db.execute(
            "SELECT status FROM reservations WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    @retried
    def _finish(
        self, request_id: str, target: ReservationStatus, now: float | None
    ) -> ReserveResult:
        """Move an active reservation to ``target`` (commit or release)."""
        t = clock(now)
        with self._db.tx() as conn:
            conn.lock(f"reservation:{request_id}")
            ledger = Ledger(conn, t)
            row = ledger.reservation(request_id)
            if row is None:
                raise InputError(
                    "unknown reservation", field="request_id", value=request_id
                )
            status = ledger.settle(row)
            node_id, expires = row.node_id, row.expires_at
            if status == target or (target == _RELEASED and status == _EXPIRED):
                ok = status == _COMMITTED
                return ReserveResult(request_id, node_id, ok, status, expires, True)
            if status != _ACTIVE:
                raise InputError(
                    f"reservation is {status}, cannot be {target}",
                    field="request_id",
                    value=request_id,
                )
            ledger.give_back(request_id, node_id, consume=target == _COMMITTED)
            ledger.set_status([request_id], target)
        return ReserveResult(request_id, node_id, target == _COMMITTED, target, expires)


def _replay(
    ledger: Ledger, request_id: str, wanted: tuple[Line, ...], node_id: str
) -> ReserveResult | None:
    """The recorded outcome of a known request id (None when it is new)."""
    row = ledger.reservation(request_id)
    if row is None:
        return None
    if row.node_id != node_id or ledger.lines_of(request_id) != wanted:
        raise InputError(
            "request id already used with different lines or node",
            field="request_id",
            value=request_id,
        )
    status = ledger.settle(row)
    ok = status in (_ACTIVE, _COMMITTED)
    return ReserveResult(request_id, node_id, ok, status, row.expires_at, replayed=True)
