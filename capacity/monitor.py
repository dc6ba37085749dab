"""The capacity monitor: per-node state from events, room and scores as arrays.
With a store attached, events are logged before they are applied and
snapshots make a restart exact (``docs/data.md``)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.capacity.backlog_changes import BacklogChanges
from tierflow.capacity.events import (
    EVENT_TYPES,
    CapacityEvent,
    EventIdConflict,
    check_repeated_ids,
    event_row,
    logged_instant,
    parse_event,
)
from tierflow.capacity.log_read import DatedEvents, collection_paused, dated_upto
from tierflow.capacity.score import capacity_scores, lane_congestion
from tierflow.data.errors import InputError, listed
from tierflow.data.limits import MAX_UNITS, require_array
from tierflow.data.network import NODE_KINDS, Network
from tierflow.data.rates import SERVICES, service_index
from tierflow.data.store import (
    ORDER_WORK,
    CapacityEventLog,
    PrunedEvent,
    StoredEvent,
    is_work_move,
)
from tierflow.data.wording import counted

log = logging.getLogger("tierflow.capacity")

#: Columns of the per-node "last applied" timestamps (set events).
_SET_FIELDS = ("nominal_capacity", "staffing", "backlog", "outage", "forecast")
_NOMINAL = _SET_FIELDS.index("nominal_capacity")
_BACKLOG = _SET_FIELDS.index("backlog")
_FORECAST = _SET_FIELDS.index("forecast")


@dataclass(frozen=True, slots=True)
class OrderProfile:
    """What an order asks of a node: its workload and (optionally) service.

    Attributes
    ----------
    workload
        Complexity-weighted units (``Network.order_workload``).
    service
        Index into :data:`data.rates.SERVICES`, or -1 for "any" (no lane
        congestion applied).
    """

    workload: float = 0.0
    service: int = -1

    @classmethod
    def from_lines(
        cls,
        network: Network,
        skus: Sequence[str],
        quantities: Sequence[int],
        service: str | None = None,
    ) -> OrderProfile:
        """Profile of an order given as SKU ids and quantities."""
        idx = network.sku_idx(skus)
        work = network.order_workload(idx, np.asarray(quantities, dtype=np.float64))
        return cls(work, -1 if service is None else service_index(service))


@dataclass(frozen=True, slots=True)
class IngestResult:
    """How many events were new (applied) and how many were repeats;
    ``stale``: how many of the applied changed nothing, older than what was
    known of the same kind (docs/data.md)."""

    applied: int
    duplicates: int
    last_seq: int
    stale: int = 0


class CapacityMonitor:
    """Per-node capacity state and scores (see ``docs/data.md``).

    Parameters
    ----------
    network
        The nodes (nominal capacity starts at ``network.capacity``).
    store
        Optional state store for the event log and snapshots.
    snapshot_every
        Take a snapshot after this many applied events (0: only on demand).

    Notes
    -----
    The state arrays (``nominal``, ``staffing``, ``backlog``, ``forecast``,
    ``outage``, ``congestion``) are public for reading; change them only
    through events, which also invalidate the cached score terms.
    """

    def __init__(
        self,
        network: Network,
        store: CapacityEventLog | None = None,
        *,
        snapshot_every: int = 5000,
    ) -> None:
        self.network = network
        self.store = store
        self.snapshot_every = snapshot_every
        #: How many times :meth:`set_forecast` changed the forecast.
        self.forecast_revision = 0
        #: Whether a caller refreshes the forecast (:meth:`set_forecast`):
        #: a server's, which keeps the explicit ``forecast`` events standing.
        self._refreshed = False
        #: How many times the state was rebuilt from a store (:meth:`attach`:
        #: a restored store's map may come back with a :attr:`state_key`
        #: it had before, on other values).
        self.rebuilds = 0
        #: The making of the store's tables the state was rebuilt from
        #: (:meth:`attach`; None: not known), to tell a store restored under it.
        self._made: int | None = None
        self._reset()

    def _reset(self) -> None:
        """The nominal state: no event applied."""
        n, s = self.network.n_nodes, len(SERVICES)
        network = self.network
        self.nominal = network.capacity.astype(np.float64).copy()
        self.staffing = np.ones(n)
        self.backlog = np.zeros(n)
        self.forecast = np.zeros(n)
        #: The forecast as the logged ``forecast`` events leave it (what a
        #: snapshot keeps: :meth:`set_forecast`'s are the caller's own).
        self._logged_forecast = np.zeros(n)
        #: Nodes whose forecast is an explicit event's, standing over the
        #: caller's refresh (:meth:`set_forecast`): an order's work there
        #: comes off it at once.
        self._standing = np.zeros(n, dtype=bool)
        self.outage = np.zeros(n, dtype=bool)
        self.congestion = np.ones((n, s))
        #: Per node, the lane its rest-of-day forecast is counted at
        #: (:meth:`forecast_congestion`; -1: none offered).
        self._forecast_lane = _forecast_lanes(network)
        self._stamp = np.full((n, len(_SET_FIELDS)), -np.inf)
        #: The ``event_id`` of the event behind each stamp (None: none, or a
        #: snapshot of before 2026-12-06, which kept no ids).
        self._stamp_id: list[list[str | None]] = [
            [None] * len(_SET_FIELDS) for _ in range(n)
        ]
        self._stamp_lane = np.full((n, s), -np.inf)
        self._changes = BacklogChanges(n)
        self.last_seq = 0
        self.last_ts = -np.inf
        #: The newest sign of life of the feed: each event's ``ts`` capped at
        #: its receipt, so an event dated ahead cannot keep the map fresh. A
        #: checkout's own work (:data:`ORDER_WORK`) is no news of the feed.
        self.heard_ts = -np.inf
        #: The newest feed event's ``ts`` (not capped; no checkout's work).
        self.feed_ts = -np.inf
        self.n_applied = 0
        self._since_snapshot = 0
        #: The store's nodes this network does not have: their snapshot
        #: entries and the logged events of theirs it skipped, carried into
        #: every snapshot it writes (:meth:`state`), so the network that
        #: has them finds their state there.
        self._foreign_nodes: dict[str, Any] = {}
        self._foreign_events: list[StoredEvent] = []
        self._seen: dict[str, CapacityEvent] = {}  # dedup without a store
        self._cached: tuple[NDArray[np.float64], ...] | None = None

    # ------------------------------------------------------------ restore
    @classmethod
    def open(
        cls, network: Network, store: CapacityEventLog, *, snapshot_every: int = 5000
    ) -> CapacityMonitor:
        """Rebuild from the store: last snapshot, then the logged events after it."""
        mon = cls(network, snapshot_every=snapshot_every)
        mon.attach(store)
        return mon

    def attach(self, store: CapacityEventLog) -> None:
        """Follow ``store``'s log from now on, the state rebuilt from its last
        snapshot and the events after it (a server that started while its
        database was away gets it back). What was applied without a store is
        dropped: nothing logged it. The store is read first: if it fails,
        this monitor is left as it was."""
        self._rebuild(store)

    def _rebuild(self, store: CapacityEventLog) -> list[int]:
        """:meth:`attach`; the ``seq`` of the logged events it found stale.
        The store's making is read first: one restored during the rebuild
        is seen at the next :meth:`reload_if_remade`, never taken for the
        making of a map read before it."""
        made = store.log_position().made
        snap = store.latest_capacity_snapshot()
        events = store.events_after(0 if snap is None else snap[0])
        self.store = store
        self._made = made
        self._reset()
        self.rebuilds += 1
        named = {ev.node_id for ev in events}
        if snap is not None:
            # (a foreign entry no event touched is not named: _load_state)
            named.update(n for n, s in snap[1]["nodes"].items() if _holds_news(s))
            carried = [StoredEvent(**ev) for ev in snap[1].get("foreign_events", [])]
            named.update(ev.node_id for ev in carried)
            self._load_state(snap[1])
            self.last_seq = snap[0]
            self._apply_carried(carried)
        _, stale = self._apply_logged(events)
        foreign = named - set(self.network.node_index)
        if foreign:
            _warn_foreign_nodes(foreign)
        return stale

    def reload_if_remade(self) -> tuple[int, int] | None:
        """Rebuild the state from the store if it was made again under it
        (restored from a backup: :meth:`LogPosition.remade_since`, the test
        a server's follower makes): ``(the log's last seq now, the seq the
        map held)``, or None when it was not. A long-running writer (``capacity
        ingest --follow``) calls it before each batch: it applied events on
        top of the map from before the restore and snapshotted that map
        into the restored store."""
        if self.store is None:
            return None
        now = self.store.log_position()
        held = self.last_seq
        if not now.remade_since(self._made, held):
            return None
        self.attach(self.store)
        return now.seq, held

    @classmethod
    def open_at(
        cls, network: Network, store: CapacityEventLog, at: dt.datetime
    ) -> CapacityMonitor:
        """The map as it stood at ``at`` (``capacity show --now``): every
        logged event dated at or before it applied in log order to the
        nominal map, none after it (a confirmed checkout's work included),
        the same figures as a store that logged only those. No snapshot is
        read (one may hold events of after ``at``), so the log must be
        whole: a log ``tierflow state prune`` cut is refused. The monitor
        is detached (a reader's: it logs and snapshots nothing). The log is
        read and applied in bulk (:func:`~tierflow.capacity.log_read.
        dated_upto`, :meth:`_replay`), to the map :meth:`replayed_at`
        leaves one event at a time (docs/cli.md: the figures).

        Raises
        ------
        InputError
            At ``now``: the log was pruned.
        """
        pruned = store.pruned_through()
        if pruned is not None:
            raise InputError(
                "the capacity log was pruned (`tierflow state prune` deleted "
                f"its events up to {stamp_instant(pruned)}): the map at an "
                "instant cannot be rebuilt from it; show the map as it stands "
                "(no --now)",
                field="now",
                value=at.isoformat(),
            )
        cut = at.timestamp()
        mon = cls(network)
        mon.rebuilds += 1
        with collection_paused():  # a million rows' tuples, all kept
            mon._replay(dated_upto(store.events_dated_upto(cut), network, cut))
        foreign = {ev.node_id for ev in mon._foreign_events}
        if foreign:
            _warn_foreign_nodes(foreign)
        return mon

    @classmethod
    def replayed_at(
        cls, network: Network, logged: Sequence[StoredEvent], at: dt.datetime
    ) -> CapacityMonitor:
        """:meth:`open_at`'s map replayed one event at a time through
        :meth:`apply_logged` from ``logged`` (the whole log): the reference
        its bulk replay (:meth:`_replay`) is tested against."""
        cut = at.timestamp()
        mon = cls(network)
        mon.rebuilds += 1
        # ``ts`` as the event parser reads it (an unreadable one is skipped
        # by the replay as well)
        dated = [logged_instant(ev.ts) for ev in logged]
        mon.apply_logged(
            [
                ev
                for ev, t in zip(logged, dated, strict=True)
                if t is not None and t <= cut
            ]
        )
        return mon

    def _replay(self, log: DatedEvents) -> None:
        """Apply ``log`` to the nominal map (a new monitor no caller
        refreshes: :meth:`open_at`'s) in bulk, to the state
        :meth:`apply_logged` leaves one event at a time: a set kind and a
        lane's congestion are the newest event's (of equal ``ts``, the last
        logged), the clocks the newest; the backlog is replayed event by
        event (a late change is placed by time), with the feed's clock each
        saw (:meth:`_replay_backlog`). ``replayed_at`` is the reference
        (``tests/capacity/test_log_read.py``)."""
        if self.n_applied or self.last_seq or self._refreshed:
            raise RuntimeError("a bulk replay applies to a new monitor only")
        self._foreign_events.extend(log.foreign)
        if log.seq.size:
            self.last_seq = int(log.seq[-1])
        took = np.flatnonzero(log.parsed)
        if took.size == 0:
            return
        self._cached = None
        self.n_applied = self._since_snapshot = int(took.size)
        ts, kind = log.ts[took], log.kind[took]
        self.last_ts = float(ts.max())
        feed = ~log.work[took]
        # a checkout's work is no news of the feed: its own clock stands
        heard = np.where(feed, np.fmin(ts, log.received[took]), -np.inf)
        clock = np.maximum.accumulate(heard)
        if feed.any():
            self.feed_ts = float(ts[feed].max())
        backlog = np.flatnonzero(
            (kind == EVENT_TYPES.index("backlog"))
            | (kind == EVENT_TYPES.index("backlog_delta"))
        )
        self._replay_backlog(log, took[backlog], clock[backlog])
        self.heard_ts = float(clock[-1])
        self._replay_latest(log, took)

    def _replay_backlog(
        self, log: DatedEvents, rows: NDArray[np.intp], clock: NDArray[np.float64]
    ) -> None:
        """:meth:`_replay`'s backlog events ``rows``, one at a time as
        :meth:`_apply_delta` and :meth:`_apply_backlog` apply them, each with
        the feed's clock it was applied at (``clock``), on lists (a numpy
        element read or written costs more than the rest of a change). No
        forecast stands here (no caller refreshes it), so a checkout's work
        takes none off."""
        delta = EVENT_TYPES.index("backlog_delta")
        changes = self._changes
        backlog, stamp = self.backlog.tolist(), self._stamp[:, _BACKLOG].tolist()
        by = [ids[_BACKLOG] for ids in self._stamp_id]
        ids = log.event_id
        for k, kind, i, ts, v, heard in zip(
            rows.tolist(),
            log.kind[rows].tolist(),
            log.node[rows].tolist(),
            log.ts[rows].tolist(),
            log.value[rows].tolist(),
            clock.tolist(),
            strict=True,
        ):
            if ts < stamp[i]:
                continue  # stale: counted in a newer absolute backlog
            if kind == delta:
                backlog[i] = changes.add(i, ts, v, heard, backlog[i])
                continue
            rebased = changes.rebase(i, ts, v, heard)
            if rebased is not None:
                stamp[i], by[i], backlog[i] = ts, ids[k], rebased
        self.backlog[:] = backlog
        self._stamp[:, _BACKLOG] = stamp
        for node, ident in zip(self._stamp_id, by, strict=True):
            node[_BACKLOG] = ident

    def _replay_latest(self, log: DatedEvents, took: NDArray[np.intp]) -> None:
        """:meth:`_replay`'s set kinds and congestion: per node and kind
        (lane), the newest event's value and stamp, the last logged of
        equal ``ts`` (a later one of the same ``ts`` is not stale)."""
        kind = log.kind[took]
        for f, name in enumerate(_SET_FIELDS):
            if name == "backlog":
                continue
            rows = took[kind == EVENT_TYPES.index(name)]
            for k in _newest(log.node[rows], log.ts[rows], rows):
                self._set_field(
                    int(log.node[k]),
                    f,
                    float(log.ts[k]),
                    float(log.value[k]),
                    log.event_id[k],
                )
        rows = took[kind == EVENT_TYPES.index("congestion")]
        lanes = log.node[rows] * len(SERVICES) + log.service[rows]
        for k in _newest(lanes, log.ts[rows], rows):
            i, lane = int(log.node[k]), int(log.service[k])
            self._stamp_lane[i, lane] = log.ts[k]
            self.congestion[i, lane] = log.value[k]

    def refresh(self) -> int:
        """Apply events other writers logged since ours; returns how many."""
        return self.apply_logged(self.logged_since())

    def logged_since(self) -> list[StoredEvent]:
        """The logged events after the last one applied (a store read: a
        caller that guards the map with a lock reads them without it, then
        :meth:`apply_logged` under it)."""
        if self.store is None:
            return []
        return self.store.events_after(self.last_seq)

    def apply_logged(self, events: Sequence[StoredEvent]) -> int:
        """Apply logged events in sequence order, skipping those applied
        since they were read (by another thread); returns how many."""
        return self._apply_logged(events)[0]

    def _apply_logged(self, events: Sequence[StoredEvent]) -> tuple[int, list[int]]:
        """:meth:`apply_logged`'s count, and the ``seq`` of the events it
        found stale (older than what the map knew)."""
        count = 0
        stale: list[int] = []
        for ev in events:
            if ev.seq <= self.last_seq:
                continue
            parsed = self._stored(ev)
            if parsed is None:
                # An event for a node no longer in the network: skip, but count it
                # as consumed so it is not retried forever; the snapshots carry
                # it for the network that has the node
                if ev.node_id not in self.network.node_index:
                    self._foreign_events.append(ev)
                self.last_seq = ev.seq
                continue
            if not self._apply(parsed, ev.received_at):
                stale.append(ev.seq)
            self.last_seq = ev.seq
            count += 1
        self._since_snapshot += count
        return count, stale

    def _apply_carried(self, carried: Sequence[StoredEvent]) -> None:
        """A snapshot's carried events (logged before it, skipped by a
        network without their node), in log order: applied at the nodes
        this network has, kept for the next snapshot at the others."""
        for ev in sorted(carried, key=lambda e: e.seq):
            if ev.node_id not in self.network.node_index:
                self._foreign_events.append(ev)
                continue
            parsed = self._stored(ev)
            if parsed is not None:
                self._apply(parsed, ev.received_at)

    # ------------------------------------------------------------- events
    def ingest(
        self, events: Sequence[CapacityEvent], *, file: str | None = None
    ) -> IngestResult:
        """Log (when a store is attached) and apply events, each exactly once.

        A repeated event id with the same content is a no-op (counted as a
        duplicate); with different content it is an ``EventIdConflict`` (row: the
        1-based position in ``events``) and nothing is logged or applied; so is
        an event not logged dated at or before the newest one ``tierflow state
        prune`` deleted (its id went with it: it may be a replay). ``file``:
        where the events were read, for the message.
        """
        if self.store is None:
            self.check_event_ids(events)
            received = time.time()
            applied = dups = stale = 0
            for ev in events:
                if ev.event_id in self._seen:
                    dups += 1
                    continue
                self._seen[ev.event_id] = ev
                stale += not self._apply(ev, received)
                applied += 1
            return IngestResult(applied, dups, self.last_seq, stale)
        check_repeated_ids(events)
        records = [ev.record(self.network) for ev in events]
        # judged under the log's lock: judged before it, two writers logging
        # one id with two contents at once both passed (the second counted
        # as a duplicate, its content dropped)
        try:
            seqs = self.store.append_events(
                records, check=partial(self._check_against_logged, events, None)
            )
        except PrunedEvent as exc:  # a clash with what the log held: as a reuse
            raise EventIdConflict(
                exc.reason,
                file=file,
                row=event_row(events, exc.k),
                field=exc.field,
                value=exc.value,
            ) from None
        new = {s for s in seqs if s is not None}
        # applied as logged, with the receipt the log stamped (in the write
        # transaction, after any wait for the lock): the feed's clock, which
        # caps a future-dated event and ages the backlog changes, must be the
        # one every replica and restart replays, or a late absolute backlog
        # is rebased here and found stale there; and events other writers
        # logged in between come in their order
        if new and min(new) <= self.last_seq:
            # logged below what the map holds: the log went back under it
            # (a store restored since :meth:`reload_if_remade`); rebuilt
            # from the restored store, these events with it
            stale_seqs = self._rebuild(self.store)
        else:
            _, stale_seqs = self._apply_logged(self.logged_since())
        stale = sum(seq in new for seq in stale_seqs)
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        return IngestResult(len(new), len(events) - len(new), self.last_seq, stale)

    def check_event_ids(
        self, events: Sequence[CapacityEvent], *, file: str | None = None
    ) -> None:
        """No event may reuse an event id (of the batch, or applied or logged
        before) with new content: ``EventIdConflict`` naming ``file`` and the row
        (:func:`~tierflow.capacity.events.event_row`)."""
        check_repeated_ids(events, file=file)
        if self.store is not None:
            logged = self.store.logged_events(sorted({e.event_id for e in events}))
            self._check_against_logged(events, file, logged)
            return
        known = {e.event_id for e in events if e.event_id in self._seen}
        _check_against(
            events, file, {k: (self._seen[k], "an applied event") for k in known}
        )

    def _check_against_logged(
        self,
        events: Sequence[CapacityEvent],
        file: str | None,
        logged: dict[str, StoredEvent],
    ) -> None:
        """:meth:`check_event_ids` against the ``logged`` events of their ids."""
        earlier = {
            k: (self._stored(ev), f"the logged event seq {ev.seq}")
            for k, ev in logged.items()
        }
        _check_against(events, file, earlier)

    def _stored(self, ev: StoredEvent) -> CapacityEvent | None:
        """A logged event as parsed now (None: its node left the network).
        It was validated when logged, so its time is not held to the window,
        and a key this version does not know is left aside (never a reason
        to drop a logged event)."""
        obj = {"event_id": ev.event_id, "ts": ev.ts, "node_id": ev.node_id}
        obj |= {"type": ev.type, **ev.payload}
        try:
            return parse_event(obj, self.network, row=ev.seq, window=None, logged=True)
        except InputError:
            return None

    def apply(self, event: CapacityEvent | dict[str, Any]) -> IngestResult:
        """Function-call API: one event (object or JSON-like dict)."""
        if isinstance(event, dict):
            event = parse_event(event, self.network)
        return self.ingest([event])

    def _apply(self, ev: CapacityEvent, received: float | None = None) -> bool:
        """Apply one event received at ``received`` (epoch seconds; None:
        taken as its ``ts``); False when it was stale (older than what is
        known of its kind) and changed nothing."""
        self._cached = None
        i, kind, v = ev.node, ev.type, ev.value
        self.n_applied += 1
        self.last_ts = max(self.last_ts, ev.ts)
        if not ev.event_id.startswith(ORDER_WORK):  # the feed's, not an order's
            heard = ev.ts if received is None else min(ev.ts, received)
            self.heard_ts = max(self.heard_ts, heard)
            self.feed_ts = max(self.feed_ts, ev.ts)
        if kind == "backlog_delta":
            return self._apply_delta(i, ev.ts, v, ev.event_id)
        if kind == "backlog":
            return self._apply_backlog(i, ev.ts, v, ev.event_id)
        if kind == "congestion":
            if ev.ts < self._stamp_lane[i, ev.service]:
                return False
            self._stamp_lane[i, ev.service] = ev.ts
            self.congestion[i, ev.service] = v
            return True
        f = _SET_FIELDS.index(kind)
        if ev.ts < self._stamp[i, f]:
            return False  # stale: a newer value of the same kind is already applied
        self._set_field(i, f, ev.ts, v, ev.event_id)
        return True

    def _set_field(self, i: int, f: int, ts: float, v: float, event_id: str) -> None:
        """Node ``i``'s set kind ``f`` (of :data:`_SET_FIELDS`, not the
        backlog) to ``v`` as of ``ts``, by ``event_id``, the caller having
        found it not stale (:meth:`_apply`, :meth:`_replay_latest`)."""
        self._stamp[i, f] = ts
        self._stamp_id[i][f] = event_id
        kind = _SET_FIELDS[f]
        if kind == "nominal_capacity":
            self.nominal[i] = v
        elif kind == "staffing":
            self.staffing[i] = v / 100.0
        elif kind == "outage":
            self.outage[i] = v > 0
        else:
            self.forecast[i] = self._logged_forecast[i] = v
            self._standing[i] = self._refreshed

    def _apply_delta(self, i: int, ts: float, v: float, event_id: str) -> bool:
        """A change of backlog ``v`` at node ``i`` dated ``ts``; False when
        stale (counted in a newer absolute backlog)."""
        if ts < self._stamp[i, _BACKLOG]:
            return False
        self.backlog[i] = self._changes.add(
            i, ts, v, self.heard_ts, float(self.backlog[i])
        )
        if (
            self._standing[i]
            and v > 0
            and event_id.startswith(ORDER_WORK)
            and not is_work_move(event_id)
        ):
            # an order's work where an explicit forecast stands: part of the
            # work it forecast, now in the backlog; the caller's next refresh
            # takes it off alike, and until then it counted twice (a batch
            # moving an order's work here brings none the forecast counted)
            self.forecast[i] = max(float(self.forecast[i]) - v, 0.0)
            self.forecast_revision += 1
        return True

    def _apply_backlog(self, i: int, ts: float, value: float, event_id: str) -> bool:
        """An absolute backlog as of ``ts``, with the deltas dated at or
        after ``ts`` already applied kept on top (a late absolute does not
        undo them); False when stale."""
        if ts < self._stamp[i, _BACKLOG]:
            return False
        backlog = self._changes.rebase(i, ts, value, self.heard_ts)
        if backlog is None:
            return False  # later changes were dropped: it cannot be rebased
        self._stamp[i, _BACKLOG] = ts
        self._stamp_id[i][_BACKLOG] = event_id
        self.backlog[i] = backlog
        return True

    def set_forecast(
        self, work: NDArray[np.float64], standing: NDArray[np.bool_] | None = None
    ) -> bool:
        """Set every node's rest-of-day forecast at once (the service's own
        demand forecast, refreshed from the orders flowing in, with the
        explicit ``forecast`` events still standing kept:
        :meth:`forecast_events`; a later event sets a node's at once).
        ``standing``: the nodes whose ``work`` is such an event's (an
        order's work event there takes its work off at once, until the next
        call). Returns whether it changed. It is not part of :meth:`state`:
        a snapshot keeps the logged ``forecast`` events' values, which a
        restart or another reader of the store rebuilds from the log."""
        # >= 0: a negative forecast freed capacity that is not there
        values = require_array(work, "forecast", self.forecast.shape, 0, MAX_UNITS)
        self._refreshed = True
        self._standing = (
            np.zeros_like(self._standing)
            if standing is None
            else np.asarray(standing, dtype=bool).copy()
        )
        if np.array_equal(values, self.forecast):
            return False
        self.forecast = values.copy()
        self._cached = None
        self.forecast_revision += 1
        return True

    def forecast_events(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each node's forecast as the logged ``forecast`` events leave it,
        and the ``ts`` of the event that set it (``-inf``: none): what a
        caller of :meth:`set_forecast` keeps standing over its own (an
        operator's explicit forecast is not undone by the next refresh)."""
        return self._logged_forecast.copy(), self._stamp[:, _FORECAST].copy()

    @property
    def state_key(self) -> tuple[int, int, int]:
        """Changes whenever the map does: applied events, the log's
        sequence, forecast revisions (for the callers' caches)."""
        return (self.n_applied, self.last_seq, self.forecast_revision)

    # ------------------------------------------------------------ scores
    def _terms(self) -> tuple[NDArray[np.float64], ...]:
        """Cached ``effective``, ``claims`` and ``1 / nominal`` (0 where nominal
        is 0): the score formula of :mod:`tierflow.capacity.score` with its per-state
        parts precomputed, so a score map is three array operations."""
        if self._cached is None:
            effective = self.nominal * self.staffing * ~self.outage
            claims = self.backlog + self.forecast_load()
            # 1 / nominal at most 1 / tiny (finite): a subnormal capacity
            # would make it inf and 0 free x inf a NaN score
            tiny = np.finfo(np.float64).tiny
            inv = np.where(self.nominal > 0, 1.0 / np.maximum(self.nominal, tiny), 0.0)
            self._cached = (effective, claims, inv)
        return self._cached

    def room(
        self, *, lanes: bool = False, forecast: bool = False, working: bool = False
    ) -> NDArray[np.float64]:
        """Units each node can still take today after its backlog.

        The one definition of "room" every caller uses (the allocator's
        capacity, bid prices, the checkout router, scores): ``nominal x
        staffing x open - backlog``; negative where the node is overcommitted,
        so callers clip where they need a capacity.

        Parameters
        ----------
        lanes
            Per ``(service, node)``, in the order's own units on that lane:
            the room divided by the lane's congestion, ``(effective -
            backlog) / congestion``, since an item shipped by a lane at
            x2.5 takes 2.5 times its workload of the node (as the batches
            weigh it) and the backlog is node capacity already taken (a
            confirmed order's work at its lane's congestion).
        forecast
            Also subtract the rest-of-day volume forecast, the node
            capacity it takes (:meth:`forecast_load`: its work at its
            lane's congestion), before dividing by the lane's.
        working
            As if every node were working: open (its outage lifted) and
            staffed (a staffing of 0 read as 100%). The room an outage or a
            day without staff takes away, for the checkout to tell a closed
            node from a full one.
        """
        effective, _, _ = self._terms()
        if working:
            effective = self.nominal * np.where(self.staffing > 0, self.staffing, 1.0)
        room = effective - self.backlog
        if forecast:
            room = room - self.forecast_load()
        out: NDArray[np.float64] = room[None, :] / self.congestion.T if lanes else room
        return out

    def forecast_congestion(self) -> NDArray[np.float64]:
        """Per node, the congestion its rest-of-day forecast is counted at:
        its ground lane's, else the first of two-day and next-day it offers
        (1: none). The forecast has no lane of its own (a work per node:
        the history routed by the cheapest ground rate,
        ``route_cheapest_ground``, and today's confirmed orders by node), so
        it is counted on the lane the typical parcel ships by, Gold's
        cheapest (``ForecastBidPrices``' too)."""
        lane = self._forecast_lane
        return lane_congestion(self.congestion, np.arange(lane.size), lane)

    def forecast_load(self) -> NDArray[np.float64]:
        """Node capacity the rest-of-day forecast takes: its work times
        :meth:`forecast_congestion`, as a confirmed order's work times its
        lane's congestion is what it adds to the backlog."""
        return np.asarray(self.forecast * self.forecast_congestion())

    def not_working(self) -> NDArray[np.bool_]:
        """Nodes that work nothing today whatever their room: closed (an
        outage) or without staff (staffing 0)."""
        return np.asarray(self.outage | (self.staffing <= 0))

    def stop_causes(self) -> NDArray[np.str_]:
        """Per node, why it ships nothing now (:meth:`shipping_nodes`), the
        first that applies: ``nominal`` (a capacity of 0: configuration,
        whatever else), ``outage``, ``staffing`` (0); ``""`` where it ships.
        The one order of causes the checkout's offers, holds and confirms
        name a node by."""
        zero = self.nominal <= 0
        return np.select(
            [zero, self.outage, self.staffing <= 0],
            ["nominal", "outage", "staffing"],
            default="",
        )

    def shipping_nodes(self) -> NDArray[np.bool_]:
        """Nodes that can ship at all: working today (:meth:`not_working`)
        and of a nominal capacity above 0 (what the allocator prices a
        waiting order from, as shipped tomorrow: nobody knows a closed node
        will ship it then, an outage carries no end time)."""
        return np.asarray(~self.not_working() & (self.nominal > 0))

    def utilization(self) -> NDArray[np.float64]:
        """Share of each node's workable capacity today (nominal x staffing x
        open) its backlog and rest-of-day forecast (:meth:`forecast_load`)
        claim: 1 is full (score
        0), above 1 overbooked, and never below 0 (extra staff is more room,
        not negative use); 1 where the node can work nothing (closed, no
        staff)."""
        effective, claims, _ = self._terms()
        workable = effective > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            share = claims / np.where(workable, effective, 1.0)
        return np.asarray(np.where(workable, share, 1.0), dtype=np.float64)

    def score_map(self, profile: OrderProfile | None = None) -> NDArray[np.float64]:
        """Score of every node, one array expression (no order: ``workload=0``).

        Equals :func:`tierflow.capacity.score.capacity_scores` on the
        monitor's arrays up to floating-point rounding (a multiplication by
        the cached ``1 / nominal`` for its division: a last-digit difference
        on some nodes, tested with ``assert_allclose``).
        """
        return self._score(self.free(profile))

    def lane_score_map(
        self, workload: float, services: NDArray[np.integer[Any]]
    ) -> NDArray[np.float64]:
        """Score of every node for an order of ``workload`` shipped from
        node ``i`` by ``services[i]`` (-1: no lane, as ``OrderProfile``'s):
        each node's live room per lane (``room(lanes=True, forecast=True)``)
        less the order, the room its placement reads: an order ships by a
        lane of each node's own (``OrderProfile`` has one for all)."""
        return self._score(self.free_by_lane(workload, services))

    def free_by_lane(
        self, workload: float, services: NDArray[np.integer[Any]]
    ) -> NDArray[np.float64]:
        """Units each node has left for an order of ``workload`` shipped
        from node ``i`` by ``services[i]`` (-1: no lane): :meth:`free` with
        a lane per node. Negative where the node is overcommitted."""
        effective, claims, _ = self._terms()
        lane = np.asarray(services, dtype=np.intp)
        factor = lane_congestion(self.congestion, np.arange(lane.size), lane)
        return np.asarray((effective - claims) / factor - workload)

    def _score(self, free: NDArray[np.float64]) -> NDArray[np.float64]:
        """``free`` units as a score in [0, 1]: over nominal, clipped."""
        _, _, inv = self._terms()
        with np.errstate(over="ignore", invalid="ignore"):  # +-inf clips to 0 or 1
            out: NDArray[np.float64] = free * inv
        # np.clip's values (NaN stays NaN) at a third of its cost (its
        # dispatch is most of a checkout's score map)
        np.maximum(out, 0.0, out=out)
        np.minimum(out, 1.0, out=out)
        # + 0.0: a node of no capacity with work left is -free x 0 = -0.0,
        # which the clip keeps (the API said "score": -0.0, capacity show
        # -0.000); the formula scores it 0
        out += 0.0
        return out

    def free(self, profile: OrderProfile | None = None) -> NDArray[np.float64]:
        """Units each node has left for an order of ``profile`` (its lane's
        congestion applied, its workload taken): the score's numerator, and
        what ``capacity show`` lists beside it (it listed the node's room
        alone, whatever the order's lane and workload). Negative where the
        node is overcommitted."""
        effective, claims, _ = self._terms()
        if profile is None:
            return np.asarray(effective - claims)
        if profile.service >= 0:
            return np.asarray(
                (effective - claims) / self.congestion[:, profile.service]
                - profile.workload
            )
        return np.asarray(effective - claims - profile.workload)

    def capacity_score(
        self, node: str | int, profile: OrderProfile | None = None
    ) -> float:
        """Score of one node for an order profile."""
        i = self.network.node_idx(node) if isinstance(node, str) else int(node)
        p = profile or OrderProfile()
        congestion = lane_congestion(self.congestion, i, p.service)
        return float(
            capacity_scores(
                self.nominal[i],
                self.staffing[i],
                self.backlog[i],
                self.forecast[i],
                self.outage[i],
                congestion=congestion,
                workload=p.workload,
                forecast_congestion=self.forecast_congestion()[i],
            )
        )

    def score_matrix(
        self, workloads: NDArray[np.float64], services: NDArray[np.intp] | None = None
    ) -> NDArray[np.float64]:
        """``(n_orders, n_nodes)`` scores for a batch of order profiles at once."""
        w = np.asarray(workloads, dtype=np.float64)[:, None]
        if services is None:
            congestion: Any = 1.0
        else:
            s = np.asarray(services, dtype=np.intp)[:, None]  # (m, 1)
            nodes = np.arange(self.network.n_nodes)[None, :]
            congestion = lane_congestion(self.congestion, nodes, s)  # (m, n)
        return capacity_scores(
            self.nominal,
            self.staffing,
            self.backlog,
            self.forecast,
            self.outage,
            congestion=congestion,
            workload=w,
            forecast_congestion=self.forecast_congestion(),
        )

    def free_capacity(self) -> NDArray[np.float64]:
        """Units each node can still take today (>= 0), e.g. a batch's capacity."""
        return np.asarray(np.maximum(self.room(forecast=True), 0.0), dtype=np.float64)

    # --------------------------------------------------------- snapshots
    def state(self) -> dict[str, Any]:
        """JSON-able state, keyed by node id (survives node reordering):
        what the logged events made of the map (the forecast as the
        ``forecast`` events leave it, not :meth:`set_forecast`'s). The
        store's nodes this network does not have keep their entries, and the
        events of theirs logged since (``foreign_events``): a snapshot
        written with a smaller network (a wrong ``--network``, a node taken
        out) dropped them, and the events behind it were never replayed
        again, so the store's own network lost their state."""
        nodes = dict(self._foreign_nodes)
        for i, node_id in enumerate(self.network.node_ids):
            nodes[node_id] = {
                "nominal": float(self.nominal[i]),
                "staffing": float(self.staffing[i]),
                "backlog": float(self.backlog[i]),
                "forecast": float(self._logged_forecast[i]),
                "outage": bool(self.outage[i]),
                "congestion": self.congestion[i].tolist(),
                "stamp": [None if np.isinf(v) else float(v) for v in self._stamp[i]],
                "stamp_id": list(self._stamp_id[i]),
                "stamp_lane": [
                    None if np.isinf(v) else float(v) for v in self._stamp_lane[i]
                ],
                "backlog_changes": self._changes.node_state(i),
            }
        state: dict[str, Any] = {
            "nodes": nodes,
            "last_ts": None if np.isinf(self.last_ts) else self.last_ts,
            "heard_ts": None if np.isinf(self.heard_ts) else self.heard_ts,
            "feed_ts": None if np.isinf(self.feed_ts) else self.feed_ts,
            "n_applied": self.n_applied,
        }
        if self._foreign_events:
            state["foreign_events"] = [asdict(ev) for ev in self._foreign_events]
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        self.last_ts = -np.inf if state["last_ts"] is None else float(state["last_ts"])
        for node_id, s in state["nodes"].items():
            i = self.network.node_index.get(node_id)
            if i is None:
                # an entry no event touched holds only the defaults of the
                # network that wrote it, which any network with the node
                # rebuilds from its own nodes.csv: not carried on (a feed
                # run with the sample's network wrote 51 such entries into a
                # store of the tiny one, and each snapshot carried them on,
                # each open warned of them, for ever)
                if _holds_news(s):
                    self._foreign_nodes[node_id] = s
                continue
            # + 0.0: a -0.0 written before events read it as 0 opens as 0
            if s["stamp"][_NOMINAL] is not None:
                # an event's; one no event set is the network's own, and
                # nodes.csv's may have changed since it was written (a
                # capacity raised there stayed the old until an event)
                self.nominal[i] = s["nominal"] + 0.0
            self.staffing[i] = s["staffing"] + 0.0
            self.backlog[i] = s["backlog"] + 0.0
            self.forecast[i] = self._logged_forecast[i] = s["forecast"] + 0.0
            self.outage[i] = s["outage"]
            self.congestion[i] = s["congestion"]
            self._stamp[i] = [-np.inf if v is None else v for v in s["stamp"]]
            # a snapshot of before 2026-12-06 kept no ids: unknown (None)
            self._stamp_id[i] = list(s.get("stamp_id") or [None] * len(_SET_FIELDS))
            self._stamp_lane[i] = [-np.inf if v is None else v for v in s["stamp_lane"]]
            self._changes.load_node(
                i, s.get("backlog_changes"), self.last_ts, float(self.backlog[i])
            )
        heard = state.get("heard_ts", state["last_ts"])  # older snapshots: last_ts
        self.heard_ts = -np.inf if heard is None else float(heard)
        feed = state.get("feed_ts", state["last_ts"])  # older snapshots: last_ts
        self.feed_ts = -np.inf if feed is None else float(feed)
        self.n_applied = int(state["n_applied"])

    def forget_nodes(self, node_ids: Iterable[str]) -> list[str]:
        """Drop the store's nodes ``node_ids``, which this network does not
        have, from the map: their entries and their events logged since
        the snapshot (each snapshot carries them on otherwise, for the
        network that has them). On the operator's word only
        (``capacity forget``): a replica of a newer network may still
        need them. Takes effect with the next :meth:`snapshot`; returns the
        nodes dropped, sorted.

        Raises
        ------
        InputError
            At ``NODE``: a node of this network (its state is the map's), or
            one the store's map does not name.
        """
        names = list(dict.fromkeys(node_ids))
        foreign = set(self._foreign_nodes) | {ev.node_id for ev in self._foreign_events}
        for name in names:
            if name in self.network.node_index:
                raise InputError(
                    "a node of this network: its capacity state is kept",
                    field="NODE",
                    value=name,
                )
            if name not in foreign:
                raise InputError(
                    "not in the state store's capacity map (nodes it names that "
                    f"the network does not have: {listed(sorted(foreign)) or 'none'})",
                    field="NODE",
                    value=name,
                )
        gone = set(names)
        for name in gone:
            self._foreign_nodes.pop(name, None)
        self._foreign_events = [
            ev for ev in self._foreign_events if ev.node_id not in gone
        ]
        return sorted(gone)

    @property
    def unsnapshotted(self) -> int:
        """Events applied since the last snapshot (or since the state was
        built or opened): what a restart would replay after that snapshot."""
        return self._since_snapshot

    @property
    def carries_foreign(self) -> bool:
        """Whether the map carries state of nodes this network does not
        have (for the network that has them): a snapshot of it then needs
        the store's newest snapshot read first (:meth:`snapshot_state`)."""
        return bool(self._foreign_nodes or self._foreign_events)

    def snapshot_state(
        self, newest: tuple[int, Mapping[str, Any]] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``(last_seq, state)``: what :meth:`snapshot` persists, for a
        caller that saves it on a connection of its own (then
        :meth:`snapshot_saved`). ``newest``: the store's newest snapshot,
        read just before when the map :attr:`carries_foreign` (the nodes
        it no longer names are dropped first: :meth:`_drop_forgotten`)."""
        if newest is not None:
            self._drop_forgotten(*newest)
        return self.last_seq, self.state()

    def _drop_forgotten(self, seq: int, newest: Mapping[str, Any]) -> None:
        """Drop the carried state of the nodes this network does not have
        that the store's newest snapshot (``newest``, covering the log up to
        ``seq``) no longer names: ``capacity forget`` dropped them since
        this map was built. The map carried them on, and its next snapshot
        (a feed's at its end, a server's every few thousand events) wrote
        them back: the forget was undone without a word, and every open
        warned of them again. Their events logged after that snapshot are
        kept, as an open of the store keeps them (a replica of a network
        with the node sent them since)."""
        named = set(newest["nodes"])
        named.update(ev["node_id"] for ev in newest.get("foreign_events", []))
        carried = set(self._foreign_nodes) | {ev.node_id for ev in self._foreign_events}
        gone = carried - named
        for name in gone:
            self._foreign_nodes.pop(name, None)
        self._foreign_events = [
            ev for ev in self._foreign_events if ev.node_id not in gone or ev.seq > seq
        ]

    def snapshot_saved(self, counted: int) -> None:
        """A snapshot taken when :attr:`unsnapshotted` was ``counted`` is
        saved (the events applied since still count)."""
        self._since_snapshot = max(0, self._since_snapshot - counted)

    def snapshot(self) -> None:
        """Persist the state with the last applied sequence number."""
        if self.store is None:
            raise InputError("no state store attached", field="store")
        counted = self._since_snapshot
        newest = self.store.latest_capacity_snapshot() if self.carries_foreign else None
        # not into a store restored under the map (it would be every
        # process's map at its next open): the map is reloaded instead
        if self.store.save_capacity_snapshot(*self.snapshot_state(newest), self._made):
            self.snapshot_saved(counted)
        else:
            self.attach(self.store)

    # ------------------------------------------------------------ report
    def table(self, profile: OrderProfile | None = None) -> pd.DataFrame:
        """Score per node with the inputs behind it (``capacity show``); for
        a profile of one service, 0 at a node that does not offer it (it
        cannot take such an order: a store without next-day scored 0.96 for
        next-day orders)."""
        net = self.network
        score = self.score_map(profile)
        if profile is not None and profile.service >= 0:
            score = np.where(net.offers(profile.service), score, 0.0)
        # a closed node takes nothing: no room (not the backlog's overshoot,
        # "free -247", which `capacity show` listed while the API said 0)
        free = np.where(self.outage, 0.0, self.free(profile))
        offered = net.offered_services()
        return pd.DataFrame(
            {
                "node_id": net.node_ids,
                "kind": [NODE_KINDS[k] for k in net.node_kind],
                "score": score,
                "nominal_capacity": self.nominal,
                "staffing_pct": self.staffing * 100.0,
                "backlog": self.backlog,
                "forecast_rest_of_day": self.forecast,
                "free_capacity": free,
                "outage": self.outage,
                # of the lanes the node ships: a delay sent for a service
                # it does not offer changes nothing it ships
                "max_congestion": np.where(offered, self.congestion, 1.0).max(axis=1),
            }
        )

    def as_of(self) -> dt.datetime | None:
        """Timestamp of the newest applied event."""
        if np.isinf(self.last_ts):
            return None
        return dt.datetime.fromtimestamp(self.last_ts, dt.UTC)

    def heard_at(self) -> dt.datetime | None:
        """The newest feed event's time capped at its receipt (``heard_ts``):
        what staleness is measured from, so an event dated a month ahead does
        not keep a dead feed's map fresh for a month, nor do the orders a
        server confirms (their work events) keep it fresh at all."""
        if np.isinf(self.heard_ts):
            return None
        return dt.datetime.fromtimestamp(self.heard_ts, dt.UTC)

    def feed_as_of(self) -> dt.datetime | None:
        """Timestamp of the newest applied event of the feed (no checkout's
        work): what a stale map's note names."""
        if np.isinf(self.feed_ts):
            return None
        return dt.datetime.fromtimestamp(self.feed_ts, dt.UTC)

    def set_at(self, kinds: tuple[str, ...]) -> dict[str, NDArray[np.float64]]:
        """When each node's ``kinds`` (of ``nominal_capacity``, ``staffing``,
        ``backlog``, ``outage``, ``forecast``) were last set: the applied
        event's ``ts`` in epoch seconds, ``-inf`` where none set it (the
        network's value stands). Kept in the snapshots, so every router of
        a store has the same."""
        return {k: self._stamp[:, _SET_FIELDS.index(k)].copy() for k in kinds}

    def set_by(self, kinds: tuple[str, ...]) -> dict[str, list[str | None]]:
        """The ``event_id`` of the event behind each node's :meth:`set_at`
        of ``kinds``: None where none set it, or where the stamp was restored
        from a snapshot written before the ids were kept (2026-12-06). Kept
        in the snapshots, so every router of a store names the same."""
        return {k: [ids[_SET_FIELDS.index(k)] for ids in self._stamp_id] for k in kinds}

    def congestion_by_service(self, node: int) -> dict[str, float]:
        """Lane delay factors of one node, by service name."""
        return {s: float(self.congestion[node, k]) for k, s in enumerate(SERVICES)}

    def lane_rooms(self) -> list[dict[str, dict[str, float]]]:
        """Per node, each service it ships: the lane's congestion, the room
        an order of no work shipped by it finds (:meth:`free_by_lane`; 0 at
        a closed node, which takes nothing) and its score
        (:meth:`lane_score_map`), rounded as ``GET /v1/capacity`` and
        ``tierflow capacity show --json`` give them (one builder for both).
        The figures are read as Python floats at once: a lane's three read
        element by element from the arrays cost more than the rest of a
        node's answer."""
        n = self.network.n_nodes
        by = [np.full(n, k, dtype=np.intp) for k in range(len(SERVICES))]
        room = [self.free_by_lane(0.0, lanes).tolist() for lanes in by]
        score = [self.lane_score_map(0.0, lanes).tolist() for lanes in by]
        factor, closed = self.congestion.tolist(), self.outage.tolist()
        offered = [
            (k, s, self.network.offers(k).tolist()) for k, s in enumerate(SERVICES)
        ]
        return [
            {
                s: {
                    "congestion": round(factor[i][k], 3),
                    "free_capacity": 0.0 if closed[i] else round(room[k][i], 2) + 0.0,
                    "score": round(score[k][i], 4),
                }
                for k, s, on in offered
                if on[i]
            }
            for i in range(n)
        ]


