"""A command that only reads a store never migrates it; ``tierflow state
migrate`` does, when asked. A newer tierflow's ``stock show`` on a
laptop migrated a running fleet's database, whose older replicas then
refused it as they restarted ("upgrade tierflow")."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import TINY_NETWORK
from tests.postgres import (
    downgrade_store,
    new_database,
    run_sql,
    set_schema_version,
)
from tests.service.replicas import tierflow_program
from tierflow.cli.main import cli
from tierflow.data.store import (
    SCHEMA_VERSION,
    describe_location,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.data.store.schema import MIGRATION_SUMMARIES, MIGRATIONS

_NET = ["--network", str(TINY_NETWORK)]

#: Every command that only reads the store it is given.
_READERS = {
    "capacity show": ["capacity", "show", *_NET],
    "stock show": ["stock", "show", *_NET],
    "state prune --dry-run": ["state", "prune", "--keep-days", "30", "--dry-run"],
}


def _tierflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="tierflow")


def _version(state: Path | str) -> int:
    """The schema version recorded in the database, read behind its back."""
    if is_postgres_url(state):
        sql = "SELECT version FROM schema_version"
    else:
        sql = "PRAGMA user_version"
    (row,) = run_sql(state, sql)
    return int(str(row[0]))


def _older(state: Path | str, version: int) -> str:
    """A store made, then brought back to ``version``; its name as printed."""
    open_store(state).close()
    downgrade_store(state, version)
    return describe_location(state)


def test_every_migration_has_a_one_line_summary() -> None:
    assert len(MIGRATION_SUMMARIES) == len(MIGRATIONS) == SCHEMA_VERSION
    for summary in MIGRATION_SUMMARIES:
        assert summary and "\n" not in summary and len(summary) <= 72, summary


#: A store before migration 15 (its ``prune_horizons`` table).
OLDER = 14


@pytest.mark.parametrize("command", list(_READERS))
def test_a_read_only_command_refuses_an_older_store_and_changes_nothing(
    state_location: Path | str, command: str
) -> None:
    where = _older(state_location, OLDER)
    done = _tierflow(*_READERS[command], "--state", str(state_location))
    assert (done.exit_code, done.stdout) == (1, ""), done.output
    assert done.stderr == (
        f"Error: {where}: schema {OLDER}, this tierflow reads "
        f"{SCHEMA_VERSION}: migrate it first (tierflow state migrate --state "
        f"{shlex.quote(where)}) — nothing was changed\n"
    )
    assert _version(state_location) == OLDER
    # migration 15's table is still not there
    if is_postgres_url(state_location):
        sql = "SELECT to_regclass('prune_horizons') IS NULL"
    else:
        sql = "SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'prune_horizons'"
    assert run_sql(state_location, sql) == [(1,)]  # (PostgreSQL's True == 1)


def _tables(state: Path | str) -> list[tuple[object, ...]]:
    """The tables in the database, read behind the store's back."""
    if is_postgres_url(state):
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master"
    return run_sql(state, sql)


@pytest.mark.parametrize("command", list(_READERS))
def test_a_read_only_command_refuses_an_empty_database_and_makes_nothing(
    tmp_path: Path, state_location: Path | str, command: str
) -> None:
    """An empty file or database was given the store's tables by a reader
    (exit 0, "no stock positions"): a ``--state`` naming the wrong
    PostgreSQL database, or an empty file, became an empty store."""
    if not is_postgres_url(state_location):
        Path(state_location).touch()
    where = describe_location(state_location)
    done = _tierflow(*_READERS[command], "--state", str(state_location))
    assert (done.exit_code, done.stdout) == (1, ""), done.output
    assert done.stderr == (
        f"Error: {where}: no state store there, an empty database (tierflow "
        "capacity ingest, capacity forecast, stock load or serve makes one) "
        "— nothing was changed\n"
    )
    if is_postgres_url(state_location):
        assert _tables(state_location) == []
    else:  # not even a WAL header or the writers' lock file
        assert Path(state_location).stat().st_size == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


@pytest.mark.parametrize("command", list(_READERS))
def test_a_read_only_command_makes_no_store_where_there_is_none(
    tmp_path: Path, command: str
) -> None:
    typo = tmp_path / "typo.db"
    done = _tierflow(*_READERS[command], "--state", str(typo))
    assert (done.exit_code, done.stdout) == (1, ""), done.output
    assert done.stderr == (
        f"Error: {typo}: no state store there (tierflow capacity ingest, "
        "capacity forecast, stock load or serve makes one)\n"
    )
    assert list(tmp_path.iterdir()) == []


def _listing(where: str, found: int) -> str:
    lines = [
        f"{where}: schema {found}, this tierflow's is {SCHEMA_VERSION}: "
        f"{SCHEMA_VERSION - found} "
        f"{'migration' if SCHEMA_VERSION - found == 1 else 'migrations'} to apply"
    ]
    lines += [
        f"  {v:>3}  {MIGRATION_SUMMARIES[v - 1]}"
        for v in range(found + 1, SCHEMA_VERSION + 1)
    ]
    return "\n".join(lines) + "\n"


