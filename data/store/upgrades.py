"""The upgrade allowance ledger: Platinum upgrades charged to customers.

A Platinum upgrade (``docs/checkout.md``, "Pricing") is noted when the
shopper selects it and charged to the customer's allowance in the
transaction that confirms the checkout — once per request id, however
often confirm is repeated. A selection that is never confirmed charges
nothing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from tierflow.data.errors import InputError
from tierflow.data.store.database import StorePart, Transaction, clock

#: Columns of :meth:`Upgrades.confirmed_upgrades`.
UPGRADE_COLUMNS = (
    "request_id",
    "option_id",
    "customer_id",
    "amount",
    "predicted_spend",
    "confirmed_at",
)


#: Charge a request's noted upgrade of an option, once.
_CHARGE = (
    "UPDATE upgrades SET confirmed_at = ? WHERE request_id = ? "
    "AND option_id = ? AND confirmed_at IS NULL"
)


def charge_upgrade_later(
    conn: Transaction, request_id: str, option_id: str, t: float
) -> None:
    """:meth:`Upgrades.charge_upgrade` in the caller's transaction (the
    confirm's: the order and the charge land together or not at all)."""
    conn.later(_CHARGE, (t, request_id, option_id))


class UpgradeNote(NamedTuple):
    """What a selected upgrade will charge the customer's allowance on confirm."""

    option_id: str
    customer_id: str
    amount: float
    predicted_spend: float

    def check(self, request_id: str) -> None:
        """Its ids given and its numbers finite and >= 0 (``InputError``
        otherwise): checked before the transaction that writes it opens."""
        for name, value in (
            ("request_id", request_id),
            ("option_id", self.option_id),
            ("customer_id", self.customer_id),
        ):
            if not value:
                raise InputError("must not be empty", field=name)
        for name, number in (
            ("amount", self.amount),
            ("predicted_spend", self.predicted_spend),
        ):
            if not (math.isfinite(number) and number >= 0):
                raise InputError(
                    "must be a finite number >= 0", field=name, value=number
                )


def note_selection_later(
    conn: Transaction, request_id: str, note: UpgradeNote | None, t: float
) -> None:
    """Record what a selection is in the caller's transaction (the hold's):
    an upgrade's note (replacing an earlier one), or — for any other
    selection — no note at all, so that a confirm never charges an upgrade
    the checkout no longer holds (a charged one is never changed). The
    caller has checked the note (:meth:`UpgradeNote.check`)."""
    if note is None:
        conn.later(
            "DELETE FROM upgrades WHERE request_id = ? AND confirmed_at IS NULL",
            (request_id,),
        )
        return
    conn.later(
        "INSERT INTO upgrades (request_id, option_id, customer_id, amount, "
        "predicted_spend, selected_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (request_id) DO UPDATE SET "
        "option_id = excluded.option_id, customer_id = excluded.customer_id, "
        "amount = excluded.amount, predicted_spend = excluded.predicted_spend, "
        "selected_at = excluded.selected_at "
        "WHERE upgrades.confirmed_at IS NULL",
        (
            request_id,
            note.option_id,
            note.customer_id,
            float(note.amount),
            float(note.predicted_spend),
            t,
        ),
    )


class Upgrades(StorePart):
    """The ``upgrades`` table: one row per request that selected an upgrade."""

    def note_upgrade(
        self,
        request_id: str,
        option_id: str,
        customer_id: str,
        amount: float,
        *,
        predicted_spend: float,
        now: float | None = None,
    ) -> None:
        """Note that a checkout selected an upgrade costing ``amount`` ($).

        Selecting again (another amount after a requote) replaces the note;
        a confirmed upgrade is never changed. (A checkout's hold notes its
        selection in its own transaction: ``hold_checkout(upgrade=)``.)

        Raises
        ------
        InputError
            An empty id, or an amount or spend that is not a finite number >= 0.
        """
        note = UpgradeNote(option_id, customer_id, amount, predicted_spend)
        note.check(request_id)
        with self._db.tx() as conn:
            note_selection_later(conn, request_id, note, clock(now))

    def charge_upgrade(
        self, request_id: str, option_id: str, *, now: float | None = None
    ) -> bool:
        """Charge a noted upgrade when its checkout confirmed ``option_id``.

        Returns whether it was charged now: False when nothing was noted for
        that option (not an upgrade, or another option was selected last) or
        when it was charged already (a repeated confirm never charges twice).
        """
        changed = self._db.write(
            _CHARGE,
            (clock(now), request_id, option_id),
        )
        return bool(changed)

    def upgrade_spent(self, customer_id: str, *, since: float) -> float:
        """What the customer's confirmed upgrades charged after ``since`` ($)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM upgrades "
            "WHERE customer_id = ? AND confirmed_at > ?",
            (customer_id, float(since)),
        ).fetchone()
        return float(row[0])

    def confirmed_upgrades(self, *, since: float | None = None) -> pd.DataFrame:
        """Charged upgrades (:data:`UPGRADE_COLUMNS`), oldest first."""
        return self._db.frame(
            f"SELECT {', '.join(UPGRADE_COLUMNS)} FROM upgrades "
            "WHERE confirmed_at > ? ORDER BY confirmed_at, "
            f"request_id{self._db.byte_order}",
            (-math.inf if since is None else float(since),),
        )
