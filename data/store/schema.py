"""The store's schema: SQLite DDL as versioned migrations, and the same
migrations in PostgreSQL's dialect.

A migration, once released, never changes (databases in the field applied
it); a change is a new migration appended to :data:`MIGRATIONS`. Status
CHECK constraints are built from the :mod:`tierflow.data.vocabulary` enums,
member by member, so an enum that grows does not rewrite old migrations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from tierflow.data.vocabulary import AllocationStatus, HoldStatus, ReservationStatus


def _one_of(*members: StrEnum) -> str:
    """``'a', 'b'``: the members as an SQL ``IN`` list."""
    return ", ".join(f"'{m.value}'" for m in members)


_RESERVATION_STATES = _one_of(
    ReservationStatus.ACTIVE,
    ReservationStatus.COMMITTED,
    ReservationStatus.RELEASED,
    ReservationStatus.EXPIRED,
)
_DECIDED = _one_of(
    AllocationStatus.ALLOCATED, AllocationStatus.DEFERRED, AllocationStatus.UNFILLABLE
)
_DECIDED_OR_REROUTED = _one_of(
    AllocationStatus.ALLOCATED,
    AllocationStatus.DEFERRED,
    AllocationStatus.UNFILLABLE,
    AllocationStatus.REROUTED,
)
_CHECKOUT_STATES = _one_of(HoldStatus.HELD, HoldStatus.CONFIRMED, HoldStatus.CANCELLED)
_CLOSED = _one_of(HoldStatus.CONFIRMED, HoldStatus.CANCELLED)
_TALLY_STATES = f"{_CHECKOUT_STATES}, 'lapsed'"
_ALLOCATED = AllocationStatus.ALLOCATED.value
#: A hold's reservation id without its ``<attempt>.<k>`` (``<request_id>#``),
#: and the checkout id before that ``#`` (``rtrim``, ``substr`` and
#: ``length`` mean the same on both backends).
_HOLD_ID = "rtrim(reservations.request_id, '0123456789.')"
_CHECKOUT_OF_HOLD = f"substr({_HOLD_ID}, 1, length({_HOLD_ID}) - 1)"

#: Statements of each schema migration; version ``i + 1`` applies ``MIGRATIONS[i]``.
#: The hold tally's table (migrations 10 and 12 make it the same) and its
#: filling from the checkouts.
_HOLD_TALLY_TABLE = f"""CREATE TABLE hold_tally (
            option_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ({_TALLY_STATES})),
            shard INTEGER NOT NULL DEFAULT 0,
            n INTEGER NOT NULL,
            PRIMARY KEY (option_id, state, shard)
        )"""
_HOLD_TALLY_FILL = f"""INSERT INTO hold_tally (option_id, state, n)
            SELECT option_id, state, COUNT(*) FROM (SELECT c.option_id,
                CASE WHEN c.status = '{HoldStatus.CANCELLED.value}'
                    AND c.expires_at <= c.updated_at THEN 'lapsed'
                    ELSE c.status END AS state FROM checkouts c) x
            GROUP BY option_id, state"""

#: The live (``active``) reservations: the condition of migration 14's
#: partial index, which a query reading them through it names as written
#: here (SQLite uses a partial index only for a ``WHERE`` that states its
#: condition; a bound parameter does not).
LIVE_RESERVATION = f"status = '{ReservationStatus.ACTIVE.value}'"


def _without_rowid(table: str, columns: str, key: str) -> tuple[str, ...]:
    """SQLite: ``table`` made again ``WITHOUT ROWID`` with primary key
    ``key`` (the table is then the b-tree of its key, where a rowid table
    keeps the key in an index of its own: a page fewer per insert), its rows
    copied (its indexes go with the old table) in the order of ``key``, read
    through the old table's index of it: each row is appended to the new
    b-tree. In the old table's order (rowids) each row went to a random page
    of a table larger than the page cache: 185 s for 5.3 million order
    lines, 56 s so (``docs/store.md``, "Pages a checkout writes")."""
    names = ", ".join(c.split()[0] for c in columns.split(",\n"))
    return (
        f"CREATE TABLE {table}_v14 ({columns},\nPRIMARY KEY ({key})) WITHOUT ROWID",
        f"INSERT INTO {table}_v14 ({names}) SELECT {names} FROM {table} ORDER BY {key}",
    )


def _swap_in(table: str) -> tuple[str, ...]:
    return (f"DROP TABLE {table}", f"ALTER TABLE {table}_v14 RENAME TO {table}")


#: Migration 14 in SQLite. Every table a checkout call writes is made
#: ``WITHOUT ROWID``; the stock is kept in SKU order, the order the checkout
#: reads it in (``inventory_by_sku``, a copy of every row that each take and
#: each give-back rewrote, goes); the live reservations are a partial index
#: (a confirm drops its entry, where it moved it from ``active`` to
#: ``committed``); the checkouts have one index, by expiry with the status
#: and option, for the prune and ``/metrics``' live holds (a confirm or
#: cancel rewrites its entry in place). A reservation's lines are copied
#: before the reservations' old table is dropped, which their foreign key
#: allows only once no line refers to it (the rename points it at the new
#: table).
_SQLITE_14: tuple[str, ...] = (
    *_without_rowid(
        "inventory",
        """node_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
            reserved INTEGER NOT NULL DEFAULT 0
                CHECK (reserved >= 0 AND reserved <= on_hand)""",
        "sku, node_id",
    ),
    *_swap_in("inventory"),
    *_without_rowid(
        "reservations",
        f"""request_id TEXT NOT NULL,
            node_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({_RESERVATION_STATES})),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            checkout_id TEXT""",
        "request_id",
    ),
    *_without_rowid(
        "reservation_lines",
        """request_id TEXT NOT NULL REFERENCES reservations_v14 (request_id),
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0)""",
        "request_id, sku",
    ),
    *_swap_in("reservation_lines"),
    *_swap_in("reservations"),
    f"CREATE INDEX reservations_live ON reservations (expires_at) "
    f"WHERE {LIVE_RESERVATION}",
    "CREATE INDEX reservations_by_checkout ON reservations (checkout_id)",
    "DROP INDEX checkouts_live",
    "DROP INDEX checkouts_by_expiry",
    "CREATE INDEX checkouts_by_expiry ON checkouts (expires_at, status, option_id)",
    *_without_rowid(
        "online_orders",
        """order_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            dest TEXT NOT NULL,
            tier TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            node_id TEXT NOT NULL,
            service TEXT NOT NULL,
            ship_date TEXT NOT NULL,
            delivery_date TEXT NOT NULL,
            confirmed_at REAL NOT NULL""",
        "order_id, sku",
    ),
    *_swap_in("online_orders"),
    "CREATE INDEX online_orders_by_time ON online_orders (confirmed_at)",
    *_without_rowid(
        "hold_tally",
        f"""option_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ({_TALLY_STATES})),
            shard INTEGER NOT NULL DEFAULT 0,
            n INTEGER NOT NULL""",
        "option_id, state, shard",
    ),
    *_swap_in("hold_tally"),
)
#: Migration 14 in PostgreSQL, which has no ``WITHOUT ROWID`` (a table's
#: rows are its heap): the same indexes. ``inventory_by_sku`` keeps the SKU
#: only, so that no index holds the stock's counts and a take or give-back
#: can update its row in place (a HOT update) instead of every index.
_POSTGRES_14: tuple[str, ...] = (
    "DROP INDEX inventory_by_sku",
    "CREATE INDEX inventory_by_sku ON inventory (sku)",
    "DROP INDEX reservations_live",
    f"CREATE INDEX reservations_live ON reservations (expires_at) "
    f"WHERE {LIVE_RESERVATION}",
    "DROP INDEX checkouts_live",
    "DROP INDEX checkouts_by_expiry",
    "CREATE INDEX checkouts_by_expiry ON checkouts (expires_at, status, option_id)",
)

#: Migration 18 on PostgreSQL: a snapshot's ``last_seq`` as wide as the
#: ``seq`` it records (the table keeps 20 rows: rewritten at once), and the
#: counters of ``table_versions`` (the stock news counter moves at every
#: sold-out position, taken or given back, and never goes back: a row per
#: SKU: 100,000 rows rewrote in 0.08-0.10 s).
_POSTGRES_18: tuple[str, ...] = (
    "ALTER TABLE capacity_snapshots ALTER COLUMN last_seq TYPE BIGINT",
    "ALTER TABLE table_versions ALTER COLUMN version TYPE BIGINT",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE inventory (
            node_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
            reserved INTEGER NOT NULL DEFAULT 0
                CHECK (reserved >= 0 AND reserved <= on_hand),
            PRIMARY KEY (node_id, sku)
        )""",
        f"""CREATE TABLE reservations (
            request_id TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ({_RESERVATION_STATES})),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX reservations_live ON reservations (status, expires_at)",
        """CREATE TABLE reservation_lines (
            request_id TEXT NOT NULL REFERENCES reservations (request_id),
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            PRIMARY KEY (request_id, sku)
        )""",
        """CREATE TABLE capacity_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            ts TEXT NOT NULL,
            node_id TEXT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            received_at REAL NOT NULL
        )""",
        """CREATE TABLE capacity_snapshots (
            snapshot_id INTEGER PRIMARY KEY AUTOINCREMENT,
            last_seq INTEGER NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL
        )""",
        """CREATE TABLE cltv_scores (
            as_of TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            predicted_spend REAL NOT NULL,
            p_active REAL NOT NULL,
            segment TEXT NOT NULL,
            model_version TEXT NOT NULL,
            PRIMARY KEY (as_of, customer_id)
        )""",
        "CREATE INDEX cltv_by_spend ON cltv_scores (as_of, predicted_spend)",
        """CREATE TABLE allocation_runs (
            run_id TEXT PRIMARY KEY,
            params TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL
        )""",
        """CREATE TABLE allocation_batches (
            run_id TEXT NOT NULL REFERENCES allocation_runs (run_id),
            batch INTEGER NOT NULL,
            n_rows INTEGER NOT NULL,
            committed_at REAL NOT NULL,
            PRIMARY KEY (run_id, batch)
        )""",
        f"""CREATE TABLE allocations (
            run_id TEXT NOT NULL,
            batch INTEGER NOT NULL,
            order_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            node_id TEXT,
            service TEXT,
            ship_date TEXT,
            promised_date TEXT,
            cost REAL,
            status TEXT NOT NULL
                CHECK (status IN ({_DECIDED})),
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, batch, order_id, sku),
            FOREIGN KEY (run_id, batch) REFERENCES allocation_batches (run_id, batch)
        )""",
        # An order line is allocated at most once per run; a deferred line
        # may be decided again in a later batch.
        f"""CREATE UNIQUE INDEX allocations_once ON allocations (run_id, order_id, sku)
            WHERE status = '{_ALLOCATED}'""",
    ),
    # 2: delivery date and cost parts per line; 'rerouted' marks an allocation
    # a later batch replaced (kept for the record, never counted as shipped).
    (
        f"""CREATE TABLE allocations_v2 (
            run_id TEXT NOT NULL,
            batch INTEGER NOT NULL,
            order_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            node_id TEXT,
            service TEXT,
            ship_date TEXT,
            promised_date TEXT,
            cost REAL,
            status TEXT NOT NULL
                CHECK (status IN ({_DECIDED_OR_REROUTED})),
            reason TEXT NOT NULL DEFAULT '',
            delivery_date TEXT,
            shipping REAL,
            handling REAL,
            penalty REAL,
            PRIMARY KEY (run_id, batch, order_id, sku),
            FOREIGN KEY (run_id, batch) REFERENCES allocation_batches (run_id, batch)
        )""",
        """INSERT INTO allocations_v2 (run_id, batch, order_id, sku, quantity, node_id,
            service, ship_date, promised_date, cost, status, reason)
           SELECT run_id, batch, order_id, sku, quantity, node_id, service, ship_date,
            promised_date, cost, status, reason FROM allocations""",
        "DROP TABLE allocations",
        "ALTER TABLE allocations_v2 RENAME TO allocations",
        f"""CREATE UNIQUE INDEX allocations_once ON allocations (run_id, order_id, sku)
            WHERE status = '{_ALLOCATED}'""",
    ),
    # 3: online checkouts (issue 7): per-SKU stock reads, bid prices, checkout
    # holds and the confirmed orders the next allocation batch reads.
    (
        # covering: a checkout reads every node's stock of a SKU from the index
        "CREATE INDEX inventory_by_sku ON inventory (sku, node_id, on_hand, reserved)",
        """CREATE TABLE bid_prices (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            as_of TEXT NOT NULL,
            source TEXT NOT NULL,
            prices TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        f"""CREATE TABLE checkouts (
            request_id TEXT PRIMARY KEY,
            option_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({_CHECKOUT_STATES})),
            attempt INTEGER NOT NULL,
            reservation_ids TEXT NOT NULL,
            order_lines TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE online_orders (
            order_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            dest TEXT NOT NULL,
            tier TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            node_id TEXT NOT NULL,
            service TEXT NOT NULL,
            ship_date TEXT NOT NULL,
            delivery_date TEXT NOT NULL,
            confirmed_at REAL NOT NULL,
            PRIMARY KEY (order_id, sku)
        )""",
        "CREATE INDEX online_orders_by_time ON online_orders (confirmed_at)",
    ),
    # 4: the upgrade allowance ledger (issue 18): a Platinum upgrade is noted
    # when selected and charged to the customer's allowance when confirmed.
    (
        """CREATE TABLE upgrades (
            request_id TEXT PRIMARY KEY,
            option_id TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            amount REAL NOT NULL CHECK (amount >= 0),
            predicted_spend REAL NOT NULL,
            selected_at REAL NOT NULL,
            confirmed_at REAL
        )""",
        "CREATE INDEX upgrades_by_customer ON upgrades (customer_id, confirmed_at)",
    ),
    # 5: per allocation line, when a waiting line is expected to arrive, when
    # the line reached its node and why it shipped on its own (issue 12:
    # independent re-pricing).
    (
        "ALTER TABLE allocations ADD COLUMN expected_delivery TEXT",
        "ALTER TABLE allocations ADD COLUMN released_at TEXT",
        "ALTER TABLE allocations ADD COLUMN split TEXT NOT NULL DEFAULT ''",
    ),
    # 6: open option sets (issue 13): any replica answers any call of a
    # checkout, so what was offered lives in the store until it expires.
    (
        f"""CREATE TABLE quotes (
            request_id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            revision INTEGER NOT NULL CHECK (revision >= 1),
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            closed TEXT CHECK (closed IN ({_CLOSED})),
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX quotes_by_expiry ON quotes (expires_at)",
    ),
    # 7: a counter per table that can change in place (issue 13): a reader
    # caches what it read and re-reads only when the counter moved.
    (
        """CREATE TABLE table_versions (
            name TEXT PRIMARY KEY,
            version INTEGER NOT NULL CHECK (version >= 0)
        )""",
        "INSERT INTO table_versions (name, version) VALUES ('cltv_scores', 0)",
    ),
    # 8: checkouts by the end of their hold: what a finished checkout left
    # (its row, its holds) is deleted a day after (``prune_checkouts``).
    ("CREATE INDEX checkouts_by_expiry ON checkouts (expires_at)",),
    # 9: the checkout each hold's reservation belongs to, as stored: the
    # prune finds a checkout's reservations by it, not by rebuilding their
    # ids. Holds taken before it are read back from their ids
    # (``<request_id>#<attempt>.<k>``: the checkout's id is what precedes the
    # last ``#``), for a checkout that exists; a plain reservation keeps NULL.
    (
        "ALTER TABLE reservations ADD COLUMN checkout_id TEXT",
        f"""UPDATE reservations SET checkout_id = {_CHECKOUT_OF_HOLD}
            WHERE {_HOLD_ID} LIKE '%#' AND EXISTS (SELECT 1 FROM checkouts c
                WHERE c.request_id = {_CHECKOUT_OF_HOLD})""",
        "CREATE INDEX reservations_by_checkout ON reservations (checkout_id)",
    ),
    # 10: checkouts counted by option and ending as they change
    # (``hold_tally.py``), and the live holds by expiry: ``/metrics`` reads
    # those, not every checkout of the day.
    (
        _HOLD_TALLY_TABLE,
        _HOLD_TALLY_FILL,
        "CREATE INDEX checkouts_live ON checkouts (status, expires_at, option_id)",
    ),
    # 11: each allocation batch's figures (JSON: its reroutes, solve time,
    # status, ...) committed with the batch, so that a run resumed from the
    # store counts the batches before it wherever its output folder is (they
    # were only journalled to the folder, and a resume in another one counted
    # none of their reroutes); NULL for batches committed before it.
    ("ALTER TABLE allocation_batches ADD COLUMN stats TEXT",),
    # 12: ``hold_tally`` as migration 10 makes it since the tally got its
    # ``shard`` (commit 351cf37 changed migration 10 in place after it was
    # released): a store migrated to 10 before kept the table without
    # ``shard`` and its old key, and every hold, swap, confirm and cancel
    # failed on it. The table is rebuilt, whatever its shape, and filled from
    # the checkouts as migration 10 fills it (the tally is always what a count
    # of the checkouts says: the same sums on a store that was right, all in
    # shard 0, which only spreads later moves' row locks).
    (
        "DROP TABLE hold_tally",
        _HOLD_TALLY_TABLE,
        _HOLD_TALLY_FILL,
    ),
    # 13: the new-customer prior of each day's scores (the model's published
    # forecast of a customer acquired that day), written with the day's
    # scores in their transaction; a day scored before it has no row (the
    # checkout then takes a percentile of the scores, as it did).
    (
        """CREATE TABLE cltv_new_customer (
            as_of TEXT PRIMARY KEY,
            predicted_spend REAL NOT NULL CHECK (predicted_spend >= 0),
            model_version TEXT NOT NULL
        )""",
    ),
    # 14: fewer pages written per checkout call (``docs/store.md``, "Pages a
    # checkout writes"): SQLite's statements; PostgreSQL's differ (below).
    _SQLITE_14,
    # 15: what ``tierflow state prune`` deleted of a table whose ids are an
    # idempotency record (``retention.py``): for ``capacity_events``, the
    # newest ``ts`` of the events it deleted with their ids; an event not
    # logged dated at or before it is refused, as it may be one applied.
    (
        """CREATE TABLE prune_horizons (
            name TEXT PRIMARY KEY,
            horizon REAL NOT NULL,
            pruned_at REAL NOT NULL
        )""",
    ),
    # 16: the stock changes written with a caller's ``change_id`` (an
    # idempotency key, ``stock.py``), each with a digest of its request and
    # what it did, in the transaction of its stock write: a retry answers
    # what the first did and writes nothing. ``tierflow state prune`` empties
    # the ``result`` of those received before the days kept (a repeat is
    # then refused; until 2026-12-06 it deleted them, and a repeat was new).
    (
        """CREATE TABLE stock_changes (
            change_id TEXT PRIMARY KEY,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            received_at REAL NOT NULL
        )""",
        "CREATE INDEX stock_changes_by_time ON stock_changes (received_at)",
    ),
    # 17: the holds a stock count cut (``stock.py``, ``cut_holds``: a count
    # below what open checkouts held), one row per reservation released,
    # with the position whose count cut it: a confirm of its checkout is
    # refused naming it (not as a hold that merely expired). Deleted with
    # the reservation (``prune_checkouts``).
    (
        """CREATE TABLE hold_cuts (
            request_id TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            cut_at REAL NOT NULL
        )""",
    ),
    # 18: ``capacity_snapshots.last_seq`` as wide as the log's ``seq``, on
    # PostgreSQL (``_POSTGRES_18``): it was a 32-bit INTEGER beside a BIGINT
    # identity, so once the log passed seq 2,147,483,647 (the identity never
    # goes back, prunes or not) every snapshot failed. SQLite's INTEGER is 64
    # bits already: nothing to do there.
    (),
    # 19: where a confirmed order's work is, across runs
    # (``allocation_work.py``): each batch that places confirmed lines' work
    # takes the next ``work_seq``, and a line's work is where its latest
    # such row put it, read by order. Batches written before it keep NULL:
    # they moved no work (its lines count at their checkout's node).
    (
        "ALTER TABLE allocation_batches ADD COLUMN work_seq BIGINT",
        "CREATE UNIQUE INDEX allocation_batches_by_work "
        "ON allocation_batches (work_seq)",
        "CREATE INDEX allocations_by_order ON allocations (order_id)",
    ),
    # 20: the ``Idempotency-Key`` an option set was asked with (``POST
    # /v1/options``) and a digest of its request, kept with the quote (and
    # pruned with it): a retry on any replica answers the stored set, one
    # with another body is refused, and of two asks at once the unique
    # index keeps one. Partial: a quote asked without a key (every one
    # before it) adds no index entry.
    (
        "ALTER TABLE quotes ADD COLUMN idempotency_key TEXT",
        "ALTER TABLE quotes ADD COLUMN request_digest TEXT",
        "CREATE UNIQUE INDEX quotes_by_key ON quotes (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
#: A table every store has had since migration 1, on both backends: a
#: database with a schema version but not this table is another program's
#: (many set SQLite's ``user_version``; Flyway before 5.0 kept a
#: ``schema_version`` table), never a store to migrate.
STORE_TABLE = "capacity_events"

#: What each migration does, in a line (``tierflow state migrate`` lists the
#: pending ones): ``MIGRATION_SUMMARIES[i]`` is migration ``i + 1``'s. One is
#: appended with each migration, as the comments above say it at length.
MIGRATION_SUMMARIES: tuple[str, ...] = (
    "the first schema: stock, holds, capacity log, CLTV scores, allocations",
    "delivery date and cost parts per allocation line; 'rerouted' lines",
    "online checkouts: per-SKU stock, bid prices, holds, confirmed orders",
    "the upgrade allowance ledger (upgrades)",
    "per allocation line: expected arrival, release, why it shipped alone",
    "open option sets (quotes), shared by every replica",
    "a change counter per table (table_versions)",
    "checkouts indexed by the end of their hold",
    "reservations.checkout_id: the checkout of each hold",
    "hold_tally: checkouts counted per option and state",
    "allocation_batches.stats: each batch's figures, kept with it",
    "hold_tally rebuilt with its shards (a store migrated to 10 early)",
    "cltv_new_customer: the new-customer prior of each scored day",
    "fewer pages written per checkout call (tables and indexes rebuilt)",
    "prune_horizons: the newest capacity event state prune deleted",
    "stock_changes: stock changes by id, each applied once",
    "hold_cuts: the holds a stock count below them released",
    "capacity_snapshots.last_seq and table_versions 64-bit (PostgreSQL)",
    "allocation_batches.work_seq: the latest batch placing an order's work",
    "quotes.idempotency_key: an option set's Idempotency-Key, unique",
)


#: SQLite type names and their PostgreSQL spelling (the rest is shared SQL).
_POSTGRES_TYPES = (
    (
        r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b",
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    ),
    (r"\bREAL\b", "DOUBLE PRECISION"),
)


def _postgres(statements: Sequence[str], *extra: str) -> tuple[str, ...]:
    """One migration in PostgreSQL's dialect, plus statements of its own."""
    out = []
    for statement in statements:
        for sqlite_type, postgres_type in _POSTGRES_TYPES:
            statement = re.sub(sqlite_type, postgres_type, statement)
        out.append(statement)
    return (*out, *extra)


#: :data:`MIGRATIONS` for PostgreSQL: identity columns for ``AUTOINCREMENT``,
#: ``DOUBLE PRECISION`` for ``REAL``, the same CHECK lists; ``allocation_runs``
#: gets the ``rowid`` SQLite gives every table (runs started in the same
#: instant are ordered by it).
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _postgres(
        MIGRATIONS[0],
        "ALTER TABLE allocation_runs ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY",
    ),
    *(_postgres(m) for m in MIGRATIONS[1:13]),
    _POSTGRES_14,
    *(_postgres(m) for m in MIGRATIONS[14:17]),
    _POSTGRES_18,
    *(_postgres(m) for m in MIGRATIONS[18:20]),
)
