"""The capacity event log and the monitor's snapshots.

Events carry caller ids (``event_id``): logging one again writes nothing.
``seq`` orders application (it increases with commit order; PostgreSQL may
skip numbers); a snapshot records the monitor state that includes every
event up to its ``last_seq``. A commit that logs events notifies
:data:`CAPACITY_CHANNEL`, which :meth:`CapacityLog.wait_for_events` waits on.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tierflow.data.errors import InputError
from tierflow.data.store.database import (
    Cursor,
    StorePart,
    Transaction,
    chunks,
    clock,
    later_rows,
    marks,
)
from tierflow.data.store.retention import EVENTS_HORIZON, event_epoch, utc_text

#: The channel a commit that logged capacity events notifies (payload: last seq).
CAPACITY_CHANNEL = "tierflow_capacity_events"
#: Judges events about to be logged against the logged events of their ids
#: (by id), under the log's lock: raises to log none of them.
LoggedCheck = Callable[[dict[str, "StoredEvent"]], None]
#: Longest wait between two reads of the log (a lost notice costs at most this).
_RECHECK_S = 1.0
_KEEP_SNAPSHOTS = 20
#: The log's last ``seq``, which only a store restored (or made again)
#: under its readers brings back: a prune that deleted every event leaves
#: the newest snapshot's ``last_seq`` (it deletes none after it), not 0.
LAST_SEQ = (
    "COALESCE((SELECT MAX(seq) FROM capacity_events), (SELECT last_seq FROM "
    "capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1), 0)"
)
_EVENT_FIELDS = ("event_id", "ts", "node_id", "type")


class PrunedEvent(InputError):
    """An event not logged, dated at or before the newest one ``tierflow
    state prune`` deleted with its id: it may be one applied already (a
    replay), so it is refused. ``k``: its 0-based position in the batch."""

    def __init__(self, k: int, ts: str, horizon: float) -> None:
        super().__init__(
            f"at or before {utc_text(horizon)}, the newest event `tierflow state "
            "prune` deleted from the capacity log (with its id): it may be one "
            "applied already, so it is refused",
            row=k + 1,
            field="ts",
            value=ts,
        )
        self.k = k


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A capacity event as logged: ``seq`` orders application."""

    seq: int
    event_id: str
    ts: str
    node_id: str
    type: str
    payload: dict[str, Any]
    #: When the log received it (epoch seconds; None where not read): a
    #: future-dated event counts as news of the feed only up to this.
    received_at: float | None = None


class LogColumns(NamedTuple):
    """Logged events as columns, in sequence order (:meth:`CapacityLog.
    events_dated_upto`): each a tuple of one field of every event, the
    ``payload`` the logged JSON text, not read."""

    seq: tuple[int, ...]
    event_id: tuple[str, ...]
    ts: tuple[str, ...]
    node_id: tuple[str, ...]
    type: tuple[str, ...]
    payload: tuple[str, ...]
    received_at: tuple[float, ...]

    def stored(self, k: int) -> StoredEvent:
        """Event ``k`` as :meth:`CapacityLog.events_after` reads it."""
        return _stored_event(tuple(column[k] for column in self))


#: The ``ts`` text a log's writer gives (``CapacityEvent.record``: UTC's
#: ``isoformat``), of whole seconds and of microseconds, as ``length``:
#: the first 19 characters (``YYYY-MM-DDTHH:MM:SS``) of one such that is
#: an instant compare as the instants (fixed-width digits, read bytewise).
_UTC_LENGTHS = "(25, 32)"


def _dated_after(bound: str | None, byte_order: str) -> tuple[str, tuple[str, ...]]:
    """SQL condition (and its parameter) of the rows to read: those not of
    the UTC form (:data:`_UTC_LENGTHS`) whose first 19 characters order
    after ``bound``'s (None: every row). A row it leaves out is unreadable
    (the replay skips it) or dated after ``bound``'s second."""
    if bound is None:
        return "", ()
    return (
        f" AND NOT (length(ts) IN {_UTC_LENGTHS} AND substr(ts, length(ts) - 5)"
        f" = '+00:00' AND substr(ts, 1, 19){byte_order} > ?)",
        (bound,),
    )