#: The kinds of event whose last time a node's ``changed_at`` gives
#: (``GET /v1/capacity``, ``tierflow capacity show``): the operator's (an
#: order's work moves the backlog all day, the forecast maker the forecast).
CHANGED_KINDS = ("nominal_capacity", "staffing", "outage")


#: The services a node's rest-of-day forecast is counted on, the first it
#: offers (:meth:`CapacityMonitor.forecast_congestion`).
FORECAST_LANES = ("ground", "two_day", "next_day")


def _newest(
    group: NDArray[np.intp], ts: NDArray[np.float64], rows: NDArray[np.intp]
) -> list[int]:
    """Of ``rows`` (in log order) grouped by ``group``, each group's newest
    by ``ts``, of equal ``ts`` the last: the event one at a time leaves
    standing (an older one is stale, one of equal ``ts`` replaces)."""
    if rows.size == 0:
        return []
    order = np.lexsort((np.arange(rows.size), ts, group))
    last = np.append(group[order][1:] != group[order][:-1], True)
    out: list[int] = rows[order[last]].tolist()
    return out


def _forecast_lanes(network: Network) -> NDArray[np.intp]:
    """Per node, the first of :data:`FORECAST_LANES` it offers (-1: none)."""
    lane = np.full(network.n_nodes, -1, dtype=np.intp)
    for name in reversed(FORECAST_LANES):
        s = service_index(name)
        lane = np.where(network.offers(s), s, lane)
    return lane


