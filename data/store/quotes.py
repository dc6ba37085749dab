"""Open option sets (quotes): what a checkout was offered, kept in the store
until it expires, so that any replica can hold, requote or close it.

The body is the caller's (the checkout router's JSON); the store keeps it
with the customer, the revision, the expiry and, once the checkout is over,
how it ended (``closed``: ``confirmed`` or ``cancelled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.store.database import StorePart, clock
from tierflow.data.vocabulary import HoldStatus

_ENDINGS = (HoldStatus.CONFIRMED, HoldStatus.CANCELLED)
#: Request ids asked in one read (SQLite allows 32,766 parameters).
_IDS_PER_READ = 500


@dataclass(frozen=True, slots=True)
class StoredQuote:
    """A quote as stored: ``closed`` is None while the checkout is open."""

    request_id: str
    customer_id: str
    revision: int
    body: str
    created_at: float
    expires_at: float
    closed: HoldStatus | None


@dataclass(frozen=True, slots=True)
class QuoteState:
    """A stored quote's revision and ending (``closed``: None while open)."""

    revision: int
    closed: HoldStatus | None


#: A :class:`StoredQuote`'s columns, in its fields' order (:func:`_stored_quote`).
_QUOTE_COLUMNS = (
    "request_id, customer_id, revision, body, created_at, expires_at, closed"
)


def _stored_quote(row: Sequence[Any]) -> StoredQuote:
    """A quote read as :data:`_QUOTE_COLUMNS` (and what follows them)."""
    return StoredQuote(
        str(row[0]),
        str(row[1]),
        int(row[2]),
        str(row[3]),
        float(row[4]),
        float(row[5]),
        None if row[6] is None else HoldStatus(row[6]),
    )


@dataclass(frozen=True, slots=True)
class KeyedQuote:
    """The quote an ``Idempotency-Key`` was first answered with, and the
    digest of the request it was asked with."""

    digest: str
    quote: StoredQuote


