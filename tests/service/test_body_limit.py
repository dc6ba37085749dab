"""Request bodies over the limit get 413, declared or counted as they come."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.helpers import Listener
from tests.service_fixtures import API_KEY, MONDAY_10, TEE_TO_CHICAGO, live_server
from tierflow.data.log_repeats import RepeatedLines
from tierflow.data.logging_setup import JsonFormatter, TextFormatter, add_request_id
from tierflow.service import request_limits
from tierflow.service.errors import error_body


def test_request_bodies_are_size_limited(tmp_path: Path) -> None:
    body = {"customer_id": "C1", **TEE_TO_CHICAGO, "pad": "x" * 3000}
    with (
        live_server(tmp_path, max_body_bytes=2048) as (server, _),
        httpx.Client(base_url=server.url) as client,
    ):
        r = client.post("/v1/options", json=body)
        assert r.status_code == 413 and r.json()["error"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            yield json.dumps(body).encode()

        r = client.post(
            "/v1/options",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413 and r.json()["field"] == "body"
        ok = client.post("/v1/options", json={"customer_id": "C1", **TEE_TO_CHICAGO})
        assert ok.status_code == 200


#: The security headers of every answer, the server's own refusals included.
REFUSAL_HEADERS = [
    b"x-content-type-options: nosniff",
    b"x-frame-options: deny",
    b"referrer-policy: no-referrer",
    b"content-security-policy: default-src 'none'; frame-ancestors 'none'",
    b"cache-control: no-store",
]


def _raw(
    url: str, head: bytes, *, wait_s: float = 10.0, then: tuple[bytes, ...] = ()
) -> bytes:
    """What the server answers ``head`` on a new connection, and ``then``'s
    parts each sent 0.2 s after the last (reads of their own), until it
    closes it or ``wait_s`` passes (b"" for nothing at all)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.settimeout(wait_s)
        with contextlib.suppress(OSError):  # refused half-way: answer read below
            raw.sendall(head)
            for part in then:
                time.sleep(0.2)
                raw.sendall(part)
        got = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := raw.recv(65536):
                got += chunk
                if b"\r\n\r\n" in got and b"close" in got.lower():
                    break
        return got


def _refusal(answer: bytes) -> Any:
    """The JSON body of a refusal the server wrote itself (its head says
    JSON and closes the connection, with the headers of every answer: it
    had none of them, ``docs/service.md`` "Headers")."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert b"content-type: application/json" in lines, head
    assert b"connection: close" in lines, head
    assert f"content-length: {len(body)}".encode() in lines, head
    for line in REFUSAL_HEADERS:
        assert line in lines, head
    return json.loads(body)


def test_a_request_the_parser_cannot_read_is_400_in_the_api_shape(
    tmp_path: Path,
) -> None:
    """uvicorn answered a request its parser refused with its own plain
    text ``Invalid HTTP request received.``; the 431 and 408 here were
    plain text too: each is now the API's JSON error shape."""
    with live_server(tmp_path) as (server, _):
        answer = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert _refusal(answer) == error_body(
            400, "malformed HTTP request: the request line or headers do not parse"
        )


