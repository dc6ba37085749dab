"""The app as a whole: its settings, liveness, pages, static files and docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import tiny_router
from tierflow.data.errors import InputError
from tierflow.service.app import create_app


def test_create_app_needs_a_real_key(tmp_path: Path) -> None:
    with (
        tiny_router(tmp_path) as router,
        pytest.raises(InputError, match=r"field 'api_key': must be at least 16"),
    ):
        create_app(router, api_key="short")


def test_health_pages_and_docs(live: Any) -> None:
    client, _, _ = live
    assert client.get("/healthz").json() == {
        "status": "ok",
        "store": True,
        "subscribers": 0,
    }
    assert "Delivery options" in client.get("/").text
    assert "Inject a capacity event" in client.get("/ops").text
    assert client.get("/static/checkout.js").status_code == 200
    assert "swagger" in client.get("/docs").text.lower()
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/v1/options",
        "/v1/checkouts/{request_id}/select",
        "/v1/checkouts/{request_id}/confirm",
        "/v1/checkouts/{request_id}/cancel",
        "/v1/capacity",
        "/v1/capacity/events",
        "/v1/stream",
        "/healthz",
    } <= paths
    # the first call reads every US ZIP centroid: seconds on a busy machine
    outline = client.get("/v1/map", timeout=60).json()
    assert len(outline["lon"]) == len(outline["lat"]) > 1000
