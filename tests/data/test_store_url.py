"""A PostgreSQL ``--state`` URL read as libpq reads it, libpq's own parser
(psycopg's ``conninfo_to_dict``: ``PQconninfoParse``) and connection
(``PQconnectStart``) the oracles: split where it splits, shown without its
password, refused in one line where it refuses, and opened on the test
server where it connects (docs/store.md, "Operating PostgreSQL")."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import pq

from tests.postgres import password_role, run_sql
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.store import open_store
from tierflow.data.store.database_store import DatabaseStore
from tierflow.data.store.local_postgres import USER, LocalPostgres
from tierflow.data.store.location import password_misread, redact_url, url_parts
from tierflow.data.store.postgres_database import url_params

#: URLs libpq reads as typed: Unix sockets, encoded passwords, IPv6, several
#: hosts, both schemes, parameters, no database name, an "@" in a value.
_READ_AS_TYPED = [
    "postgresql://tf@/db?host=/run/pg",
    "postgresql://tf@%2Frun%2Fpg/db",
    "postgresql://tf:pa%40ss%2Fw%3Ard%25@h/db",
    "postgresql://tf:s3cret@[::1]:5432/db",
    "postgresql://tf@[::1],[2001:db8::7]:5433/db",
    "postgresql://tf@h1:5432,h2:5433,h3/db?target_session_attrs=read-write",
    "postgres://tf:pw@h/db",
    "postgresql://tf@h/db?sslmode=require&connect_timeout=5&options=-csearch_path%3Dtf",
    "postgresql://tf@h/",
    "postgresql://tf@h",
    "postgresql:///db",
    "postgresql://",
    "postgresql://tf:pw@/db?host=/tmp/x&application_name=a@b",
    "postgresql://tf@/db?host=/tmp/x&application_name=a@b",
    "postgresql://h:5432/db?application_name=a@b",
    "postgresql://tf:a#b@h:5432/db",
    "postgresql://tf:c?d@h/db?sslmode=off",
    "postgresql://tf:e?f#g@h",
    "postgresql://tf@h/db?password=x#y&sslmode=off",
    "postgresql://tf@h/db?pass%77ord=pw&sslpassword=kp",
    "postgresql://tf:pw@h/db?user=other&dbname=d2",
    "postgresql://tf:@h/db",
    "postgresql://:pw@h/db",
]
#: libpq's connection parameters that hold a secret.
_SECRETS = ("password", "sslpassword")


@pytest.mark.parametrize("url", _READ_AS_TYPED)
def test_a_url_is_split_and_shown_as_libpq_reads_it(url: str) -> None:
    """Each part as libpq reads it; the URL shown reads to the same
    parameters but its secrets, and holds none of them."""
    read = psycopg.conninfo.conninfo_to_dict(url)
    parts = url_parts(url)
    assert parts is not None and not password_misread(url)
    ours = {
        unquote(name): unquote(value)
        for name, value in [
            ("user", parts.user or ""),
            ("password", parts.password or ""),
            ("dbname", parts.dbname or ""),
            *parts.query_pairs(),
        ]
        if value
    }
    given = {k: v for k, v in read.items() if k not in ("host", "port")}
    assert {k: ours.get(k) for k in given} == given
    shown = redact_url(url)
    assert psycopg.conninfo.conninfo_to_dict(shown) == {
        k: v for k, v in read.items() if k not in _SECRETS
    }
    for secret in (str(read.get(name, "")) for name in _SECRETS):
        if secret:
            assert secret not in shown and quote(secret) not in shown, shown


#: (URL, the password typed): libpq would read another password, or none.
_MISREAD = [
    ("postgresql://tf:s3cr@tQ7@db.example:5433/db", "s3cr@tQ7"),
    ("postgresql://tf:123/abc@h/db", "123/abc"),
    ("postgresql://tf:123/abc@/db?host=/tmp/x&application_name=a@b", "123/abc"),
    ("postgresql://tf:zq9/xk4w@/db?host=/tmp/x", "zq9/xk4w"),
    ("postgresql://tf:pQ@ss/wQ@h/db", "pQ@ss/wQ"),
    ("postgresql://tf:aQ/bQ?cQ@h/db", "aQ/bQ?cQ"),
    ("postgresql://tf:pQx@ssQ:w/oZ%rd#?x@h:5432/db", "pQx@ssQ:w/oZ%rd#?x"),
]


@pytest.mark.parametrize(("url", "password"), _MISREAD)
def test_a_password_libpq_would_misread_is_refused_and_never_shown(
    url: str, password: str
) -> None:
    """libpq ends a password at its first raw "@", and reads no user part
    before a raw "/": ``tf:123/abc@h/db`` is host ``tf``, port ``123`` and
    database ``abc@h/db``. Digits before the "/" were taken for a port by
    tierflow too: the URL was not refused and was shown whole, password and
    all (QA, 2026-12-07)."""
    try:
        read = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        read = None  # refused outright
    assert read != password
    assert password_misread(url)
    shown = redact_url(url)
    assert shown.startswith("postgresql://tf@"), shown
    for piece in password.replace("@", "/").replace("?", "/").split("/"):
        assert piece not in shown, shown
    with pytest.raises(InputError, match="its password holds a raw '@' or '/'"):
        url_params(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://tf@h/db?bogus=1",
        "postgresql://tf:s3%zzcret@h/db",
        "postgresql://tf@h/db?password=s3%zzcret",
        "postgresql://tf:s3cret@[::1/db",
        "postgresql://tf:s3cret@[]/db",
        "postgresql://tf:s3cret@[::1]x/db",
        "postgresql://tf:s3cret@h/db?sslmode",
    ],
)
def test_a_url_libpq_cannot_parse_is_refused_in_its_words(url: str) -> None:
    """libpq's own message, its quoted tokens holding the password masked."""
    with pytest.raises(psycopg.ProgrammingError) as libpq:
        psycopg.conninfo.conninfo_to_dict(url)
    with pytest.raises(InputError) as ours:
        url_params(url)
    words = " ".join(str(libpq.value).split())
    masked = re.sub(r'"[^"]*"', lambda m: '"***"' if "s3" in m[0] else m[0], words)
    if "%zz" in url:  # the password's own '%', masked: how to write it
        masked += (
            ": a '%' of the password is written %25 in a URL (or give the "
            "password in PGPASSWORD or ~/.pgpass)"
        )
    assert str(ours.value) == f"not a URL libpq accepts: {masked}"


