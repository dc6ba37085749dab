"""Where a state store lives, and opening it: a SQLite file path, or a
PostgreSQL URL (``postgresql://USER@/DB?host=/socket/dir`` or
``postgresql://USER:PASSWORD@HOST:PORT/DB``). ``$TIERFLOW_STATE`` may hold
either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.extras import require
from tierflow.data.store.protocols import StateStore
from tierflow.data.store_location import (
    POSTGRES_SCHEMES,
    UrlParts,
    default_state_location,
    default_state_path,
    describe_location,
    is_postgres_url,
    location_problem,
    password_misread,
    redact_url,
    shown_location,
    url_parts,
)

__all__ = [
    "POSTGRES_SCHEMES",
    "UrlParts",
    "default_state_location",
    "default_state_path",
    "describe_location",
    "is_postgres_url",
    "location_problem",
    "open_store",
    "password_misread",
    "redact_url",
    "shown_location",
    "url_parts",
]


def open_store(location: Path | str | None = None, **kwargs: Any) -> StateStore:
    """Open (creating and migrating) the state store at ``location``.

    Parameters
    ----------
    location
        A SQLite file, a PostgreSQL URL, or None for
        :func:`default_state_location`.
    **kwargs
        Options of the backend's class (``timeout_s``; ``synchronous`` for
        SQLite, ``pool_size`` for PostgreSQL; ``migrate=False`` for a
        reader, which refuses a store at an older schema instead of
        migrating it, and ``make=False`` an empty one too).

    Raises
    ------
    InputError
        ``location`` is a URL but not PostgreSQL's, or one libpq refuses
        (:func:`~tierflow.data.store.postgres_database.url_params`), named
        as field ``state`` (``TIERFLOW_STATE`` when it is None).
    StoreUnavailable
        The database cannot be opened or reached.
    SchemaTooNew
        A newer tierflow migrated the store.
    SchemaTooOld
        ``migrate=False`` and the store's schema is older than this code's.
    """
    where = default_state_location() if location is None else location
    problem = location_problem(where)
    field = "TIERFLOW_STATE" if location is None else "state"
    if problem is not None:
        raise InputError(problem, field=field, value=shown_location(str(where)))
    if is_postgres_url(where):
        # imported here: the SQLite path (``make demo``) never loads psycopg
        require("psycopg_pool", feature="PostgreSQL store", extra="postgres")
        from tierflow.data.store.postgres_database import url_params
        from tierflow.data.store.postgres_store import PostgresStore

        try:  # named as given, before any connection (or DNS look-up)
            url_params(str(where))
        except InputError as exc:
            value = shown_location(str(where))
            raise InputError(exc.reason, field=field, value=value) from None

        return PostgresStore(str(where), **kwargs)
    from tierflow.data.store.sqlite_store import SqliteStore

    return SqliteStore(where, **kwargs)
