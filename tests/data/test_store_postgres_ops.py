"""What an operator meets running the store on PostgreSQL, each said in
one line instead of a traceback or a long wait (docs/store.md,
"Operating PostgreSQL")."""

from __future__ import annotations

import itertools

import pytest

from tierflow.data.errors import InputError
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres

_EVENT = {"ts": "2026-01-05T10:00:00Z", "node_id": "N1", "type": "outage"}
_names = itertools.count()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("&bogus=1", r'not a URL libpq accepts: invalid URI query parameter: "bogus"$'),
        ("&connect_timeout=soon", r"bad value for connect_timeout: 'soon'$"),
    ],
)  # fmt: skip
def test_a_url_libpq_rejects_is_named(
    postgres_server: LocalPostgres, query: str, said: str
) -> None:
    url = postgres_server.url("postgres") + query
    with pytest.raises(InputError, match=said) as raised:
        open_store(url)
    assert str(raised.value).startswith(url)


def test_a_bad_url_never_shows_its_password(postgres_server: LocalPostgres) -> None:
    """libpq quotes the token it cannot decode: here the password."""
    host = postgres_server.socket_dir
    for url in (
        f"postgresql://tierflow:s3%zzcret@/postgres?host={host}",
        f"postgresql://tierflow@/postgres?host={host}&password=s3%zzcret",
    ):
        with pytest.raises(InputError, match="invalid percent-encoded token") as raised:
            open_store(url)
        assert "s3" not in str(raised.value), raised.value
