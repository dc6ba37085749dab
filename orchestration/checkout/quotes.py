"""The open option sets: what a checkout was offered, until it is over.

:class:`QuoteBook` keeps each answer's request, offered options and plans
for ``quote_ttl_s``, in the store (``quotes``) so that any replica can hold
exactly what was offered, requote it or close it, and in a small cache of
decoded quotes (at most ``max_open_quotes``, oldest dropped first). Without
a store, or while it cannot be written, the cache alone serves this process.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import operator
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import (
    QuoteChanged,
    QuoteStore,
    StoredQuote,
    StoreUnavailable,
    check_customer,
)
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.formulations.tiers import Pricing
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, unavailable
from tierflow.orchestration.checkout.plan_calendar import CalendarView, plans_view
from tierflow.orchestration.checkout.planner import Plan, PlannedShipment
from tierflow.orchestration.checkout.request import CheckoutRequest, RequestValidator
from tierflow.orchestration.checkout.results import CustomerValue, OptionSet
from tierflow.orchestration.checkout.wire import from_wire

#: A node's order cutoff (minutes after local midnight) and timezone.
NodeClock = tuple[int, str]

_SHIPMENT_FIELDS = tuple(f.name for f in dataclasses.fields(PlannedShipment))
#: The customer's fields, all scalars (read directly: ``dataclasses.asdict``
#: deep-copies and cost a third of the quote's encoding).
_CUSTOMER_FIELDS = tuple(f.name for f in dataclasses.fields(CustomerValue))
#: All fields of a shipment, and of the customer, in one call each.
_SHIPMENT_VALUES = operator.attrgetter(*_SHIPMENT_FIELDS)
_CUSTOMER_VALUES = operator.attrgetter(*_CUSTOMER_FIELDS)
#: How long a quote stays in the store after it expired: a late repeat of a
#: finished checkout's call is answered as before (409, not 404) for a day.
KEEP_S = 86_400.0
#: How often a process deletes the quotes past that (one indexed DELETE).
PRUNE_EVERY_S = 60.0
#: Random bytes of a request id (128 bits: unguessable).
REQUEST_ID_BYTES = 16
#: The characters of a request id: URL-safe base64 of its bytes, unpadded.
REQUEST_ID_CHARS = -(-4 * REQUEST_ID_BYTES // 3)
#: What joins a request id to the expiry it carries (epoch seconds) when its
#: option set was answered without the store (none, or it could not be
#: written): ``<22 characters>_<expiry>``, in the alphabet of every id
#: (``[A-Za-z0-9_-]``). Every replica that cannot find such an id answers it
#: "unavailable" (503, retry) until then: the replica that answered keeps it
#: in memory and writes it once it can, however long its pool takes to
#: reconnect. Any other id the store lacks is unknown (404) at once.
KEPT_MARK = "_"
#: How far past a replica's own quote TTL a marked id's expiry may lie and
#: still be believed (clocks of other hosts): beyond it, a made-up id.
KEPT_CLOCK_SLACK_S = 60.0


#: Where a refused ``Idempotency-Key`` is named (the request header).
KEY_FIELD = "Idempotency-Key"


class KeyTaken(Exception):
    """Another answer of the ``Idempotency-Key`` was kept first (two asks
    at once): this one is no one's, answer the kept one."""


@dataclass(frozen=True, slots=True)
class Lapsed:
    """An ``Idempotency-Key``'s option set that is still open but past its
    expiry (not yet pruned): its options can no longer be selected, so a
    retry is answered a new set, which takes the key from this one
    (``request_id``)."""

    request_id: str


def request_digest(
    customer_id: str,
    items: Iterable[tuple[str, int]],
    dest: str,
    preferences: Mapping[str, float] | None,
) -> str:
    """What an ``Idempotency-Key`` is bound to: a SHA-256 of the request as
    asked (customer, cart lines in their order, destination, preferences),
    so that a retry is told from another ask under the same key."""
    asked = [
        customer_id,
        [[sku, int(qty)] for sku, qty in items],
        dest,
        sorted((preferences or {}).items()),
    ]
    return hashlib.sha256(json.dumps(asked).encode()).hexdigest()


def new_request_id() -> str:
    """An unguessable request id: ``REQUEST_ID_BYTES`` random bytes, URL-safe
    (``REQUEST_ID_CHARS``, 22 characters)."""
    return request_id_of(secrets.token_bytes(REQUEST_ID_BYTES))


