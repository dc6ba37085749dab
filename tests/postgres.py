"""Both store backends for the tests: a private PostgreSQL server per test
session (per xdist worker) and a fresh database per test, next to a fresh
SQLite file.

A test takes ``state_location`` (or ``new_state`` for several stores) and
runs once per backend. The server starts on the first PostgreSQL test and
stops at the end of the session. When it cannot start the tests fail with
the reason; ``TIERFLOW_TEST_POSTGRES=0`` (never set by ``make test``) skips
them on a machine without PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tierflow.data.errors import TierflowError
from tierflow.data.store import is_postgres_url
from tierflow.data.store.local_postgres import USER, LocalPostgres, memory_folder

BACKENDS = ("sqlite", "postgres")
#: A new store location of the test's backend on each call.
NewState = Callable[[], Path | str]

_databases = itertools.count()


@contextlib.contextmanager
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of the caller's own, stopped after the block: the
    session's, or one a test halts, hangs or stops. Skipped under
    ``TIERFLOW_TEST_POSTGRES=0``; one that cannot start fails the test with
    the reason."""
    if os.environ.get("TIERFLOW_TEST_POSTGRES") == "0":
        pytest.skip("PostgreSQL store tests switched off (TIERFLOW_TEST_POSTGRES=0)")
    try:
        server = LocalPostgres(parent=memory_folder()).start()
    except TierflowError as exc:
        pytest.fail(
            f"cannot start PostgreSQL for the store tests: {exc}\n"
            "install Debian's postgresql (`make test` does when run as root), "
            "or set TIERFLOW_TEST_POSTGRES=0 to skip these tests",
            pytrace=False,
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this test session (one per xdist worker)."""
    with own_postgres() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the test runs once with each."""
    return str(request.param)


@pytest.fixture
def new_state(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> NewState:
    """Fresh store locations: a new SQLite file, or a new empty database."""
    count = itertools.count()
    if backend == "sqlite":

        def sqlite_file() -> Path:
            n = next(count)
            return tmp_path / ("state.db" if n == 0 else f"state{n}.db")

        return sqlite_file
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    return lambda: new_database(server)


def new_database(server: LocalPostgres) -> str:
    """A new empty database on the test session's server; its URL."""
    return server.create_database(f"test_{os.getpid()}_{next(_databases)}")


#: Makes a template's content from its URL by the production code path (open
#: the store, or a router on it), closing every connection it opened.
Prepare = Callable[[str], object]


class Templates:
    """Databases prepared once per server and copied for each test with
    ``CREATE DATABASE ... TEMPLATE``, a file copy on the server: a copy of a
    migrated database costs what creating an empty one does, and its first
    open has nothing to migrate (creating and migrating a database per
    example was 40 % of the server's CPU in the replica state machine).

    A template is named by this process (``template_<pid>_<key>``): xdist
    workers that shared a server would each make their own, so none waits
    for another's. Once prepared it is marked ``IS_TEMPLATE`` and
    ``ALLOW_CONNECTIONS false``: never written after, and no session can be
    connected to it when it is copied (``CREATE DATABASE`` then refuses).
    """

    def __init__(self, server: LocalPostgres) -> None:
        self.server = server
        self._made: dict[str, str] = {}

    def copy(self, key: str, prepare: Prepare) -> str:
        """A new database copied from template ``key`` (made with ``prepare``
        on first use); its URL."""
        if not key.isidentifier() or not key.islower():
            raise ValueError(f"template key {key!r}: lower-case letters, digits, _")
        template = self._made.get(key)
        if template is None:
            template = f"template_{os.getpid()}_{key}"
            admin = self.server.url("postgres")
            try:
                prepare(self.server.create_database(template))
                run_sql(
                    admin,
                    f"ALTER DATABASE {template} "
                    "WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
                )
            except BaseException:  # the next test makes it again, from nothing
                run_sql(admin, f"DROP DATABASE IF EXISTS {template} WITH (FORCE)")
                raise
            self._made[key] = template
        name = f"test_{os.getpid()}_{next(_databases)}"
        return self.server.create_database(name, template=template)


@pytest.fixture(scope="session")
def postgres_templates(postgres_server: LocalPostgres) -> Templates:
    """The template databases of the session's server."""
    return Templates(postgres_server)


#: ``prepared_state(key, prepare)``: store locations already prepared.
PreparedState = Callable[[str, Prepare], NewState]


@pytest.fixture
def prepared_state(
    backend: str, new_state: NewState, request: pytest.FixtureRequest
) -> PreparedState:
    """Opt-in, for tests that make many stores: ``prepared_state(key,
    prepare)`` gives a :data:`NewState` whose PostgreSQL databases are
    copies of template ``key``, which ``prepare(url)`` made once per server
    (migrated by the store's first open, seeded by a router's). Each store
    then starts as the test's own first open would have left a fresh one,
    without migrating it again. On SQLite it is ``new_state``: a fresh file,
    migrated in-process on first open. ``new_state`` stays an empty
    database, for the tests of what a first open does."""
    if backend == "sqlite":
        return lambda key, prepare: new_state
    templates: Templates = request.getfixturevalue("postgres_templates")
    return lambda key, prepare: lambda: templates.copy(key, prepare)


@pytest.fixture
def state_location(new_state: NewState) -> Path | str:
    """A fresh store location of the test's backend."""
    return new_state()


@pytest.fixture
def locale_state_location(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Path | str:
    """A fresh store location whose PostgreSQL database orders text by a
    language's rules (ICU ``en-US``: ``Mug`` before ``MUG``, ``a-2`` after
    ``A1``), as a database of a cluster made under a locale does by
    default; the suite's own cluster is ``--locale=C`` (byte order, as
    SQLite's), which hid every ``ORDER BY`` on text that differed. SQLite:
    a new file."""
    if backend == "sqlite":
        return tmp_path / "state.db"
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"test_{os.getpid()}_{next(_databases)}"
    run_sql(
        server.url("postgres"),
        f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
        "LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
    )
    return server.url(name)


def run_sql(location: Path | str, *statements: str) -> list[tuple[object, ...]]:
    """Run raw SQL on a store's database (behind the store's back); the last
    statement's rows."""
    rows: list[tuple[object, ...]] = []
    if is_postgres_url(location):
        import psycopg

        with psycopg.connect(str(location), autocommit=True) as conn:
            for statement in statements:
                cur = conn.execute(statement)
                rows = cur.fetchall() if cur.description else []
        return rows
    with closing(sqlite3.connect(location)) as db:
        for statement in statements:
            rows = db.execute(statement).fetchall()
        db.commit()
    return rows


#: What each migration after the first built, undone (newest last), so a test
#: can roll a store back to an older version and watch it upgrade again.
UNDO_MIGRATION: dict[int, tuple[str, ...]] = {
    3: (
        "DROP TABLE bid_prices",
        "DROP TABLE checkouts",
        "DROP TABLE online_orders",
        "DROP INDEX inventory_by_sku",
    ),
    4: ("DROP TABLE upgrades",),
    5: (
        "ALTER TABLE allocations DROP COLUMN expected_delivery",
        "ALTER TABLE allocations DROP COLUMN released_at",
        "ALTER TABLE allocations DROP COLUMN split",
    ),
    6: ("DROP TABLE quotes",),
    7: ("DROP TABLE table_versions",),
    8: ("DROP INDEX checkouts_by_expiry",),
    9: (
        "DROP INDEX reservations_by_checkout",
        "ALTER TABLE reservations DROP COLUMN checkout_id",
    ),
    10: ("DROP TABLE hold_tally", "DROP INDEX checkouts_live"),
    11: ("ALTER TABLE allocation_batches DROP COLUMN stats",),
    12: (),  # it rebuilt hold_tally in the shape migration 10 gives it today
    13: ("DROP TABLE cltv_new_customer",),
    # the indexes of 13 (on SQLite the tables stay WITHOUT ROWID: the same
    # columns and keys, which is what the migrations before read and write)
    14: (
        "DROP INDEX checkouts_by_expiry",
        "CREATE INDEX checkouts_by_expiry ON checkouts (expires_at)",
        "CREATE INDEX checkouts_live ON checkouts (status, expires_at, option_id)",
        "DROP INDEX reservations_live",
        "CREATE INDEX reservations_live ON reservations (status, expires_at)",
        "DROP INDEX IF EXISTS inventory_by_sku",
        "CREATE INDEX inventory_by_sku ON inventory (sku, node_id, on_hand, reserved)",
    ),
    15: ("DROP TABLE prune_horizons",),
    16: ("DROP TABLE stock_changes",),
    17: ("DROP TABLE hold_cuts",),
    19: (
        "DROP INDEX allocations_by_order",
        "DROP INDEX allocation_batches_by_work",
        "ALTER TABLE allocation_batches DROP COLUMN work_seq",
    ),
    20: (
        "DROP INDEX quotes_by_key",
        "ALTER TABLE quotes DROP COLUMN request_digest",
        "ALTER TABLE quotes DROP COLUMN idempotency_key",
    ),
}


def downgrade_store(location: Path | str, version: int) -> None:
    """Undo every migration after ``version`` and record ``version``."""
    newer = sorted((v for v in UNDO_MIGRATION if v > version), reverse=True)
    run_sql(location, *(sql for v in newer for sql in UNDO_MIGRATION[v]))
    set_schema_version(location, version)


def set_schema_version(location: Path | str, version: int) -> None:
    """Record ``version`` as the applied schema version, as the backend does."""
    if is_postgres_url(location):
        run_sql(location, f"UPDATE schema_version SET version = {version}")
    else:
        run_sql(location, f"PRAGMA user_version = {version}")


def password_role(server: LocalPostgres, role: str, password: str) -> None:
    """Make ``role`` a login role that must give ``password`` on ``server``
    (whose socket otherwise trusts every role): a line of its own at the
    top of the server's ``pg_hba.conf``, read again at once."""
    run_sql(server.url("postgres"), f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    hba = server.socket_dir / "data" / "pg_hba.conf"
    hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())
    run_sql(server.url("postgres"), "SELECT pg_reload_conf()")
    import psycopg

    url = server.url("postgres").replace(f"://{USER}@", f"://{role}@", 1)
    deadline = time.monotonic() + 10
    while True:  # the postmaster reads the file again on its own time
        try:
            psycopg.connect(url).close()
        except psycopg.OperationalError:
            return
        assert time.monotonic() < deadline, "pg_hba.conf not read again"
        time.sleep(0.05)


def signal_server(pg: LocalPostgres, sig: signal.Signals) -> None:
    """Send ``sig`` to the server and every one of its processes: SIGSTOP
    hangs it (alive, its sockets open, answering nothing), SIGCONT resumes it."""
    pids = [pg.pid]
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if int((child / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pg.pid:
                pids.append(int(child.name))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended since the scan
            os.kill(pid, sig)


def hang_after_notice_login(
    pg: LocalPostgres, monkeypatch: pytest.MonkeyPatch
) -> list[float]:
    """Hang ``pg`` (SIGSTOP) once the next store opened makes its notice
    connection: after its login, before its ``LISTEN``. The instant it was
    stopped is appended to the list returned (empty until then)."""
    from tierflow.data.store import postgres_database

    made = postgres_database._notice_connection
    stopped: list[float] = []

    def logged_in_then_hung(*args: Any) -> Any:
        conn = made(*args)
        if not stopped:  # the first connection only: its LISTEN comes next
            signal_server(pg, signal.SIGSTOP)
            stopped.append(time.monotonic())
        return conn

    monkeypatch.setattr(postgres_database, "_notice_connection", logged_in_then_hung)
    return stopped
