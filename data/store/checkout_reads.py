"""What one checkout answer reads from the store, in one round trip.

An answer needs the cart's stock at every node and, for a customer whose
score is not kept in memory, the customer's latest CLTV score: two
independent reads, sent together (:meth:`Database.read_many
<tierflow.data.store.database.Database.read_many>`: one pipeline on
PostgreSQL) instead of one round trip each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from tierflow.data.store.database import Statement, StorePart, clock
from tierflow.data.store.scores import CltvScore, score_query, versioned_score_from
from tierflow.data.store.stock import (
    own_hold_query,
    stock_query,
    stock_rows,
    with_own_holds,
)


class CheckoutFacts(NamedTuple):
    """The stock rows ``(node_id, sku, available)`` of a cart's SKUs (as
    :meth:`~tierflow.data.store.stock.Inventory.available_by_sku` gives
    them), the customer's latest score (None: not asked for, or not
    scored) and the scores' version it was read at (None: not asked for;
    read in the score's statement)."""

    stock: list[tuple[str, str, int]]
    score: CltvScore | None
    scores_version: int | None = None


class CheckoutReads(StorePart):
    """The reads of one checkout answer, together."""

    def checkout_facts(
        self,
        skus: Sequence[str],
        customer_id: str | None = None,
        *,
        now: float | None = None,
        held_by: str | None = None,
    ) -> CheckoutFacts:
        """The cart's stock and (when ``customer_id`` is given) the
        customer's score, in one round trip on PostgreSQL. ``held_by``: a
        checkout whose own live holds count as its stock (its requote: a
        select releases them before it takes; they read as taken, and a
        checkout holding the last units was answered "out of stock")."""
        t = clock(now)
        statements: list[Statement] = [stock_query(skus, t)]
        if customer_id is not None:
            statements.append(score_query(customer_id))
        if held_by is not None:
            statements.append(own_hold_query(held_by, skus, t))
        found = self._db.read_many(statements)
        stock = stock_rows(self._db, found[0], skus, t)
        if held_by is not None:
            stock = with_own_holds(stock, found[-1])
        if customer_id is None:
            return CheckoutFacts(stock, None)
        read = versioned_score_from(found[1])
        return CheckoutFacts(stock, read.score, read.version)