def request_id_of(raw: bytes) -> str:
    """The request id of ``REQUEST_ID_BYTES`` bytes: URL-safe base64 without
    its padding (as :func:`secrets.token_urlsafe` writes them)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def kept_id(request_id: str, expires_at: float) -> str:
    """``request_id`` marked as answered without the store, open until
    ``expires_at``."""
    return f"{request_id}{KEPT_MARK}{math.ceil(expires_at)}"


def kept_until(request_id: str) -> float | None:
    """The expiry a marked request id carries (None: not a marked id)."""
    token, _, until = request_id.rpartition(KEPT_MARK)
    if len(token) != REQUEST_ID_CHARS or not until.isdecimal() or len(until) > 12:
        return None
    return float(until)


@dataclass(frozen=True, slots=True)
class OfferedOption:
    """What a select needs of an offered option."""

    option_id: str
    tier: Tier
    nodes: tuple[str, ...]
    pricing: Pricing
    upgrade_cost: float


@dataclass(frozen=True, slots=True)
class Quote:
    """One open option set: the request, the offer and each tier's plan.

    ``expires_at`` is epoch seconds; ``closed`` says how the checkout ended
    (None while it is open); ``answered_at`` is when this revision was
    answered (epoch seconds; None for one stored before it was recorded):
    with the request's instant, it places the wall clock's ``now`` in the
    checkout's own clock (a service's, a simulation's), where its dates
    are judged.
    """

    request: CheckoutRequest
    revision: int
    customer: CustomerValue
    options: Mapping[str, OfferedOption]
    plans: Mapping[Tier, Plan]
    expires_at: float
    closed: HoldStatus | None = None
    answered_at: float | None = None
    #: The order cutoff (minutes after local midnight) and timezone of each
    #: node its plans ship from, by node id, as the network of the server
    #: that answered it had them (None: this process's own answer, or one
    #: stored before they were): a select judges the cutoff by both.
    clocks: Mapping[str, NodeClock] | None = None
    #: The days its plans' dates depend on, open or closed for shipping and
    #: for each service they use, as the carrier calendar of the server
    #: that answered it had them (None: this process's own answer, or one
    #: stored before they were): a select judges the dates by both.
    calendar: CalendarView | None = None
    #: The option this process held from it (its select's; None: none
    #: held here, or another process's select): what a confirm or cancel
    #: the store cannot answer names (not stored).
    held: str | None = None

    def instant(self, now: float) -> dt.datetime | None:
        """The checkout's instant at wall time ``now``: the request's, moved
        on by the seconds since this revision was answered (None when that
        is not known)."""
        if self.answered_at is None:
            return None
        return self.request.now + dt.timedelta(seconds=max(0.0, now - self.answered_at))

    def option(self, option_id: str) -> OfferedOption:
        """The offered option with this id (``InputError`` when there is none)."""
        found = self.options.get(option_id)
        if found is None:
            raise InputError(
                f"not an option of this request (one of {list(self.options)})",
                field="option_id",
                value=option_id,
            )
        return found


@dataclass(frozen=True, slots=True)
class _Unsaved:
    """An answer the store could not be given yet: the quote, the revision a
    requote was answered from (None: a first answer, or one answered with
    no store, written over any older revision) and a requote's answer on
    the wire (stored with it, for the other processes' streams)."""

    quote: Quote
    replaces: int | None = None
    answer: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Dropped:
    """A requote this process answered while the store could not be written
    and dropped when it could (another process's answer of its revision was
    stored first): its revision, its options as shown (on the wire, by
    option id) and when the checkout expires."""

    revision: int
    shown: Mapping[str, Mapping[str, Any]]
    expires_at: float


class QuoteBook:
    """Open option sets by request id: in the store, decoded ones cached."""

    def __init__(
        self,
        ttl_s: float,
        max_open: int,
        *,
        store: QuoteStore | None = None,
        requests: RequestValidator | None = None,
        keep_s: float = KEEP_S,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self.ttl_s = float(ttl_s)
        self.max_open = int(max_open)
        self.store = store
        self.keep_s = float(keep_s)
        self.prune_every_s = float(prune_every_s)
        self._next_prune = 0.0
        self._requests = requests
        self._network = None if requests is None else requests.network
        self._node_ids = None if self._network is None else self._network.node_ids
        self._quotes: OrderedDict[str, Quote] = OrderedDict()
        #: without a store: each ``Idempotency-Key``'s digest and answer
        self._keyed: OrderedDict[str, tuple[str, OptionSet]] = OrderedDict()
        #: without a store: the request ids of the checkouts ended here
        #: (the newest ``max_open``), whose keyed set is replayed however
        #: old (the cache drops a quote once it expired)
        self._ended: OrderedDict[str, None] = OrderedDict()
        #: the option sets the store could not be given (yet), by id
        self._unsaved: dict[str, _Unsaved] = {}
        #: requotes answered without the store whose write lost, by id
        self._dropped: dict[str, _Dropped] = {}
        self._lock = threading.Lock()
        #: Held by the one thread writing the unsaved option sets: every
        #: select after an outage reads a quote, and each wrote them all.
        self._saving = threading.Lock()

    def remember(
        self,
        req: CheckoutRequest,
        answer: OptionSet,
        plans: Mapping[Tier, Plan],
        *,
        expires_at: float | None = None,
        replaces: int | None = None,
        now: float | None = None,
        key: tuple[str, str] | None = None,
        renews: str | None = None,
    ) -> str:
        """Keep (or replace, for a requote) an answer in the store and the
        cache; the request id it is kept under.

        ``key``: a first answer's ``Idempotency-Key`` and request digest
        (:func:`request_digest`), kept with it (its answer too, for a
        retry); ``KeyTaken`` when another answer holds the key, and this
        one is not kept. ``renews``: the :class:`Lapsed` set's request id
        the key is taken from (``KeyTaken`` when another retry took it
        first). A store that cannot be written keeps the answer
        as below, without its key. ``now``: the wall instant it
        was answered at (default ``time.time()``), from which a new answer is
        open for ``ttl_s`` (the answer's own ``expires_at`` says when).

        ``replaces``: the revision a requote was answered from. The store
        keeps it only while that is still the stored revision; when another
        replica requoted (or closed) the checkout in between,
        ``QuoteChanged`` is raised and nothing is kept here either: the
        answer is then no one's (:meth:`adopt` the stored one). Both
        answers were kept, each replica holding and streaming its own as
        the revision the store held the other's under.

        ``expires_at``: a requote passes its first answer's expiry, which the
        store keeps too, so every replica refuses the checkout at the same
        instant (a requoting replica had renewed it for itself alone); None,
        a new answer open for ``ttl_s``.
        A store that cannot be written (or none) leaves the quote in this
        process only, written once it can be; a new answer is then kept
        under its id marked with its expiry (:func:`kept_id`), so that
        every other replica answers "retry" for it meanwhile, not
        "unknown"; a requote is written over the revision it was answered
        from, as if at once (:meth:`save_unsaved`). At most every
        ``prune_every_s`` it also deletes the stored quotes expired more
        than ``keep_s`` ago, so the table holds about a day of checkouts
        however long the servers run.
        """
        now = time.time() if now is None else now
        quote = Quote(
            req,
            answer.revision,
            answer.customer,
            {o.option_id: _offered(o) for o in answer.options},
            dict(plans),
            now + self.ttl_s if expires_at is None else expires_at,
            answered_at=now,
        )
        rid = answer.request_id
        # a requote's answer as the wire has it, for the streams of the
        # checkout on other processes (stored_answer), and for a replica
        # whose requote of it lost (adopt); a first answer needs none
        wire = answer.to_dict() if answer.revision > 1 else None
        if self.store is not None:
            try:
                if key is None:
                    written = self.store.put_quote(
                        rid,
                        req.customer_id,
                        answer.revision,
                        encode_quote(quote, wire, self._node_ids, self._network),
                        ttl_s=self.ttl_s,
                        now=now,
                        replaces=replaces,
                    )
                else:
                    written = self.store.put_keyed_quote(
                        rid,
                        req.customer_id,
                        encode_quote(
                            quote, answer.to_dict(), self._node_ids, self._network
                        ),
                        key=key[0],
                        digest=key[1],
                        ttl_s=self.ttl_s,
                        now=now,
                        renews=renews,
                    )
            except STORE_ERRORS:  # this process still has it: written once it can be
                pass
            else:
                if not written and key is not None:
                    raise KeyTaken(rid)
                if not written and replaces is not None:
                    raise QuoteChanged(
                        f"{rid}: requoted or closed elsewhere since revision "
                        f"{replaces}: revision {answer.revision} is not this answer"
                    )
                self._cache(rid, quote, now)
                self.save_unsaved()
                self._prune(now)
                return rid
        if answer.revision == 1 and expires_at is None:  # its id says where it is
            rid = kept_id(rid, quote.expires_at)
        if self.store is None and key is not None:
            self._keep_key(key, dataclasses.replace(answer, request_id=rid), renews)
        self._cache(rid, quote, now)
        if self.store is not None:
            with self._lock:
                self._unsaved[rid] = _Unsaved(quote, replaces, wire)
        return rid

    def _keep_key(
        self, key: tuple[str, str], answer: OptionSet, renews: str | None = None
    ) -> None:
        """Without a store: keep an answer under its ``Idempotency-Key`` in
        this process (``KeyTaken`` when another holds it, other than the
        lapsed set ``renews``), the newest ``max_open`` keys."""
        with self._lock:
            kept = self._keyed.get(key[0])
            if kept is not None and kept[1].request_id != renews:
                raise KeyTaken(answer.request_id)
            self._keyed[key[0]] = (key[1], answer)
            self._keyed.move_to_end(key[0])
            while len(self._keyed) > self.max_open:
                self._keyed.popitem(last=False)

    def for_key(self, key: str, digest: str) -> OptionSet | Lapsed | None:
        """The option set answered under the ``Idempotency-Key`` ``key``,
        to answer again: as the store has it now (its latest revision: open
        or closed), or without a store as answered; None when the key is
        new (never asked, or pruned with its quote a day after it expired;
        without a store, pushed out by ``max_open`` newer keys).
        :class:`Lapsed` when that set is open but expired: a replay offered
        options no select takes (409), so the retry gets a new set. A
        closed one is replayed however old: its checkout is over, and a
        new set invited a second order under one key.

        Raises
        ------
        InputError
            At ``Idempotency-Key`` (422): the key was asked with another
            request (``digest``: :func:`request_digest`).
        StoreUnavailable
            The store cannot be read: the caller answers as without the key.
        """
        if self.store is None:
            with self._lock:
                kept = self._keyed.get(key)
            if kept is None:
                return None
            first, answer = kept
            with self._lock:
                closed = answer.request_id in self._ended
            expired = answer.expires_at is not None and (
                time.time() > answer.expires_at.timestamp()
            )
        else:
            try:
                stored = self.store.quote_for_key(key)
            except STORE_ERRORS as exc:
                raise unavailable(exc) from exc
            if stored is None:
                return None
            first = stored.digest
            wire = _served_answer(stored.quote)
            if wire is None:  # written keyed, always with its answer
                return None
            answer = from_wire(OptionSet, wire)
            closed = stored.quote.closed is not None
            expired = time.time() > stored.quote.expires_at
        if first != digest:
            raise InputError(
                "was used with another request (customer, items, destination "
                "or preferences): a new ask takes a new key",
                field=KEY_FIELD,
            )
        if expired and not closed:
            return Lapsed(answer.request_id)
        return dataclasses.replace(answer, replayed=True)

    def _prune(self, now: float) -> None:
        """Delete the stored quotes long expired, at most every
        ``prune_every_s``."""
        if self.store is not None and now >= self._next_prune:
            self._next_prune = now + self.prune_every_s
            with contextlib.suppress(*STORE_ERRORS):
                self.store.prune_quotes(now=now, grace_s=self.keep_s)

    def save_open(self) -> int:
        """Write the open option sets this process keeps only in memory (it
        answered them without a store) to the store, so that any worker or
        replica takes them; how many. Each keeps its expiry."""
        with self._lock:
            for rid, quote in self._quotes.items():
                self._unsaved.setdefault(rid, _Unsaved(quote))
        return self.save_unsaved()

    def save_unsaved(self) -> int:
        """Write the open option sets answered while the store could not be
        written, once it can be (the next answer written, the next quote
        read, or the capacity follower reading the log again); how many.
        Each keeps its expiry (and its marked id: :func:`kept_id`; other
        replicas answer it 503, retry, meanwhile). 0 at once while another
        thread writes them.

        A requote is written as it would have been at once: only over the
        revision it was answered from (compare-and-set), with its answer.
        When another process requoted (or closed) the checkout meanwhile,
        the write loses and this process drops its copy: the next read
        takes the stored revision, the live hub sends it to this process's
        streams (:meth:`dropped_revision`), and a select of an option shown
        otherwise than the store has it is refused (:meth:`refuse_unshown`).
        It was written over any older revision, so it lost quietly to
        another process's answer of the same revision, and this process
        went on holding (and charging) its own copy, which the store did
        not hold, while every other process held the store's.
        """
        if not self._saving.acquire(blocking=False):
            return 0
        try:
            return self._save_unsaved()
        finally:
            self._saving.release()

    def _save_unsaved(self) -> int:
        store = self.store
        with self._lock:
            if store is None or not self._unsaved:
                return 0
            pending = list(self._unsaved.items())
        now = time.time()
        saved = 0
        for rid, unsaved in pending:
            quote = unsaved.quote
            with self._lock:
                cached = self._quotes.get(rid)
            lost = False
            # not one closed (or pushed out) here since, nor expired
            if cached is not None and cached.closed is None and quote.expires_at > now:
                try:
                    written = store.put_quote(
                        rid,
                        quote.request.customer_id,
                        quote.revision,
                        encode_quote(
                            quote, unsaved.answer, self._node_ids, self._network
                        ),
                        ttl_s=quote.expires_at - now,
                        now=now,
                        replaces=unsaved.replaces,
                    )
                except STORE_ERRORS:  # still away: the next write tries again
                    return saved
                saved += written
                lost = not written and unsaved.replaces is not None
            with self._lock:
                if self._unsaved.get(rid) is unsaved:
                    del self._unsaved[rid]
                if lost:  # another process requoted or closed it meanwhile
                    self._drop(rid, quote, unsaved, now)
        return saved

    def _drop(self, rid: str, quote: Quote, unsaved: _Unsaved, now: float) -> None:
        """Under the lock: forget this process's copy of a requote the store
        did not take (the next read decodes the stored one) and remember
        what it showed."""
        if self._quotes.get(rid) is quote:
            del self._quotes[rid]
        for old in [k for k, d in self._dropped.items() if d.expires_at < now]:
            del self._dropped[old]
        if unsaved.answer is None:
            return
        shown = {o["option_id"]: o for o in unsaved.answer["options"]}
        self._dropped[rid] = _Dropped(quote.revision, shown, quote.expires_at)

    def dropped_revision(self, request_id: str) -> int | None:
        """The revision of a requote this process answered while the store
        could not be written, and dropped when it could because another
        process's answer of that revision was stored first (None: none).
        Its streams were sent this process's answer of it: the live hub
        sends them the stored one, which a newer revision number alone
        would not make it send."""
        with self._lock:
            dropped = self._dropped.get(request_id)
        return None if dropped is None else dropped.revision

    def refuse_unshown(self, request_id: str, quote: Quote, option_id: str) -> None:
        """Refuse (``InputError``, 409) a select of ``option_id`` from
        ``quote`` when ``quote`` is the stored revision of a requote this
        process dropped (:meth:`save_unsaved`) and the option it showed is
        not the stored one, field for field on the wire: its shopper saw
        this process's answer of the revision, and a page cannot say which
        answer it shows (a select names no revision; its stream may or may
        not have had the stored one yet, and a page without one never
        does), so holding the stored plan could hold dates, a price or
        nodes the shopper never saw. A requote (the refusal says so) makes
        the next revision, answered over the stored one: what the page
        then shows is the store's. An option the dropped answer did not
        offer is held from the stored answer, the only one that offers it;
        one offered the same in both is held too (what was shown is what
        is held). No refusal once the checkout moved past that revision.
        Only this process knows of the drop: a select of the option on
        another replica holds the stored plan, as for any page behind a
        newer stored revision."""
        with self._lock:
            dropped = self._dropped.get(request_id)
        if dropped is None:
            return
        if quote.revision != dropped.revision:
            if quote.revision > dropped.revision:
                with self._lock:
                    self._dropped.pop(request_id, None)
            return
        shown = dropped.shown.get(option_id)
        if shown is None:
            return
        stored = self.stored_answer(request_id)
        if (
            stored is not None
            and stored[0] == dropped.revision
            and any(o == shown for o in stored[1]["options"])
        ):
            return
        raise InputError(
            f"options expired: option {option_id!r} is not the one shown "
            f"(revision {dropped.revision} was answered here while the store "
            f"could not be written, and another server's revision "
            f"{dropped.revision} was kept): requote for the new options",
            field="request_id",
            value=request_id,
        )

    def get(self, request_id: str, customer_id: str | None = None) -> Quote:
        """The open option set (``InputError`` when unknown, expired or
        closed). A caller naming another customer than the quote's is refused
        first (``CustomerMismatch``): it learns nothing of the checkout's
        state."""
        quote = self.lookup(request_id)
        if quote is None:
            raise self.unknown(
                request_id,
                "unknown request id (no options were generated for it, or they "
                "were dropped)",
            )
        check_customer(customer_id, quote.request.customer_id)
        self._refuse_over(request_id, quote)
        return quote

    def _refuse_over(self, request_id: str, quote: Quote) -> None:
        """``InputError`` for a quote closed or expired."""
        if quote.closed is not None:
            raise InputError(
                f"checkout already {quote.closed}", field="request_id", value=request_id
            )
        if time.time() > quote.expires_at:
            raise InputError(
                f"options expired (older than {self.ttl_s:g} s): generate them again",
                field="request_id",
                value=request_id,
            )

    def unknown(self, request_id: str, reason: str) -> InputError | StoreUnavailable:
        """What to raise for a request id neither the store nor this process
        has: ``reason`` (an ``InputError``, 404), or, for an id marked as
        answered without the store (:func:`kept_id`) and not yet expired,
        ``StoreUnavailable`` (503, retry): the replica that answered it keeps
        it and writes it once it can; a 404 told a shopper whose checkout
        worked seconds later to start over. A marked expiry further ahead
        than this book's TTL allows is a made-up id (404)."""
        until = kept_until(request_id)
        now = time.time()
        if until is None or not now < until <= now + self.ttl_s + KEPT_CLOCK_SLACK_S:
            return InputError(reason, field="request_id", value=request_id)
        return StoreUnavailable(
            "request id not found yet: another server answered it while the "
            "store could not be written and keeps it until it can: retry"
        )

    def kept(self, request_id: str) -> Quote | None:
        """The open, unexpired option set this process keeps, without a
        store read (None when it keeps none): whoever holds from it has the
        store confirm its revision in the hold's own transaction."""
        with self._lock:
            quote = self._quotes.get(request_id)
        if quote is None or quote.closed is not None:
            return None
        return quote if time.time() <= quote.expires_at else None

    def note_held(self, request_id: str, option_id: str) -> None:
        """Record that this process held ``option_id`` of the option set
        it keeps (:attr:`Quote.held`; nothing when it keeps none)."""
        with self._lock:
            quote = self._quotes.get(request_id)
            if quote is not None:
                self._quotes[request_id] = dataclasses.replace(quote, held=option_id)

    def held(self, request_id: str) -> str | None:
        """The option this process held of the option set it keeps, without
        a store read (None: none known here)."""
        with self._lock:
            quote = self._quotes.get(request_id)
        return None if quote is None else quote.held

    def lookup(self, request_id: str) -> Quote | None:
        """The quote as last stored (open, closed or expired), or None.

        The store is read every time (another replica may have requoted or
        closed it); its decoded form is cached per revision. A store that
        cannot be read leaves this process's copy; without one, its error
        is raised (``StoreUnavailable``): the checkout may well be another
        replica's, and "unknown request id" told its shopper to start over.
        """
        with self._lock:
            cached = self._quotes.get(request_id)
        if self.store is None:
            return cached
        try:
            stored = self.store.get_quote(request_id)
        except STORE_ERRORS as exc:
            if cached is None:
                raise unavailable(exc) from exc
            return cached
        if self._unsaved:  # the store is back: what it missed, for every replica
            self.save_unsaved()
        if stored is None:
            return cached
        if cached is not None and cached.revision == stored.revision:
            if cached.closed is stored.closed:
                return cached
            return dataclasses.replace(cached, closed=stored.closed)
        quote = self._decode(stored)
        self._cache(request_id, quote, time.time())
        return quote

    def adopt(self, request_id: str) -> dict[str, Any] | None:
        """The open option set's answer as the store has it, on the wire
        (``OptionSet.to_dict()``), for a requote whose write lost to another
        replica's: its decoded quote is cached here, so that a select on this
        process holds what that answer says. None when the stored revision
        was written without its answer (after an outage): answer it again.
        ``InputError`` as :meth:`get` for one closed or expired since."""
        if self.store is None:
            return None
        stored = self.store.get_quote(request_id)
        if stored is None:
            raise self.unknown(request_id, "unknown request id")
        quote = self._decode(stored)
        self._refuse_over(request_id, quote)
        self._cache(request_id, quote, time.time())
        return _served_answer(stored)

    def stored_answer(self, request_id: str) -> tuple[int, dict[str, Any]] | None:
        """The stored revision of an open option set and its answer as the
        wire has it (``OptionSet.to_dict()``), as the process that requoted
        it stored it; None when the store has no open quote of it (also an
        expired one), or none with its answer (a first answer, one written
        after an outage)."""
        if self.store is None:
            return None
        stored = self.store.get_quote(request_id)
        if stored is None or stored.closed is not None:
            return None
        if time.time() > stored.expires_at:
            return None
        answer = _served_answer(stored)
        return None if answer is None else (stored.revision, answer)

    def close(
        self, request_id: str, ending: HoldStatus, *, stored: bool = False
    ) -> None:
        """Record how a checkout ended (in the store, for every replica);
        ``stored``: the store's confirm or cancel closed it already, in its
        own transaction."""
        with self._lock:
            cached = self._quotes.pop(request_id, None)
            self._dropped.pop(request_id, None)
        if stored:
            return
        if self.store is None:
            with self._lock:
                self._ended[request_id] = None
                while len(self._ended) > self.max_open:
                    self._ended.popitem(last=False)
        else:
            try:
                self.store.close_quote(request_id, ending)
                return
            except STORE_ERRORS:
                pass
        if cached is not None:  # this process only: keep the ending
            self._cache(request_id, dataclasses.replace(cached, closed=ending), 0.0)

    def forget_stored(self) -> None:
        """Drop the decoded option sets the store had: it was made again
        (restored), and what it holds now is read at the next call. Those
        it was never given stay, to be written."""
        with self._lock:
            for rid in [r for r in self._quotes if r not in self._unsaved]:
                del self._quotes[rid]

    def ids(self) -> list[str]:
        """Ids of the quotes cached in this process, oldest first."""
        with self._lock:
            return list(self._quotes)

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return request_id in self._quotes

    def _cache(self, request_id: str, quote: Quote, now: float) -> None:
        with self._lock:
            quotes = self._quotes
            quotes[request_id] = quote
            quotes.move_to_end(request_id)
            # oldest first: drop what expired (a few per call) and any excess
            while quotes and (
                len(quotes) > self.max_open
                or now > next(iter(quotes.values())).expires_at
            ):
                quotes.popitem(last=False)

    def _decode(self, stored: StoredQuote) -> Quote:
        if self._requests is None:
            raise InputError("no request validator to read stored quotes")
        return decode_quote(stored, self._requests)


def _offered(option: Any) -> OfferedOption:
    return OfferedOption(
        option.option_id,
        Tier(option.tier),
        tuple(option.nodes),
        Pricing(option.pricing),
        float(option.upgrade_cost),
    )


def _served_answer(stored: StoredQuote) -> dict[str, Any] | None:
    """The stored answer on the wire (None: stored without one), with its
    ``expires_at`` from the quote's own: an answer stored before answers
    said it lacked it (a requote adopting it answered ``null``, a stream's
    event left it out) until the checkout was answered again."""
    answer = json.loads(stored.body).get("answer")
    if answer is None:
        return None
    served = dict(answer)
    if served.get("expires_at") is None:
        expiry = dt.datetime.fromtimestamp(stored.expires_at, dt.UTC)
        served["expires_at"] = expiry.isoformat()
    return served


def encode_quote(
    quote: Quote,
    answer: Mapping[str, Any] | None = None,
    node_ids: Sequence[str] | None = None,
    network: Network | None = None,
) -> str:
    """The stored body of a quote (JSON); with ``answer``, the answer as the
    wire has it, for the checkout's streams on other processes.

    ``node_ids``: the writer's network's node ids. A shipment names its node
    by position in that network, so the body carries the id of each
    position its plans use (``plan_nodes``): a replica whose ``nodes.csv``
    lists the nodes in another order (or lacks one) reads the plan by id,
    never as another node's. The positions stay, for processes of before
    (which read them as their own positions, as they always did).

    ``network``: the writer's network, whose order cutoff and timezone of
    each node the plans use the body carries (``plan_clocks``, by node
    id): a select on a replica whose ``nodes.csv`` gives the node another
    cutoff is judged by both, and a refusal says that the servers differ
    (it read "cutoff has passed" at the very instant of the offer). So are
    the days of its carrier calendar the plans' dates depend on
    (``plan_calendar``, :mod:`~.plan_calendar`): a ``holidays.csv`` edited
    on one replica only.
    """
    req = quote.request
    body: dict[str, Any] = {
        "request": {
            "customer_id": req.customer_id,
            "items": [
                [s, int(q)] for s, q in zip(req.skus, req.qty.tolist(), strict=True)
            ],
            "dest": req.zip3,
            "preferences": dict(req.preferences),
            "now": req.now.isoformat(),
        },
        "answered_at": quote.answered_at,
        "customer": dict(
            zip(_CUSTOMER_FIELDS, _CUSTOMER_VALUES(quote.customer), strict=True)
        ),
        "options": [
            [o.option_id, o.tier.value, o.nodes, o.pricing.value, o.upgrade_cost]
            for o in quote.options.values()
        ],
        "plans": {  # tuples are written as lists
            tier.value: [_SHIPMENT_VALUES(s) for s in plan]
            for tier, plan in quote.plans.items()
        },
    }
    if node_ids is not None:
        used = {s.node for plan in quote.plans.values() for s in plan}
        body["plan_nodes"] = {str(j): node_ids[j] for j in sorted(used)}
        if network is not None:
            body["plan_clocks"] = {
                network.node_ids[j]: node_clock(network, j) for j in sorted(used)
            }
            view = plans_view(
                network.calendar,
                req.now,
                (s for plan in quote.plans.values() for s in plan),
            )
            if view is not None:
                body["plan_calendar"] = view.to_json()
    if answer is not None:
        body["answer"] = answer
    # pydantic-core's encoder: the same JSON values as ``json.dumps`` (floats
    # in their shortest exact form) in about half the time
    return pydantic_core.to_json(body).decode()


def decode_quote(stored: StoredQuote, requests: RequestValidator) -> Quote:
    """A stored quote, its request validated again against the network and
    its plans' nodes read by id (``plan_nodes``; a body without them, from a
    process of before, by position).

    Raises
    ------
    InputError
        At ``request_id`` (409): the quote names a SKU, destination or node
        this server's network lacks (another server of the store, on
        another network, answered it). It was a 422 at ``items[0].sku``, a
        field the select's body does not have, and a node past this
        network's last an ``IndexError`` (500).
    """
    body = json.loads(stored.body)
    r = body["request"]
    try:
        req = requests.parse(
            r["customer_id"],
            [(s, int(q)) for s, q in r["items"]],
            r["dest"],
            r["preferences"],
            dt.datetime.fromisoformat(r["now"]),
        )
    except InputError as exc:
        what = {"sku": "SKU", "dest": "destination"}.get(exc.field or "", exc.field)
        raise other_network(stored.request_id, f"{what} {exc.value!r}") from exc
    node_at = _node_positions(stored.request_id, body, requests.network.node_index)
    options = {
        o[0]: OfferedOption(o[0], Tier(o[1]), tuple(o[2]), Pricing(o[3]), float(o[4]))
        for o in body["options"]
    }
    plans = {
        Tier(tier): tuple(
            PlannedShipment(**dict(zip(_SHIPMENT_FIELDS, _shipment(s), strict=True)))
            for s in ships
        )
        for tier, ships in body["plans"].items()
    }
    if node_at is not None:
        plans = {
            tier: tuple(dataclasses.replace(s, node=node_at[s.node]) for s in plan)
            for tier, plan in plans.items()
        }
    return Quote(
        req,
        stored.revision,
        CustomerValue(**body["customer"]),
        options,
        plans,
        stored.expires_at,
        stored.closed,
        body.get("answered_at"),
        _clocks(body.get("plan_clocks")),
        CalendarView.from_json(body.get("plan_calendar")),
    )


def node_clock(network: Network, node: int) -> NodeClock:
    """The order cutoff (minutes after local midnight) and timezone of the
    node at position ``node`` of ``network``."""
    return int(network.cutoff_minutes[node]), network.timezones[network.node_tz[node]]


def clock_text(clock: NodeClock) -> str:
    """A node's cutoff and timezone as ``nodes.csv`` writes them:
    ``15:00 America/Chicago``."""
    minutes, timezone = clock
    return f"{minutes // 60:02d}:{minutes % 60:02d} {timezone}"


def _clocks(written: Mapping[str, Any] | None) -> dict[str, NodeClock] | None:
    """The stored ``plan_clocks`` as node clocks (None: none stored)."""
    if written is None:
        return None
    return {node: (int(c[0]), str(c[1])) for node, c in written.items()}


def _node_positions(
    request_id: str, body: Mapping[str, Any], node_index: Mapping[str, int]
) -> dict[int, int] | None:
    """This network's position of each node position the writer's plans
    use; None when they are the same (the writer served this network)."""
    written = body.get("plan_nodes")
    if written is None:
        return None
    node_at: dict[int, int] = {}
    for position, node_id in written.items():
        here = node_index.get(node_id)
        if here is None:
            raise other_network(request_id, f"node {node_id!r}")
        node_at[int(position)] = here
    if all(k == v for k, v in node_at.items()):
        return None
    return node_at


class OtherNetwork(InputError):
    """A stored option set names a node, SKU or destination this server's
    network lacks: another server of the store, on another network,
    answered it. Not "unknown" (404): the checkout is open, elsewhere."""


def other_network(request_id: str, what: str) -> OtherNetwork:
    """The refusal of a checkout naming ``what`` (``node 'WH-NYC'``), which
    this server's network lacks."""
    return OtherNetwork(
        f"{what} of this checkout is not in this server's network: a server "
        "of the store serving another network answered it (every server of "
        "a store must serve the same network)",
        field="request_id",
        value=request_id,
    )


def _shipment(values: list[Any]) -> list[Any]:
    """JSON lists back to the tuple the shipment's ``lines`` is."""
    return [tuple(v) if isinstance(v, list) else v for v in values]
