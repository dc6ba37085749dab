"""Capacity events from every process, as they are logged: a daemon thread
that waits on the store's event log (``wait_for_events``: PostgreSQL's
``LISTEN``, a poll of the log on SQLite), pulls the new events into the
router's capacity map and tells the live hub, so that an event applied on
any replica (HTTP, CLI, a feed) reaches every replica's map and streams
within a second (a burst within :data:`PULL_EVERY_S` is one pull). On the
same thread it re-estimates the router's rest-of-day forecast from the
orders the store records (at most every :data:`DEMAND_MIN_S` after new
events, at least every :data:`DEMAND_MAX_S`), never per request, and saves
a snapshot of the capacity map every :data:`SNAPSHOT_EVERY` events, so a
restart replays only the log after it. The same wait returns at a committed
stock change (``POST /v1/stock``, ``tierflow stock load``: the stock
counter, ``data/store/stock_news.py``), whose SKUs the hub is told
(``on_stock``), so that it re-answers the open checkouts of those SKUs. The
same read says when the first live hold lapses, and the follower sweeps
the holds past their TTL then (:meth:`CapacityFollower._sweep`), so that a
lapsed hold's stock news goes out on time with no other write. Every :data:`CHECKPOINT_S` it also
checkpoints the store's write-ahead log (SQLite), which the requests'
commits would otherwise do on the event loop."""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable

from tierflow.data.errors import TierflowError
from tierflow.data.log_repeats import RepeatedLines
from tierflow.data.store import LogPosition, StateStore
from tierflow.orchestration.checkout.fallback import STORE_ERRORS
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.errors import store_failures_said_here
from tierflow.service.metrics import store_backend

log = logging.getLogger("tierflow.service")

#: Why the follower's own connection may not open: the store away, or its
#: schema upgraded meanwhile by a newer tierflow (``SchemaTooNew``), which
#: ended the thread unseen.
_OPEN_ERRORS = (*STORE_ERRORS, TierflowError)

#: Longest single wait on the log (also how long stopping may take).
WAIT_S = 0.5
#: How long the follower's reads wait for a connection of its own pool
#: (PostgreSQL), which only it uses: a wait there is for the pool to open
#: one, a few milliseconds while the database is up. With the router's
#: 5 s (``STORE_WAIT_S``), ``/readyz`` answered 200 for 5.1 s after the
#: database stopped; with this, within a second. The checkouts' pool keeps
#: its wait.
CONNECTION_WAIT_S = 0.5
#: How long the follower's reads wait without a byte of the server's answer
#: (PostgreSQL) before they probe it (``PROBE_WAIT_S``, 0.5 s): a hung server
#: (SIGSTOP) keeps its sockets open and sends nothing, so a read of the log
#: waited until it resumed, ``/readyz`` answering 200 all along; with this,
#: 503 within about 1.5 s. A live server's long read (the first of a day's
#: 90,000 orders) is waited out: it was given up on at every try.
ANSWER_WAIT_S = 0.5
#: Pause after a failed read of the log before trying again.
RETRY_S = 1.0
#: The same warning again within this many seconds is dropped (counted in
#: the next): a store away for an hour fails every retry alike.
REPEAT_EVERY_S = 60.0
#: While the router retries its store for the same reason, how often that
#: is said again (with how many retries failed alike since); a new reason
#: is said at once.
STILL_WAITING_EVERY_S = 30.0
#: Least time between two pulls of new events: under a stream of confirms
#: (each logs its work) a pull per confirm woke the follower, read the log
#: and took the router's lock hundreds of times a second in every worker;
#: a burst of events that lands within this window is one pull.
PULL_EVERY_S = 0.05
#: The rest-of-day forecast is re-estimated at most this often after new
#: events (confirmed orders log theirs): each refresh reads the last
#: ``READ_OVERLAP_S`` (10 s) of confirmations again, so under a steady
#: stream of confirms a 1 s cadence read every order eleven times (6 % of a
#: busy server's CPU in ``make bench-service``); 5 s reads it three times,
#: and a forecast of the hours still to come moves little in 5 s ...
DEMAND_MIN_S = 5.0
#: ... and at least this often without (the day moves on).
DEMAND_MAX_S = 30.0
#: The follower saves a snapshot of the capacity map (on its own connection)
#: once this many events were applied since the last one: a process starts
#: from the newest snapshot and replays only the log after it. The router
#: takes none itself, and every confirm logs its work, so a server that
#: never saved one replayed the whole log at each start (1,000,000 events:
#: 16 s and 880 MB more at its peak, per worker).
SNAPSHOT_EVERY = 5000
#: How often the follower folds the store's write-ahead log into the
#: database (SQLite; :meth:`~tierflow.data.store.StateStore.checkpoint`),
#: so that the requests' commits seldom have to.
CHECKPOINT_S = 0.1
#: How often the follower reads the store's schema version: once another
#: process (a newer tierflow) has migrated the store past this code's
#: schema, this process refuses to write to it (its rows would have the old
#: shape) and says so (503 for writes, ``/healthz`` and answers degraded).
SCHEMA_CHECK_S = 1.0
#: Seconds between two sweeps of lapsed holds by one follower: under load
#: holds lapse one after another, and each process sweeping at every lapse
#: would be a write transaction per hold per process; the holds that lapse
#: meanwhile are swept together (a page hears of them this much later)
SWEEP_GAP_S = 0.5


