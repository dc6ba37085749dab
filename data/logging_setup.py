"""Logging for tierflow's commands and service: one stderr handler writing
plain text or JSON lines, with secrets masked (``docs/cli.md``, "Logs"),
and the HTTP request id (:data:`REQUEST_ID`) on every line written while a
request is served.

In the ``data`` layer so that both ``cli`` and ``service`` may set it up.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any, TextIO

#: ``--log-level`` choices, most verbose first.
LOG_LEVELS = ("debug", "info", "warning", "error")
#: ``--log-format`` choices.
LOG_FORMATS = ("text", "json")
#: Extra fields whose name ends in one of these are never written.
SECRET_SUFFIXES = ("api_key", "password", "secret", "token")
#: A log line quotes at most this many characters of one value a client
#: sent (a request's path and query), then says how many it cut.
MAX_QUOTED_CHARS = 1024
#: The id of the HTTP request being served (set by the service for each
#: request, in that request's own task); every log record written meanwhile
#: carries it as ``request_id``.
REQUEST_ID: ContextVar[str | None] = ContextVar("tierflow_request_id", default=None)
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+:)[^@\s]+@")
_SUFFIXES = "|".join(SECRET_SUFFIXES)
#: A query parameter named like the secret fields (``?api_key=``,
#: ``&password=``, ``sslpassword=``), and its value.
_QUERY_SECRET_NAME = re.compile(rf"(?:{_SUFFIXES})=", re.IGNORECASE)
_QUERY_SECRET = re.compile(rf"([?&][^&=#\s]*(?:{_SUFFIXES})=)[^&#\s]*", re.IGNORECASE)
#: Attributes every LogRecord has; the rest of a record's fields are extras
#: (but ``color_message``: uvicorn's template with terminal colour codes, for
#: its own console handler, which a JSON line has no use for).
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` URL
    masked, and the value of any query parameter named like a secret field
    (a request's ``?api_key=``, a libpq URL's ``password=``)."""
    if "://" in text:  # no URL: the common case, without the regex's scan
        text = _URL_PASSWORD.sub(r"\1***@", text)
    if "?" in text and _QUERY_SECRET_NAME.search(text):
        text = _QUERY_SECRET.sub(r"\1***", text)
    return text


def quoted(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text``, a value a client sent, as a log line may quote it: cut at
    ``limit`` characters (``…[+N chars]`` saying how many more there were)
    and every character that is not printable (CR, LF, ESC, NUL, C1 and
    the Unicode line separators, a bidi override) escaped as ``\\xNN``,
    ``\\uNNNN``: the line stays one line of bounded length whatever the
    client sent. A backslash is written ``\\\\``, so the text ``\\x1b`` a
    client typed reads otherwise than an escaped ESC. Mask secrets
    (:func:`redact`) before: a cut may leave half of one."""
    if len(text) <= limit and text.isprintable() and "\\" not in text:
        return text  # the common case, at C speed
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    text = text.replace("\\", "\\\\")  # first: the escapes below have one
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escaped(c) for c in text)
    return f"{text}…[+{cut} chars]" if cut > 0 else text


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _field(name: str, value: Any) -> Any:
    if name.lower().endswith(SECRET_SUFFIXES):
        return "***"
    if isinstance(value, str):
        return redact(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC), ``level``, ``logger``,
    ``message``, then the record's ``extra`` fields (``exc_info`` on errors)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                out[name] = _field(name, value)
        if record.exc_info:
            out["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class _SecondsFormatter(logging.Formatter):
    """A formatter whose time stamp has whole seconds: made once per second,
    not once per line (a busy service writes hundreds of lines a second)."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt, "%Y-%m-%d %H:%M:%S")
        self._stamp: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, made_with, text = self._stamp  # one tuple: threads share it
        if int(record.created) != second or datefmt != made_with:
            text = super().formatTime(record, datefmt)
            self._stamp = (int(record.created), datefmt, text)
        return text


class TextFormatter(_SecondsFormatter):
    """``2026-01-19 13:00:00 INFO tierflow.progress: message`` (local time);
    ``... INFO tierflow.access [REQUEST-ID]: message`` while a request is served."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._with_id = _SecondsFormatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None):
            return redact(self._with_id.format(record))
        return redact(super().format(record))


def add_request_id(record: logging.LogRecord) -> bool:
    """A handler filter: the served request's id onto the record (kept when
    the record already names one)."""
    if getattr(record, "request_id", None) is None:
        rid = REQUEST_ID.get()
        if rid is not None:
            record.request_id = rid
    return True


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (tests and
    click's runner swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``."""


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send log records to stderr as ``fmt`` (``text`` or ``json``).

    tierflow's loggers log at ``level`` and above; other libraries' at
    ``warning`` and above (or ``level`` when it is higher). Calling it again
    replaces the handler it installed, never stacks a second one.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level {level!r}: choose from {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: choose from {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.addFilter(add_request_id)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    numeric = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(max(numeric, logging.WARNING))
    logging.getLogger("tierflow").setLevel(numeric)
