"""``--state``: a SQLite file, or a PostgreSQL URL passed through as given;
and how long a command waits for a store another process holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.data.errors import InputError
from tierflow.data.store_location import (
    STORE_MAKERS,
    default_state_location,
    is_postgres_url,
    location_problem,
    shown_location,
)
from tierflow.data.written_numbers import decimal_number

if TYPE_CHECKING:
    from tierflow.data.store import StateStore

#: Seconds a command waits for a store another process holds: SQLite's write
#: lock (a ``sqlite3`` shell, another batch job's commit), PostgreSQL's pooled
#: connection. Unset: the store's own default, 60 s on SQLite (a batch job
#: should wait out another's commit) and 5 s on PostgreSQL. ``tierflow
#: serve`` keeps its own 5 s (:data:`tierflow.cli.serve_cmd.STORE_WAIT_S`).
STORE_WAIT_ENV = "TIERFLOW_STORE_WAIT_S"
#: The longest wait it may ask for: a day (SQLite keeps it in milliseconds in
#: a C ``int``; a longer one is a typo).
MAX_STORE_WAIT_S = 86_400.0


class StateLocation(click.Path):
    """A file path (as :class:`click.Path` checks it) or a ``postgresql://`` URL."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if is_postgres_url(value):
            return value
        problem = location_problem(value)
        if problem is not None:
            self.fail(f"{shown_location(value)!r}: {problem}", param, ctx)
        return super().convert(value, param, ctx)

    def describe(self, value: Any) -> str:
        """``value`` as ``--help`` shows it as the default, and an error the
        settings file's value: a URL without its password (a
        ``TIERFLOW_<COMMAND>_STATE`` or ``tierflow.toml``'s ``state`` was
        shown whole, ``[default: postgresql://tf:s3cret@…]``, and so was a
        file's ``state`` refused as no store, ``value 'mysql://tf:s3cret@…'``)."""
        return shown_location(str(value))


#: The ``--state`` type of every command (metavar ``FILE``, as before).
STATE_LOCATION = StateLocation(dir_okay=False, path_type=Path)


def store_wait_s() -> float | None:
    """``$TIERFLOW_STORE_WAIT_S`` in seconds, or None when unset (the store's
    default); the one place it is read, so every command waits alike.

    Raises
    ------
    InputError
        Not a number of seconds from 0 to :data:`MAX_STORE_WAIT_S` (``nan``
        would make SQLite's ``busy_timeout`` fail on its own, ``inf`` wait
        forever).
    """
    text = os.environ.get(STORE_WAIT_ENV, "").strip()
    if not text:
        return None
    wait = decimal_number(text)  # float() read '3_0' as 30
    if wait is None or not 0.0 <= wait <= MAX_STORE_WAIT_S:  # NaN fails it too
        raise InputError(
            f"not a number of seconds from 0 to {MAX_STORE_WAIT_S:g}",
            field=STORE_WAIT_ENV,
            value=text,
        )
    return wait


def open_state(
    location: Path | str | None,
    *,
    answer_wait_s: float | None = None,
    migrate: bool = True,
    make: bool = True,
) -> StateStore:
    """The state store at ``location`` (None: the default), waiting
    :func:`store_wait_s` for a lock or a connection another process holds;
    a wait that runs out names the store and the wait. A command reads the
    store's schema version before each of its writes: once a newer tierflow
    has migrated the store, its next write is refused by name (an
    allocation's batches are minutes apart, a feed runs for days).
    ``answer_wait_s``: a PostgreSQL server silent this long, then silent to
    a probe, is given up on as hung (``StoreUnavailable``); None: waited
    for until it resumes (a batch command's default). ``migrate`` False (a
    command that only reads): a store at an older schema is refused
    (``SchemaTooOld``: run ``tierflow state migrate``), never migrated; a
    writer migrates it, as ``serve`` does; ``make`` False refuses an empty
    one too (``tierflow state migrate``'s look before it migrates). A
    location refused before it is opened names ``--state`` (or
    ``TIERFLOW_STATE``)."""
    from tierflow.data.store import open_store

    waits: dict[str, Any] = {}
    if not migrate:
        waits |= {"migrate": False, "make": make}
    wait = store_wait_s()
    if wait is not None:
        waits["timeout_s"] = wait
    if answer_wait_s is not None and is_postgres_url(location):
        waits["answer_wait_s"] = answer_wait_s
    try:
        store = open_store(location, **waits)
    except InputError as exc:  # a URL libpq refuses: named as the user gave it
        if exc.field != "state":
            raise
        raise InputError(exc.reason, field="--state", value=exc.value) from None
    store.watch_schema_at_each_write()
    return store


def open_existing_state(
    location: Path | str | None, *, migrate: bool = True
) -> StateStore | None:
    """The state store at ``location``, never made for the command
    (:func:`check_existing_state`): None for the default store not made
    yet. A PostgreSQL database is opened as :func:`open_state` opens it (a
    missing one is the server's error); ``migrate`` False for a command
    that only reads it, which makes no store in an empty one either
    (``StoreEmpty``)."""
    if not check_existing_state(location):
        return None
    return open_state(location, migrate=migrate, make=migrate)


def check_existing_state(location: Path | str | None) -> bool:
    """Whether there is a store at ``location`` to read (a PostgreSQL URL:
    the server will say); it reads no store and imports none, so a command
    calls it before its own imports and input (a typo cost a second of them
    to be told). A SQLite file given that does not exist is an error, given
    as ``location`` or as ``$TIERFLOW_STATE`` (a typo made a fresh, empty
    store that the command then showed); the default store not made yet is
    False (nothing logged yet).

    Raises
    ------
    click.ClickException
        A store given that does not exist.
    """
    where = default_state_location() if location is None else location
    if is_postgres_url(where) or location_problem(where) or Path(where).exists():
        return True
    if location is not None or os.environ.get("TIERFLOW_STATE"):
        raise click.ClickException(
            f"{where}: no state store there ({STORE_MAKERS} makes one)"
        )
    return False
