"""Live updates: capacity changes and the checkouts' new dates and prices, as
server-sent events (``GET /v1/stream``).

:class:`LiveHub` watches the router's capacity map and, when it changes,
sends every stream the map and re-answers the checkouts someone watches;
told of a stock change (:meth:`LiveHub.stock_changed`), it re-answers the
watched checkouts whose carts hold a SKU it changed, and only those.
Who sees what, and the events: ``docs/service.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Container
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from tierflow.data.errors import InputError
from tierflow.data.log_repeats import RepeatedLines
from tierflow.orchestration.checkout.fallback import STORE_ERRORS
from tierflow.orchestration.checkout.router import (
    OnlineRouter,
    OptionSet,
    option_changes,
)
from tierflow.service.capacity_view import capacity_payload, map_version
from tierflow.service.shopper_view import (
    refusal_reason,
    shopper_changes,
    shopper_view,
    shopper_wire,
)
from tierflow.service.wire_response import wire_json

log = logging.getLogger("tierflow.service")

#: Answers kept to diff the next requote against (oldest dropped first; an
#: answer whose quote expired goes sooner, see :meth:`LiveHub.remember`).
MAX_REMEMBERED = 20_000
#: Events queued per subscriber before a slow one is dropped.
QUEUE_SIZE = 64
#: Checkout-clock seconds after which the watched checkouts are answered
#: again though the map did not move: dates follow the clock (a node's
#: cutoff passes, the day turns). A requote keeps the option set's first
#: expiry, so a watched page's options still expire.
REQUOTE_EVERY_S = 60.0
#: Seconds of one update that may go to answering watched checkouts again;
#: the rest wait for the next update (oldest first). Every confirm moves the
#: map, so with the map moving at every update each open checkout page cost
#: a full answer four times a second (0.5 ms each on SQLite): 200 open pages
#: took 40 % of a worker's CPU and about 500 the whole of it, while almost
#: none of those answers changed. With this budget the hub takes at most
#: about a sixth of a worker however many pages are open; up to ~100 pages
#: (SQLite) are all answered again within the update, more are answered in
#: turn over the next ones.
REQUOTE_BUDGET_S = 0.05
#: The same failure of an update or a requote is logged (with its
#: traceback) at most once in this many seconds, with how often it came: a
#: defect that fails every update logged four tracebacks a second.
REPEAT_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One server-sent event.

    ``wire`` is ``data`` as JSON, written once for every stream that sends
    it (None: ``data`` holds a value that is not JSON, left to the stream's
    own encoder). Each stream used to encode the whole map itself through
    FastAPI's ``jsonable_encoder``: 1.5 ms a stream for the sample network's
    17 KB map, on the event loop, so 200 open pages cost 0.3 s of the loop
    at each change of the map.

    ``shopper``: the same event as a stream without the operator's view
    reads it (:mod:`tierflow.service.shopper_view`; of a hub that withholds,
    an ``options`` event, and a ``closed`` event whose reason is worded
    otherwise for the shopper), None where it is this one.
    """

    event: str
    data: dict[str, Any]
    id: int = 0
    wire: str | None = None
    shopper: LiveEvent | None = None


@dataclass(frozen=True, slots=True, eq=False)
class _MapKey:
    """What a capacity event without a note is made of: the map's state
    (the monitor's rebuilds from a store and its ``state_key``) and the
    rest-of-day outlook object (a new one at each estimate, its revision
    not always moved: it is compared by identity, and kept alive here)."""

    state: tuple[int, ...]
    outlook: object | None

    def same(self, other: _MapKey) -> bool:
        """Whether both are of one map (one payload, to the byte)."""
        return self.state == other.state and self.outlook is other.outlook


