"""A penetration tester's checks against a real server on loopback (tiny
network, ``tests/service_fixtures.py``): the security headers of the pages,
``/docs`` and the JSON answers, and the ceiling on open event streams.
``docs/service.md``, "Security"."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server
from tierflow.data.log_repeats import RepeatedLines
from tierflow.service import request_limits
from tierflow.service.live import QUEUE_SIZE

#: What every answer carries, whatever it is.
EVERY_ANSWER = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
#: The checkout and operations pages: their own scripts, styles and calls only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: A JSON answer, a script or a style: nothing to run, nothing to frame.
NOT_A_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'"


def _security_headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in EVERY_ANSWER}


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with live_server(tmp_path_factory.mktemp("security")) as (server, _):
        yield server.url


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server run with ``--operator-reads key``."""
    with live_server(tmp_path_factory.mktemp("keyed"), operator_reads="key") as (
        server,
        _,
    ):
        yield server.url


@pytest.mark.parametrize("path", ["/", "/ops"])
def test_the_pages_forbid_other_scripts_and_framing(server_url: str, path: str) -> None:
    """A page framed by another site (clickjacking: the ops page's event
    form) or running a script it did not ship was allowed: the pages sent
    no security header at all."""
    page = httpx.get(server_url + path)
    assert page.status_code == 200
    assert _security_headers(page) == EVERY_ANSWER
    assert page.headers["content-security-policy"] == PAGE_CSP


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/capacity", None, 200),
        ("GET", "/healthz", None, 200),
        ("POST", "/v1/options", TEE_TO_CHICAGO | {"customer_id": "C9"}, 200),
        ("POST", "/v1/options", {"items": []}, 422),
        ("POST", "/v1/checkouts/nope/cancel", None, 404),
        ("POST", "/v1/capacity/events", {"events": []}, 401),
        ("GET", "/static/checkout.js", None, 200),
        ("GET", "/openapi.json", None, 200),
        ("GET", "/no/such/path", None, 404),
    ],
)
def test_every_answer_is_not_sniffed_or_framed(
    server_url: str, method: str, path: str, body: Any, status: int
) -> None:
    answer = httpx.request(method, server_url + path, json=body)
    assert answer.status_code == status, answer.text
    assert _security_headers(answer) == EVERY_ANSWER
    assert answer.headers["content-security-policy"] == NOT_A_PAGE_CSP


