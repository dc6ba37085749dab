"""Online tiering at checkout: ``OnlineRouter.generate_fulfillment_options``.

One thin call answers a checkout in about a millisecond::

    router = OnlineRouter.open(network=None, state="state.db")  # None: the sample
    options = router.generate_fulfillment_options(
        "C000123", [("ELE-0042", 1), ("APP-0008", 2)], "10001"
    )
    choice = router.select(options.request_id, options.recommended)
    router.confirm(options.request_id)  # or router.cancel(...)

:class:`OnlineRouter` is the facade over the checkout's parts (request
validation, live context, planner, option builder, quotes, holds); what each
tier means and how it is decided is in ``docs/checkout.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.capacity.events import CapacityEvent, parse_event
from tierflow.capacity.monitor import CapacityMonitor, IngestResult
from tierflow.data.errors import InputError, TierflowError
from tierflow.data.extras import MissingExtraError
from tierflow.data.limits import MAX_ID_LENGTH, require_number
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import (
    QuoteChanged,
    QuoteState,
    SchemaTooNew,
    ScoreStore,
    StateStore,
    StoreBroken,
    StoreUnavailable,
    default_state_location,
    is_postgres_url,
    open_store,
)
from tierflow.data.vocabulary import HoldStatus
from tierflow.formulations.online_pricing import OrderPricer
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.bid_prices import (
    BidPrices,
    ForecastBidPrices,
    StoreBidPrices,
)
from tierflow.orchestration.checkout.customer_value import CustomerValues
from tierflow.orchestration.checkout.day_forecast import DayForecaster, LiveDemand
from tierflow.orchestration.checkout.fallback import STORE_ERRORS, public_reason
from tierflow.orchestration.checkout.holds import Holds
from tierflow.orchestration.checkout.live_context import LiveContext
from tierflow.orchestration.checkout.options import OptionBuilder
from tierflow.orchestration.checkout.planner import Planner
from tierflow.orchestration.checkout.quotes import (
    KeyTaken,
    OtherNetwork,
    QuoteBook,
    new_request_id,
    request_digest,
)
from tierflow.orchestration.checkout.request import CheckoutRequest, RequestValidator
from tierflow.orchestration.checkout.results import (
    WATCHED_FIELDS,
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    option_changes,
    parse_items,
)
from tierflow.orchestration.checkout.timing import StageTimer, Stopwatch
from tierflow.orchestration.checkout.upgrades import UpgradeAllowances
from tierflow.orchestration.checkout.wire import from_wire

__all__ = [
    "WATCHED_FIELDS",
    "CheckoutResult",
    "CustomerValue",
    "FulfillmentOption",
    "OnlineRouter",
    "OptionSet",
    "Shipment",
    "new_request_id",
    "option_changes",
    "parse_items",
]


class OnlineRouter:
    """Answers checkouts with tiered fulfillment options (``docs/checkout.md``).

    Build it with :meth:`open`; the constructor takes ready-made parts. Its
    methods are thread-safe. Option sets, holds and orders live in the
    store, so any number of routers (processes, replicas) on one store
    answer any call of any checkout.
    """

    def __init__(
        self,
        network: Network,
        store: StateStore | None,
        monitor: CapacityMonitor,
        *,
        policy: TierPolicy | None = None,
        bid_prices: BidPrices | None = None,
        reservation_ttl_s: float = 900.0,
        quote_ttl_s: float = 1800.0,
        capacity_refresh_s: float = 1.0,
        cltv_refresh_s: float = 60.0,
        max_open_quotes: int = 100_000,
        profile: bool = False,
        notes: Sequence[str] = (),
        capacity_max_age_s: float | None = None,
        demand: DemandForecast | None = None,
        request_ids: Callable[[], str] | None = None,
    ) -> None:
        _check_settings(
            reservation_ttl_s=reservation_ttl_s,
            quote_ttl_s=quote_ttl_s,
            capacity_refresh_s=capacity_refresh_s,
            cltv_refresh_s=cltv_refresh_s,
            max_open_quotes=max_open_quotes,
            capacity_max_age_s=capacity_max_age_s,
        )
        self.network = network
        self.store = store
        #: Where the store lives (a SQLite path or a PostgreSQL URL), also
        #: while it cannot be opened; None for a router without one.
        self.location: str | None = None if store is None else store.location
        #: Why the store could not be opened, whole (its location too): for
        #: the operator (``serve``'s banner); answers say :attr:`unavailable_store`.
        self.store_error = ""
        self.monitor = monitor
        self.policy = policy or TierPolicy()
        self._default_bid_prices = bid_prices is None
        if bid_prices is None:
            bid_prices = _default_bid_prices(network, store, monitor, self.policy)
        self.bid_prices = bid_prices
        self._timer = StageTimer(profile)
        #: Where new request ids come from (:func:`new_request_id`, or a
        #: simulation's seeded ids: :meth:`open`'s ``request_ids``).
        self._new_request_id = request_ids or new_request_id
        self._lock = threading.RLock()
        self._requests = RequestValidator(network)
        customers = CustomerValues(store, self.policy, cltv_refresh_s)
        allowances = UpgradeAllowances(store, self.policy)
        self._customers, self._allowances = customers, allowances
        #: Where the store is to be opened again (:meth:`reconnect`): set by
        #: :meth:`open` when it could not open the store it was given by location.
        self._reopen: Callable[[], tuple[StateStore | None, Exception | None]] | None
        self._reopen = None
        self._live = LiveContext(
            network,
            store,
            monitor,
            bid_prices,
            customers,
            capacity_refresh_s=capacity_refresh_s,
            open_notes=notes,
            allowances=allowances,
            capacity_max_age_s=capacity_max_age_s,
            lock=self._lock,
        )
        pricer = OrderPricer(network, self.policy)
        self._planner = Planner(network, self.policy, pricer, monitor)
        self._options = OptionBuilder(network, self.policy)
        self._quotes = QuoteBook(
            quote_ttl_s, max_open_quotes, store=store, requests=self._requests
        )
        self._holds = Holds(
            network, store, self._quotes, reservation_ttl_s, allowances, monitor
        )
        #: The rest-of-day forecast from today's orders (``None``: off; the
        #: forecast term is then what ``forecast`` events set).
        self.demand = (
            None
            if demand is None
            else LiveDemand(DayForecaster(network, demand), monitor, self._lock)
        )

    @classmethod
    def open(
        cls,
        network: Network | Path | str | None = None,
        state: StateStore | Path | str | None = None,
        *,
        policy: TierPolicy | None = None,
        bid_prices: BidPrices | None = None,
        reservation_ttl_s: float = 900.0,
        quote_ttl_s: float = 1800.0,
        capacity_refresh_s: float = 1.0,
        cltv_refresh_s: float = 60.0,
        max_open_quotes: int = 100_000,
        profile: bool = False,
        capacity_max_age_s: float | None = None,
        demand: DemandForecast | None = None,
        store_wait_s: float | None = None,
        serve_newer_schema: bool = False,
        store_answer_s: float | None = None,
        request_ids: Callable[[], str] | None = None,
        make_store: bool = True,
    ) -> OnlineRouter:
        """A router on a network folder (None: the embedded sample) and a store.

        Parameters
        ----------
        network
            A :class:`~tierflow.data.network.Network` or its folder (None: sample).
        state
            A :class:`~tierflow.data.store.StateStore` or where it lives (a
            SQLite path or a PostgreSQL URL, opened by
            :func:`~tierflow.data.store.open_store`); None for the default
            (``$TIERFLOW_STATE`` or the user data folder). A store
            without inventory is seeded from the network's ``inventory``.
            If it cannot be opened, the router still answers (degraded,
            without reservations) and says so in every answer; one that
            cannot be a store (``InputError``), whose schema is newer
            than this code's (``SchemaTooNew``), that can never open as
            it is (``StoreBroken``: a damaged file, a failing migration, a
            PostgreSQL login refused for its password, role or database) or
            a PostgreSQL URL without the ``postgres`` extra
            (``MissingExtraError``) is refused.
        policy
            Tier policy (default :class:`~tierflow.formulations.tiers.TierPolicy`).
        bid_prices
            Bid-price source (default: the allocator's stored prices, else
            the forecast LP estimate; :mod:`tierflow.orchestration.bid_prices`).
        reservation_ttl_s, quote_ttl_s
            How long a selected option's stock is held; how long an option
            set can be selected from.
        capacity_refresh_s, cltv_refresh_s
            How often the event log and the CLTV threshold are re-read.
        max_open_quotes
            Decoded option sets cached in memory at most (oldest dropped;
            the store keeps them all until they expire).
        profile
            Record per-stage durations in :attr:`timings` (benchmarks).
        capacity_max_age_s
            An answer whose capacity map's newest event is older than this
            (before the checkout instant) is ``degraded``, with a note
            (None: never).
        demand
            Feed each node's rest-of-day forecast from this demand forecast
            and today's confirmed orders (:attr:`demand`, refreshed by the
            caller, e.g. the service's capacity follower); None: off.
        store_wait_s
            How long a call waits for the store's write lock (SQLite) or for
            a pooled connection (PostgreSQL) before it fails (None: the
            store's default); for a ``state`` given by location.
        store_answer_s
            How long a call waits for a PostgreSQL server's answer once sent
            (None: for ever): a hung server is then a store unavailable.
        serve_newer_schema
            Answer degraded from a store whose schema is newer than this
            code's, saying so, instead of refusing it: for a server's worker,
            which a refusal would only have its supervisor start again and
            again (the supervisor itself refuses such a store at its start).
        request_ids
            Makes each new request id (default :func:`new_request_id`,
            unguessable): a reproducible simulated day's
            (``tierflow simulate --deterministic``) are drawn from its seed.
        make_store
            False: a SQLite file missing at ``state`` is a store unavailable
            (and so at each retry), never a new one made there: a server's
            worker opens the file its supervisor opened, and one restarted
            after the file was deleted made a new, empty store and served it.
        """
        timing: dict[str, Any] = {
            "reservation_ttl_s": reservation_ttl_s,
            "quote_ttl_s": quote_ttl_s,
            "capacity_refresh_s": capacity_refresh_s,
            "cltv_refresh_s": cltv_refresh_s,
            "max_open_quotes": max_open_quotes,
            "capacity_max_age_s": capacity_max_age_s,
        }
        _check_settings(**timing)  # before the store is opened (or created)
        net = network if isinstance(network, Network) else _load(network)
        monitor = CapacityMonitor(net, snapshot_every=0)
        store, failure = _open_state(
            net,
            state,
            monitor,
            store_wait_s,
            refuse_newer=not serve_newer_schema,
            answer_s=store_answer_s,
            make=make_store,
        )
        try:
            router = cls(
                net, store, monitor, policy=policy, bid_prices=bid_prices,
                profile=profile, demand=demand, request_ids=request_ids, **timing,
            )  # fmt: skip
        except BaseException:  # the store opened here is closed here
            if store is not None and store is not state:
                store.close()
            raise
        if store is None:  # (given by location: a store object is never None)
            assert failure is not None
            router._still_unavailable(failure)
            where = default_state_location() if state is None else state
            router._reopen = functools.partial(
                _open_state,
                net,
                where,
                None,
                store_wait_s,
                refuse_newer=False,
                answer_s=store_answer_s,
                lock_wait_s=RECONNECT_LOCK_WAIT_S,
                make=make_store,
            )
            router.location = str(where)
        return router

    @property
    def reconnectable(self) -> bool:
        """Whether the router answers without the store it was given by
        location, and :meth:`reconnect` may yet open it."""
        return self.store is None and self._reopen is not None

    def reconnect(self) -> bool:
        """Open the store that :meth:`open` could not (the database away, out
        of connections); whether the router has its store now.

        A server that started during an outage answers degraded meanwhile;
        once the store opens, the router answers from it as if it had
        started with it: the capacity map rebuilt from the event log, CLTV
        scores, stock, reservations, the allocator's bid prices. Option sets
        answered meanwhile are written to the store then, so that any
        worker or replica takes them. False at once for a router given a
        store object, or built from parts.
        """
        if self.store is not None:
            return True
        if self._reopen is None:
            return False
        try:
            store, failure = self._reopen()
        except TierflowError as exc:  # a location that cannot be a store
            store, failure = None, exc
        if store is None:
            assert failure is not None
            self._still_unavailable(failure)
            return False
        with self._lock:
            try:
                self.monitor.attach(store)
            except STORE_ERRORS as exc:
                store.close()
                self._still_unavailable(exc)
                return False
            if self._default_bid_prices:
                self.bid_prices = _default_bid_prices(
                    self.network, store, self.monitor, self.policy
                )
            for part in (self._customers, self._allowances, self._quotes, self._holds):
                part.store = store
            self._live.attach(store, self.bid_prices)
            self.store, self.store_error = store, ""
        self._quotes.save_open()  # answered meanwhile: for every worker now
        return True

    def store_remade(self) -> None:
        """The store was made again under this router (restored from a dump,
        its tables made again): answer from it as from a store just opened.
        The capacity map is rebuilt from its snapshot and log, and what was
        kept of the old one is dropped: the scores read, the bid prices, the
        day's orders behind the forecast, the option sets decoded (those
        the store never had stay, to be written). The store is read first,
        under the lock: if that fails, the router is left as it was (the
        caller tries again)."""
        store = self.store
        if store is None:
            return
        with self._lock:
            self.monitor.attach(store)
            if self._default_bid_prices:
                self.bid_prices = _default_bid_prices(
                    self.network, store, self.monitor, self.policy
                )
            self._customers.forget()
            self._live.attach(store, self.bid_prices)
            if self.demand is not None:
                self.demand.forget()
        self._quotes.forget_stored()

    def _still_unavailable(self, failure: Exception) -> None:
        """Why the store could not be opened, last: whole for the operator
        (:attr:`store_error`), without its location in every answer (a
        database back with a newer schema is no longer "does not exist")."""
        self.store_error = _unavailable_note(str(failure))
        self._live.open_notes = (_unavailable_note(public_reason(failure)),)

    def close(self) -> None:
        """Close the store connection."""
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def profile(self) -> bool:
        """Whether per-stage durations are recorded in :attr:`timings`."""
        return self._timer.enabled

    @property
    def timings(self) -> dict[str, list[int]]:
        """Per-stage durations (ns) of every call, when ``profile`` is on."""
        return self._timer.timings

    @property
    def quote_ttl_s(self) -> float:
        """How long an answer's option set stays open (seconds)."""
        return self._quotes.ttl_s

    @property
    def lock(self) -> threading.RLock:
        """Held while the capacity map or its rest-of-day forecast changes
        (and while an answer is planned): hold it to read them together."""
        return self._lock

    # ------------------------------------------------------------- answering
    def generate_fulfillment_options(
        self,
        customer_id: str,
        items: Iterable[tuple[str, int]],
        dest: str,
        *,
        preferences: Mapping[str, float] | None = None,
        now: dt.datetime | None = None,
        idempotency_key: str | None = None,
    ) -> OptionSet:
        """Tiered fulfillment options for one checkout (``docs/checkout.md``).

        Parameters
        ----------
        customer_id
            The customer (unknown ids get the new-customer prior).
        items
            ``[(sku, quantity), …]``; a repeated SKU adds up.
        dest
            Destination ZIP code (``12345``, ``12345-6789``) or 3-digit prefix.
        preferences
            Optional weights ``{"speed", "cost", "eco"}`` (>= 0) for the
            satisfaction score.
        now
            The checkout instant (aware); default the clock.
        idempotency_key
            The client's key of this ask (``Idempotency-Key``): asked again
            with the same request, on any router of the store, the option
            set first made for it is answered again (``replayed``), as it
            stands, and nothing is made; of two asks at once the store keeps
            one and both answer it. Kept with its quote, and pruned with it;
            past the expiry of a set still open a new set takes the key.

        Raises
        ------
        InputError
            Bad input, naming the field (``customer_id``, ``items``, ``sku``,
            ``quantity``, ``dest``, ``preferences.*``, ``now``), or
            ``Idempotency-Key``: the key was asked with another request.
        """
        watch = self._timer.start()
        if idempotency_key is not None:
            items = list(items)
        req = self._requests.parse(customer_id, items, dest, preferences, now)
        watch.lap("validate")
        if idempotency_key is None:
            answer = self._answer(req, self._new_request_id(), 1, watch)
        else:
            key = (
                idempotency_key,
                request_digest(customer_id, items, dest, preferences),
            )
            answer = self._keyed_answer(req, key, watch)
        watch.stop()
        return answer

    def _keyed_answer(
        self, req: CheckoutRequest, key: tuple[str, str], watch: Stopwatch
    ) -> OptionSet:
        """The option set of an ask with an ``Idempotency-Key``: the one
        kept for the key, else a new one kept under it (the one another
        ask kept first, when two raced). A set kept open past its expiry
        is not answered again (no select takes its options): a new one
        takes the key from it, and of retries at once one does and all
        answer it. A store that cannot be read or written answers as
        without the key."""
        try:
            first = self._quotes.for_key(*key)
        except StoreUnavailable:
            return self._answer(req, self._new_request_id(), 1, watch)
        if isinstance(first, OptionSet):
            return first
        renews = None if first is None else first.request_id
        try:
            return self._answer(
                req, self._new_request_id(), 1, watch, key=key, renews=renews
            )
        except KeyTaken:  # another ask's answer holds the key: answer it
            first = self._quotes.for_key(*key)
        if not isinstance(first, OptionSet):  # pruned, or expired, at once
            raise StoreUnavailable("the option set of this key could not be read")
        return first

    def requote(
        self,
        request_id: str,
        *,
        now: dt.datetime | None = None,
        customer_id: str | None = None,
    ) -> OptionSet:
        """Answer an open request again with the current capacity, stock and prices.

        Same ``request_id`` and option ids, ``revision`` + 1 (a held option
        keeps its hold, the option set its first answer's expiry). Any router
        on the store can requote any open request. ``InputError`` for an
        unknown, expired or finished request; a ``customer_id``, when given,
        must be the checkout's (``CustomerMismatch`` first, as for
        :meth:`select`: another customer learns nothing of its state).

        One answer per revision: the store keeps the new one only if the
        revision it was answered from is still the stored one. When another
        router requoted the request in between (two replicas, or two tabs,
        at once), this answer is dropped and the one the store kept is
        answered instead, whole (its revision, dates and prices, made on the
        other router's map and clock): every answer is then the store's, so
        a select of it on any router holds what it says. Two answers of one
        revision used to be kept, one by the store and one by the losing
        router, whose select held its own plan while every other router held
        the store's under the same revision and option id. A stored revision
        without its answer (written after an outage) is answered again on
        top of it.
        """
        watch = self._timer.start()
        for _ in range(_REQUOTE_TRIES):
            old = self._quotes.get(_request_id(request_id), customer_id)
            try:
                return self._answer(
                    old.request.at(now),
                    request_id,
                    old.revision + 1,
                    watch,
                    old.expires_at,
                    replaces=old.revision,
                )
            except QuoteChanged:  # another router's answer of it was stored first
                stored = self._quotes.adopt(request_id)
            if stored is not None:
                return from_wire(OptionSet, stored)
        raise InputError(
            "the option set kept changing (requoted on another server): requote again",
            field="request_id",
            value=request_id,
        )

    def _answer(
        self,
        req: CheckoutRequest,
        request_id: str,
        revision: int,
        watch: Stopwatch,
        expires_at: float | None = None,
        *,
        replaces: int | None = None,
        key: tuple[str, str] | None = None,
        renews: str | None = None,
    ) -> OptionSet:
        """Read the live context (the capacity map under the lock, the store
        without it), plan every tier and build the answer (under the lock),
        then remember it (in the store, outside the lock; an answer the
        store could not take carries its marked id, ``quotes.kept_id``).
        ``replaces``: a requote's revision read (``QuoteChanged`` when the
        store holds another since: this answer was not kept); a requote
        counts the checkout's own hold as its stock. ``key``: a first
        answer's ``Idempotency-Key`` and digest (``KeyTaken``: another
        answer holds it); ``renews``: the expired set it takes the key
        from."""
        held_by = None if replaces is None else request_id
        ctx = self._live.read(req, watch, held_by=held_by)
        with self._lock:
            plans = self._planner.plan(req, ctx, watch)
            answer = self._options.build(req, ctx, plans, request_id, revision)
            watch.lap("build")
        # the wall clock the quotes expire by (not the checkout's own clock)
        answered = time.time()
        expiry = answered + self._quotes.ttl_s if expires_at is None else expires_at
        answer = dataclasses.replace(
            answer, expires_at=dt.datetime.fromtimestamp(expiry, dt.UTC)
        )
        kept = self._quotes.remember(
            req,
            answer,
            plans.by_tier,
            expires_at=expires_at,
            replaces=replaces,
            now=answered,
            key=key,
            renews=renews,
        )
        watch.lap("remember")
        if kept != answer.request_id:  # answered without the store: marked
            answer = dataclasses.replace(answer, request_id=kept)
        return answer

    # -------------------------------------------------------------- capacity
    def apply_capacity_events(
        self,
        events: Sequence[CapacityEvent | Mapping[str, Any]],
        *,
        received: dt.datetime | None = None,
    ) -> IngestResult:
        """Validate, log and apply capacity events (operators, feeds) at once.

        Dicts follow the JSON-lines contract of :mod:`tierflow.capacity.events`; the
        next answer (or :meth:`requote`) sees them. ``received``: the clock
        of live events, which they may pass by a few minutes at most (a
        simulated day's are scripted ahead). ``InputError`` names the first
        bad event's field; nothing is applied then.
        """
        parsed = [
            e
            if isinstance(e, CapacityEvent)
            else parse_event(dict(e), self.network, row=i, received=received)
            for i, e in enumerate(events, start=1)
        ]
        with self._lock:
            return self.monitor.ingest(parsed)

    @property
    def unavailable_store(self) -> tuple[str, ...]:
        """Why the router runs without a store (empty when it has one): the
        note every answer repeats, without the store's location."""
        return self._live.open_notes

    def serving_from(self, now: dt.datetime) -> None:
        """A server starts answering at ``now``: a capacity map that hears no
        event at all is flagged stale ``capacity_max_age_s`` after it."""
        self._live.serving_from(now)

    @property
    def capacity_unread(self) -> str:
        """Why the last read of the capacity event log failed ("" when it
        did not): other processes' events may be missing from the map."""
        return self._live.unread_note

    @property
    def schema_note(self) -> str:
        """Why this router's writes are refused ("": they are not): its store
        was migrated past this code's schema while it ran."""
        return self._live.schema_note

    def schema_moved_on(self, why: str) -> None:
        """The store's schema is newer than this code's (``why``; "": no
        longer): every answer says so (the store refuses the writes)."""
        self._live.schema_note = why

    def capacity_staleness(self, now: dt.datetime) -> str:
        """Why the capacity map is stale at ``now`` ("" when it is not; see
        ``capacity_max_age_s``)."""
        return self._live.staleness(now)

    def refresh(self) -> bool:
        """Pull the capacity events other processes logged, now.

        Returns whether the capacity map changed (then :meth:`requote` the
        open requests to show new dates and prices). False when the store
        cannot be read.
        """
        return self._live.pull_capacity()  # reads the log outside the lock

    def load_scores(self, store: ScoreStore | None = None) -> bool:
        """Read the latest day of CLTV scores whole, when their version moved
        and the day holds at most 50,000 (``CustomerValues.load_day``): no
        answer reads a score then. Off the request path (a server's startup,
        its capacity follower with its own connection, ``store``); whether
        a day was read."""
        return self._customers.load_day(store)

    # ------------------------------------------------------ quotes and holds
    def save_unsaved(self) -> int:
        """Write the option sets answered while the store could not be
        written, now (for every replica); how many."""
        return self._quotes.save_unsaved()

    def dropped_revision(self, request_id: str) -> int | None:
        """The revision of a requote answered here while the store could not
        be written and dropped when it could, another process's answer of
        that revision stored first (None: none; ``QuoteBook.save_unsaved``):
        the live hub sends this process's streams the stored one."""
        return self._quotes.dropped_revision(request_id)

    def open_requests(self) -> list[str]:
        """Ids of the option sets cached in this process (oldest first)."""
        return self._quotes.ids()

    def watched_quotes(self, request_ids: Sequence[str]) -> dict[str, QuoteState]:
        """The stored revision and ending of each of ``request_ids`` (by any
        process; one store read; {} without a readable store)."""
        if self.store is None or not request_ids:
            return {}
        try:
            return self.store.quote_states(request_ids)
        except STORE_ERRORS:
            return {}

    def stored_answer(self, request_id: str) -> tuple[int, dict[str, Any]] | None:
        """An open checkout's stored revision and its answer on the wire, as
        the process that requoted it stored it (None: not stored with it,
        not open, or the store cannot be read)."""
        try:
            return self._quotes.stored_answer(_request_id(request_id))
        except STORE_ERRORS:
            return None

    def is_open(self, request_id: str) -> bool:
        """Whether a request's options are open (known to the store or this
        process, not expired, its checkout not over).

        Raises
        ------
        OtherNetwork
            The open checkout names a node, SKU or destination this router's
            network lacks (said, not "unknown": it is open on the servers of
            the network that answered it).
        """
        try:
            self._quotes.get(_request_id(request_id))
        except OtherNetwork:
            raise
        except InputError:
            return False
        return True

    def select(
        self,
        request_id: str,
        option_id: str,
        *,
        now: dt.datetime | None = None,
        customer_id: str | None = None,
    ) -> CheckoutResult:
        """Hold the chosen option's stock (atomic, TTL ``reservation_ttl_s``).

        Any option may be chosen (overriding the recommendation); choosing
        another one later swaps the hold. Status ``rejected`` when the stock
        is gone since the options were made (generate them again),
        ``unavailable`` when the store cannot be written. A ``customer_id``,
        when given, must be the checkout's.

        Raises
        ------
        InputError
            Unknown or expired request, unknown option, or a checkout already
            confirmed or cancelled; ``CustomerMismatch`` for another customer.
        """
        return self._holds.select(_request_id(request_id), option_id, now, customer_id)

    def confirm(
        self,
        request_id: str,
        *,
        now: dt.datetime | None = None,
        customer_id: str | None = None,
    ) -> CheckoutResult:
        """Turn the held option into an order for the next allocation batch.

        Idempotent: a repeat answers as the first confirm did. The order's
        work counts against its nodes' capacity at once (a ``backlog_delta``
        event per node, logged with the order), on every router of the store.

        Raises
        ------
        InputError
            Unknown request, nothing selected yet, a cancelled checkout, or a
            hold that expired (select again); ``CustomerMismatch``.
        """
        result, logged = self._holds.confirm(
            _request_id(request_id),
            now,
            customer_id,
            events_after=self._live.monitor.last_seq,
        )
        if result.status == HoldStatus.CONFIRMED:  # the order's work, at once
            if logged is None:
                self.refresh()
            else:  # the log as the confirm committed: read with it
                self._live.apply_pulled(logged)
        return result

    def cancel(
        self,
        request_id: str,
        *,
        now: dt.datetime | None = None,
        customer_id: str | None = None,
    ) -> CheckoutResult:
        """Release the held stock (idempotent); a request never selected is closed.

        Raises
        ------
        InputError
            Unknown request, or a confirmed checkout; ``CustomerMismatch``.
        """
        return self._holds.cancel(_request_id(request_id), now, customer_id)