@dataclass(slots=True)
class _Sent:
    """What a watched checkout's streams were sent (0: nothing): one record
    per checkout in :attr:`LiveHub._sent`, read and written under the hub's
    lock. ``stored``: the revision of the stored answer last sent (another
    process's requote, of which the hub keeps no answer), set by an update's
    worker thread. ``published``: the revision of the last ``options`` event
    sent, set on the event loop (:meth:`LiveHub._publish`). ``replacing``: a
    revision whose stored answer replaces the one this hub sent (a requote
    answered here in an outage and dropped since:
    ``OnlineRouter.dropped_revision``), to be sent though not newer; set by
    the worker thread with ``stored``, taken by the next ``options`` event
    published on the loop."""

    stored: int = 0
    published: int = 0
    replacing: int = 0


@dataclass(eq=False)
class Subscriber:
    """One open stream: the checkout it follows (None: none), whether it
    sends the capacity map's events, and whether its caller reads the
    operator data (``full``; else the events' shopper views). ``revision``:
    that of the last ``options`` event queued (on the event loop)."""

    request_id: str | None
    capacity: bool = True
    full: bool = True
    queue: asyncio.Queue[LiveEvent | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    revision: int = 0


class LiveHub:
    """Fans capacity changes and requotes out to the open streams.

    Parameters
    ----------
    router
        The one router of this process.
    clock
        The checkout instant used for requotes.
    poll_s
        How often to look for capacity events logged by other processes
        (besides the wake-ups of :meth:`notify`).
    min_interval_s
        Least time between two updates: a busy store (every confirmed
        checkout is a capacity event) is published a few times a second.
    requote_every_s
        Seconds of ``clock`` after which the watched checkouts are answered
        again with the map unchanged; only those whose options moved (or
        that ended) are sent.
    timer
        Seconds on a steady clock, for when a remembered answer's quote
        expires (the router's ``quote_ttl_s`` after it was remembered).
    requote_budget_s
        Seconds of :data:`timer` one update may spend answering watched
        checkouts again (at least one is answered); the others stay due, in
        the order they fell due, for the next updates, which follow at once.
        A checkout the store could not answer again (an error of the store)
        is tried again ``poll_s`` later, first in line then; the others go on
        meanwhile.
    withhold
        Some streams read the checkouts' answers without the operator data
        (``serve --operator-reads key``): each ``options`` event carries
        that view too, written once for all of them. The private mode's one
        record in an app (:attr:`withhold`, read-only): its
        ``ServiceState.operator_key`` and its document read it here.
    """

    def __init__(
        self,
        router: OnlineRouter,
        clock: Callable[[], dt.datetime],
        *,
        poll_s: float = 1.0,
        min_interval_s: float = 0.25,
        requote_every_s: float = REQUOTE_EVERY_S,
        timer: Callable[[], float] = time.monotonic,
        requote_budget_s: float = REQUOTE_BUDGET_S,
        withhold: bool = False,
    ) -> None:
        self.router = router
        self._withhold = bool(withhold)
        self.clock = clock
        self.poll_s = float(poll_s)
        self.min_interval_s = float(min_interval_s)
        self.requote_every_s = float(requote_every_s)
        self._requoted_at: dt.datetime | None = None  # the clock, last requotes
        self._closed_read = -math.inf  # the timer, last read of ended checkouts
        #: request id → what its streams were sent (:class:`_Sent`); kept
        #: while the checkout is watched, dropped when it ends
        self._sent: dict[str, _Sent] = {}
        self._subs: set[Subscriber] = set()
        #: Every stream subscribed and not yet unsubscribed, those dropped
        #: (a full queue, the hub closed) included: their connections are
        #: open until their requests end.
        self._open: set[Subscriber] = set()
        self.timer = timer
        self.requote_budget_s = float(requote_budget_s)
        #: Watched checkouts due to be answered again, in the order they fell
        #: due (a request id is due once however often the map moves).
        self._due: OrderedDict[str, None] = OrderedDict()
        #: Watched checkouts the store failed to answer again, due again
        #: (first in line) from ``_retry_at`` on the timer.
        self._retry: dict[str, None] = {}
        self._retry_at = -math.inf
        #: request id → (answer, capacity version, when its quote expires)
        self._answers: OrderedDict[str, tuple[OptionSet, tuple[int, ...], float]] = (
            OrderedDict()
        )
        #: _answers, _sent and _seq, shared with worker threads
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._seen = map_version(router)
        self._stale = False  # the map's staleness at the last update
        self._seq = 0
        #: SKUs whose stock changed since the last update (under ``_lock``)
        self._stock_news: set[str] = set()
        #: The latest capacity event built of a map without a note, and what
        #: that map was made of (:meth:`_map_of`), for the next streams
        #: that open on the same map (under ``_lock``)
        self._last_map: tuple[_MapKey, LiveEvent] | None = None
        self._said = RepeatedLines(REPEAT_EVERY_S)
        self.closed = False

    # ---------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start watching (from the app's lifespan, on its event loop)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.closed = False
        self._task = asyncio.create_task(self._run(), name="tierflow-live-hub")

    async def stop(self) -> None:
        """Stop watching and end every stream."""
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def close(self) -> None:
        """End every stream (their generators return); call on the loop."""
        self.closed = True
        for sub in list(self._subs):
            self._put(sub, None)
        self._subs.clear()

    @property
    def withhold(self) -> bool:
        """Whether some streams read the shopper's view (the private mode,
        ``serve --operator-reads key``): fixed when the hub is made."""
        return self._withhold

    @property
    def n_subscribers(self) -> int:
        """Streams the hub sends to."""
        return len(self._subs)

    @property
    def n_streams(self) -> int:
        """Streams whose requests have not ended: those the hub sends to and
        those it dropped (a client that did not read) whose connections
        are still open (what the server's ceiling of streams counts)."""
        return len(self._open)

    # ------------------------------------------------------------ inputs
    def remember(self, answer: OptionSet, version: tuple[int, ...]) -> None:
        """Keep an answer (made on capacity ``version``) to diff requotes against.

        It is kept until its quote expires (the router's ``quote_ttl_s``
        from now: a requote remembers it again, as the quote book does) or
        :data:`MAX_REMEMBERED` newer answers push it out. The answers are in
        the order they were remembered, so with one TTL the oldest expires
        first: each call drops expired answers from that end, and stops at
        the first live one (a few per call, never a scan).
        """
        now = self.timer()
        expires = now + self.router.quote_ttl_s
        with self._lock:
            answers = self._answers
            answers[answer.request_id] = (answer, version, expires)
            answers.move_to_end(answer.request_id)
            while answers and (
                len(answers) > MAX_REMEMBERED or next(iter(answers.values()))[2] < now
            ):
                answers.popitem(last=False)

    @property
    def n_due(self) -> int:
        """Watched checkouts due to be answered again (now, or once the
        store failed them, ``poll_s`` later)."""
        return len(self._due) + len(self._retry)

    @property
    def n_remembered(self) -> int:
        """Answers kept to diff requotes against."""
        with self._lock:
            return len(self._answers)

    def __contains__(self, request_id: object) -> bool:
        """Whether the hub keeps an answer of ``request_id``."""
        with self._lock:
            return request_id in self._answers

    def forget(self, request_id: str, outcome: str) -> None:
        """Drop a checkout finished here (``outcome``: confirmed or
        cancelled); its watchers get ``closed`` in the words a watcher on
        another process gets (``checkout already confirmed``: this process
        said "checkout finished", another the outcome)."""
        with self._lock:
            self._answers.pop(request_id, None)
            self._sent.pop(request_id, None)
        loop = self._loop
        if loop is None or self.closed:
            return
        on_loop = _running_loop() is loop  # a route: no need to wake the loop
        if on_loop and all(sub.request_id != request_id for sub in self._subs):
            # no stream of it here: streams open on this loop only, and one
            # opened after this reads the checkout's end from the store
            return
        data = closed_data(request_id, f"checkout already {outcome}")
        if on_loop:
            loop.call_soon(self._close_watchers, request_id, data)
        else:
            loop.call_soon_threadsafe(self._close_watchers, request_id, data)

    def notify(self) -> None:
        """The capacity map may have changed: update now (thread-safe)."""
        if self._loop is not None and self._wake is not None and not self.closed:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stock_changed(self, skus: Collection[str]) -> None:
        """The stock of ``skus`` changed (a count, a receipt, a WMS
        snapshot; committed by any process): at the next update, at once,
        the watched checkouts whose carts hold one of them fall due to be
        answered again, as after a move of the map (their streams are sent
        the options that moved); the others are not answered (a count of a
        thousand positions answered every open page again). Thread-safe.
        Unsent, an open page kept offering a node whose stock was counted
        to 0 (its select refused 409) and never offered the faster node a
        receipt made possible."""
        with self._lock:
            self._stock_news.update(skus)
        self.notify()

    # -------------------------------------------------------- subscribing
    async def subscribe(
        self, request_id: str | None, *, capacity: bool = True, full: bool = True
    ) -> Subscriber:
        """A new stream: first the current map (with ``capacity``), then for
        a checkout whose answer predates the map its requote, or for one
        answered again since its first answer that last answer (with no
        changes: what the stream's page had is not known); a requote the
        store failed leaves the checkout due, for the next updates. A page whose
        stream reconnected after a re-answer went out while it was away,
        or a second page of the checkout opened after it, kept its old
        answer until the next move. ``full``: its caller reads the operator
        data (else the shopper's view of the ``options`` events)."""
        sub = Subscriber(request_id, capacity, full)
        self._subs.add(sub)
        self._open.add(sub)
        try:
            first = await anyio.to_thread.run_sync(self._initial, request_id, capacity)
        except BaseException:  # no subscriber left behind (a failed requote)
            self._subs.discard(sub)
            self._open.discard(sub)
            raise
        for ev in first:
            self._put(sub, ev)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a stream (its request ended)."""
        self._subs.discard(sub)
        self._open.discard(sub)

    def _initial(self, request_id: str | None, capacity: bool) -> list[LiveEvent]:
        out = [self._map_event(self.clock())] if capacity else []
        if request_id is not None:
            with self._lock:
                known = self._answers.get(request_id)
            if known is None or known[1] != map_version(self.router):
                requoted = self._requote(request_id)
                if requoted is None:  # the store failed it: the updates try again
                    self._due.setdefault(request_id, None)  # (one C call: atomic)
                out += requoted or []
            elif known[0].revision > 1:  # answered again before this stream came
                out.append(self._options_event(known[0], []))
        return out

    # ------------------------------------------------------------ updates
    async def _run(self) -> None:
        assert self._wake is not None
        while not self.closed:
            if not self._due:  # answers due: the next update at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            self._wake.clear()
            try:
                await self.update()
            except Exception as exc:  # keep streaming whatever one update did
                self._failed("live update failed", exc)
            await asyncio.sleep(self.min_interval_s)

    async def update(self) -> int:
        """Publish what changed since the last update; returns events sent."""
        watched = sorted({s.request_id for s in self._subs if s.request_id})
        events = await anyio.to_thread.run_sync(self._changes, watched)
        sent = sum(self._publish(target, ev) for target, ev in events)
        self._keep_sent(set(watched), published=True)
        return sent

    def _changes(self, watched: list[str]) -> list[tuple[str | None, LiveEvent]]:
        """In a worker thread: pull others' events; if the map moved, or went
        stale (or fresh again) with the clock alone, or its log became
        unreadable (or readable again), the map is sent and the
        watched checkouts fall due to be answered again (an open ``/ops``
        kept saying fresh while the feed had died: going stale changes no
        event); then the due ones are answered, as many as the budget
        allows (:meth:`_due_requotes`)."""
        self.router.refresh()
        ended = self._changed_elsewhere(watched)
        gone = {rid for rid, ev in ended if ev.event == "closed"}
        if gone:
            watched = [rid for rid in watched if rid not in gone]
        version = map_version(self.router)
        now = self.clock()
        stale = bool(self.router.capacity_staleness(now) or self.router.capacity_unread)
        out: list[tuple[str | None, LiveEvent]] = []
        if version != self._seen or stale != self._stale:
            # the map's event first: one that failed left the move marked
            # seen, and the map unsent until it moved again
            moved = self._map_event(now, fresh=True)
            self._seen, self._stale = version, stale
            self._requoted_at = now
            out.append((None, moved))
            self._fall_due(watched)
        else:
            self._timed_requotes(watched, now)
        with self._lock:
            news, self._stock_news = self._stock_news, set()
        if news:
            self._fall_due(self._carts_of(watched, news))
        return ended + out + self._due_requotes(watched)

    def _carts_of(self, watched: list[str], skus: Container[str]) -> list[str]:
        """The watched checkouts whose carts hold one of ``skus`` (as the
        hub's answer of each says), and those whose cart the hub does not
        know (no answer kept: answered again to be sure)."""
        with self._lock:
            known = {rid: self._answers.get(rid) for rid in watched}
        return [
            rid
            for rid, kept in known.items()
            if kept is None or any(line.sku in skus for line in kept[0].items)
        ]

    def _changed_elsewhere(
        self, watched: list[str]
    ) -> list[tuple[str | None, LiveEvent]]:
        """``closed`` for the watched checkouts another process confirmed or
        cancelled, and ``options`` (the stored answer, whole) for those
        another process requoted since the answer the hub has (read at most
        every ``poll_s``, one read for all: their revisions and endings). A
        confirm moves the map, so its re-answer said it; a cancel elsewhere
        moves nothing, and its pages kept live options until the minute's
        re-answer (or the next move). A requote elsewhere moves nothing
        either: its pages here kept the old revision's dates and prices
        until the minute's re-answer. A revision this process answered
        while the store could not be written, and dropped when another
        process's answer of it was stored first, is sent too (once): its
        streams had this process's answer, which the store does not hold."""
        now = self.timer()
        if not watched or now - self._closed_read < self.poll_s:
            return []
        self._closed_read = now
        states = self.router.watched_quotes(watched)
        self._keep_sent(states, published=False)
        out: list[tuple[str | None, LiveEvent]] = []
        for request_id in sorted(states):
            state = states[request_id]
            if state.closed is not None:
                with self._lock:
                    self._answers.pop(request_id, None)
                    self._sent.pop(request_id, None)
                self._due.pop(request_id, None)
                data = closed_data(request_id, f"checkout already {state.closed.value}")
                out.append((request_id, self._event("closed", data)))
            elif state.revision > self._revision(request_id) or (
                state.revision == self.router.dropped_revision(request_id)
                and self._stored_sent(request_id) != state.revision
            ):
                ev = self._stored_event(request_id, replacing=state.revision)
                if ev is not None:
                    out.append((request_id, ev))
        return out

    def _revision(self, request_id: str) -> int:
        """The newest revision of a checkout the hub answered or sent (0
        when it keeps none: what its streams have is not known, so a
        stored answer is sent)."""
        with self._lock:
            known = self._answers.get(request_id)
        answered = 0 if known is None else known[0].revision
        return max(answered, self._stored_sent(request_id))

    def _stored_sent(self, request_id: str) -> int:
        """The revision of the stored answer last sent a checkout's streams
        (0: none)."""
        with self._lock:
            rec = self._sent.get(request_id)
            return 0 if rec is None else rec.stored

    def _keep_sent(self, watched: Container[str], *, published: bool) -> None:
        """Forget what was sent to the streams of the checkouts not in
        ``watched``: the revisions published (on the event loop, after an
        update) or else the stored ones sent (in the update's worker thread,
        at its read of the stored revisions); a record left empty goes."""
        with self._lock:
            for rid, rec in self._sent.items():
                if rid in watched:
                    continue
                if published:
                    rec.published = rec.replacing = 0
                else:
                    rec.stored = 0
            self._sent = {
                rid: rec
                for rid, rec in self._sent.items()
                if rec.stored or rec.published or rec.replacing
            }

    def _stored_event(
        self, request_id: str, *, replacing: int | None = None
    ) -> LiveEvent | None:
        """The ``options`` event of the answer another process stored for a
        checkout it requoted, whole (``changes`` empty), in each reader's
        view; None when the store has none (then it is answered again here,
        at once), or when this hub answered it since its revision was read
        (its streams have that answer). The hub's own older answer of it
        goes: a re-answer here diffed against it, an answer the page no
        longer has. ``replacing``: the revision whose answer this process
        dropped (sent though the hub answered that revision itself)."""
        stored = self.router.stored_answer(request_id)
        if stored is None:
            self._due.setdefault(request_id, None)
            return None
        revision, wire = stored
        with self._lock:
            known = self._answers.get(request_id)
            dropped = replacing == revision
            if known is not None and known[0].revision >= revision + dropped:
                # answered here since the revisions were read (a ``POST
                # …/requote`` on this process): its streams have it; it was
                # sent again and the hub's own answer dropped
                return None
            self._answers.pop(request_id, None)
            rec = self._sent.setdefault(request_id, _Sent())
            rec.stored = revision
            if dropped:
                rec.replacing = revision
        head = {"request_id": request_id, "revision": revision, "changes": []}
        shopper = (
            {**head, "option_set": shopper_wire(OptionSet, wire)}
            if self.withhold
            else None
        )
        return self._event("options", {**head, "option_set": wire}, shopper)

    def _timed_requotes(self, watched: list[str], now: dt.datetime) -> None:
        """The map did not move, the clock did: every ``requote_every_s``
        the watched checkouts fall due to be answered again (a node's cutoff
        passed, the day turned: an open page kept the old dates until the
        map changed, and its order was placed on them)."""
        if self._requoted_at is None:
            self._requoted_at = now
        if not watched or now - self._requoted_at < dt.timedelta(
            seconds=self.requote_every_s
        ):
            return
        self._requoted_at = now
        self._fall_due(watched)

    def _fall_due(self, watched: list[str]) -> None:
        """Each watched checkout not due yet falls due (last in line)."""
        due = self._due
        for request_id in watched:
            due.setdefault(request_id, None)

    def _due_requotes(self, watched: list[str]) -> list[tuple[str, LiveEvent]]:
        """Answer the due checkouts again, oldest first, until
        ``requote_budget_s`` is spent (one at least); sent are the answers
        that moved and the checkouts that ended. A checkout nobody watches
        any more is no longer due. One the store could not answer is due
        again ``poll_s`` later, first in line then, and the others go on (it
        was dropped, and its page kept the old dates until the map moved
        again or a minute passed). One that fails otherwise (a defect) is
        logged and dropped; the others are answered and the map is sent (the
        whole update failed: the map and the re-answers before it were lost
        until the map's next move)."""
        due, open_ = self._due, set(watched)
        if self._retry and self.timer() >= self._retry_at:  # first in line
            for request_id in reversed(self._retry):
                due[request_id] = None
                due.move_to_end(request_id, last=False)
            self._retry = {}
        out: list[tuple[str, LiveEvent]] = []
        failed: list[str] = []
        until = self.timer() + self.requote_budget_s
        answered = 0
        while due and (answered == 0 or self.timer() < until):
            request_id, _ = due.popitem(last=False)
            if request_id not in open_:
                continue
            answered += 1
            try:
                events = self._requote(request_id, moved=True)
            except Exception as exc:
                # a defect of one checkout's answer: not the others'
                self._failed(f"live requote of {request_id} failed", exc)
                continue
            if events is None:  # the store failed it: again in poll_s
                failed.append(request_id)
                continue
            out += [(request_id, ev) for ev in events]
        if failed:
            self._retry.update(dict.fromkeys(failed))
            self._retry_at = self.timer() + self.poll_s
        return out

    def _failed(self, what: str, exc: Exception) -> None:
        """Log ``what`` and ``exc`` with its traceback, unless the same was
        said within :data:`REPEAT_EVERY_S`."""
        self._said.say(log, logging.ERROR, f"{what}: {exc!r}", exc_info=exc)

    def _requote(
        self, request_id: str, *, moved: bool = False
    ) -> list[LiveEvent] | None:
        """The checkout answered again: its ``options`` event (with ``moved``,
        none when no option and not ``degraded`` moved from the answer the
        hub keeps: not built, its option set not encoded), or ``closed`` when
        it ended; None when the store could not answer it (nothing to send:
        it is not closed)."""
        version = map_version(self.router)
        try:
            after = self.router.requote(request_id, now=self.clock())
        except STORE_ERRORS:  # not read now (another replica's): not closed
            return None
        except InputError as exc:
            with self._lock:
                self._answers.pop(request_id, None)
            return [self._closed_event(request_id, exc)]
        with self._lock:
            known = self._answers.get(request_id)
        changes = [] if known is None else option_changes(known[0], after)
        self.remember(after, version)
        # the map gone stale or fresh again moves no option, but the answer's
        # `degraded`: unsent, an open page kept saying stale after the event
        unmoved = known is not None and after.degraded == known[0].degraded
        if moved and unmoved and not changes:
            return []
        # an answer the hub no longer keeps (pushed out by newer ones: on a
        # busy replica a page open for a minute) is sent whole, no changes
        # listed: what the page has is not known, and withholding it left
        # the page on its old dates at every re-answer while it stayed open
        return [self._options_event(after, changes)]

    def answered_again(self, answer: OptionSet, version: tuple[int, ...]) -> None:
        """A checkout requoted outside the hub (``POST …/requote``, made on
        capacity ``version``): its watchers get the new answer as at a live
        re-answer, and the hub keeps it to diff the next one against. On the
        event loop. Unsent, an open page kept its old dates while a select
        held the new ones."""
        with self._lock:
            known = self._answers.get(answer.request_id)
        changes = [] if known is None else option_changes(known[0], answer)
        self.remember(answer, version)
        self._publish(answer.request_id, self._options_event(answer, changes))

    def _options_event(
        self, answer: OptionSet, changes: list[dict[str, Any]]
    ) -> LiveEvent:
        """The ``options`` event of ``answer``, ``changes`` from the last one
        (with its shopper's view when the hub withholds)."""
        head = {"request_id": answer.request_id, "revision": answer.revision}
        shopper = (
            {
                **head,
                "changes": shopper_changes(changes, answer),
                "option_set": shopper_view(answer),
            }
            if self.withhold
            else None
        )
        return self._event(
            "options",
            {**head, "changes": changes, "option_set": answer.to_dict()},
            shopper,
        )

    def _closed_event(self, request_id: str, error: InputError) -> LiveEvent:
        """The ``closed`` event of a checkout whose requote was refused
        (``error``): its reason in the router's words, and when the hub
        withholds and the shopper's words differ (a
        :class:`~tierflow.orchestration.checkout.shopper_words.Refusal`, which
        names a node), with its shopper's view in those words
        (:func:`~tierflow.service.shopper_view.refusal_reason`); ``why`` is
        the same in both."""
        data = closed_data(request_id, error.reason)
        words = refusal_reason(error, full=False)
        shopper = (
            {**data, "reason": words}
            if self.withhold and words != error.reason
            else None
        )
        return self._event("closed", data, shopper)

    def _map_event(self, now: dt.datetime, *, fresh: bool = False) -> LiveEvent:
        """The ``capacity`` event of the map at ``now``: the latest the hub
        built, when the map is the one it was built of and neither has a
        note (the same data, to the byte), else one built now and kept for
        the next (``fresh``: built now, for an update's move). Each new
        stream built its own: 6 s of CPU for 1,000 opening on the sample
        network, and each kept its own copy."""
        key = self._map_of(now)
        if key is not None and not fresh:
            with self._lock:
                last = self._last_map
            if last is not None and key.same(last[0]):
                return last[1]
        ev = self._event("capacity", capacity_payload(self.router, now))
        # read before the payload, ``key`` is of its map or an older one: a
        # stream that reads ``key`` later gets this map or a newer one
        if key is not None and not ev.data["degraded"]:
            with self._lock:
                self._last_map = (key, ev)
        return ev

    def _map_of(self, now: dt.datetime) -> _MapKey | None:
        """What the capacity event at ``now`` is made of (:class:`_MapKey`);
        None when the map has a note (stale, its log unread, no store, a
        newer schema: a stale note says its age at ``now``)."""
        router = self.router
        if (
            router.unavailable_store
            or router.schema_note
            or router.capacity_unread
            or router.capacity_staleness(now)
        ):
            return None
        mon = router.monitor
        with router.lock:
            demand = router.demand
            return _MapKey(
                (mon.rebuilds, *mon.state_key),
                None if demand is None else demand.outlook,
            )

    # ----------------------------------------------------------- plumbing
    def _event(
        self, name: str, data: dict[str, Any], shopper: dict[str, Any] | None = None
    ) -> LiveEvent:
        with self._lock:
            self._seq += 1
            seq = self._seq
        view = None if shopper is None else _live_event(name, shopper, seq, None)
        return _live_event(name, data, seq, view)

    def _publish(self, target: str | None, ev: LiveEvent) -> bool:
        """Send ``ev`` to its streams (``target``'s, or all); False for an
        ``options`` event whose revision is not newer than the last one
        sent its checkout's streams, which is not sent (but for the stored
        answer of a revision whose answer sent here was dropped:
        :meth:`_stored_event`'s ``replacing``). On the event loop,
        where every one is sent: an update's events are made in a worker
        thread while a ``POST …/requote`` here answers and sends at once, so
        a revision another replica stored could be this process's own, sent
        already (twice to every stream), or older than the route's (sent
        after it). Nor is a stream sent one older than the answer it opened
        with (a second page of the checkout, opened while an update sent
        another replica's older revision: it got the older one after its
        own)."""
        revision, replaces = 0, False
        if ev.event == "options" and target is not None:
            revision = int(ev.data["revision"])
            with self._lock:
                rec = self._sent.setdefault(target, _Sent())
                replaces, rec.replacing = rec.replacing == revision, 0
                if revision <= rec.published - replaces:
                    return False
                rec.published = revision
        for sub in list(self._subs):
            if ev.event == "capacity" and not sub.capacity:
                continue
            if revision and revision <= sub.revision - replaces:
                continue  # its stream opened with a newer answer
            if target is None or sub.request_id == target:
                self._put(sub, ev)
                if ev.event == "closed":
                    self._put(sub, None)
                    self._subs.discard(sub)
        return True

    def _close_watchers(self, request_id: str, data: dict[str, Any]) -> None:
        self._publish(request_id, self._event("closed", data))

    def _put(self, sub: Subscriber, ev: LiveEvent | None) -> None:
        if ev is not None and ev.event == "options":
            sub.revision = int(ev.data["revision"])
        if ev is not None and ev.shopper is not None and not sub.full:
            ev = ev.shopper
        try:
            sub.queue.put_nowait(ev)
        except asyncio.QueueFull:  # a client that does not read: drop it
            self._subs.discard(sub)
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)


def _live_event(
    name: str, data: dict[str, Any], seq: int, shopper: LiveEvent | None
) -> LiveEvent:
    """An event with its JSON written once (:class:`LiveEvent`)."""
    body = wire_json(data)
    return LiveEvent(name, data, seq, None if body is None else body.decode(), shopper)


def closed_data(request_id: str, reason: str) -> dict[str, Any]:
    """The ``closed`` event's data: the ``reason`` in the router's words and
    ``why``, what a page tells its reader: ``expired`` (the options' quote
    expired, or the hold lapsed), ``confirmed``, ``cancelled`` (or ended
    otherwise), ``unknown`` (the checkout is not known). A page read the
    reason's words or said "completed or closed elsewhere" for an expiry."""
    if reason.startswith("options expired"):
        why = "expired"
    elif reason.startswith("checkout already "):
        ending = reason.removeprefix("checkout already ").split(",")[0].strip()
        why = ending if ending in ("confirmed", "expired") else "cancelled"
    else:
        why = "unknown"
    return {"request_id": request_id, "reason": reason, "why": why}


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