class Quotes(StorePart):
    """The ``quotes`` table: one row per request id, replaced by requotes."""

    def put_quote(
        self,
        request_id: str,
        customer_id: str,
        revision: int,
        body: str,
        *,
        ttl_s: float,
        now: float | None = None,
        replaces: int | None = None,
    ) -> bool:
        """Keep (or replace, for a requote) an open option set for ``ttl_s``;
        whether it was written.

        A requote (``revision`` above the stored one) keeps the first
        answer's creation time and expiry; a closed quote is never reopened.
        ``replaces``: the revision the requote was answered from, which must
        still be the stored one (compare-and-set): of two replicas requoting
        one checkout at once, both from revision N, only the first write of
        N + 1 is kept and the second is told so (False), so no two answers
        of one revision exist (a requote answered during an outage is
        written by this rule too, once the store is back). None (a first
        answer, or one made with no store at all): written over any older
        revision.
        """
        if not request_id or not customer_id:
            raise InputError("must not be empty", field="request_id")
        t = clock(now)
        if replaces is None:
            newer = "quotes.revision < excluded.revision"
            args: tuple[object, ...] = ()
        else:
            newer = "quotes.revision = ?"
            args = (int(replaces),)
        written = self._db.write(
            "INSERT INTO quotes (request_id, customer_id, revision, body, "
            "created_at, expires_at, closed, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (request_id) "
            "DO UPDATE SET revision = excluded.revision, body = excluded.body, "
            f"updated_at = excluded.updated_at WHERE quotes.closed IS NULL AND {newer}",
            (request_id, customer_id, int(revision), body, t, t + ttl_s, t, *args),
        )
        return written > 0

    def put_keyed_quote(
        self,
        request_id: str,
        customer_id: str,
        body: str,
        *,
        key: str,
        digest: str,
        ttl_s: float,
        now: float | None = None,
        renews: str | None = None,
    ) -> bool:
        """Keep a first answer (revision 1) asked with an ``Idempotency-Key``
        under ``key``, with the ``digest`` of its request; whether it was
        written. False: another answer holds the key (two asks at once, on
        any replica: the unique index keeps the first written), which
        :meth:`quote_for_key` reads. The key goes with its quote when that
        is pruned.

        ``renews``: the request id of the key's open option set, expired by
        ``now``, that this answer takes the key from (a retry past its
        expiry), in one transaction: only while that set still holds the
        key and is open (compare-and-set, so of two retries at once one
        rebinds it and the other is told False). The expired set stays as
        it was, without the key.
        """
        if not request_id or not customer_id or not key:
            raise InputError("must not be empty", field="request_id")
        t = clock(now)
        insert = (
            "INSERT INTO quotes (request_id, customer_id, revision, body, "
            "created_at, expires_at, closed, updated_at, idempotency_key, "
            "request_digest) VALUES (?, ?, 1, ?, ?, ?, NULL, ?, ?, ?) "
        )
        args = (request_id, customer_id, body, t, t + ttl_s, t, key, digest)
        if renews is None:
            return self._db.write(insert + "ON CONFLICT DO NOTHING", args) > 0
        with self._db.tx() as tx:
            freed = tx.execute(
                "UPDATE quotes SET idempotency_key = NULL, request_digest = NULL, "
                "updated_at = ? WHERE request_id = ? AND idempotency_key = ? "
                "AND closed IS NULL AND expires_at < ?",
                (t, renews, key, t),
            ).rowcount
            if freed:
                tx.execute(insert, args)
        return freed > 0

    def quote_for_key(self, key: str) -> KeyedQuote | None:
        """The quote first answered under an ``Idempotency-Key`` (as stored
        now: requoted, closed or expired) and its request's digest, or None."""
        row = self._db.execute(
            f"SELECT {_QUOTE_COLUMNS}, request_digest FROM quotes "
            "WHERE idempotency_key = ?",
            (key,),
        ).fetchone()
        return None if row is None else KeyedQuote(str(row[7]), _stored_quote(row))

    def get_quote(self, request_id: str) -> StoredQuote | None:
        """The stored quote (also an expired or closed one), or None."""
        row = self._db.execute(
            f"SELECT {_QUOTE_COLUMNS} FROM quotes WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else _stored_quote(row)

    def quote_states(self, request_ids: Sequence[str]) -> dict[str, QuoteState]:
        """The revision and ending of each stored one of ``request_ids`` (by
        any process), in one read for all: a live page's stream learns of a
        checkout requoted or closed by another replica without a read of
        each."""
        ids = list(dict.fromkeys(request_ids))
        out: dict[str, QuoteState] = {}
        for start in range(0, len(ids), _IDS_PER_READ):
            part = ids[start : start + _IDS_PER_READ]
            rows = self._db.execute(
                "SELECT request_id, revision, closed FROM quotes "
                f"WHERE request_id IN ({', '.join('?' * len(part))})",
                part,
            ).fetchall()
            out.update(
                (
                    str(rid),
                    QuoteState(
                        int(revision), None if closed is None else HoldStatus(closed)
                    ),
                )
                for rid, revision, closed in rows
            )
        return out

    def close_quote(
        self, request_id: str, ending: HoldStatus, *, now: float | None = None
    ) -> None:
        """Record how a checkout ended (the first ending stays)."""
        if ending not in _ENDINGS:
            raise InputError(
                "must be confirmed or cancelled", field="ending", value=ending
            )
        self._db.write(
            "UPDATE quotes SET closed = ?, updated_at = ? "
            "WHERE request_id = ? AND closed IS NULL",
            (ending.value, clock(now), request_id),
        )

    def prune_quotes(self, *, now: float | None = None, grace_s: float = 0.0) -> int:
        """Delete quotes expired more than ``grace_s`` ago; returns how many."""
        return self._db.write(
            "DELETE FROM quotes WHERE expires_at < ?", (clock(now) - grace_s,)
        )