class CapacityFollower:
    """Follows the capacity event log for one router (see the module doc).

    Parameters
    ----------
    router
        Its capacity map is brought up to date (:meth:`OnlineRouter.refresh`).
    on_change
        Called (from the follower's thread) after new events were pulled in
        or the rest-of-day forecast changed.
    clock
        The instant the forecast is made at (default: the wall clock).
    on_stock
        Called (from the follower's thread) with the SKUs whose stock a
        change committed since the last call (any process's).
    """

    def __init__(
        self,
        router: OnlineRouter,
        on_change: Callable[[], None],
        clock: Callable[[], dt.datetime] | None = None,
        on_stock: Callable[[set[str]], None] | None = None,
    ) -> None:
        self.router = router
        self.on_change = on_change
        self.on_stock = on_stock
        #: The stock counter whose changes were told (None: not read yet;
        #: the changes before the first read are not news)
        self._stock_seen: int | None = None
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._demand_at = -math.inf
        self._demand_dirty = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: StateStore | None = None
        #: Whether the follower's last read of the store failed (it reads the
        #: log at least every :data:`WAIT_S`): ``/healthz`` says so.
        self.store_unreachable = False
        #: Why this process refuses writes to its store ("": it does not):
        #: the store's schema became newer than this code's while it ran.
        self.schema_newer = ""
        self._schema_at = -math.inf
        self._said = RepeatedLines(REPEAT_EVERY_S)
        #: When the first live hold lapses (epoch seconds, as the store
        #: judges a TTL; None: none, or not read since the last sweep), as
        #: the last wait read it: :meth:`_sweep` sweeps then
        self._lapse: float | None = None
        #: No sweep before this (epoch seconds): one failed, tried again later
        self._sweep_after = -math.inf
        #: Which making of the store's tables the last wait read
        #: (``Changes.made``; None: none read yet)
        self._made: int | None = None

    def _warn(self, what: str, exc: BaseException) -> None:
        """``what (backend): exc``, unless said within :data:`REPEAT_EVERY_S`:
        the one line of a failure the follower caught in
        :func:`~tierflow.service.errors.store_failures_said_here` (the app's
        listener said ``state store (backend): exc`` besides)."""
        self._said.say(log, logging.WARNING, f"{what} ({self._backend}): {exc}")

    @property
    def _backend(self) -> str:
        """The store's kind, as the app's store-error lines and the metrics'
        ``backend`` label name it."""
        return store_backend(self.router.location) or "sqlite"

    def start(self) -> None:
        """Start following (nothing to follow without a store, unless the
        router may yet open it: the thread then waits for it first)."""
        router = self.router
        if self._thread is not None or not (router.store or router.reconnectable):
            return
        try:  # its own connection: the waits never hold the router's
            with store_failures_said_here():
                if router.store is not None:
                    self._store = router.store.reopen(
                        connection_wait_s=CONNECTION_WAIT_S,
                        answer_wait_s=ANSWER_WAIT_S,
                    )
        except _OPEN_ERRORS as exc:  # the thread tries again
            self.store_unreachable = True
            self._warn("capacity events not followed yet", exc)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, name="tierflow-capacity-follower", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop following and close the follower's connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * WAIT_S)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _open(self) -> StateStore | None:
        """The follower's own store, opened again every :data:`RETRY_S` if
        :meth:`start` could not: a server that started while the database
        was away or out of connections follows the log once it can, and
        ``/healthz`` says degraded meanwhile. None once stopped."""
        while self._store is None and self.router.store is not None:
            if self._stop.wait(RETRY_S):
                return None
            try:
                with store_failures_said_here():
                    self._store = self.router.store.reopen(
                        connection_wait_s=CONNECTION_WAIT_S,
                        answer_wait_s=ANSWER_WAIT_S,
                    )
            except _OPEN_ERRORS as exc:
                self._warn("capacity events not followed yet", exc)
        return self._store

    def _follow(self) -> None:
        """The thread: the router's store, then the follower's, then follow
        the log."""
        if not self._reconnect():
            return
        store = self._open()
        if store is not None:
            self._run(store)

    def _reconnect(self) -> bool:
        """Open the router's store every :data:`RETRY_S` while it answers
        without it (it started while the database was away or refused it),
        then tell the hub (the map, stock and scores now come from the
        store); False once stopped. The reason is said at once when it
        changes (its durations aside:
        :func:`~tierflow.data.log_repeats.log_key`) and every
        :data:`STILL_WAITING_EVERY_S` else, with how many retries failed
        alike (:class:`~tierflow.data.log_repeats.RepeatedLines`, the
        helper of every other repeated line; this loop had one of its own
        that said the wait instead). A session idle in a transaction, named
        with how long it had been idle, made each retry's reason new, three
        lines every 6 s. One line per failure: the app's listener does not
        say it too."""
        if self.router.store is not None:
            return True
        said = RepeatedLines(STILL_WAITING_EVERY_S)
        # the banner's reason, in the log too
        said.say(log, logging.WARNING, self._without(self.router.store_error))
        while True:
            with store_failures_said_here():
                if self.router.reconnect():
                    break
            said.say(log, logging.WARNING, self._without(self.router.store_error))
            if self._stop.wait(RETRY_S):
                return False
        log.warning("state store open: answers no longer degraded by its absence")
        self.on_change()
        return True

    def _without(self, why: str) -> str:
        """The line of a retry of the router's store that failed: ``why``
        (:attr:`OnlineRouter.store_error`) and the backend."""
        return f"without the store ({self._backend}): {why}"

    def _run(self, store: StateStore) -> None:
        """Follow until stopped. An error nobody expected in one turn (a
        defect) is logged with its traceback (once per
        :data:`REPEAT_EVERY_S`) and the follower goes on :data:`RETRY_S`
        later: it ended the thread, and the replica followed no other
        process's events again while saying nothing was wrong."""
        seen = self.router.monitor.last_seq
        checkpoint_at: float | None = time.monotonic()  # None: not needed
        while not self._stop.is_set():
            try:
                seen, checkpoint_at = self._turn(store, seen, checkpoint_at)
            except Exception as exc:
                line = f"capacity follower failed: {exc!r}"
                self._said.say(log, logging.ERROR, line, exc_info=exc)
                self._stop.wait(RETRY_S)

    def _turn(
        self, store: StateStore, seen: int, checkpoint_at: float | None
    ) -> tuple[int, float | None]:
        """One wait for the log and what follows it; the log's last ``seq``
        pulled in and when the next checkpoint is due."""
        try:
            with store_failures_said_here():  # said below, once
                self._check_schema(store)
                wait = WAIT_S
                if checkpoint_at is not None:
                    if time.monotonic() >= checkpoint_at:
                        needed = store.checkpoint()
                        checkpoint_at = (
                            time.monotonic() + CHECKPOINT_S if needed else None
                        )
                    wait = min(wait, CHECKPOINT_S)
                # what the map holds before the log is read: the router
                # pulls the events it logs itself, so the follower's own
                # position may lag the map's (a restore then went unseen)
                held = self.router.monitor.last_seq
                last, made = self._wait(store, seen, min(wait, self._until_lapse()))
        except STORE_ERRORS as exc:
            self.store_unreachable = True
            self._warn("capacity event log unreadable", exc)
            self._stop.wait(RETRY_S)
            return seen, checkpoint_at
        self._read_again()
        if self._made is None:
            self._made = made
        if LogPosition(last, made).remade_since(self._made, max(seen, held)):
            return self._remade(last, max(seen, held), made), checkpoint_at
        self._sweep(store)
        # the option sets answered while the store could not be written,
        # for every replica: tried at each read of the log until written
        # (once, when the log was read again, met a router's store still
        # reconnecting, and a quiet replica never wrote them)
        self.router.save_unsaved()
        seen, moved = self._pull(last, seen)
        if self._refresh_demand(store) or moved:
            self.on_change()
        self._snapshot(store)
        # a new day of CLTV scores, read whole here rather than per checkout
        self.router.load_scores(store)
        if moved:
            self._stop.wait(PULL_EVERY_S)
        return seen, checkpoint_at

    def _pull(self, last: int, seen: int) -> tuple[int, bool]:
        """The log's events up to ``last`` into the map, if past ``seen``;
        the position now, and whether the map moved."""
        if last <= seen:
            return seen, False
        if self.router.monitor.last_seq < last:  # else pulled already
            self.router.refresh()  # (a confirm here pulls its own)
        now = self.router.monitor.last_seq
        if now < last:  # the router could not read the log: later
            self._stop.wait(RETRY_S)
        self._demand_dirty = True
        # pulled here, or already by the router
        return max(seen, now), now > seen

    def _wait(self, store: StateStore, seen: int, wait: float) -> tuple[int, int]:
        """Wait for the log past ``seen`` or a stock change (at most
        ``wait``); tell ``on_stock`` of the SKUs changed; the log's last
        ``seq`` and which making of the store's tables it is of."""
        if self._stock_seen is None:
            self._stock_seen = store.stock_version()
        last, stock, self._lapse, made = store.wait_for_changes(
            seen, self._stock_seen, wait, self._stop
        )
        if stock > self._stock_seen and self._made in (None, made):  # else remade
            self._stock_seen, skus = store.stock_changed_since(self._stock_seen)
            if skus and self.on_stock is not None:
                self.on_stock(skus)
        return last, made

    def _remade(self, last: int, seen: int, made: int) -> int:
        """The store was made again under this server (restored from a
        dump, its tables made again: another ``made``, or a log gone back
        from ``seen`` to ``last``): the router answers from it as from a
        store just opened (:meth:`OnlineRouter.store_remade`), the stock
        counter and forecast are read afresh, the hub told; the log's
        position now. It pulled only a log that moved past the position it
        knew, so it answered from the state before the restore for ever,
        and skipped the restored log's events below that position. A
        failed reload is tried again at the next turn."""
        try:
            self.router.store_remade()
        except STORE_ERRORS as exc:
            self._warn("state store re-made under this server, not reloaded yet", exc)
            self._stop.wait(RETRY_S)
            return seen
        self._made, self._stock_seen = made, None
        self._demand_at, self._demand_dirty = -math.inf, True
        now = self.router.monitor.last_seq
        log.warning(
            "state store re-made under this server (capacity log at seq %d, was "
            "%d): capacity map and caches reloaded",
            last,
            seen,
        )
        self.on_change()
        return now

    def _sweep_due(self) -> float:
        """When :meth:`_sweep` is due (epoch seconds; inf: no hold known)."""
        return math.inf if self._lapse is None else max(self._lapse, self._sweep_after)

    def _until_lapse(self) -> float:
        """Seconds until :meth:`_sweep` is due (0: now; inf: no hold known)."""
        return max(0.0, self._sweep_due() - time.time())

    def _sweep(self, store: StateStore) -> None:
        """Once the first live hold lapsed (as the last wait read it), sweep
        the holds past their TTL (``expire_stale``: their stock back, and
        the stock news of a position they had sold out, which the next wait
        reads as any change's, and every replica's hub re-answers its open
        checkouts of those SKUs). On this thread's connection, never on a
        checkout's path; nothing is read for it but the expiry that rides
        on the wait's own read. Every replica does it, and two at once give
        the stock back once (the sweep claims the rows with a conditional
        ``UPDATE``); at most once in :data:`SWEEP_GAP_S`. Before, only a later
        hold or count swept a lapsed hold,
        and on a quiet store the pages that saw its SKU sold out were never
        told it was back. Not while writes are refused (``schema_newer``);
        one that fails is tried again :data:`RETRY_S` later."""
        now = time.time()
        if self.schema_newer or now < self._sweep_due():
            return
        self._lapse = None  # the next wait reads the next one
        self._sweep_after = now + SWEEP_GAP_S
        try:
            with store_failures_said_here():
                store.expire_stale(now=now)
        except STORE_ERRORS as exc:
            self._sweep_after = now + RETRY_S
            self._warn("lapsed holds not swept", exc)

    def _check_schema(self, store: StateStore) -> None:
        """Read the store's schema version (:data:`SCHEMA_CHECK_S`): a store
        another process migrated past this code's schema gets no more writes
        from this process, and the router's answers say why."""
        if time.monotonic() < self._schema_at:
            return
        self._schema_at = time.monotonic() + SCHEMA_CHECK_S
        why = store.follow_schema()
        if why == self.schema_newer:
            return
        self.schema_newer = why
        self.router.schema_moved_on(why)
        if why:
            log.error("%s: %s; writes refused", store.location, why)
        else:
            log.warning("%s: schema no newer than this tierflow's", store.location)

    def _read_again(self) -> None:
        """The log was read: if it was not before, say so, and say its next
        failure at once (not as a repeat of the last outage's)."""
        if self.store_unreachable:
            self.store_unreachable = False
            self._said.clear()
            log.info("capacity event log read again")

    def _snapshot(self, store: StateStore) -> None:
        """Save the capacity map's snapshot when :data:`SNAPSHOT_EVERY`
        events were applied since the last one: taken under the router's
        lock (the map and the ``seq`` it includes agree), written on the
        follower's connection outside it."""
        monitor = self.router.monitor
        if monitor.unsnapshotted < SNAPSHOT_EVERY:
            return
        try:
            with store_failures_said_here():
                # read outside the router's lock: the nodes a `capacity
                # forget` dropped since the map was built, not carried back
                newest = (
                    store.latest_capacity_snapshot()
                    if monitor.carries_foreign
                    else None
                )
                with self.router.lock:
                    counted = monitor.unsnapshotted
                    seq, state = monitor.snapshot_state(newest)
                # not into a store restored since the map was taken: the
                # next turn reloads the map from it
                saved = store.save_capacity_snapshot(seq, state, self._made)
        except STORE_ERRORS as exc:
            self._warn("capacity snapshot not saved", exc)
            return
        if not saved:
            return
        with self.router.lock:
            monitor.snapshot_saved(counted)

    def _refresh_demand(self, store: StateStore) -> bool:
        """Re-estimate the forecast when due; whether the map changed."""
        demand = self.router.demand
        if demand is None:
            return False
        age = time.monotonic() - self._demand_at
        if age < DEMAND_MIN_S or (not self._demand_dirty and age < DEMAND_MAX_S):
            return False
        self._demand_at = time.monotonic()
        try:
            with store_failures_said_here():
                changed = demand.refresh(store, self.clock())
        except STORE_ERRORS as exc:
            self._warn("rest-of-day forecast not refreshed", exc)
            return False
        self._demand_dirty = False
        return changed
