"""The SQLite state store: every concern class over one WAL connection."""

from __future__ import annotations

from pathlib import Path

from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.schema import MIGRATIONS
from tierflow.data.store.sqlite_database import SqliteDatabase
from tierflow.data.store_location import default_state_path


class SqliteStore(DatabaseStore):
    """The SQLite implementation of :class:`~tierflow.data.store.StateStore`.

    Parameters
    ----------
    path
        Database file (created with its folder if missing); ``None`` uses
        :func:`default_state_path`.
    timeout_s
        How long a writer waits for the write lock before failing.
    synchronous
        ``NORMAL`` (crash-safe) or ``FULL`` (also power-loss-safe).
    migrate, make
        False: a store at an older schema is refused (``SchemaTooOld``), not
        migrated; ``make`` False refuses an empty file too.

    Notes
    -----
    Write transactions on one store object are serialized by a lock, so a
    few threads may share it; for parallel readers and writers open one store
    per process (or thread) on the same file, as the contention test does.
    Design: ``docs/store.md``.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        timeout_s: float = 60.0,
        synchronous: str = "NORMAL",
        migrate: bool = True,
        make: bool = True,
        same_file: tuple[int, int] | None = None,
    ) -> None:
        db = SqliteDatabase(
            Path(path) if path is not None else default_state_path(),
            MIGRATIONS,
            timeout_s=timeout_s,
            synchronous=synchronous,
            migrate=migrate,
            make=make,
            same_file=same_file,
        )
        self._opened = db.opened
        super().__init__(db)
        self.path = db.path
        self._timeout_s = timeout_s
        self._synchronous = synchronous
        self._may_migrate = migrate

    def reopen(
        self,
        *,
        connection_wait_s: float | None = None,
        answer_wait_s: float | None = None,
    ) -> SqliteStore:
        """A second connection to the same file (same options: a connection
        of its own has no pool to wait for, so ``connection_wait_s`` leaves
        its wait for the write lock as it is; ``answer_wait_s`` is a
        PostgreSQL server's). A file deleted or replaced since this store
        opened it is :class:`StoreUnavailable`: a server's follower, pages
        or metrics made a new, empty store at the path, seeded with the
        network's stock, beside connections on the old file."""
        return SqliteStore(
            self.path,
            timeout_s=self._timeout_s,
            synchronous=self._synchronous,
            migrate=self._may_migrate,
            same_file=self._opened,
        )
