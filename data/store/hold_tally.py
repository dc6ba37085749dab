"""Checkouts counted by option and ending, kept as they change, so that
``/metrics`` reads a few rows instead of scanning a day of checkouts.

``hold_tally`` (migration 10) has rows per ``(option_id, state)``:
``held`` (a hold, live or lapsed), ``confirmed``, ``cancelled`` (in time)
and ``lapsed`` (cancelled after its hold lapsed), each split in
:data:`SHARDS` rows (``shard``, from the checkout's id) that are summed on
reading: a transaction keeps a tally row it moved locked until its commit,
and with one row per state every hold of the fleet would wait, on
PostgreSQL, for the one before it to commit (its WAL flush included, at
``synchronous_commit = on``). Every transaction that
inserts, changes or deletes a ``checkouts`` row moves the tally in the
same transaction, so the tally is always what a scan of ``checkouts``
would count. Whether a hold is live depends on the clock, not on a write:
:func:`hold_counts` counts live holds from the ``checkouts_by_expiry``
index (only the checkouts whose expiry is still ahead: a TTL's worth) and takes the
lapsed ones as the rest of ``held``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from tierflow.data.store.database import Connection, Transaction, later_rows
from tierflow.data.vocabulary import HoldStatus

#: The tally's state of a checkout cancelled after its hold had lapsed.
LAPSED = "lapsed"
#: Rows each ``(option_id, state)`` is split in: two checkouts' transactions
#: wait on each other's tally row once in this many, not always.
SHARDS = 16

_HELD = HoldStatus.HELD.value
_CANCELLED = HoldStatus.CANCELLED.value

#: The tally state of a ``checkouts`` row (``c``), as SQL: its status, or
#: :data:`LAPSED` for a cancel at or after its expiry.
TALLY_STATE = (
    f"CASE WHEN c.status = '{_CANCELLED}' AND c.expires_at <= c.updated_at "
    f"THEN '{LAPSED}' ELSE c.status END"
)

#: What :func:`hold_counts` reads (parameters: ``held``, now): the tally and
#: the live holds, from ``checkouts_by_expiry`` (never a scan of ``checkouts``).
HOLD_COUNTS_SQL = (
    "SELECT option_id, state, SUM(n) FROM hold_tally GROUP BY option_id, state "
    "UNION ALL "
    "SELECT option_id, 'active', COUNT(*) FROM checkouts "
    "WHERE status = ? AND expires_at > ? GROUP BY option_id"
)

#: Changes of the tally: ``(option_id, state)`` → how many rows came (+) or
#: went (-).
Moves = Mapping[tuple[str, str], int]


def tally_shard(key: str) -> int:
    """The tally shard of a checkout id (stable across processes)."""
    return zlib.crc32(key.encode()) % SHARDS


def move_tally_later(conn: Transaction, moves: Moves, key: str) -> None:
    """Queue the tally's changes in the caller's transaction, on the shard of
    ``key`` (the checkout's id: its moves may land on any shard, the sums
    are what counts), rows in key order so two transactions lock them in
    one order."""
    shard = tally_shard(key)
    rows = [(opt, state, shard, n) for (opt, state), n in sorted(moves.items()) if n]
    if rows:
        later_rows(  # one statement; its keys differ (one shard, distinct moves)
            conn,
            "INSERT INTO hold_tally (option_id, state, shard, n)",
            rows,
            " ON CONFLICT (option_id, state, shard) "
            "DO UPDATE SET n = hold_tally.n + excluded.n",
        )


def hold_counts(conn: Connection, now: float) -> dict[tuple[str, str], int]:
    """Checkouts by ``(option_id, state)`` at ``now``: ``active``, ``expired``
    (a lapsed hold, or cancelled after it lapsed), ``confirmed``,
    ``cancelled``; one statement (one snapshot) of at most a few rows per
    option plus the live holds."""
    rows = conn.execute(HOLD_COUNTS_SQL, (_HELD, now)).fetchall()
    tally: dict[tuple[str, str], int] = {}
    for option, state, n in rows:
        tally[str(option), str(state)] = int(n)
    out: dict[tuple[str, str], int] = {}
    for (option, state), n in tally.items():
        if state == "active":
            out[option, "active"] = n
        elif state in (_HELD, LAPSED):
            live = tally.get((option, "active"), 0) if state == _HELD else 0
            out[option, "expired"] = out.get((option, "expired"), 0) + n - live
        else:
            out[option, state] = n
    return {key: n for key, n in out.items() if n}


def tally_mismatches(conn: Connection) -> list[str]:
    """``(option_id, state)`` whose tally differs from a count of the rows."""
    rows = conn.execute(
        f"SELECT option_id, state, SUM(n) FROM (SELECT c.option_id, {TALLY_STATE} "
        "AS state, 1 AS n FROM checkouts c UNION ALL SELECT option_id, state, -n "
        "FROM hold_tally) x GROUP BY option_id, state HAVING SUM(n) != 0"
    ).fetchall()
    return [f"hold tally {o}/{s}: off by {-int(n)}" for o, s, n in rows]