def _libpq_says(hosts: str, port: str) -> str:
    """What libpq says starting a connection to ``port`` of ``hosts``
    (folders with no socket: nothing is reached), its first line."""
    conninfo = psycopg.conninfo.make_conninfo(host=hosts, port=port, user="tf")
    conn = pq.PGconn.connect_start(conninfo.encode())
    try:
        while conn.status != pq.ConnStatus.BAD:
            if conn.connect_poll() == pq.PollingStatus.FAILED:
                break
        return conn.get_error_message().splitlines()[0]
    finally:
        conn.finish()


@pytest.mark.parametrize(
    "port",
    ["abc", "99999", "0", "-1", "5_432", "٥٤٣٢", "99999999999", "+5432", " 5432 ",
     "5432,", "1,2", "1,2,3", "", ","],
)  # fmt: skip
@pytest.mark.parametrize("hosts", ["/no/such/dir", "/no/such/dir,/no/such/other"])
def test_a_bad_port_is_refused_as_libpq_refuses_it(hosts: str, port: str) -> None:
    """A port libpq refuses before it connects is refused before the store
    connects, in libpq's words: psycopg looked the hosts up in DNS first,
    and the store took libpq's error for a server it could not reach
    (``connection is bad: invalid integer value "abc" ...``), which
    ``serve`` waited out for ever."""
    libpq = _libpq_says(hosts, port)
    url = f"postgresql://tf@/db?host={quote(hosts)}&port={quote(port)}"
    if "socket" in libpq:  # libpq went on to connect
        assert url_params(url)["port"] == port
    else:
        with pytest.raises(InputError) as ours:
            url_params(url)
        assert str(ours.value) == f"not a URL libpq accepts: {libpq}"


_names = itertools.count()


@pytest.fixture
def database(postgres_server: LocalPostgres) -> str:
    """A new empty database of the session's server."""
    return postgres_server.create_database(f"url_{os.getpid()}_{next(_names)}")


def _dbname(url: str) -> str:
    """The database of a test server's URL (``postgresql://USER@/DB?host=``)."""
    parts = url_parts(url)
    assert parts is not None and parts.dbname
    return parts.dbname


