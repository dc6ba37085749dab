"""A store that can never open as it is (a damaged SQLite file, a migration
the database refuses) stops every command taking ``--state`` at once: one
line naming the store, exit 1; so does a PostgreSQL server refusing the
URL's password, role or database. ``serve`` and ``options`` served it degraded
for ever ("state store unavailable (database disk image is malformed)",
retried every second), as if the database were down, and the batch commands
said the error without the store."""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.cli.in_process import TEST_API_KEY, invoke_stopped_after
from tests.cli.test_extras import _STATE_COMMANDS, _state_commands
from tests.postgres import password_role, set_schema_version
from tierflow.cli.serve_cmd import API_KEY_ENV
from tierflow.data.store import (
    SCHEMA_VERSION,
    StoreBroken,
    describe_location,
    is_postgres_url,
    open_store,
)
from tierflow.data.store.local_postgres import USER, LocalPostgres

#: ``options`` would retry the store for ever if it were not refused: run in
#: a process of its own, stopped at a timeout. ``serve`` runs in process, a
#: Ctrl-C at the timeout stopping a server that serves; the batch commands end
#: either way. In process: the same exit code, out and err, without a new
#: interpreter's imports.
_IN_A_PROCESS = {"options"}
#: The commands that only read the store (``tests/cli/test_state_migrate.py``).
_READERS = {"capacity show", "stock show"}


def _tierflow(tmp: Path, command: str, state: Path | str) -> tuple[int, str, str]:
    """Run ``command`` on ``state``: exit code, out, err (a server that
    serves is stopped, and fails the test)."""
    args = _state_commands(tmp)[command]
    if command not in _IN_A_PROCESS:
        result = invoke_stopped_after([*args, "--state", str(state)], 180)
        return result.exit_code, result.stdout, result.stderr
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    env = {**os.environ, API_KEY_ENV: TEST_API_KEY}
    proc = subprocess.Popen(
        [tierflow, *args, "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=180)  # a busy machine
    except subprocess.TimeoutExpired:  # it serves: stopped, with its workers
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        raise
    return proc.returncode, stdout, stderr


def _truncated(tmp: Path) -> Path:
    """A store cut short, as ``head -c`` or a full disk leaves one."""
    whole = tmp / "whole.db"
    open_store(whole).close()
    with closing(sqlite3.connect(whole)) as db:
        db.executemany(
            "INSERT INTO capacity_events (event_id, ts, node_id, type, payload, "
            "received_at) VALUES (?, '2026-01-05T15:00:00Z', 'WH-EAST', 'note', ?, 0)",
            [(f"e{i}", "x" * 300) for i in range(5000)],
        )
        db.commit()
    cut = tmp / "cut.db"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


@pytest.mark.parametrize("command", _STATE_COMMANDS)
def test_a_truncated_store_is_refused_by_name(tmp_path: Path, command: str) -> None:
    cut = _truncated(tmp_path)
    code, out, err = _tierflow(tmp_path, command, cut)
    assert (code, out) == (1, ""), err
    assert err == f"Error: {cut}: database disk image is malformed\n"
    assert not (tmp_path / "out").exists()


def test_a_truncated_store_is_refused_at_open(tmp_path: Path) -> None:
    cut = _truncated(tmp_path)
    with pytest.raises(StoreBroken) as refused:
        open_store(cut)
    assert str(refused.value) == f"{cut}: database disk image is malformed"


def _already_there(backend: str) -> str:
    """The database's words for migration 6's table, there already."""
    if backend == "postgres":
        return 'relation "quotes" already exists'
    return "table quotes already exists"


@pytest.mark.parametrize("command", _STATE_COMMANDS)
def test_a_store_whose_migration_fails_is_refused_by_name(
    tmp_path: Path, state_location: Path | str, backend: str, command: str
) -> None:
    """A store at version 5 that has migration 6's table already (a restore
    gone wrong, a hand-made table): the migration fails, whatever waits. A
    command that only reads never migrates: it refuses the older store."""
    open_store(state_location).close()
    set_schema_version(state_location, 5)
    code, out, err = _tierflow(tmp_path, command, state_location)
    assert (code, out) == (1, ""), err
    where = describe_location(state_location)
    if command in _READERS:
        assert err == (
            f"Error: {where}: schema 5, this tierflow reads {SCHEMA_VERSION}: "
            f"migrate it first (tierflow state migrate --state {shlex.quote(where)})"
            " — nothing was changed\n"
        )
    else:
        assert err == (
            f"Error: {where}: cannot migrate the store "
            f"from schema 5 to {SCHEMA_VERSION}: migration 6 failed: "
            f"{_already_there(backend)}\n"
        )
    assert not (tmp_path / "out").exists()
    # nothing of it applied
    if not is_postgres_url(state_location):
        with closing(sqlite3.connect(state_location)) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (5,)


#: Numbers for the login roles the tests make on the session's server.
_ROLES = itertools.count()


@pytest.mark.parametrize(
    ("user", "dbname", "said"),
    [
        ("{role}:wrong", "postgres", 'password authentication failed for user "{role}"'),
        ("nobody", "postgres", 'role "nobody" does not exist'),
        (USER, "no_such_db", 'database "no_such_db" does not exist'),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", _STATE_COMMANDS)
def test_a_login_the_server_refuses_is_refused_by_name(
    tmp_path: Path,
    postgres_server: LocalPostgres,
    user: str,
    dbname: str,
    said: str,
    command: str,
) -> None:
    """A wrong password, role or database in ``--state``: one line naming
    the URL (its password masked) and the server's words, exit 1. ``serve``
    started degraded and retried every second for ever, and ``options``
    answered degraded with exit 0, as for a server that is down (which they
    still wait for: ``test_a_store_it_cannot_open_is_named_in_the_banner``)."""
    role = f"cli_pw_{os.getpid()}_{next(_ROLES)}"  # pw_ is test_store_postgres_ops'
    password_role(postgres_server, role, "right")
    host = postgres_server.socket_dir
    state = f"postgresql://{user.format(role=role)}@/{dbname}?host={host}"
    code, out, err = _tierflow(tmp_path, command, state)
    assert (code, out) == (1, ""), err
    assert err == (
        f"Error: {state.replace(':wrong@', '@')}: connection failed: connection "
        f'to server on socket "{host}/.s.PGSQL.5432" failed: FATAL: '
        f"{said.format(role=role)} (refused by the server, which waiting will "
        "not mend: fix the URL's user, password or database)\n"
    )
    assert not (tmp_path / "out").exists()
