"""The customer's value at checkout: CLTV score, Platinum threshold, prior.

:class:`CustomerValues` reads the store's latest daily CLTV scores; an
unknown customer gets the new-customer prior, and a store that cannot be
read leaves the last known score and threshold in use (said in the notes).
Scores read are kept until the store's scores version moves (checked every
``refresh_s``, with the threshold): a checkout then reads no score at all
for a customer seen before, and a day's scores replaced in place reach the
threshold and every kept score within ``refresh_s``. A score read from the
store carries the version it was read at (the same statement): one newer
than the threshold's makes the threshold and prior be read again before the
customer is judged, so every answer judges a score against the threshold
and prior of its own scores version, however recently they were published.
A latest day of at most ``preload`` scores (default :data:`PRELOAD_SCORES`)
may also be read whole, off the request path (:meth:`CustomerValues.load_day`:
a server at startup and on its capacity follower's thread); while the
version read with it is the one checked, no checkout reads a score, a
customer's first neither.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tierflow.data.store import CltvScore, ScoreStore, VersionedScore
from tierflow.data.wording import percent
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, Notes, public_reason
from tierflow.orchestration.checkout.results import CustomerValue

#: Customers whose last read score is kept for a store outage.
_KNOWN_CUSTOMERS = 50_000
#: The most scores read whole (a few MB, about a second of CPU on a busy
#: machine: once per scores version, never on a request).
PRELOAD_SCORES = _KNOWN_CUSTOMERS
#: The segment of a customer without a CLTV score (the new-customer prior).
NEW_SEGMENT = "new"


@dataclass(frozen=True, slots=True)
class _Score:
    spend: float
    segment: str
    source: str


#: A score of a day read whole: ``(spend, segment, source)``.
_Row = tuple[float, str, str]
#: Not in the kept scores (None there means "no score").
_UNREAD = _Score(math.nan, "", "")
#: What an unscored customer's predicted spend is said to be with no scores.
NO_SCORES_SOURCE = "new-customer prior (no CLTV scores stored)"
#: Reads of the threshold (or of a score) before the scores' version is
#: given up as moving (each retry needs another publish within a few reads).
_VERSION_TRIES = 3


class _ScoresMoving(Exception):
    """The scores' version moved at every try of a read."""

    def __str__(self) -> str:
        return "the scores changed while they were read"


@dataclass(frozen=True, slots=True)
class _Held:
    """What was read of one scores version: the Platinum threshold, the
    new-customer prior, and the scores read since (None there: not
    scored), oldest first. ``version`` None: the version could
    not be read (the threshold and prior are the last known)."""

    version: int | None
    threshold: float | None
    prior: _Score
    #: One C call per change: threads share it without a lock.
    fresh: OrderedDict[str, _Score | None]