def test_state_migrate_lists_then_migrates_and_the_reader_then_works(
    state_location: Path | str,
) -> None:
    where = _older(state_location, 12)
    state = ["--state", str(state_location)]
    dry = _tierflow("state", "migrate", *state, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == _listing(where, 12) + "dry run: nothing changed\n"
    assert _version(state_location) == 12
    dry_json = _tierflow("state", "migrate", *state, "--dry-run", "--json")
    assert json.loads(dry_json.stdout) == {
        "state": where,
        "from": 12,
        "to": SCHEMA_VERSION,
        "pending": [
            {"version": v, "summary": MIGRATION_SUMMARIES[v - 1]}
            for v in range(13, SCHEMA_VERSION + 1)
        ],
        "dry_run": True,
        "migrated": False,
    }
    assert _version(state_location) == 12

    done = _tierflow("state", "migrate", *state)
    assert done.exit_code == 0, done.output
    assert done.stdout == _listing(where, 12) + (
        f"{where}: migrated from schema 12 to {SCHEMA_VERSION}\n"
    )
    assert _version(state_location) == SCHEMA_VERSION

    shown = _tierflow("stock", "show", *_NET, *state, "--json")
    assert shown.exit_code == 0, shown.output
    # no stock row yet: the network's positions, as a router will seed them
    assert [
        (r["node_id"], r["sku"], r["on_hand"]) for r in json.loads(shown.stdout)
    ] == [
        ("ST-CHI", "TEE", 5),
        ("WH-EAST", "MUG", 20),
        ("WH-EAST", "SOFA", 2),
        ("WH-EAST", "TEE", 100),
        ("WH-WEST", "SPRAY", 10),
        ("WH-WEST", "TEE", 50),
    ]

    again = _tierflow("state", "migrate", *state)
    assert again.exit_code == 0, again.output
    assert again.stdout == (
        f"{where}: schema {SCHEMA_VERSION}, current: nothing to migrate\n"
    )
    again_json = _tierflow("state", "migrate", *state, "--json")
    assert json.loads(again_json.stdout) == {
        "state": where,
        "from": SCHEMA_VERSION,
        "to": SCHEMA_VERSION,
        "pending": [],
        "dry_run": False,
        "migrated": False,
    }


def test_state_migrate_refuses_a_newer_store_and_changes_nothing(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    set_schema_version(state_location, SCHEMA_VERSION + 1)
    where = describe_location(state_location)
    for extra in ([], ["--dry-run"]):
        done = _tierflow("state", "migrate", "--state", str(state_location), *extra)
        assert (done.exit_code, done.stdout) == (1, ""), done.output
        assert done.stderr == (
            f"Error: {where}: schema version {SCHEMA_VERSION + 1} is newer than "
            f"this tierflow's ({SCHEMA_VERSION}); upgrade tierflow\n"
        )
    assert _version(state_location) == SCHEMA_VERSION + 1


def test_state_migrate_makes_no_store_where_there_is_none(tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    done = _tierflow("state", "migrate", "--state", str(typo))
    assert (done.exit_code, done.stdout) == (1, ""), done.output
    assert done.stderr == (
        f"Error: {typo}: no state store there (tierflow capacity ingest, "
        "capacity forecast, stock load or serve makes one)\n"
    )
    assert not typo.exists()


def test_a_writer_still_migrates_an_older_store_on_open(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``stock load``, as every writing command and ``serve``, migrates."""
    _older(state_location, SCHEMA_VERSION - 1)
    count = tmp_path / "count.csv"
    count.write_text("node_id,sku,on_hand\nWH-EAST,TEE,7\n")
    load = ["stock", "load", *_NET, "--inventory", str(count)]
    done = _tierflow(*load, "--state", str(state_location))
    assert done.exit_code == 0, done.output
    assert _version(state_location) == SCHEMA_VERSION


def test_state_migrate_names_the_session_whose_migration_it_gave_up_on(
    postgres_server: LocalPostgres,
) -> None:
    """A ``lock_timeout`` of the URL bounds the wait for another process's
    migration (the schema lock): the error names the session that holds
    it, as it names a table's holder (it named nobody)."""
    import psycopg

    url = new_database(postgres_server)
    _older(url, OLDER)
    short = f"{url}&options=-c%20lock_timeout%3D300"
    with psycopg.connect(url, autocommit=True, application_name="qa-report") as held:
        held.execute("SELECT pg_advisory_lock(hashtextextended('tierflow.schema', 0))")
        done = _tierflow("state", "migrate", "--state", short)
        holder = held.info.backend_pid
    assert (done.exit_code, done.stdout) == (1, ""), done.output
    said = re.escape(
        f"cannot migrate the store from schema {OLDER} to {SCHEMA_VERSION}: gave "
        "up waiting for another process's migration (the server's lock_timeout): "
        f"the schema lock, which another session holds (pid {holder}, "
        "application_name 'qa-report', idle for "
    )
    assert re.search(said + r"\d+ s\); nothing was changed\n$", done.stderr), (
        done.stderr
    )
    assert _version(url) == OLDER


def test_state_migrate_gives_up_on_a_session_idle_on_a_table_it_alters(
    postgres_server: LocalPostgres,
) -> None:
    """A session idle in a transaction that read ``capacity_snapshots``
    (migration 18 alters it) held ``state migrate`` for ever, and every
    writer of the table queued behind its lock request: it gives up after
    ``$TIERFLOW_STORE_WAIT_S``, as on SQLite, naming the session, and
    rolls back what it had applied (migrations 15 to 17)."""
    import psycopg

    url = new_database(postgres_server)
    where = _older(url, OLDER)
    migrate = [sys.executable, "-m", "tierflow", "state", "migrate", "--state", url]
    waits = {**os.environ, "TIERFLOW_STORE_WAIT_S": "1"}
    with psycopg.connect(url, autocommit=True, application_name="qa-report") as held:
        held.execute("BEGIN")
        held.execute("SELECT count(*) FROM capacity_snapshots")
        started = time.monotonic()
        try:  # (the old code waited for ever: killed at the timeout)
            done = subprocess.run(
                migrate, env=waits, capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            pytest.fail("state migrate still waiting for the lock after 60 s")
        took = time.monotonic() - started
        holder = held.info.backend_pid
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert re.fullmatch(
            re.escape(
                f"Error: {where}: cannot migrate the store from schema {OLDER} "
                f"to {SCHEMA_VERSION}: gave up after waiting 1 s for a lock on "
                f"capacity_snapshots, which another session holds (pid {holder}, "
                "application_name 'qa-report', idle in transaction for "
            )
            + r"\d+"
            + re.escape(
                " s); nothing was changed: end that session or let it finish, "
                "then migrate again\n"
            ),
            done.stderr,
        ), done.stderr
        assert took < 20, took  # 1 s of wait, the rest a Python's start
        held.execute("ROLLBACK")
    assert _version(url) == OLDER
    assert run_sql(url, "SELECT to_regclass('prune_horizons') IS NULL") == [(True,)]

    again = _tierflow("state", "migrate", "--state", url)
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(
        f"{where}: migrated from schema {OLDER} to {SCHEMA_VERSION}\n"
    )
    assert _version(url) == SCHEMA_VERSION


@contextlib.contextmanager
def _migrations_held(state: Path | str) -> Iterator[None]:
    """Hold what a migration of ``state`` takes first (PostgreSQL's schema
    lock, SQLite's write lock) for the block, as another migrating process
    would."""
    if is_postgres_url(state):
        import psycopg

        lock = "hashtextextended('tierflow.schema', 0)"
        with psycopg.connect(str(state), autocommit=True) as held:
            held.execute(f"SELECT pg_advisory_lock({lock})")
            yield
            held.execute(f"SELECT pg_advisory_unlock({lock})")
        return
    writer = sqlite3.connect(state, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        yield
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def _wait_until_waiting(process: subprocess.Popen[str]) -> str:
    """The stderr of ``process`` up to its line saying that its migration
    waits for a lock (logged :data:`_NOTICE_S` into the wait)."""
    assert process.stderr is not None
    said = ""
    while "to migrate to schema" not in said:
        line = process.stderr.readline()
        if not line:
            pytest.fail(f"state migrate ended without waiting: {said}")
        said += line
    return said


#: The migrations' ``MIGRATION_NOTICE_S`` (5 s) where a test waits for the
#: line: it says nothing sooner (waiting it out was two thirds of the test).
_NOTICE_S = 0.5


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_two_state_migrates_at_once_migrate_once_and_the_other_says_so(
    state_location: Path | str, as_json: bool
) -> None:
    """Two ``state migrate`` of one old store at once both said "migrated"
    (both read the old version, then the second waited for the first's
    lock, found the store current and did nothing): one migrates, the
    other says another process did (``migrated`` false)."""
    where = _older(state_location, OLDER)
    notice = {"tierflow.data.store.database:MIGRATION_NOTICE_S": _NOTICE_S}
    migrate = [*tierflow_program(notice), "state", "migrate"]
    migrate += ["--state", str(state_location), *(["--json"] if as_json else [])]
    waits = {**os.environ, "TIERFLOW_STORE_WAIT_S": "120"}
    with _migrations_held(state_location):
        both = [
            subprocess.Popen(
                migrate,
                env=waits,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for process in both:
                _wait_until_waiting(process)
        except BaseException:
            for process in both:
                process.kill()
            raise
    outs = []
    for process in both:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outs.append(out)
    assert _version(state_location) == SCHEMA_VERSION
    if as_json:
        records = sorted((json.loads(out) for out in outs), key=lambda r: r["migrated"])
        assert [r["migrated"] for r in records] == [False, True]
        for record in records:
            assert (record["from"], record["to"]) == (OLDER, SCHEMA_VERSION)
            assert record["dry_run"] is False
        return
    done = f"{where}: migrated from schema {OLDER} to {SCHEMA_VERSION}\n"
    other = (
        f"{where}: already migrated to schema {SCHEMA_VERSION} by another "
        "process meanwhile: nothing changed\n"
    )
    assert sorted(outs) == sorted(
        [_listing(where, OLDER) + done, _listing(where, OLDER) + other]
    )
