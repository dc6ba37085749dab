"""A penetration tester's checks against a real server on loopback (tiny
network, ``tests/service_fixtures.py``): the security headers of the pages,
``/docs`` and the JSON answers, and the ceiling on open event streams.
``docs/service.md``, "Security"."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server

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
