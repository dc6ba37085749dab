"""Every line ``tierflow serve`` writes about a request is one bounded line:
what it quotes of the client (the path and query) is escaped and cut at
:data:`~tierflow.data.logging_setup.MAX_QUOTED_CHARS`, saying how much was
cut, in both log formats (live server, the lines on stderr)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.service.test_request_ids import log_setup  # noqa: F401 (a fixture)
from tests.service_fixtures import API_KEY, MONDAY_10, tiny_router
from tierflow.data.logging_setup import MAX_QUOTED_CHARS, configure_logging
from tierflow.service.app import create_app
from tierflow.service.server import log_settings, serve_in_thread

#: A text record's start: its time stamp, level and logger.
_TEXT_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+ [\w.]+[ :]")


def _ask(url: str, head: bytes) -> bytes:
    """Send ``head`` on a connection of its own; the answer's status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head)
        return raw.recv(65536).split(b"\r\n", 1)[0]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_each_request_is_one_bounded_line_whatever_the_client_sent(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log_setup: None,  # noqa: F811
    fmt: str,
) -> None:
    """A 70,000-character path refused 431, a 60,000-character one answered
    404 and a 60,000-character query were written whole in their access
    lines (70 KB of text a line, twice that in JSON, whose ``path`` repeats
    it): each is cut at ``MAX_QUOTED_CHARS`` with ``…[+N chars]``, after
    the query's secrets are masked. Control characters, raw or encoded,
    forge no second line: the parser refuses a raw CR, LF or ESC (400, its
    line has what the parser took of the request line, ``/healthz`` or
    ``-``) and an encoded one stays encoded; a backslash is doubled, so the
    text ``\\x1b`` a client typed reads otherwise than an escaped ESC."""
    configure_logging("info", fmt)
    heads = {
        "/" + "a" * 70_000: b"431",
        "/" + "b" * 60_000: b"404",
        "/healthz?api_key=hunter2&q=" + "c" * 60_000: b"200",
        "/healthz%0d%0a2026-12-07%2000:00:00%20INFO%20tierflow.access:%1b[31m": b"404",
        "/healthz\\x1b[31m\\x0a": b"404",  # the text, as an escape would read
        "/healthz\r\n2026-12-07 00:00:00 INFO tierflow.access: forged": b"400",
        "/healthz\x1b[31mred\x85\x00": b"400",
    }
    router = tiny_router(tmp_path)
    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10)
    # uvicorn's records through tierflow's handler, as `tierflow serve` has it
    with router, serve_in_thread(app, **log_settings()) as server:
        for target, status in heads.items():
            head = f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1")
            assert status in _ask(server.url, head)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) >= len(heads)
    assert "hunter2" not in err
    bound = MAX_QUOTED_CHARS + 400  # the line's own words, the JSON's twice
    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line parses
        access = [x for x in records if x["logger"] == "tierflow.access"]
        paths = [x["path"] for x in access]
        assert all(len(line) <= bound + MAX_QUOTED_CHARS for line in lines)
    else:
        assert all(_TEXT_RECORD.match(line) for line in lines), lines
        assert all(len(line) <= bound for line in lines)
        access = [x for x in lines if " tierflow.access " in x]
        asked = [x.split('"', 2)[1] for x in access]
        paths = [x.split(" ", 1)[1].rsplit(" ", 1)[0] for x in asked]
    assert len(paths) == len(heads)
    keep = MAX_QUOTED_CHARS
    assert paths[:3] == [
        "/" + "a" * (keep - 1) + f"…[+{70_001 - keep} chars]",
        "/" + "b" * (keep - 1) + f"…[+{60_001 - keep} chars]",
        ("/healthz?api_key=***&q=" + "c" * 60_000)[:keep]
        + f"…[+{len('/healthz?api_key=***&q=') + 60_000 - keep} chars]",
    ]
    assert (
        paths[3]
        == "/healthz%0d%0a2026-12-07%2000:00:00%20INFO%20tierflow.access:%1b[31m"
    )
    assert paths[4] == "/healthz\\\\x1b[31m\\\\x0a"  # its backslashes doubled
    assert paths[5:] == ["/healthz", "-"]  # (httptools: HTTP/0.9, then nothing)
