"""Log records as JSON lines or text on stderr, secrets never written."""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterator

import pytest

from tierflow.data.logging_setup import (
    REQUEST_ID,
    StderrHandler,
    TextFormatter,
    configure_logging,
    quoted,
    redact,
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Run with a clean logging tree, restored afterwards: an in-process
    uvicorn started by an earlier test with its default log config gives
    ``uvicorn.error`` its own handler and stops it propagating, which
    ``tierflow serve`` never does (``log_config=None``)."""
    root = logging.getLogger()
    level, ours = root.level, logging.getLogger("tierflow").level
    uvicorn = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error")]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in uvicorn]
    for lg in uvicorn:
        lg.handlers, lg.propagate, lg.level = [], True, logging.NOTSET
    yield
    for lg, (handlers, propagate, lg_level) in zip(uvicorn, saved, strict=True):
        lg.handlers, lg.propagate, lg.level = handlers, propagate, lg_level
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("tierflow").setLevel(ours)


def test_json_lines_parse_and_hide_secrets(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    configure_logging("info", "json")  # again: still one handler
    log = logging.getLogger("tierflow.test")
    log.info("store %s", "postgresql://ops:hunter2@db/tierflow", extra={"n": 3})
    log.warning("key loaded", extra={"api_key": "s3cret-key-value", "source": "file"})
    log.debug("not at info")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["info", "warning", "error"]
    first = records[0]
    assert first["message"] == "store postgresql://ops:***@db/tierflow"
    assert first["logger"] == "tierflow.test" and first["n"] == 3
    assert first["ts"].endswith("Z")
    assert records[1]["api_key"] == "***" and records[1]["source"] == "file"
    assert "ValueError: boom" in records[2]["exc_info"]
    assert "hunter2" not in "".join(lines) and "s3cret" not in "".join(lines)


def test_json_lines_leave_out_uvicorns_terminal_colours(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn gives its records a ``color_message`` (the template with
    terminal colour codes, for its own console handler): every server start
    and stop wrote it into the JSON log, escape codes and an unformatted
    ``%d`` (``"color_message": "Started server process [\\u001b[36m%d..."``)."""
    configure_logging("info", "json")
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)  # as serve sets it
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]",
        4242,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    record = json.loads(capsys.readouterr().err)
    del record["ts"]
    assert record == {
        "level": "info",
        "logger": "uvicorn.error",
        "message": "Started server process [4242]",
    }


def test_text_lines_and_levels(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("warning", "text")
    log = logging.getLogger("tierflow.test")
    log.info("hidden")
    log.warning("shown")
    logging.getLogger("some.library").info("hidden too")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" WARNING tierflow.test: shown")


