"""Request bodies over the limit get 413, declared or counted as they come."""

from __future__ import annotations

import json
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