def second_after(at: float) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of the whole second after the one of
    ``at`` (epoch seconds): an event of a later second is dated at least a
    second after ``at``, whatever the rounding of either to a float. None
    where there is no such date (beyond year 9999)."""
    try:
        after = dt.datetime.fromtimestamp(math.floor(at) + 1, dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return after.isoformat()[:19]


class LogPosition(NamedTuple):
    """Where the log stands (:data:`LAST_SEQ`) and which making of the
    store's tables it is of (``Database.tables_made``): what every process
    that holds a capacity map compares to tell a store restored under it
    (a server's follower, ``capacity ingest --follow``); ``allocate`` holds
    its run's position so (``allocations.run_position``)."""

    seq: int
    made: int

    def remade_since(self, made: int | None, held: int) -> bool:
        """Whether the store was made again under a map built from its
        making ``made`` (None: not known) that holds the log up to ``held``:
        another making (PostgreSQL: ``pg_restore --clean``), or a log gone
        back below what the map holds (SQLite's ``.restore``, whose tables
        stay). Without it a map from before the restore was answered from
        and snapshotted into the restored store."""
        return (made is not None and self.made != made) or self.seq < held


def log_events(
    conn: Transaction,
    events: Sequence[Mapping[str, Any]],
    check: LoggedCheck | None = None,
) -> list[int | None]:
    """Log events inside an open write transaction (see
    :meth:`CapacityLog.append_events`); the commit notifies the listeners."""
    received = clock()
    out: list[int | None] = []
    conn.lock("capacity_events")
    if check is not None:  # under the lock: no other writer logs one between
        check(logged_events_of(conn, [str(ev["event_id"]) for ev in events]))
    _refuse_pruned(conn, events)
    for ev in events:
        row = conn.execute(
            f"{_INSERT_EVENT} RETURNING seq", _event_row(ev, received)
        ).fetchone()
        out.append(None if row is None else int(row[0]))
    logged = [seq for seq in out if seq is not None]
    if logged:
        conn.notify(CAPACITY_CHANNEL, max(logged))
    return out


def _refuse_pruned(conn: Transaction, events: Sequence[Mapping[str, Any]]) -> None:
    """A :class:`PrunedEvent` for the first event not logged dated at or
    before the pruned log's horizon (``retention.py``), under the log's lock."""
    row = conn.execute(
        "SELECT horizon FROM prune_horizons WHERE name = ?", (EVENTS_HORIZON,)
    ).fetchone()
    if row is None or not events:
        return
    horizon = float(row[0])
    old = [k for k, ev in enumerate(events) if event_epoch(str(ev["ts"])) <= horizon]
    if not old:
        return
    logged = logged_events_of(conn, [str(events[k]["event_id"]) for k in old])
    for k in old:
        if str(events[k]["event_id"]) not in logged:
            raise PrunedEvent(k, str(events[k]["ts"]), horizon)


def log_events_later(conn: Transaction, events: Sequence[Mapping[str, Any]]) -> None:
    """:func:`log_events` for a caller that needs no sequence numbers (a
    confirmed order's work): queued behind the log's lock, with the notice
    of the log's newest ``seq``, so on PostgreSQL the lock is held only while
    the server runs them and the commit, never across a round trip to the
    client."""
    received = clock()
    conn.lock("capacity_events")
    later_rows(  # in their order: the seqs go as they would one by one
        conn,
        _INSERT_COLUMNS,
        [_event_row(ev, received) for ev in events],
        _ON_LOGGED,
    )
    if events:
        conn.notify_query(CAPACITY_CHANNEL, "SELECT MAX(seq) FROM capacity_events")


def events_after_at_commit(conn: Transaction, seq: int) -> Cursor:
    """The log after ``seq`` as the transaction commits, read last (with the
    commit: no round trip of its own on PostgreSQL) after
    :func:`log_events_later` (whose lock makes it complete: every smaller
    ``seq`` is committed, no other writer's can follow before the commit);
    :func:`stored_events` reads it."""
    return conn.read_at_commit(_EVENTS_AFTER, (seq,))


def logged_events_of(db: Any, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
    """The logged events among ``event_ids``, by id, read by ``db`` (the
    store's database, or an open transaction)."""
    out: dict[str, StoredEvent] = {}
    ids = list(dict.fromkeys(str(e) for e in event_ids))
    for chunk in chunks(ids):
        rows = db.execute(
            "SELECT seq, event_id, ts, node_id, type, payload FROM capacity_events "
            f"WHERE event_id IN ({marks(len(chunk))})",
            tuple(chunk),
        ).fetchall()
        for s, e, t, n, k, p in rows:
            out[str(e)] = StoredEvent(
                int(s), str(e), str(t), str(n), str(k), json.loads(p)
            )
    return out


def stored_events(rows: Cursor) -> list[StoredEvent]:
    """The events of a read of :data:`_EVENTS_AFTER`."""
    return [_stored_event(row) for row in rows.fetchall()]


def _stored_event(row: Sequence[Any]) -> StoredEvent:
    """One row of :data:`_EVENT_COLUMNS` as an event."""
    s, e, t, n, k, p, r = row
    return StoredEvent(int(s), str(e), str(t), str(n), str(k), json.loads(p), float(r))


#: A logged event's columns, as :func:`_stored_event` reads them.
_EVENT_COLUMNS = (
    "SELECT seq, event_id, ts, node_id, type, payload, received_at FROM capacity_events"
)
#: The logged events after a ``seq``, in sequence order.
_EVENTS_AFTER = f"{_EVENT_COLUMNS} WHERE seq > ? ORDER BY seq"

#: One event into the log (a repeated ``event_id`` is left as it was);
#: parameters from :func:`_event_row`.
_INSERT_COLUMNS = (
    "INSERT INTO capacity_events (event_id, ts, node_id, type, payload, received_at)"
)
_ON_LOGGED = " ON CONFLICT (event_id) DO NOTHING"
_INSERT_EVENT = f"{_INSERT_COLUMNS} VALUES (?, ?, ?, ?, ?, ?){_ON_LOGGED}"


def _event_row(ev: Mapping[str, Any], received: float) -> tuple[Any, ...]:
    payload = {k: v for k, v in ev.items() if k not in _EVENT_FIELDS}
    return (
        *(str(ev[k]) for k in _EVENT_FIELDS),
        json.dumps(payload, sort_keys=True),
        received,
    )


class CapacityLog(StorePart):
    """Capacity events in arrival order, and snapshots of the monitor state."""

    def append_events(
        self, events: Sequence[Mapping[str, Any]], check: LoggedCheck | None = None
    ) -> list[int | None]:
        """Log events (``event_id, ts, node_id, type`` + payload) in one transaction.

        The appends of all workers are serialized (a lock on the log), so
        sequence numbers become visible in order and a reader that has seen
        ``seq`` never misses a smaller one later. ``check`` is given the
        logged events of their ids under that lock and may refuse them all
        (an id reused with other content): judged before the transaction,
        two writers logging one id with two contents at once both passed,
        and the second was counted a duplicate.

        Returns
        -------
        list
            Per event, its new sequence number, or None for an ``event_id``
            already logged (the duplicate is ignored).
        """
        with self._db.tx() as conn:
            return log_events(conn, events, check)

    def wait_for_events(
        self, after_seq: int, timeout_s: float, stop: threading.Event | None = None
    ) -> int:
        """Wait until the log holds an event after ``after_seq``, at most
        ``timeout_s`` and no longer than ``stop`` stays unset.

        Returns :meth:`last_event_seq` (still ``<= after_seq`` on a timeout).
        PostgreSQL wakes the waiter with ``LISTEN``; SQLite polls the log.
        Events appended by any process or replica count. ``stop``: a
        stopping server's follower returns at once, not after its wait.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._db.listen(CAPACITY_CHANNEL)  # before the read: no notice is missed
        while True:
            last = self.last_event_seq()
            left = deadline - time.monotonic()
            if last > after_seq or left <= 0 or (stop is not None and stop.is_set()):
                return last
            wait = min(left, _RECHECK_S)
            self._db.wait_notice(CAPACITY_CHANNEL, after_seq, wait, stop)

    def events_after(self, seq: int) -> list[StoredEvent]:
        """Logged events after ``seq``, in sequence order."""
        return stored_events(self._db.execute(_EVENTS_AFTER, (seq,)))

    def events_dated_upto(self, at: float) -> LogColumns:
        """The logged events, in sequence order, as columns, without those
        whose ``ts`` is the writers' UTC form dated a second or more after
        ``at`` (epoch seconds; :func:`second_after`): the others may be
        after it as well (any other form, or within the second), which the
        reader tells by parsing them (``CapacityMonitor.open_at``)."""
        where, bound = _dated_after(second_after(at), self._db.byte_order)
        rows = self._db.execute(
            f"{_EVENT_COLUMNS} WHERE seq > 0{where} ORDER BY seq", bound
        ).fetchall()
        if not rows:
            return LogColumns((), (), (), (), (), (), ())
        return LogColumns(*zip(*rows, strict=True))

    def logged_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """The logged events among ``event_ids``, by id (to tell a repeat with
        the same content from one with different content)."""
        return logged_events_of(self._db, event_ids)

    def last_event_seq(self) -> int:
        """Highest logged sequence number (0 when empty)."""
        row = self._db.execute("SELECT MAX(seq) FROM capacity_events").fetchone()
        return int(row[0] or 0)

    def pruned_through(self) -> float | None:
        """The newest ``ts`` (epoch seconds) of the events ``tierflow state
        prune`` deleted from the log, None when it never deleted one: a
        replay of the log from its start (the map at a past instant) is
        whole only then."""
        row = self._db.execute(
            "SELECT horizon FROM prune_horizons WHERE name = ?", (EVENTS_HORIZON,)
        ).fetchone()
        return None if row is None else float(row[0])

    def log_position(self) -> LogPosition:
        """The log's last ``seq`` and the making of the store's tables (one read)."""
        row = self._db.execute(f"SELECT {LAST_SEQ}, {self._db.tables_made}").fetchone()
        return LogPosition(int(row[0] or 0), int(row[1]))

    def save_capacity_snapshot(
        self, last_seq: int, state: Mapping[str, Any], made: int | None = None
    ) -> bool:
        """Persist a monitor state covering events up to ``last_seq`` (keeps
        20), only into the store it was built from: not when the log went
        back below ``last_seq`` or the tables are of another making than
        ``made`` (:meth:`LogPosition.remade_since`: a store restored under
        the map, which it would have corrupted for every process's next
        open). Whether it was saved."""
        same = "" if made is None else f" AND {self._db.tables_made} = ?"
        with self._db.tx() as conn:
            saved = conn.execute(
                "INSERT INTO capacity_snapshots (last_seq, created_at, state) "
                f"SELECT ?, ?, ? WHERE {LAST_SEQ} >= ?{same}",
                (int(last_seq), clock(), json.dumps(state), int(last_seq))
                + (() if made is None else (int(made),)),
            ).rowcount
            if not saved:
                return False
            conn.execute(
                "DELETE FROM capacity_snapshots WHERE snapshot_id NOT IN ("
                "SELECT snapshot_id FROM capacity_snapshots "
                "ORDER BY snapshot_id DESC LIMIT ?)",
                (_KEEP_SNAPSHOTS,),
            )
        return True

    def latest_capacity_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """``(last_seq, state)`` of the newest snapshot, or None."""
        row = self._db.execute(
            "SELECT last_seq, state FROM capacity_snapshots "
            "ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))