def test_text_time_stamps_follow_each_record_and_hide_secrets() -> None:
    """The stamp is made once per second, never kept past it (a record of
    another second, earlier or later, gets its own), with or without a
    request id; a URL's password is masked in text too."""
    fmt = TextFormatter()
    instants = [1_700_000_000.1, 1_700_000_000.9, 1_700_000_001.0, 1_699_999_999.5]
    for rid in (None, "req-1"):
        for created in instants:
            record = logging.LogRecord(
                "tierflow.test", logging.INFO, "", 0, "at %s", ("x",), None
            )
            record.created = created
            if rid is not None:
                record.request_id = rid
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
            head = f"{stamp} INFO tierflow.test" + (f" [{rid}]" if rid else "")
            assert fmt.format(record) == f"{head}: at x"
    record = logging.LogRecord("t", logging.INFO, "", 0, "m", None, None)
    record.created = instants[-1]  # the second just stamped
    assert fmt.formatTime(record, "%H:%M") == time.strftime(
        "%H:%M", time.localtime(instants[-1])
    )  # another format asked for in that second is its own
    assert (
        redact("to postgresql://ops:hunter2@db/x ok")
        == "to postgresql://ops:***@db/x ok"
    )
    assert redact("no url: a:b@c") == "no url: a:b@c"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="log level 'loud'"):
        configure_logging("loud", "text")
    with pytest.raises(ValueError, match="log format 'xml'"):
        configure_logging("info", "xml")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_lines_written_while_a_request_is_served_name_it(
    fmt: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Within a request (``REQUEST_ID`` set, as the service does per request)
    every line carries its id; outside, none does."""
    configure_logging("info", fmt)
    log = logging.getLogger("tierflow.test")
    log.info("before")

    def serve() -> None:
        REQUEST_ID.set("req-7")
        log.info("during")
        logging.getLogger("uvicorn.error").warning("a library's line too")

    contextvars.copy_context().run(serve)  # as a request's own task does
    log.info("after")
    lines = capsys.readouterr().err.splitlines()
    if fmt == "json":
        ids = [json.loads(line).get("request_id") for line in lines]
    else:
        ids = ["req-7" if " [req-7]: " in line else None for line in lines]
        assert lines[1].endswith(" INFO tierflow.test [req-7]: during")
    assert ids == [None, "req-7", "req-7", None]


def test_a_secret_in_a_urls_query_is_masked_in_every_log_line() -> None:
    """The access log masked ``?api_key=`` in a request's path, the store's
    messages a libpq URL's ``password=``; any other log line (a library's,
    an error naming a URL) kept a secret query parameter in clear."""
    assert redact(
        "to postgresql://ops@/x?host=/run&password=hunter2&sslpassword=pw ok"
    ) == ("to postgresql://ops@/x?host=/run&password=***&sslpassword=*** ok")
    assert redact("GET http://h/v1/capacity?API_KEY=k1&x=1") == (
        "GET http://h/v1/capacity?API_KEY=***&x=1"
    )
    assert redact("/v1/stream?token=t&a=b") == "/v1/stream?token=***&a=b"
    assert redact("no secret: ?page=2&password") == "no secret: ?page=2&password"


def test_a_quoted_client_value_is_one_line_of_bounded_length() -> None:
    """What a log line quotes of a client (``quoted``): printable text as it
    is; CR, LF, ESC, NUL, a C1 NEL, the Unicode line separator and a bidi
    override escaped (a text line split on any of them, or coloured, or
    reversed); past the limit cut, saying how many characters were."""
    assert quoted("/v1/options?x=%0d%0a") == "/v1/options?x=%0d%0a"
    forged = "a\r\n2026 INFO x\x1b[31m\x00\x85\u2028\u202e\U000e0041z"
    assert quoted(forged) == (
        "a\\x0d\\x0a2026 INFO x\\x1b[31m\\x00\\x85\\u2028\\u202e\\U000e0041z"
    )
    assert quoted("é€ 😀") == "é€ 😀"
    assert quoted("x" * 10, limit=10) == "x" * 10
    assert quoted("x" * 25, limit=10) == "x" * 10 + "…[+15 chars]"
    assert quoted("\n" * 25, limit=4) == "\\x0a" * 4 + "…[+21 chars]"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_backslash_a_client_typed_reads_otherwise_than_an_escaped_character(
    restore_logging: None, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """A path holding the text ``\\x1b[31m`` (a backslash, then ``x1b``)
    was quoted as it is, the very text an ESC is escaped to: a client could
    write what reads in the log as a control character it sent. A backslash
    is now written ``\\\\``; the two lines differ, in text and in JSON
    (which stays JSON)."""
    configure_logging("info", fmt)
    log = logging.getLogger("tierflow.access")
    typed, sent = "/a\\x1b[31m\\n", "/a\x1b[31m\n"
    for path in (typed, sent):
        log.info('"GET %s HTTP/1.1" 404', quoted(path), extra={"path": quoted(path)})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        shown = [r["path"] for r in records]
        assert [r["message"] for r in records] == [
            f'"GET {path} HTTP/1.1" 404' for path in shown
        ]
    else:
        shown = [line.split('"GET ', 1)[1].split(" HTTP/", 1)[0] for line in lines]
    assert shown == ["/a\\\\x1b[31m\\\\n", "/a\\x1b[31m\\x0a"]
    assert quoted("C:\\temp\\") == "C:\\\\temp\\\\"
