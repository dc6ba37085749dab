"""Where a state store lives, and opening it: a SQLite file path, or a
PostgreSQL URL (``postgresql://USER@/DB?host=/socket/dir`` or
``postgresql://USER:PASSWORD@HOST:PORT/DB``). ``$TIERFLOW_STATE`` may hold
either."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tierflow.data.errors import InputError
from tierflow.data.extras import require
from tierflow.data.store.database import default_state_path
from tierflow.data.store.protocols import StateStore

#: URL schemes libpq accepts.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


#: ``scheme:/``: a URL, never meant as a file name (``./name:/x`` is one).
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def is_postgres_url(location: object) -> bool:
    """Whether ``location`` is a PostgreSQL URL (else it is a SQLite path)."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def location_problem(location: object) -> str | None:
    """Why ``location`` is no store location (None: it is one). A URL that
    is not PostgreSQL's (``postgresql:/db``, one slash; ``mysql://``;
    ``POSTGRESQL://``) was taken for a SQLite path: a replica ran on a
    private file named like the URL, in folders made for it, and said so
    only in the path it printed. So was a blank one (``--state "$STATE"``
    with the variable unset: the working folder, "is a folder"; spaces: a
    store file named by them)."""
    if isinstance(location, str | Path) and not str(location).strip():
        return "empty (a SQLite file or a postgresql:// URL)"
    if (
        isinstance(location, str)
        and not is_postgres_url(location)
        and _URL_LIKE.match(location)
    ):
        return (
            "not a PostgreSQL URL (postgresql://... or postgres://...) nor a "
            "SQLite file (for a file of that name, start it with ./)"
        )
    return None


#: libpq's URL parameters that hold a secret.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or the query), read as
    libpq reads it: its user part ends at the first ``@`` before a ``/``
    (here at the last ``@`` before the host's ``/`` or ``?``, which hides
    more), it knows no fragment (``#``), and it decodes a parameter's name.
    Read as an http URL (``urlsplit``), a password holding ``#`` or ``?``,
    which libpq takes as it comes, was shown, and so was
    ``pass%77ord=``'s."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head = rest.partition("/")[0]
    user = None
    if "@" in head:
        at = head.index("@")
        # a second "@" before the host's end: the password held the first
        host_end = min(
            (i for i in (rest.find("/", at), rest.find("?", at)) if i >= 0),
            default=len(rest),
        )
        at = rest.rindex("@", 0, host_end)
        user = rest[:at].partition(":")[0]
        rest = rest[at + 1 :]
    where, _, query = rest.partition("?")
    kept = "&".join(
        p
        for p in query.split("&")
        if p and unquote(p.partition("=")[0]) not in _SECRET_PARAMETERS
    )
    shown_user = "" if user is None else f"{user}@"
    return f"{scheme}://{shown_user}{where}" + (f"?{kept}" if kept else "")


def shown_location(text: str) -> str:
    """A location as an error may show it: as given, but for the password of
    a ``scheme://`` URL (its scheme as written)."""
    if "://" not in text:
        return text
    redacted = redact_url(text)
    return text[: text.index("://")] + redacted[redacted.index("://") :]


def default_state_location() -> Path | str:
    """``$TIERFLOW_STATE`` as given when it is a URL, else
    :func:`~tierflow.data.store.default_state_path`."""
    env = os.environ.get("TIERFLOW_STATE", "")
    # any URL stays as given: open_store refuses one that is not PostgreSQL's
    return env if _URL_LIKE.match(env) else default_state_path()


def describe_location(location: Path | str) -> str:
    """A location to print: a path as is, a URL without its password."""
    text = str(location)
    return redact_url(text) if is_postgres_url(text) else text


def open_store(location: Path | str | None = None, **kwargs: Any) -> StateStore:
    """Open (creating and migrating) the state store at ``location``.

    Parameters
    ----------
    location
        A SQLite file, a PostgreSQL URL, or None for
        :func:`default_state_location`.
    **kwargs
        Options of the backend's class (``timeout_s``; ``synchronous`` for
        SQLite, ``pool_size`` for PostgreSQL).

    Raises
    ------
    InputError
        ``location`` is a URL but not PostgreSQL's.
    StoreUnavailable
        The database cannot be opened or reached.
    """
    where = default_state_location() if location is None else location
    problem = location_problem(where)
    if problem is not None:
        field = "TIERFLOW_STATE" if location is None else "state"
        raise InputError(problem, field=field, value=shown_location(str(where)))
    if is_postgres_url(where):
        # imported here: the SQLite path (``make demo``) never loads psycopg
        require("psycopg_pool", feature="PostgreSQL store", extra="postgres")
        from tierflow.data.store.postgres_store import PostgresStore

        return PostgresStore(str(where), **kwargs)
    from tierflow.data.store.sqlite_store import SqliteStore

    return SqliteStore(where, **kwargs)
