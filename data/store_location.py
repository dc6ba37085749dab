"""Where a state store lives, before it is opened: the default store, a
SQLite path told from a PostgreSQL URL, and a URL shown without its password.

Pure string and path helpers with no heavy import: ``--state``'s help names
the default store and its type checks the value, so every ``tierflow X
--help`` of a command with ``--state`` (and its usage errors) reads them;
from the store's package (:mod:`tierflow.data.store`, pandas and every
concern class) they cost about 0.4 s. The store re-exports them from
:mod:`tierflow.data.store.location`, where :func:`open_store` opens one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

#: The commands that make a store where there is none (named when a
#: command that does not make one finds none).
STORE_MAKERS = "tierflow capacity ingest, capacity forecast, stock load or serve"
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


@dataclass(frozen=True)
class UrlParts:
    """A ``scheme://`` URL split where libpq splits it
    (``conninfo_uri_parse_options``), each part raw (not percent-decoded).

    Its user part ends at the first ``@`` before any ``/`` (none: no user
    part), its password at the first ``@`` after the user's ``:``; its hosts
    (``netloc``: ``host:port`` pairs, ``,``-separated, IPv6 in ``[]``) at
    the next ``/`` or ``?``; its database name at the first ``?``. libpq
    knows no fragment: ``#`` is text.
    """

    scheme: str
    user: str | None
    password: str | None
    netloc: str
    dbname: str | None
    query: str | None

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query's ``name=value`` pairs, raw (a pair without ``=``: an
        empty value), empty ones left out."""
        pairs = (p.partition("=") for p in (self.query or "").split("&") if p)
        return [(name, value) for name, _, value in pairs]

    def secrets(self) -> list[str]:
        """The password and each secret parameter's value, raw and decoded."""
        raw = [self.password or ""] + [
            value
            for name, value in self.query_pairs()
            if unquote(name) in _SECRET_PARAMETERS
        ]
        return [s for r in raw if r for s in {r, unquote(r)}]


def url_parts(url: str) -> UrlParts | None:
    """``url`` split as libpq splits a URL (:class:`UrlParts`); None when it
    is no ``scheme://`` URL. It never refuses one: an IPv6 host without its
    ``]`` runs to the end (libpq refuses it, naming the whole URL)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    user = password = None
    credentials = re.match(r"[^@/]*@", rest)
    if credentials:
        user, colon, given = credentials[0][:-1].partition(":")
        password = given if colon else None
        rest = rest[credentials.end() :]
    at = 0
    while True:  # host[:port] pairs
        if rest.startswith("[", at):
            close = rest.find("]", at)
            at = len(rest) if close < 0 else close + 1
        else:
            at = _end(rest, at, ":/?,")
        if rest.startswith(":", at):
            at = _end(rest, at + 1, "/?,")
        if not rest.startswith(",", at):
            break
        at += 1
    netloc, rest = rest[:at], rest[at:]
    dbname = query = None
    if rest.startswith("/"):
        dbname, mark, given_query = rest[1:].partition("?")
        query = given_query if mark else None
    elif rest.startswith("?"):
        query = rest[1:]
    return UrlParts(scheme, user, password, netloc, dbname, query)


def _end(text: str, at: int, stops: str) -> int:
    """Where the first of ``stops`` is in ``text`` from ``at`` (its length: none)."""
    return min(
        (i for i in map(lambda c: text.find(c, at), stops) if i >= 0), default=len(text)
    )


def password_misread(url: str) -> bool:
    """Whether libpq would read ``url``'s password otherwise than it was
    typed: a raw ``@`` in libpq's hosts, database name or a parameter's
    name. Its password ends at the first ``@`` (the rest of it read as the
    host, which is looked up in DNS and quoted in errors), and it reads no
    user part before a ``/`` (``u:123/abc@h/db``: host ``u``, port ``123``,
    database ``abc@h/db``). A raw ``@`` in a parameter's value
    (``?application_name=a@b``) is read as typed."""
    parts = url_parts(url)
    if parts is None:
        return False
    return (
        "@" in parts.netloc
        or "@" in (parts.dbname or "")
        or any("@" in name for name, _ in parts.query_pairs())
    )


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or the query), split
    as libpq splits it (:func:`url_parts`): a password's ``#``, ``?`` or
    ``/`` as typed, and ``pass%77ord=``'s value, which libpq decodes the
    name of, are hidden. A URL whose password libpq would misread
    (:func:`password_misread`) is shown without all up to its last ``@``
    outside a parameter's value, after its user's name."""
    parts = url_parts(url)
    if parts is None:
        return url
    scheme, rest = parts.scheme, url[len(parts.scheme) + 3 :]
    if password_misread(url):  # the password may run to the last such "@"
        end = max(_raw_ats(rest, parts.query))
        user = rest[:end].partition(":")[0]
        return f"{scheme}://{user}@" + redact_url("x://" + rest[end + 1 :])[4:]
    kept = "&".join(
        p
        for p in (parts.query or "").split("&")
        if p and unquote(p.partition("=")[0]) not in _SECRET_PARAMETERS
    )
    shown_user = "" if parts.user is None else f"{parts.user}@"
    where = parts.netloc + ("" if parts.dbname is None else f"/{parts.dbname}")
    return f"{scheme}://{shown_user}{where}" + (f"?{kept}" if kept else "")


def _raw_ats(rest: str, query: str | None) -> list[int]:
    """Where ``rest`` (a URL after ``://``, ending in ``query``) holds an
    ``@`` outside a parameter's value."""
    start = len(rest) if query is None else len(rest) - len(query)
    ats = [i for i in range(start) if rest[i] == "@"]
    for pair in (query or "").split("&"):
        name = pair.partition("=")[0]
        if "@" in name:
            ats.append(start + name.rindex("@"))
        start += len(pair) + 1
    return ats


def shown_location(text: str) -> str:
    """A location as an error may show it: as given, but for the password of
    a ``scheme://`` URL (its scheme as written), or of a ``scheme:/`` one,
    which is refused as no URL but was shown whole, password included."""
    if "://" not in text:
        one_slash = _URL_LIKE.match(text)
        if one_slash is None:
            return text
        prefix = one_slash.group()
        return prefix + redact_url("x://" + text[len(prefix) :])[len("x://") :]
    redacted = redact_url(text)
    return text[: text.index("://")] + redacted[redacted.index("://") :]


def default_state_path() -> Path:
    """``$TIERFLOW_STATE``, else ``$XDG_DATA_HOME/tierflow/state.db``
    (``~/.local/share/tierflow/state.db``)."""
    env = os.environ.get("TIERFLOW_STATE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tierflow" / "state.db"


def default_state_location() -> Path | str:
    """``$TIERFLOW_STATE`` as given when it is a URL, else
    :func:`default_state_path`."""
    env = os.environ.get("TIERFLOW_STATE", "")
    # any URL stays as given: open_store refuses one that is not PostgreSQL's
    return env if _URL_LIKE.match(env) else default_state_path()


def describe_location(location: Path | str) -> str:
    """A location to print: a path as is, a URL without its password."""
    text = str(location)
    return redact_url(text) if is_postgres_url(text) else text
