"""The PostgreSQL state store: every concern class over one connection pool."""

from __future__ import annotations

from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.postgres_database import (
    ANSWER_WAIT_S,
    CONNECTION_WAIT_S,
    PostgresDatabase,
)
from tierflow.data.store.schema import POSTGRES_MIGRATIONS


class PostgresStore(DatabaseStore):
    """The PostgreSQL implementation of :class:`~tierflow.data.store.StateStore`.

    Parameters
    ----------
    url
        libpq URL: ``postgresql://USER@/DB?host=/socket/dir`` (Unix socket)
        or ``postgresql://USER:PASSWORD@HOST:PORT/DB``. An empty database is
        migrated on first open.
    timeout_s
        How long a call waits for a free connection before failing
        (:data:`~tierflow.data.store.postgres_database.CONNECTION_WAIT_S`),
        and the migration of an older store for each lock another session
        holds on its tables.
    pool_size
        Most connections the store opens at once.
    answer_wait_s
        How long a call waits for the server's answer (None: for ever;
        :data:`~tierflow.data.store.postgres_database.ANSWER_WAIT_S`).
    migrate, make
        False: a store at an older schema is refused (``SchemaTooOld``), not
        migrated; ``make`` False refuses an empty database too.
    lock_wait_s
        The migration's wait for each lock on its tables, if not
        ``timeout_s`` (a router reopening its store every second waits
        briefly: its lock request queues the table's other users behind it).

    Notes
    -----
    Any number of processes, threads and hosts may share the database: writes
    are READ COMMITTED transactions whose conditional updates and row locks
    keep every guarantee of the SQLite store (``docs/store.md``).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = CONNECTION_WAIT_S,
        pool_size: int = 4,
        answer_wait_s: float | None = ANSWER_WAIT_S,
        migrate: bool = True,
        make: bool = True,
        lock_wait_s: float | None = None,
    ) -> None:
        super().__init__(
            PostgresDatabase(
                url,
                POSTGRES_MIGRATIONS,
                timeout_s=timeout_s,
                pool_size=pool_size,
                answer_wait_s=answer_wait_s,
                migrate=migrate,
                make=make,
                lock_wait_s=lock_wait_s,
            )
        )
        self._may_migrate = migrate
        self._url = url
        self._timeout_s = timeout_s
        self._pool_size = pool_size
        self._answer_wait_s = answer_wait_s

    def reopen(
        self,
        *,
        connection_wait_s: float | None = None,
        answer_wait_s: float | None = None,
    ) -> PostgresStore:
        """A second store on the same database, with its own pool, whose
        calls wait ``connection_wait_s`` for a connection and
        ``answer_wait_s`` for the server's answer (None: as this store's)."""
        wait = self._timeout_s if connection_wait_s is None else connection_wait_s
        answer = self._answer_wait_s if answer_wait_s is None else answer_wait_s
        return PostgresStore(
            self._url,
            timeout_s=wait,
            pool_size=self._pool_size,
            answer_wait_s=answer,
            migrate=self._may_migrate,
        )