def stamp_instant(ts: float) -> str | None:
    """An event time of :meth:`CapacityMonitor.set_at` (epoch seconds) as
    ISO 8601 UTC; None for none (-inf)."""
    if not np.isfinite(ts):
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _holds_news(entry: Mapping[str, Any]) -> bool:
    """Whether a snapshot's node entry holds anything an event made: a
    stamp, a lane's stamp, a backlog change (an entry of before the stamps
    is taken to)."""
    stamps = entry.get("stamp")
    lanes = entry.get("stamp_lane")
    if stamps is None or lanes is None:
        return True
    changes = entry.get("backlog_changes") or {}
    return (
        any(v is not None for v in stamps)
        or any(v is not None for v in lanes)
        or bool(changes.get("ts"))
        or bool(entry.get("outage"))
    )


def _warn_foreign_nodes(names: set[str]) -> None:
    """The store's capacity state names nodes the network does not have:
    their events change nothing here, which a store of another network
    shown with this one would otherwise hide."""
    log.warning(
        "the state store's capacity map names %s the network does not "
        "have (%s): left out (a node removed, or a store of another network?); "
        "once no server of the store serves a network with them, `tierflow "
        "capacity forget NODE... --state STORE` drops them",
        counted(len(names), "node"),
        listed(sorted(names)),
    )


def events_for(
    network: Network, records: Iterable[dict[str, Any]]
) -> list[CapacityEvent]:
    """Parse JSON-like dicts into events (``InputError`` on the first bad one)."""
    return [parse_event(r, network, row=i) for i, r in enumerate(records, start=1)]


__all__ = [
    "EVENT_TYPES",
    "CapacityMonitor",
    "IngestResult",
    "OrderProfile",
    "events_for",
]


def _check_against(
    events: Sequence[CapacityEvent],
    file: str | None,
    earlier: dict[str, tuple[CapacityEvent | None, str]],
) -> None:
    """An ``EventIdConflict`` for the first event whose id is among
    ``earlier`` (the event and what it was) with other content."""
    for k, ev in enumerate(events):
        before, what = earlier.get(ev.event_id, (ev, ""))
        if before != ev:
            raise EventIdConflict(
                f"event id already used by {what} with different content",
                file=file,
                row=event_row(events, k),
                field="event_id",
                value=ev.event_id,
            )
