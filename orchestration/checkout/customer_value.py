"""The customer's value at checkout: CLTV score, Platinum threshold, prior.

:class:`CustomerValues` reads the store's latest daily CLTV scores; an
unknown customer gets the new-customer prior, and a store that cannot be
read leaves the last known score and threshold in use (said in the notes).
Scores read are kept until the store's scores version moves (checked every
``refresh_s``, with the threshold): a checkout then reads no score at all
for a customer seen before, and a day's scores replaced in place reach the
threshold and every score within ``refresh_s``. A latest day of at most
``preload`` scores (default :data:`PRELOAD_SCORES`) is read whole when the
version moves: no checkout reads a score then, the first of a customer
neither.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tierflow.data.store import CltvScore, ScoreStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, Notes, public_reason
from tierflow.orchestration.checkout.results import CustomerValue

#: Customers whose last read score is kept for a store outage.
_KNOWN_CUSTOMERS = 50_000
#: The most scores read whole at a version change (one read of a few MB:
#: tens of ms, once a day), so that no checkout reads one.
PRELOAD_SCORES = _KNOWN_CUSTOMERS
#: The segment of a customer without a CLTV score (the new-customer prior).
NEW_SEGMENT = "new"


@dataclass(frozen=True, slots=True)
class _Score:
    spend: float
    segment: str
    source: str


#: Not in the kept scores (None there means "no score").
_UNREAD = _Score(math.nan, "", "")
#: What an unscored customer's predicted spend is said to be with no scores.
NO_SCORES_SOURCE = "new-customer prior (no CLTV scores stored)"


def new_customer_prior(
    store: ScoreStore, policy: TierPolicy, day: dt.date | None
) -> tuple[float, str]:
    """An unscored customer's predicted spend and where it came from, as of
    the latest scores (of ``day``, None: none stored).

    By ``policy.new_customer_prior``: ``model``, the prior the CLTV model
    stored with the day's scores (its forecast of a customer acquired that
    day), where they carry one; else (scores written before the model
    stored one, a scores file, or ``percentile``) the
    ``new_customer_percentile`` of the scores.
    """
    if day is None:
        return 0.0, NO_SCORES_SOURCE
    if policy.new_customer_prior == "model":
        stored = store.cltv_new_customer_spend()
        if stored is not None:
            return stored, (
                "new-customer prior (the CLTV model's forecast of a customer "
                f"acquired on {day.isoformat()})"
            )
    pct = policy.new_customer_percentile
    value = store.cltv_threshold(pct * 100.0)
    return (0.0 if value is None else value), (
        f"new-customer prior ({pct:.0%} percentile of the latest scores)"
    )


class CustomerValues:
    """Looks up a customer's predicted spend and the Platinum threshold."""

    def __init__(
        self,
        store: ScoreStore | None,
        policy: TierPolicy,
        refresh_s: float,
        *,
        preload: int = PRELOAD_SCORES,
    ) -> None:
        self.store = store
        #: Read a latest day of at most this many scores whole (0: never).
        self.preload = min(int(preload), _KNOWN_CUSTOMERS)
        self.policy = policy
        self.refresh_s = float(refresh_s)
        self._read = -math.inf
        self._version: int | None = None
        self._day: dt.date | None = None
        self._threshold: float | None = None
        self._prior = _Score(0.0, NEW_SEGMENT, NO_SCORES_SOURCE)
        self._known: OrderedDict[str, _Score] = OrderedDict()
        #: Scores (None: not scored) read at :attr:`_version`, oldest first
        #: (one C call per change: threads share it without a lock).
        self._fresh: OrderedDict[str, _Score | None] = OrderedDict()
        #: Whether :attr:`_fresh` holds every score of :attr:`_version` (a
        #: customer not in it has none).
        self._complete = False

    def lookup(
        self,
        customer_id: str,
        notes: Notes,
        *,
        read: Callable[[], CltvScore | None] | None = None,
        refresh: bool = True,
    ) -> CustomerValue:
        """The customer's value, from the store or the fallbacks.

        ``read`` gives the customer's stored score when it is not kept (a
        caller that read it together with other facts; by default the store
        is asked); ``refresh=False`` when the caller has just called
        :meth:`refresh`.
        """
        if refresh:
            self.refresh(notes)
        found = self._stored(customer_id, notes, read) or self._new_customer()
        thr = self._threshold
        return CustomerValue(
            customer_id,
            found.spend,
            found.segment,
            found.source,
            thr,
            thr is not None and found.spend >= thr,
        )

    def wants_score(self, customer_id: str) -> bool:
        """Whether :meth:`lookup` of this customer would read the store for
        the score (it is not kept), so a caller may read it with others."""
        return (
            self.store is not None
            and not self._complete
            and customer_id not in self._fresh
        )

    def refresh(self, notes: Notes) -> None:
        """Re-read the threshold and the prior, and forget the scores read,
        when the stored scores changed (at most every ``refresh_s``)."""
        store = self.store
        now = time.monotonic()
        if store is None or now - self._read < self.refresh_s:
            return
        try:
            version = store.cltv_version()
            if version != self._version:
                self._complete = False
                self._fresh.clear()
                whole = store.cltv_latest_scores(self.preload)
                day = store.latest_cltv_as_of()
                pct = self.policy.platinum_percentile * 100.0
                self._threshold = store.cltv_threshold(pct)
                prior, source = new_customer_prior(store, self.policy, day)
                self._prior = _Score(prior, NEW_SEGMENT, source)
                self._day = day
                self._version = version
                if whole is not None:
                    self._preloaded(whole)
            self._read = now
        except STORE_ERRORS as exc:
            notes.add(
                f"CLTV threshold could not be read ({public_reason(exc)}): last known"
            )
            # whether the scores changed is unknown: read them (or fall back
            # on the last known, said in the notes) until a version is read
            self._version = None
            self._complete = False
            self._fresh.clear()

    def _preloaded(self, scores: list[CltvScore]) -> None:
        """Keep every score of the latest day (also as the last known, for
        an outage), so that a customer not among them has none."""
        fresh: OrderedDict[str, _Score | None] = OrderedDict()
        known = self._known
        for score in scores:
            found = _score(score)
            fresh[score.customer_id] = found
            known[score.customer_id] = found
            known.move_to_end(score.customer_id)
        while len(known) > _KNOWN_CUSTOMERS:
            known.popitem(last=False)
        self._fresh = fresh  # one assignment: threads see the old or the new
        self._complete = True

    def _stored(
        self,
        customer_id: str,
        notes: Notes,
        read: Callable[[], CltvScore | None] | None,
    ) -> _Score | None:
        store = self.store
        if store is None:
            return None
        kept = self._fresh.get(customer_id, _UNREAD)
        if kept is not _UNREAD:
            return kept
        if self._complete:  # every score is kept: this customer has none
            return None
        try:
            score = read() if read is not None else store.cltv_score(customer_id)
        except STORE_ERRORS as exc:
            notes.add(f"CLTV score could not be read ({public_reason(exc)})")
            known = self._known.get(customer_id)
            if known is None:
                return None
            return _Score(known.spend, known.segment, known.source + " (last known)")
        if score is None:
            self._keep(customer_id, None)
            return None
        found = _score(score)
        self._known[customer_id] = found
        if len(self._known) > _KNOWN_CUSTOMERS:
            self._known.popitem(last=False)
        self._keep(customer_id, found)
        return found

    def _keep(self, customer_id: str, score: _Score | None) -> None:
        """Keep a score read (None: no score) until the version moves;
        nothing is kept before a version was read, nor added to a complete
        day (an excess would push one of its scores out)."""
        if self._version is None or self._complete:
            return
        fresh = self._fresh
        fresh[customer_id] = score
        if len(fresh) > _KNOWN_CUSTOMERS:
            with contextlib.suppress(KeyError):  # another thread cleared it
                fresh.popitem(last=False)

    def _new_customer(self) -> _Score:
        return self._prior


def _score(score: CltvScore) -> _Score:
    return _Score(
        score.predicted_spend,
        score.segment,
        f"CLTV scores of {score.as_of.isoformat()}",
    )