def test_a_request_head_without_end_is_refused_at_64_kib(tmp_path: Path) -> None:
    """A header that never ends was kept whole in memory, however long: one
    client grew a server by 240 MB with a 133 MB header (uvicorn's httptools
    parser has no limit). A head over 64 KiB (``MAX_HEAD_BYTES``) is 431,
    the connection closed; a head under it is served as before."""
    with live_server(tmp_path) as (server, _):
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
        answer = _raw(server.url, big)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert _refusal(answer) == error_body(
            431, "request head over 65536 bytes (the request line and headers)"
        )
        fits = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60_000
        assert _raw(server.url, fits + b"\r\nConnection: close\r\n\r\n").startswith(
            b"HTTP/1.1 200 OK\r\n"
        )
        # a URL that never ends too
        assert _raw(server.url, b"GET /healthz?" + b"q" * 200_000).startswith(
            b"HTTP/1.1 431 "
        )
        # and a body is a body (its own limit, 413), never counted as a head:
        # two of 60 KB on one connection reach the app (an extra field: 422),
        # one of 70 KB whole in one read is 413 (it was 431: the read that
        # ended the request was counted towards the next one's head)
        body = {"customer_id": "C1", **TEE_TO_CHICAGO, "pad": "x" * 60_000}
        with httpx.Client(base_url=server.url) as client:
            for _ in range(2):
                padded = client.post("/v1/options", json=body)
                assert padded.json()["field"] == "pad", padded.text
            body["pad"] = "x" * 70_000
            padded = client.post("/v1/options", json=body)
            assert padded.json()["error"] == "body_too_large", padded.text
        with httpx.Client(base_url=server.url) as client:
            body.pop("pad")
            assert client.post("/v1/options", json=body).status_code == 200


def test_a_head_over_64_kib_is_431_whole_in_one_read_or_split(
    tmp_path: Path,
) -> None:
    """A head over the limit that came whole in one read (70 KiB of headers
    in one ``sendall`` on loopback), or whose last read completed it, was
    never counted: it was served (200), and a URL over it was 400 (the
    parser's). Each is 431 now, the app never seeing it; a head just under
    the limit as before; a head after a small request in the same read is
    measured from where it can have begun (that read)."""
    close = b"\r\nConnection: close\r\n\r\n"
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + close
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(700)
    )
    heads = {
        "one header, one read": (big, ()),
        "one header, split": (big[:40_000], (big[40_000:],)),
        "one header, split thrice": (big[:30_000], (big[30_000:60_000], big[60_000:])),
        "700 headers, one read": (many + close[2:], ()),
        "a URL, one read": (
            b"GET /healthz?" + b"q" * 70_000 + b" HTTP/1.1" + close,
            (),
        ),
        "after a request, one read": (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + big,
            (),
        ),
    }
    with live_server(tmp_path) as (server, _):
        for what, (head, then) in heads.items():
            answer = _raw(server.url, head, then=then)
            if what.startswith("after"):  # the first's answer, whole, first
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
                answer = answer[answer.find(b"HTTP/1.1 431 ") :]
            assert answer.startswith(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            ), (what, answer[:200])
            assert _refusal(answer) == error_body(
                431, "request head over 65536 bytes (the request line and headers)"
            ), what
        fits = big.replace(b"a" * 70_000, b"a" * 65_000)
        for head, then in [(fits, ()), (fits[:40_000], (fits[40_000:],))]:
            answer = _raw(server.url, head, then=then)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]