def _no_scores() -> _Held:
    prior = _Score(0.0, NEW_SEGMENT, NO_SCORES_SOURCE)
    return _Held(None, None, prior, OrderedDict())


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
        f"new-customer prior ({percent(pct)} percentile of the latest scores)"
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
        #: :meth:`load_day` reads a latest day of at most this many scores
        #: (0: never).
        self.preload = int(preload)
        self.policy = policy
        self.refresh_s = float(refresh_s)
        self._read = -math.inf
        #: The threshold, prior and scores of one version, replaced whole
        #: (an answer reads it once: never a threshold of one version and a
        #: prior or kept score of another).
        self._held = _no_scores()
        self._known: OrderedDict[str, _Score] = OrderedDict()
        #: Every score of the latest day and the version they are of (one
        #: C assignment per load): used while that is the version held.
        #: A score is a tuple of a float and two strings (one shared): the
        #: garbage collector untracks them and the dict, so 50,000 kept
        #: scores add nothing to its passes (objects would, to every request's).
        self._day_read: tuple[int, dict[str, _Row]] | None = None
        self._day_checked = -math.inf

    def forget(self) -> None:
        """Drop every score and threshold read: the store was made again
        (restored), and its scores' version may be one seen before with
        other scores. Read again at the next answer."""
        self._read = -math.inf
        self._held = _no_scores()
        self._known = OrderedDict()
        self._day_read = None
        self._day_checked = -math.inf

    def lookup(
        self,
        customer_id: str,
        notes: Notes,
        *,
        read: Callable[[], VersionedScore] | None = None,
        refresh: bool = True,
    ) -> CustomerValue:
        """The customer's value, from the store or the fallbacks.

        ``read`` gives the customer's stored score and the version it was
        read at, when it is not kept (a caller that read it together with
        other facts; by default the store is asked); ``refresh=False`` when
        the caller has just called :meth:`refresh`. A score of a version
        other than the threshold's has the threshold read again first.
        """
        if refresh:
            self.refresh(notes)
        held = self._held
        found, held = self._stored(customer_id, notes, read, held)
        if found is None:
            found = held.prior
        thr = held.threshold
        return CustomerValue(
            customer_id,
            found.spend,
            found.segment,
            found.source,
            thr,
            # a customer predicted to spend nothing is no high-CLTV customer,
            # even where the top share predicts nothing (threshold 0)
            thr is not None and found.spend >= thr and found.spend > 0,
        )

    def wants_score(self, customer_id: str) -> bool:
        """Whether :meth:`lookup` of this customer would read the store for
        the score (it is not kept), so a caller may read it with others."""
        held = self._held
        return (
            self.store is not None
            and self._whole(held) is None
            and customer_id not in held.fresh
        )

    def load_day(self, store: ScoreStore | None = None) -> bool:
        """Read the latest day's scores whole when their version moved since
        the last load and there are at most :attr:`preload` (off the request
        path: a second on a busy machine for 50,000); at most every
        ``refresh_s``. ``store``: another connection to the same store (a
        follower's own), by default this one's. Whether a day was loaded;
        a store that cannot be read loads nothing (the checkouts read per
        customer meanwhile, and say so when that fails).
        """
        store = store or self.store
        now = time.monotonic()
        if (
            store is None
            or self.preload < 1
            or now - self._day_checked < self.refresh_s
        ):
            return False
        self._day_checked = now
        try:
            version = store.cltv_version()
            loaded = self._day_read
            if loaded is not None and loaded[0] == version:
                return False
            scores = store.cltv_latest_scores(self.preload)
            # a day written meanwhile moved the version: read it next time
            if scores is None or store.cltv_version() != version:
                return False
        except STORE_ERRORS:
            return False
        sources: dict[dt.date, str] = {}  # one string per day, not per score
        day: dict[str, _Row] = {}
        for s in scores:
            source = sources.get(s.as_of)
            if source is None:
                source = sources[s.as_of] = f"CLTV scores of {s.as_of.isoformat()}"
            day[s.customer_id] = (s.predicted_spend, s.segment, source)
        self._day_read = (version, day)
        return True

    def _whole(self, held: _Held) -> dict[str, _Row] | None:
        """The whole day read, when it is of ``held``'s version."""
        loaded = self._day_read
        if loaded is None or held.version is None or loaded[0] != held.version:
            return None
        return loaded[1]

    def refresh(self, notes: Notes) -> None:
        """Re-read the threshold and the prior, and forget the scores read,
        when the stored scores changed (at most every ``refresh_s``)."""
        store = self.store
        now = time.monotonic()
        if store is None or now - self._read < self.refresh_s:
            return
        self._reread(store, notes)
        if self._held.version is not None:
            self._read = now

    def _reread(self, store: ScoreStore, notes: Notes) -> _Held:
        """Read the scores' version and, when it moved, the threshold, prior
        and day of it (all of one version: read again while the version
        read before and after them differs); what is held then."""
        held = self._held
        try:
            for _ in range(_VERSION_TRIES):
                version = store.cltv_version()
                if version == held.version:
                    return held
                day = store.latest_cltv_as_of()
                pct = self.policy.platinum_percentile * 100.0
                threshold = store.cltv_top_threshold(pct)
                prior, source = new_customer_prior(store, self.policy, day)
                if store.cltv_version() == version:
                    held = _Held(
                        version,
                        threshold,
                        _Score(prior, NEW_SEGMENT, source),
                        OrderedDict(),
                    )
                    self._held = held
                    return held
            raise _ScoresMoving
        except (*STORE_ERRORS, _ScoresMoving) as exc:
            notes.add(
                f"CLTV threshold could not be read ({public_reason(exc)}): last known"
            )
            # whether the scores changed is unknown: read them (or fall back
            # on the last known, said in the notes) until a version is read
            held = dataclasses.replace(held, version=None, fresh=OrderedDict())
            self._held = held
            return held

    def _stored(
        self,
        customer_id: str,
        notes: Notes,
        read: Callable[[], VersionedScore] | None,
        held: _Held,
    ) -> tuple[_Score | None, _Held]:
        """The customer's score (None: not scored) and what it is judged by:
        of the same version, unless that cannot be read (said in the notes)."""
        store = self.store
        if store is None:
            return None, held
        whole = self._whole(held)
        if whole is not None:  # every score of the day: none, the prior
            row = whole.get(customer_id)
            return (None if row is None else _Score(*row)), held
        kept = held.fresh.get(customer_id, _UNREAD)
        if kept is not _UNREAD:
            return kept, held
        try:
            version, score = (
                read() if read is not None else store.cltv_versioned_score(customer_id)
            )
            tries = 0
            # held.version None: the threshold is the last known (noted)
            while held.version is not None and version != held.version:
                if tries == _VERSION_TRIES:
                    raise _ScoresMoving
                tries += 1
                if version > held.version:  # scores published since: theirs
                    held = self._reread(store, notes)
                else:  # read before another thread read a newer threshold
                    version, score = store.cltv_versioned_score(customer_id)
        except (*STORE_ERRORS, _ScoresMoving) as exc:
            notes.add(f"CLTV score could not be read ({public_reason(exc)})")
            return self._last_known(customer_id), held
        if score is None:
            self._keep(held, customer_id, None)
            return None, held
        found = _score(score)
        self._known[customer_id] = found
        if len(self._known) > _KNOWN_CUSTOMERS:
            self._known.popitem(last=False)
        self._keep(held, customer_id, found)
        return found, held

    def _last_known(self, customer_id: str) -> _Score | None:
        """The customer's last score read (or of the day read whole), said
        to be the last known; None when there is none."""
        known = self._known.get(customer_id)
        if known is None and self._day_read is not None:
            row = self._day_read[1].get(customer_id)
            known = None if row is None else _Score(*row)
        if known is None:
            return None
        return _Score(known.spend, known.segment, known.source + " (last known)")

    def _keep(self, held: _Held, customer_id: str, score: _Score | None) -> None:
        """Keep a score read (None: no score) with the version it is of;
        nothing is kept before a version was read."""
        if held.version is None:
            return
        fresh = held.fresh
        fresh[customer_id] = score
        if len(fresh) > _KNOWN_CUSTOMERS:
            with contextlib.suppress(KeyError):  # another thread cleared it
                fresh.popitem(last=False)


def _score(score: CltvScore) -> _Score:
    return _Score(
        score.predicted_spend,
        score.segment,
        f"CLTV scores of {score.as_of.isoformat()}",
    )
