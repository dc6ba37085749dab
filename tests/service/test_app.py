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
        "/readyz",
    } <= paths
    assert client.get("/readyz").json() == client.get("/healthz").json()
    # the first call reads every US ZIP centroid: seconds on a busy machine
    outline = client.get("/v1/map", timeout=60).json()
    assert len(outline["lon"]) == len(outline["lat"]) > 1000


def test_the_ops_map_widens_to_every_node() -> None:
    """A node in Honolulu or Anchorage was off the ops page's map (its
    outline was the contiguous US's): the outline's bounds take every node,
    with ZIP dots of Hawaii and Alaska inside them."""
    import dataclasses

    from tests.conftest import TINY_NETWORK
    from tierflow.data.network import load_network
    from tierflow.service.capacity_view import map_outline

    net = load_network(TINY_NETWORK)
    usual = map_outline(net)
    assert usual["bounds"] == {"lon": [-125.0, -66.5], "lat": [24.3, 49.5]}
    lat, lon = net.node_lat.copy(), net.node_lon.copy()
    lat[:2], lon[:2] = (21.31, 61.22), (-157.86, -149.9)
    outline = map_outline(dataclasses.replace(net, node_lat=lat, node_lon=lon))
    assert outline["bounds"] == {"lon": [-159.86, -66.5], "lat": [19.31, 63.22]}
    dots = list(zip(outline["lon"], outline["lat"], strict=True))
    assert any(x < -150 and y < 23 for x, y in dots)  # Oahu
    assert any(x < -145 and y > 60 for x, y in dots)  # Anchorage
    assert len(dots) > len(usual["lon"])
