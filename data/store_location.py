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


#: What follows a URL's first ":" when it is a port (or the next host's
#: ``,``), not a password: ``host:5432/db``, ``host:5432,h2/db``.
_PORT = re.compile(r"\d*(?:[,/?]|$)")


def password_misread(url: str) -> bool:
    """Whether libpq would read less of ``url``'s password than was typed: a
    raw ``/`` in it (libpq's user part ends before the first ``/``: the user
    is read as the host, the password as its port and database) or a raw
    ``@`` (its password ends at the first ``@``, the rest read as the host,
    which is looked up in DNS and quoted in errors). The password is taken
    to end at the URL's last ``@``; a port there (``host:5432/db?x=a@b``)
    is none."""
    _, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return False
    user, colon, password = rest[:at].partition(":")
    if not colon or any(c in user for c in "/?@[") or _PORT.match(password):
        return False
    return "@" in password or "/" in password


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or the query), read as
    libpq reads it: its user part ends at the first ``@`` before a ``/``
    (here at the last ``@`` before the host's ``/`` or ``?``, which hides
    more), it knows no fragment (``#``), and it decodes a parameter's name.
    Read as an http URL (``urlsplit``), a password holding ``#`` or ``?``,
    which libpq takes as it comes, was shown, and so was
    ``pass%77ord=``'s; so was one holding a raw ``/``
    (:func:`password_misread`: all up to the URL's last ``@`` is hidden)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head = rest.partition("/")[0]
    user = None
    if password_misread(url):  # all up to the last "@": none of it is shown
        at = rest.rindex("@")
        user = rest[:at].partition(":")[0]
        rest = rest[at + 1 :]
    elif "@" in head:
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