def test_a_request_that_stops_coming_is_closed_with_408(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection that sends nothing, or a head or a body that stops
    coming (a client gone without a word), was kept open for good with its
    task waiting: ``READ_IDLE_S`` (30 s; 1 here) without a byte closes it
    with 408, and the access line says 408 (not 499, not FastAPI's 400). A
    slow but steady body, a slow answer and an event stream are not cut."""
    monkeypatch.setattr(request_limits, "READ_IDLE_S", 1.0)
    caplog.set_level(logging.INFO, logger="tierflow.access")
    body = json.dumps({"customer_id": "C1", **TEE_TO_CHICAGO}).encode()
    head = (
        "POST /v1/options HTTP/1.1\r\nHost: x\r\nX-Request-ID: {}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with live_server(tmp_path) as (server, _):
        started = time.monotonic()
        assert _raw(server.url, b"") == b""  # nothing sent: closed, no answer
        assert time.monotonic() - started < 5
        stalled = [
            b"GET /healthz HTTP/1.1\r\nHost:",
            head.format("stalled").encode() + body[:9],
        ]
        for sent in stalled:
            answer = _raw(server.url, sent)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert _refusal(answer) == error_body(
                408, "no byte of the request for 1 s before it came whole"
            )
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:  # steady
            raw.sendall(head.format("steady").encode())
            for k in range(0, len(body), 20):
                time.sleep(0.2)
                raw.sendall(body[k : k + 20])
            assert raw.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")
        listener = Listener(f"{server.url}/v1/stream")
        listener.wait_for(lambda e: e["event"] == "capacity")
        time.sleep(2.5)  # over twice the read timeout: the stream goes on
        event = {"event_id": "late", "ts": MONDAY_10.isoformat(),
                 "node_id": "ST-CHI", "type": "staffing", "value": 60}  # fmt: skip
        posted = httpx.post(
            f"{server.url}/v1/capacity/events",
            json={"events": [event]},
            headers={"X-API-Key": API_KEY},
        )
        assert posted.status_code == 200, posted.text
        listener.wait_for(
            lambda e: e["event"] == "capacity" and e["data"]["version"][0] == 1
        )
    access = [
        (r.__dict__["path"], r.__dict__["status"])
        for r in caplog.records
        if r.name == "tierflow.access" and r.__dict__["method"] == "POST"
    ]
    assert access == [
        ("/v1/options", 408),
        ("/v1/options", 200),
        ("/v1/capacity/events", 200),
    ]


def test_refusals_before_the_app_have_an_access_line_and_a_count(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 400, 408 and 431 the protocol writes before the app had no access
    line and no count in ``tierflow_http_requests_total``: an operator
    counting 408s missed every head that stopped coming. Each now has both,
    with what came of the request (``-`` for a method, path and version that
    had not come whole), its query's secrets and the key masked as in any
    access line, and a request id, the caller's when its header came, which
    the answer carries too."""
    monkeypatch.setattr(request_limits, "READ_IDLE_S", 1.0)
    caplog.set_level(logging.INFO, logger="tierflow.access")
    sent = {
        "head stalled": (
            b"GET /healthz?api_key=s3cret&k=" + API_KEY.encode() + b" HTTP/1.1\r\n"
            b"Host: x\r\nX-Request-ID: stalled-1\r\nX-Half:",
            408,
        ),
        "request line stalled": (b"GET /heal", 408),
        "head too large": (
            b"POST /v1/options HTTP/1.1\r\nX-Big: " + b"a" * 70_000,
            431,
        ),
        "header malformed": (b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400),
        "request line malformed": (b"GARBAGE\r\n\r\n", 400),
    }
    with live_server(tmp_path) as (server, _):
        before = _requests_counted(server.url)  # (the registry is the process's)
        ids = {}
        for what, (head, status) in sent.items():
            answer = _raw(server.url, head)
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (what, answer)
            lines = answer.partition(b"\r\n\r\n")[0].decode().lower().split("\r\n")
            (rid,) = [h.split(": ")[1] for h in lines if h.startswith("x-request-id")]
            ids[what] = rid
        counted = _requests_counted(server.url)
    assert ids["head stalled"] == "stalled-1"
    assert len(set(ids.values())) == len(ids)
    records = [r for r in caplog.records if r.name == "tierflow.access"]
    refused = [r for r in records if r.__dict__["status"] != 200]
    got = [
        (r.__dict__["method"], r.__dict__["path"], r.__dict__["status"])
        for r in refused
    ]
    assert got == [
        ("GET", "/healthz?api_key=***&k=***", 408),
        ("-", "-", 408),
        ("POST", "/v1/options", 431),
        ("GET", "/healthz", 400),
        ("-", "-", 400),
    ]
    port = r"127\.0\.0\.1:\d+"
    text = [TextFormatter().format(r).partition(": ")[2] for r in refused]
    assert re.fullmatch(
        rf'{port} "GET /healthz\?api_key=\*\*\*&k=\*\*\* HTTP/1\.1" 408 \d{{3,4}}\.\d ms',
        text[0],
    ), text
    assert re.fullmatch(rf'{port} "- - HTTP/-" 408 \d{{3,4}}\.\d ms', text[1]), text
    assert re.fullmatch(rf'{port} "- - HTTP/-" 400 \d+\.\d ms', text[4]), text
    assert API_KEY not in "".join(text) and "s3cret" not in "".join(text)
    fields = json.loads(JsonFormatter().format(refused[1]))
    assert {k: fields[k] for k in ("method", "path", "status")} == {
        "method": "-",
        "path": "-",
        "status": 408,
    }
    assert fields["duration_ms"] >= 900 and re.fullmatch(port, fields["client"])
    moved = {k: v - before.get(k, 0) for k, v in counted.items()}
    assert {k: v for k, v in moved.items() if v and k[2] != "200"} == {
        ("GET", "/healthz", "408"): 1,
        ("other", "unmatched", "408"): 1,
        ("POST", "/v1/options", "431"): 1,
        ("GET", "/healthz", "400"): 1,
        ("other", "unmatched", "400"): 1,
    }


def _requests_counted(url: str) -> dict[tuple[str, str, str], float]:
    """``tierflow_http_requests_total`` by method, route and status."""
    scraped = httpx.get(f"{url}/metrics").text
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
        if s.name == "tierflow_http_requests_total"
    }


def test_a_storm_of_refusals_before_the_app_is_one_warning_with_its_request_id(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 requests the parser cannot read and 5 heads over the limit: each
    has its access line, and each kind one warning in
    ``REFUSED_LOG_EVERY_S``, which carries the request id of its access
    line. uvicorn's ``Invalid HTTP request received.`` and the 431 warning
    were written once per request, with no request id, so a scanner's
    malformed requests doubled the log and no warning could be tied to its
    request."""
    said = RepeatedLines(request_limits.REFUSED_LOG_EVERY_S)  # none said before
    monkeypatch.setattr(request_limits, "_refused_said", said)
    caplog.set_level(logging.INFO, logger="tierflow.access")
    caplog.handler.addFilter(add_request_id)  # as the server's handler does
    sent = [(b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400)] * 30
    sent += [(b"POST /v1/options HTTP/1.1\r\nX-Big: " + b"a" * 70_000, 431)] * 5
    with live_server(tmp_path) as (server, _):
        for head, status in sent:
            answer = _raw(server.url, head)
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
    access = [r for r in caplog.records if r.name == "tierflow.access"]
    refused = [r for r in access if r.__dict__["status"] in (400, 431)]
    assert len(refused) == len(sent)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().rsplit(": ", 1)[1] for r in warnings] == [
        "refused (400)",
        "refused (431)",
    ], [r.getMessage() for r in warnings]
    first = {r.__dict__["status"]: r.__dict__["request_id"] for r in refused[::-1]}
    assert [r.__dict__["request_id"] for r in warnings] == [first[400], first[431]]


def _answers(url: str, sent: bytes) -> list[tuple[bytes, bytes]]:
    """Every answer to ``sent`` (one ``sendall``) until the server closes the
    connection: each one's status line and body, as its Content-Length has
    it (a body cut short is what came of it)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.settimeout(10)
        with contextlib.suppress(OSError):  # refused half-way: answers read below
            raw.sendall(sent)
        got = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := raw.recv(65536):
                got += chunk
    answers = []
    while got:
        head, _, rest = got.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        size = int(length.group(1)) if length else len(rest)
        answers.append((head.split(b"\r\n", 1)[0], rest[:size]))
        got = rest[size:]
    return answers


#: A second request refused before the app: its bytes, the refusal's status
#: line and ``error``, and the path its access line names.
_REFUSED_BEHIND = {
    "431": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 431 Request Header Fields Too Large",
        "head_too_large",
        "/healthz",
    ),
    "400": (
        b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
        b"HTTP/1.1 400 Bad Request",
        "bad_request",
        "-",  # (what the parser refused came in the read of the one ahead)
    ),
}


@pytest.mark.parametrize("refused", list(_REFUSED_BEHIND))
def test_a_pipelined_request_refused_comes_after_the_answers_before_it(
    tmp_path: Path, refused: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A request refused before the app (a head over 64 KiB: 431; one the
    parser cannot read: 400) sent in one write after whole ones, as a
    pipelining client does: its refusal was written, and the connection
    closed, at once, before the answers to the requests ahead of it (none
    came), and it had no access line. HTTP/1.1 answers in order: each
    answer ahead comes whole, then the refusal, then the close."""
    then, status_line, error, path = _REFUSED_BEHIND[refused]
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    caplog.set_level(logging.INFO, logger="tierflow.access")
    with live_server(tmp_path) as (server, _):
        healthy = httpx.get(f"{server.url}/healthz").content
        for ahead in (1, 2):
            answers = _answers(server.url, ok * ahead + then)
            assert [line for line, _ in answers] == [b"HTTP/1.1 200 OK"] * ahead + [
                status_line
            ], (ahead, answers)
            assert [body for _, body in answers[:ahead]] == [healthy] * ahead
            assert json.loads(answers[-1][1])["error"] == error
    access = [
        (r.__dict__["path"], r.__dict__["status"])
        for r in caplog.records
        if r.name == "tierflow.access"
    ]
    code = int(status_line.split()[1])
    assert sorted(access) == sorted([("/healthz", 200)] * 4 + [(path, code)] * 2)


def _taken(raw: socket.socket, limit: int = 64 << 20) -> int:
    """Bytes of junk the peer of ``raw`` takes until it stops taking any for
    half a second (or ``limit``, or 10 s, are reached)."""
    raw.setblocking(False)
    junk, sent = b"x" * 65536, 0
    deadline, last = time.monotonic() + 10.0, time.monotonic()
    while sent < limit and time.monotonic() < deadline:
        try:
            sent += raw.send(junk)
            last = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last > 0.5:
                break
            time.sleep(0.01)
    raw.setblocking(True)
    return sent


@pytest.mark.parametrize("refused", list(_REFUSED_BEHIND))
def test_a_request_refused_behind_an_event_stream_waits_for_it_unread(
    tmp_path: Path, refused: str
) -> None:
    """A request refused before the app, pipelined behind a checkout's open
    event stream: HTTP/1.1 answers in order, so its refusal comes once the
    stream has ended (the checkout cancelled), then the connection closes;
    meanwhile nothing more is read from the connection, as for a request
    uvicorn queues behind one (the client's send buffers fill). The stream
    ahead turned reading on again (its wait for the client's disconnect),
    and the server read, and threw away, all the client sent: 64 MiB in
    under 2 s."""
    then, status_line, error, _ = _REFUSED_BEHIND[refused]
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        rid = client.post(
            "/v1/options", json={"customer_id": "C5", **TEE_TO_CHICAGO}
        ).json()["request_id"]
        stream = (
            f"GET /v1/stream?request_id={rid}&capacity=false HTTP/1.1\r\n"
            "Host: x\r\n\r\n"
        ).encode()
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.settimeout(10)
            raw.sendall(stream + then)
            got = raw.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 OK"), got
            taken = _taken(raw)
            assert taken < 16 << 20, taken  # the socket buffers: 4.3 MB here
            gone = client.post(f"/v1/checkouts/{rid}/cancel")
            assert gone.json()["status"] == "cancelled", gone.text
            with contextlib.suppress(ConnectionResetError):
                while chunk := raw.recv(65536):
                    got += chunk
    stream_end = got.index(b"\r\n0\r\n\r\n")  # the stream's last chunk
    assert b"event: closed" in got[:stream_end]
    after = got[stream_end + 7 :]
    assert after.startswith(status_line + b"\r\n"), after[:200]
    assert json.loads(after.partition(b"\r\n\r\n")[2])["error"] == error
