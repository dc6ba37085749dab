"""Request bodies over the limit get 413, declared or counted as they come."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.service_fixtures import TEE_TO_CHICAGO, live_server


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


def _raw(url: str, head: bytes, *, wait_s: float = 10.0) -> bytes:
    """What the server answers ``head`` on a new connection, until it closes
    it or ``wait_s`` passes (b"" for nothing at all)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.settimeout(wait_s)
        with contextlib.suppress(OSError):  # refused half-way: answer read below
            raw.sendall(head)
        got = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := raw.recv(65536):
                got += chunk
                if b"\r\n\r\n" in got and b"close" in got.lower():
                    break
        return got


def test_a_request_head_without_end_is_refused_at_64_kib(tmp_path: Path) -> None:
    """A header that never ends was kept whole in memory, however long: one
    client grew a server by 240 MB with a 133 MB header (uvicorn's httptools
    parser has no limit). A head over 64 KiB (``MAX_HEAD_BYTES``) is 431,
    the connection closed; a head under it is served as before."""
    with live_server(tmp_path) as (server, _):
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
        answer = _raw(server.url, big)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert answer.endswith(
            b"\r\n\r\nrequest head over 65536 bytes (the request line and headers)"
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
        # two of 60 KB on one connection reach the app (an extra field: 422)
        body = {"customer_id": "C1", **TEE_TO_CHICAGO, "pad": "x" * 60_000}
        with httpx.Client(base_url=server.url) as client:
            for _ in range(2):
                padded = client.post("/v1/options", json=body)
                assert padded.json()["field"] == "pad", padded.text
            body.pop("pad")
            assert client.post("/v1/options", json=body).status_code == 200