#: Answers a requote makes at most while other routers requote the same
#: request in between and the store holds their revision without its answer
#: (one written after an outage): else it adopts the stored answer at once.
_REQUOTE_TRIES = 5


#: The longest a hold or a quote may live (seconds): 30 days, far beyond any
#: checkout; a longer one keeps stock out of sale for good (and 10**30 s
#: overflowed the expiry's timestamp after the hold was stored).
MAX_TTL_S = 30 * 86_400.0
#: The longest a refresh interval or a map's allowed age may be (seconds).
MAX_INTERVAL_S = 366 * 86_400.0
#: How long :meth:`OnlineRouter.reconnect`'s migration of an older store
#: waits for each lock on its tables (PostgreSQL; the first open waits the
#: router's ``store_wait_s``): its request queues every other user of the
#: table behind it, so a replica retrying every second behind a session idle
#: in a transaction stalled them 5 s of every 6.
RECONNECT_LOCK_WAIT_S = 0.1


def _check_settings(
    *,
    reservation_ttl_s: float,
    quote_ttl_s: float,
    capacity_refresh_s: float,
    cltv_refresh_s: float,
    max_open_quotes: int,
    capacity_max_age_s: float | None,
) -> None:
    """The router's settings, before anything is opened or stored."""
    require_number(reservation_ttl_s, "reservation_ttl_s", 0, MAX_TTL_S, low_open=True)
    require_number(quote_ttl_s, "quote_ttl_s", 0, MAX_TTL_S, low_open=True)
    require_number(capacity_refresh_s, "capacity_refresh_s", 0, MAX_INTERVAL_S)
    require_number(cltv_refresh_s, "cltv_refresh_s", 0, MAX_INTERVAL_S)
    require_number(max_open_quotes, "max_open_quotes", 1, 10_000_000, integer=True)
    if capacity_max_age_s is not None:
        require_number(
            capacity_max_age_s, "capacity_max_age_s", 0, MAX_INTERVAL_S, low_open=True
        )