def test_docs_run_their_own_inline_script_only(server_url: str) -> None:
    """``/docs`` (Swagger UI) starts from one inline script: the policy
    names it by its hash, so no other inline script runs."""
    docs = httpx.get(server_url + "/docs")
    scripts = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert _security_headers(docs) == EVERY_ANSWER
    assert docs.headers["content-security-policy"] == (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def test_cross_origin_calls_are_not_allowed(server_url: str) -> None:
    """No CORS: another site's script may not read an answer (no
    ``Access-Control-Allow-Origin``), and a preflight is refused."""
    preflight = httpx.options(
        server_url + "/v1/options",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert preflight.status_code == 405
    answer = httpx.get(
        server_url + "/v1/capacity", headers={"Origin": "https://elsewhere.example"}
    )
    assert "access-control-allow-origin" not in answer.headers


def _open_stream(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: t\r\n\r\n")
    return s


def _wait_subscribers(client: httpx.Client, n: int) -> None:
    deadline = time.monotonic() + 10
    while client.get("/healthz").json()["subscribers"] != n:
        assert time.monotonic() < deadline, client.get("/healthz").json()
        time.sleep(0.05)


def test_open_streams_have_a_ceiling(tmp_path: Path) -> None:
    """One client opened as many streams as it liked (thousands, each a
    connection and a queue that every capacity change is put on) until the
    process ran out of file descriptors and refused every shopper. Past
    ``max_streams`` a stream is 503 with ``Retry-After``; the rest of the
    API answers as ever, and a stream closed makes room."""
    with (
        live_server(tmp_path, max_streams=3) as (server, _),
        httpx.Client(base_url=server.url) as client,
    ):
        port = int(server.url.rsplit(":", 1)[1])
        streams = [_open_stream(port) for _ in range(3)]
        try:
            _wait_subscribers(client, 3)
            refused = client.get("/v1/stream")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert refused.json() == {
                "error": "unavailable",
                "message": "too many open streams (3 on this server); retry shortly",
                "field": None,
                "errors": [
                    {
                        "field": None,
                        "message": "too many open streams (3 on this server); "
                        "retry shortly",
                        "type": "unavailable",
                    }
                ],
            }
            options = TEE_TO_CHICAGO | {"customer_id": "C1"}
            assert client.post("/v1/options", json=options).status_code == 200
            streams.pop().close()
            _wait_subscribers(client, 2)
            with client.stream("GET", "/v1/stream") as again:
                assert again.status_code == 200
        finally:
            for s in streams:
                s.close()


def _taking_nothing(port: int, request: bytes) -> socket.socket:
    """A client that sends ``request`` and reads nothing of the answer (its
    receive buffer the smallest the kernel allows)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect(("127.0.0.1", port))
    s.sendall(request)
    return s


def _closed_by_server(s: socket.socket, wait_s: float) -> bool:
    """Whether the server ended the connection within ``wait_s``: read on
    (discarding) until it did, or until ``wait_s`` passed."""
    s.settimeout(0.2)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if not s.recv(1 << 20):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


class _Counted(RepeatedLines):
    """The drops' :class:`RepeatedLines`, counting the lines offered to it
    (said or not): a test waits for the server's drops, not a guess of
    their time."""

    def __init__(self, every_s: float, **kw: Any) -> None:
        super().__init__(every_s, **kw)
        self.offered = 0

    def admit(self, line: str, *, key: str | None = None) -> str | None:
        self.offered += 1
        return super().admit(line, key=key)


def _until_dropped(said: _Counted, n: int, wait_s: float = 30.0) -> None:
    """Until ``said`` was offered its ``n``-th drop (the buffers filled, then
    ``WRITE_IDLE_S`` without a byte taken; a fixed 4 s was a guess of it)."""
    deadline = time.monotonic() + wait_s
    while said.offered < n:
        assert time.monotonic() < deadline, f"{said.offered} of {n} dropped"
        time.sleep(0.05)


def test_a_client_that_takes_no_byte_of_its_answer_is_dropped(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that asks and reads nothing (here, 12 MB of ``/openapi.json``
    pipelined) held its connection and the answer's task for good once the
    send buffers were full: after ``WRITE_IDLE_S`` (30 s; 1 here) with no
    byte taken the connection is dropped, before the answers all went."""
    monkeypatch.setattr(request_limits, "WRITE_IDLE_S", 1.0)
    said = _Counted(30.0)
    monkeypatch.setattr(request_limits, "_dropped_said", said)
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url) as client,
    ):
        size = len(client.get("/openapi.json").content)
        n = 12_000_000 // size + 1
        port = int(server.url.rsplit(":", 1)[1])
        ask = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n" * n
        with _taking_nothing(port, ask) as s:
            _until_dropped(said, 1)
            taken = 0
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                while chunk := s.recv(1 << 20):
                    taken += len(chunk)
        assert taken < n * size / 2, (taken, n * size)
        assert client.get("/healthz").status_code == 200
    dropped = [
        r.getMessage() for r in caplog.records if "took no byte" in r.getMessage()
    ]
    assert len(dropped) == 1 and "for 1 s" in dropped[0], dropped


class _Clock:
    """A steady clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connections_dropped_for_not_reading_are_one_line_a_while(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each connection dropped for taking no byte wrote its own warning: a
    client opening connections and reading none filled the log with one
    line each. The first is said with its client's address, the others
    within ``DROPPED_LOG_EVERY_S`` (30 s) are counted in the next one said
    after it."""
    monkeypatch.setattr(request_limits, "WRITE_IDLE_S", 1.0)
    clock = _Clock()
    said = _Counted(request_limits.DROPPED_LOG_EVERY_S, clock=clock)
    monkeypatch.setattr(request_limits, "_dropped_said", said)
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url) as client,
    ):
        n = 12_000_000 // len(client.get("/openapi.json").content) + 1
        port = int(server.url.rsplit(":", 1)[1])
        ask = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n" * n

        clients = [_taking_nothing(port, ask) for _ in range(3)]
        addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in clients]
        with contextlib.ExitStack() as stack:
            for s in clients:
                stack.enter_context(s)
            _until_dropped(said, 3)
            assert all(_closed_by_server(s, 10) for s in clients)
        first = _dropped_lines(caplog)
        clock.now += 31
        with _taking_nothing(port, ask) as s:
            _until_dropped(said, 4)
            assert _closed_by_server(s, 10)
        assert client.get("/healthz").status_code == 200
    (line,) = first
    assert line.split(": ")[0] in addresses, (line, addresses)
    assert line.endswith("connection dropped"), line
    later = _dropped_lines(caplog)[1:]
    assert len(later) == 1, later
    assert later[0].endswith("dropped (2 more like it in the last 31 s)"), later