@pytest.mark.parametrize(
    "form",
    [
        "postgresql://{user}@/{db}?host={host}",
        "postgres://{user}@/{db}?host={host}",
        "postgresql://{user}@{host_enc}/{db}",
        "postgresql://{user}@{host_enc}:5432/{db}",
        "postgresql://{user}@/{db}?host=/no/such/dir,{host}",
        "postgresql://{user}@%2Fno%2Fsuch:5432,{host_enc}:5432/{db}",
        "postgresql://{user}@/{db}?host={host}&sslmode=disable&connect_timeout=5"
        "&options=-c%20search_path%3Dpublic&application_name=a@b",
        "postgresql://{user}@/?host={host}",
    ],
)
def test_each_url_form_opens_the_store(
    postgres_server: LocalPostgres,
    database: str,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unix sockets by parameter and by encoded host, a port, a host that
    fails before one that answers, libpq's parameters, and no database
    name (libpq's ``PGDATABASE``), each on the real server."""
    db = _dbname(database)
    monkeypatch.setenv("PGDATABASE", db)  # for the form without one
    host = str(postgres_server.socket_dir)
    url = form.format(user=USER, db=db, host=host, host_enc=quote(host, safe=""))
    with open_store(url) as store:
        assert store.location == redact_url(url)
        assert store.last_event_seq() == 0
    tables = run_sql(database, "SELECT count(*) FROM capacity_events")
    assert tables == [(0,)]


@pytest.mark.parametrize("typed", ["pw@x/y:z%", "123/abc"])
def test_an_encoded_password_and_an_at_in_a_value_open_the_store(
    postgres_server: LocalPostgres, database: str, typed: str
) -> None:
    """A password with ``@``, ``/``, ``:`` and ``%`` percent-encoded opens
    the store as its role, with ``application_name=a@b`` in the query: a
    URL with a password and a raw "@" in a value was refused as a password
    libpq would misread (QA, 2026-12-07)."""
    role = f"pw_{os.getpid()}_{next(_names)}"
    password_role(postgres_server, role, typed)
    run_sql(database, f"ALTER DATABASE {_dbname(database)} OWNER TO {role}")
    url = database.replace(f"://{USER}@", f"://{role}:{quote(typed, safe='')}@", 1)
    url += "&application_name=a@b"
    with open_store(url) as store:
        assert store.location == url.replace(f":{quote(typed, safe='')}@", "@", 1)
        assert isinstance(store, DatabaseStore)
        rows = store._db.execute(
            "SELECT current_user, current_setting('application_name')"
        )
        assert tuple(rows.fetchone()) == (role, "a@b")


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("postgresql://tf@/db?host=/tmp/x&port=abc", ""),
        ("postgresql://tf:s3cret@/db?host=/tmp/x&port=99999", "s3cret"),
        ("postgresql://tf:s3cret@/db?host=a,b&port=1,2,3", "s3cret"),
        ("postgresql://tf@/db?host=/tmp/x&bogus=1", ""),
        ("postgresql://tf:s3%zzcret@/db?host=/tmp/x", "s3%zzcret"),
        ("postgresql://tf:s3cret@[::1/db", "s3cret"),
        ("postgresql://tf:1234567/abcQ@/db?host=/tmp/x", "1234567"),
        ("postgresql://tf:1234567/abcQ@/db?host=/tmp/x", "abcQ"),
    ],
)
def test_a_url_libpq_refuses_stops_the_cli_in_one_line(
    url: str, hidden: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming ``--state`` (or ``TIERFLOW_STATE``) and the URL
    without its password, exit 1, before any connection: a bad port was
    ``connection is bad`` (an unreachable server to ``serve``), and
    ``tf:123/abc@`` looked host ``tf`` up in DNS and was shown whole."""
    monkeypatch.chdir(tmp_path)
    command = ["state", "migrate"]
    for args, field in ((["--state", url], "--state"), ([], "TIERFLOW_STATE")):
        if not args:
            monkeypatch.setenv("TIERFLOW_STATE", url)
        result = CliRunner().invoke(cli, [*command, *args])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(
            f"Error: field '{field}': value {redact_url(url)!r}: "
        ), result.output
        assert len(result.output.splitlines()) == 1, result.output
        assert "Traceback" not in result.output
        if hidden:
            assert hidden not in result.output, result.output
    assert list(tmp_path.iterdir()) == []