def _request_id(value: object) -> str:
    """A request id is text (a list once surfaced as "unhashable type", or
    as a store outage from confirm and cancel)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InputError(
            f"must be a request id (text of 1 to {MAX_ID_LENGTH} characters)",
            field="request_id",
            value=value,
        )
    return value


def _load(folder: Path | str | None) -> Network:
    return load_network(folder if folder is not None else sample_network_dir())


def _open_state(
    network: Network,
    state: StateStore | Path | str | None,
    monitor: CapacityMonitor | None,
    wait_s: float | None = None,
    *,
    refuse_newer: bool = True,
    answer_s: float | None = None,
    lock_wait_s: float | None = None,
    make: bool = True,
) -> tuple[StateStore | None, Exception | None]:
    """The store, seeded with the network's inventory, with ``monitor``
    (if any) attached to its event log; None when it cannot be opened, and
    the error (``monitor`` is then left as it was).

    A location that cannot be a store at all (a folder, a CSV file, a path
    under a file: :class:`InputError`) is refused, not served degraded: that
    is a wrong argument, where a database that is down is an outage. So is a
    store whose schema is newer than this code's (:class:`SchemaTooNew`):
    waiting never makes it fit, upgrading tierflow does; and a PostgreSQL
    URL without the ``postgres`` extra (:class:`MissingExtraError`):
    installing it does; and a store that can never open as it is
    (:class:`StoreBroken`: a damaged SQLite file, a migration that fails, a
    PostgreSQL server refusing the URL's password, role or database),
    which it served degraded for ever, retrying every second. With
    ``refuse_newer`` False (a worker, a reconnect) a newer schema and a
    broken store are the failure instead, said in every answer.
    ``lock_wait_s``: a PostgreSQL migration's wait for each lock on its
    tables, if not ``wait_s`` (a reconnect's: :data:`RECONNECT_LOCK_WAIT_S`).
    ``make`` False: a SQLite file that is not there is a store unavailable,
    not made.
    """
    store: StateStore | None = None
    try:
        waits: dict[str, float] = {} if wait_s is None else {"timeout_s": wait_s}
        if answer_s is not None and is_postgres_url(state):
            waits["answer_wait_s"] = answer_s
        if lock_wait_s is not None and is_postgres_url(state):
            waits["lock_wait_s"] = lock_wait_s
        if not make:
            _refuse_a_missing_file(state)
        store = (
            open_store(state, **waits)
            if state is None or isinstance(state, Path | str)
            else state
        )
        store.seed_network_inventory(network)
        if monitor is not None:  # (a reconnect attaches under the router's lock)
            monitor.attach(store)
        return store, None
    except BaseException as exc:  # a Ctrl-C while it seeds too: not left open
        if store is not None and store is not state:
            store.close()
        if isinstance(exc, InputError | SchemaTooNew | StoreBroken | MissingExtraError):
            if isinstance(exc, SchemaTooNew | StoreBroken) and not refuse_newer:
                return None, exc
            raise
        if isinstance(exc, (*STORE_ERRORS, TierflowError)):
            return None, exc
        raise


def _refuse_a_missing_file(state: StateStore | Path | str | None) -> None:
    """:class:`StoreUnavailable` where ``state`` is a SQLite file that is not
    there (a server's worker: it opens the store its supervisor opened, and
    a new one made there would be empty, seeded with the network's stock)."""
    where = default_state_location() if state is None else state
    if (
        isinstance(where, Path | str)
        and not is_postgres_url(where)
        and not Path(where).exists()
    ):
        raise StoreUnavailable(
            "no state store there: the file is gone (deleted or moved since "
            "the server started)",
            location=str(where),
        )


def _unavailable_note(why: str) -> str:
    """What a router without its store says, and what it answers from."""
    return (
        f"state store unavailable ({why}): stock from the network's "
        "inventory, nominal capacity, no CLTV scores, no reservations"
    )


def _default_bid_prices(
    network: Network,
    store: StateStore | None,
    monitor: CapacityMonitor,
    policy: TierPolicy,
) -> BidPrices:
    """The allocator's stored prices, else the forecast LP estimate."""
    fallback = ForecastBidPrices(network, monitor, policy)
    if store is None:
        return fallback
    return StoreBidPrices(store, network, fallback=fallback)