def _dropped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings of connections dropped for taking no byte."""
    return [r.getMessage() for r in caplog.records if "took no byte" in r.getMessage()]


def test_a_stream_that_is_not_read_counts_until_its_connection_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live hub drops a stream whose queue fills (its client reads
    nothing), but its connection stayed open, blocked on a full socket, and
    it no longer counted against ``max_streams``: one client opened
    streams past the ceiling that way (300 unread streams on the sample
    network were out of the hub's count after 90 s of map moves, their 300
    connections open). It counts until its request ends, and a connection
    that takes no byte for ``WRITE_IDLE_S`` (1 s here) is dropped."""
    monkeypatch.setattr(request_limits, "WRITE_IDLE_S", 1.0)
    with (
        live_server(tmp_path, max_streams=1) as (server, _),
        httpx.Client(base_url=server.url) as client,
    ):
        port = int(server.url.rsplit(":", 1)[1])
        app: Any = server.server.config.app
        hub = app.state.service.hub
        assert hub._loop is not None
        with _taking_nothing(port, b"GET /v1/stream HTTP/1.1\r\nHost: t\r\n\r\n") as s:
            _wait_subscribers(client, 1)
            # 1 MB map events: a few fill the socket; the queue's fill drops it
            big = hub._event("capacity", {"pad": "x" * 1_000_000})
            for _ in range(8):
                hub._loop.call_soon_threadsafe(hub._publish, None, big)
            time.sleep(0.5)
            for _ in range(QUEUE_SIZE + 1):
                hub._loop.call_soon_threadsafe(hub._publish, None, big)
            _wait_subscribers(client, 0)  # dropped by the hub
            assert client.get("/v1/stream").status_code == 503  # still open
            deadline = time.monotonic() + 10  # no byte taken for 1 s: dropped
            while hub.n_streams:  # (nothing read: reading would unblock it)
                assert time.monotonic() < deadline, hub.n_streams
                time.sleep(0.05)
            assert _closed_by_server(s, 5)
        with client.stream("GET", "/v1/stream") as again:
            assert again.status_code == 200


def test_max_streams_must_be_positive(tmp_path: Path) -> None:
    from tierflow.data.errors import InputError

    with (
        pytest.raises(InputError, match=r"field 'max_streams': value 0: must be >= 1"),
        live_server(tmp_path, max_streams=0),
    ):
        pass


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/", "/ops", "/docs"])
def test_the_pages_work_under_their_policy(
    browser: Any, server_url: str, path: str
) -> None:
    """Chromium refuses nothing a page does under its policy: the ops
    table's score bars were drawn by a ``style`` attribute, which
    ``style-src 'self'`` refuses (the bars had no width)."""
    refused: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    page.on("pageerror", lambda exc: refused.append(str(exc)))
    page.goto(server_url + path)
    if path == "/docs":
        page.wait_for_selector(".opblock")
    else:
        page.wait_for_selector("body[data-ready='1']")
    if path == "/ops":
        page.wait_for_selector("#nodes .bar")
        width = page.eval_on_selector("#nodes .bar", "b => b.style.width")
        assert re.fullmatch(r"\d+px", width), width
    page.close()
    assert refused == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/capacity", None, 200),
        ("GET", "/v1/stock", None, 200),
        ("GET", "/v1/allocation", None, 200),
        ("GET", "/metrics", None, 200),
        ("HEAD", "/v1/capacity", None, 200),
        ("POST", "/v1/options", TEE_TO_CHICAGO | {"customer_id": "C9"}, 200),
        ("POST", "/v1/checkouts/nope/cancel", None, 404),
        ("GET", "/v1/capacity", "no key", 401),
        ("GET", "/openapi.json", None, 200),
        ("GET", "/docs", None, 200),
    ],
)
def test_no_cache_keeps_an_answer_of_the_api(
    keyed_url: str, method: str, path: str, body: Any, status: int
) -> None:
    """A shared cache (a proxy, a CDN) before a server run with
    ``--operator-reads key`` may store a read answered to the key in
    ``X-API-Key`` (no ``Authorization``, which it would not reuse) and hand
    it to a caller without the key; a browser kept a checkout's CLTV
    figures on disk. No answer of the API said how it may be cached."""
    headers = {} if body == "no key" else {"X-API-Key": API_KEY}
    json_body = body if isinstance(body, dict) else None
    answer = httpx.request(method, keyed_url + path, json=json_body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers.get_list("cache-control") == ["no-store"]


def test_the_pages_and_files_say_their_own_caching(keyed_url: str) -> None:
    """The pages are revalidated (their own ``no-cache``), the static files
    by their ``ETag``: neither is made uncacheable."""
    for page in ("/", "/ops"):
        assert httpx.get(keyed_url + page).headers.get_list("cache-control") == [
            "no-cache"
        ]
    for path in ("/static/checkout.js", "/docs/static/swagger-ui.css"):
        file = httpx.get(keyed_url + path)
        assert file.status_code == 200
        assert "etag" in file.headers
        assert "cache-control" not in file.headers
    with httpx.stream(
        "GET", keyed_url + "/v1/stream", headers={"X-API-Key": API_KEY}
    ) as stream:
        assert stream.headers.get_list("cache-control") == ["no-cache"]
