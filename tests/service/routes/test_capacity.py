"""Capacity routes: the map, and operator events behind the API key."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import ROOT, TINY_NETWORK
from tests.service.helpers import OUTAGE
from tests.service_fixtures import API_KEY, live_server, tiny_router
from tests.test_docs_commands import _fields, _quoted_json
from tierflow.data.network import load_network
from tierflow.data.rates import SERVICES
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.capacity_view import capacity_payload
from tierflow.service.server import serve_in_thread


def test_capacity_map(live: Any) -> None:
    client, _, _ = live
    cap = client.get("/v1/capacity").json()
    nodes = {n["node_id"]: n for n in cap["nodes"]}
    assert set(nodes) == {"WH-EAST", "WH-WEST", "ST-CHI"}
    assert nodes["ST-CHI"]["score"] == 1.0 and not nodes["ST-CHI"]["outage"]
    assert (nodes["WH-EAST"]["lat"], nodes["WH-EAST"]["kind"]) == (40.5187, "warehouse")
    assert cap["overflow_threshold"] == 0.15 and cap["as_of"] is None
    assert cap["network_warnings"] == []  # the tiny network's: none


@pytest.mark.parametrize("page", ["cli.md", "service.md"])
def test_the_map_has_the_fields_the_docs_quote(live: Any, page: str) -> None:
    """The endpoint tables of ``docs/cli.md`` and ``docs/service.md`` quote
    ``GET /v1/capacity``'s fields in order: cli.md lacked the nodes'
    ``lanes``, and both put ``server_time`` before ``demand_forecast``
    (2026-12-07)."""
    client, _, _ = live
    cap = client.get("/v1/capacity").json()
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    quoted = _quoted_json(text, "| `GET /v1/capacity` | → ")
    assert list(cap) == list(quoted)
    assert list(cap["nodes"][0]) == list(_fields(quoted["nodes"][1:]))


def test_write_endpoints_refuse_requests_without_the_key(live: Any) -> None:
    client, router, _ = live
    body = {"events": [OUTAGE]}
    spec = client.get("/openapi.json").json()
    writes = {
        path
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("post", "put", "patch", "delete")
        and not path.startswith(("/v1/options", "/v1/checkouts/"))
    }
    # every operator write is listed here
    assert writes == {"/v1/capacity/events", "/v1/stock"}
    for path in writes:
        r = client.post(path, json=body)
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
        r = client.post(path, json=body, headers={"X-API-Key": "wrong-key-0123456789"})
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
        r = client.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 403
    assert not router.monitor.outage.any()  # nothing refused was applied
    # the key is checked before the body: a caller without it learns nothing
    # of what the body should be (a malformed body got 422 without a key)
    for body_text in ("{bad", "[1, 2]", '{"events": "x"}'):
        kw: dict[str, Any] = {
            "content": body_text,
            "headers": {"Content-Type": "application/json"},
        }
        r = client.post("/v1/capacity/events", **kw)
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized"), body_text
        kw["headers"]["X-API-Key"] = "wrong-key-0123456789"
        r = client.post("/v1/capacity/events", **kw)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), body_text
        kw["headers"]["X-API-Key"] = API_KEY
        assert client.post("/v1/capacity/events", **kw).status_code == 422, body_text
    r = client.post("/v1/capacity/events", json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200 and r.json() == {
        "applied": 1,
        "duplicates": 0,
        "last_seq": 1,
        "stale": 0,
    }
    r = client.post(
        "/v1/capacity/events", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert r.json()["duplicates"] == 1  # the same event id is never applied twice
    for scheme in ("bearer", "BEARER"):  # auth schemes are case-insensitive
        r = client.post(
            "/v1/capacity/events",
            json=body,
            headers={"Authorization": f"{scheme} {API_KEY}"},
        )
        assert (r.status_code, r.json()["duplicates"]) == (200, 1)
    assert client.get("/v1/capacity").json()["nodes"][2]["outage"] is True


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"node_id": "NOPE"}, "events[1].node_id"),
        ({"value": 1}, "events[1].value"),
        ({"ts": "2026-01-05 15:00"}, "events[1].ts"),
        ({"type": "staffing", "value": 400}, "events[1].value"),
        (
            {"type": "congestion", "value": 2, "service": "teleport"},
            "events[1].service",
        ),
        ({"type": "meteor"}, "events[1].type"),
        ({"servce": "ground"}, "events[1].servce"),  # as `capacity ingest`
    ],
)
def test_bad_events_apply_nothing_and_are_named(
    shared_live: Any, event: dict[str, Any], field: str
) -> None:
    client, router, _ = shared_live
    good = {**OUTAGE, "node_id": "WH-WEST"}
    bad = {**OUTAGE, "event_id": "ops-2", **event}
    r = client.post(
        "/v1/capacity/events",
        json={"events": [good, bad]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert not router.monitor.outage.any()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"type": "congestion", "value": 2},
            "field 'events[1].service': missing (a congestion event names its "
            "service, one of ['next_day', 'two_day', 'ground', 'economy'])",
        ),
        (
            {"type": "congestion", "value": 2, "service": None},
            "field 'events[1].service': missing (a congestion event names its "
            "service, one of ['next_day', 'two_day', 'ground', 'economy'])",
        ),
        ({"ts": None}, "field 'events[1].ts': missing (null)"),
        ("ts", "field 'events[1].ts': Field required"),
        ("node_id", "field 'events[1].node_id': Field required"),
        ("value", "field 'events[1].value': Field required"),
    ],
)
def test_a_missing_field_is_called_missing(
    shared_live: Any, event: dict[str, Any] | str, message: str
) -> None:
    """As ``capacity ingest`` says it (a congestion event without its service
    was an "unknown service")."""
    client, router, _ = shared_live
    good = {**OUTAGE, "node_id": "WH-WEST"}
    bad = {**OUTAGE, "event_id": "ops-2"}
    if isinstance(event, str):
        del bad[event]
    else:
        bad |= event
    r = client.post(
        "/v1/capacity/events",
        json={"events": [good, bad]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422, r.text
    assert r.json()["message"] == message
    assert not router.monitor.outage.any()


def test_a_closed_node_reads_closed_not_overbooked(live: Any) -> None:
    """ST-CHI (capacity 100) with a backlog of 238 is overbooked: utilization
    above 1, free capacity negative. Closed, it takes nothing: score 0,
    utilization 1, free capacity 0 (not the backlog's overshoot); reopened, the
    backlog's figures are back."""
    client, _, _ = live
    backlog = {**OUTAGE, "event_id": "ops-b", "type": "backlog", "value": 238}
    closed = {**OUTAGE, "event_id": "ops-c"}
    reopened = {**OUTAGE, "event_id": "ops-r", "value": False}
    key = {"X-API-Key": API_KEY}

    def chi() -> dict[str, Any]:
        nodes = client.get("/v1/capacity").json()["nodes"]
        node: dict[str, Any] = next(n for n in nodes if n["node_id"] == "ST-CHI")
        return node

    client.post("/v1/capacity/events", json={"events": [backlog]}, headers=key)
    over = chi()
    assert over["score"] == 0.0 and over["utilization"] > 1.0
    assert over["free_capacity"] < 0.0
    client.post("/v1/capacity/events", json={"events": [closed]}, headers=key)
    shut = chi()
    assert (shut["outage"], shut["score"], shut["utilization"]) == (True, 0.0, 1.0)
    assert shut["free_capacity"] == 0.0 and shut["backlog"] == 238.0
    client.post("/v1/capacity/events", json={"events": [reopened]}, headers=key)
    # the figures of before, the outage's time and event now the reopening's
    when = {**over["changed_at"], "outage": "2026-01-05T15:00:00+00:00"}
    by = {**over["changed_by"], "outage": "ops-r"}
    assert chi() == {**over, "outage": False, "changed_at": when, "changed_by": by}


def test_the_map_names_each_congested_lane(live: Any) -> None:
    """A lane congestion is on the map by service, for the services the node
    ships (the operator posted "ground at ST-CHI 2.5"; the map said only
    ``max_congestion`` 2.5, not which lane, and /ops not even that). A delay
    sent for a service ST-CHI does not ship (next_day) changes nothing it
    ships and is not listed, as ``max_congestion`` leaves it out."""
    client, _, _ = live
    events = [
        {
            **OUTAGE,
            "event_id": "cong-g",
            "type": "congestion",
            "value": 2.5,
            "service": "ground",
        },
        {
            **OUTAGE,
            "event_id": "cong-n",
            "type": "congestion",
            "value": 4,
            "service": "next_day",
        },
    ]
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    nodes = {n["node_id"]: n for n in client.get("/v1/capacity").json()["nodes"]}
    chi = nodes["ST-CHI"]
    assert chi["congestion"] == {"two_day": 1.0, "ground": 2.5}
    assert chi["max_congestion"] == 2.5
    assert nodes["WH-EAST"]["congestion"] == {
        "next_day": 1.0,
        "two_day": 1.0,
        "ground": 1.0,
        "economy": 1.0,
    }


def test_each_lane_has_the_room_and_score_the_checkout_reads(live: Any) -> None:
    """WH-EAST (capacity 1000, backlog 400) scores 0.60; its two_day lane at
    x3 leaves (1000 - 400) / 3 = 200 units by two_day, score 0.20, the
    room ``lane_score_map`` prices a two_day order by (the map said 0.60
    alone). Its other lanes, the node's own figures and the other nodes
    stay as they were; closed, every lane has no room."""
    client, router, _ = live
    key = {"X-API-Key": API_KEY}

    def nodes() -> dict[str, dict[str, Any]]:
        cap = client.get("/v1/capacity").json()
        return {n["node_id"]: n for n in cap["nodes"]}

    backlog = {
        **OUTAGE,
        "event_id": "b-east",
        "node_id": "WH-EAST",
        "type": "backlog",
        "value": 400,
    }
    client.post("/v1/capacity/events", json={"events": [backlog]}, headers=key)
    calm = nodes()
    east = calm["WH-EAST"]
    on_time = {"congestion": 1.0, "free_capacity": 600.0, "score": 0.6}
    assert east["lanes"] == dict.fromkeys(east["congestion"], on_time)
    assert sorted(calm["ST-CHI"]["lanes"]) == ["ground", "two_day"]  # as it ships
    congested = {
        **backlog,
        "event_id": "c-east",
        "type": "congestion",
        "value": 3,
        "service": "two_day",
    }
    r = client.post("/v1/capacity/events", json={"events": [congested]}, headers=key)
    assert r.status_code == 200, r.text
    jammed = nodes()
    lane = jammed["WH-EAST"]["lanes"]["two_day"]
    assert lane == {"congestion": 3.0, "free_capacity": 200.0, "score": 0.2}
    # the monitor's own arithmetic, as the checkout reads it
    mon = router.monitor
    i, two_day = router.network.node_index["WH-EAST"], SERVICES.index("two_day")
    by_two_day = np.full(router.network.n_nodes, two_day)
    assert lane["free_capacity"] == round(float(mon.free_by_lane(0, by_two_day)[i]), 2)
    assert lane["score"] == round(float(mon.lane_score_map(0, by_two_day)[i]), 4)
    moved = ("lanes", "congestion", "max_congestion")
    for name, was in calm.items():
        now = jammed[name]
        for service, figures in now["lanes"].items():
            if (name, service) != ("WH-EAST", "two_day"):
                assert figures == was["lanes"][service], (name, service)
        assert {k: v for k, v in now.items() if k not in moved} == {
            k: v for k, v in was.items() if k not in moved
        }
    closed = {**backlog, "event_id": "o-east", "type": "outage", "value": True}
    client.post("/v1/capacity/events", json={"events": [closed]}, headers=key)
    shut = nodes()["WH-EAST"]["lanes"]
    assert {s: (v["free_capacity"], v["score"]) for s, v in shut.items()} == (
        dict.fromkeys(shut, (0.0, 0.0))
    )


def test_the_map_says_when_each_nodes_state_was_set(
    live: Any, state_location: Path | str, tmp_path: Path
) -> None:
    """Each node says when its outage, staffing and nominal capacity were last
    set (the event's ``ts``), null where no event set them: an operator read
    WH-ABE "closed" on every replica and nowhere since when. A router opened
    on the store afterwards (a replica restarted) says the same."""
    client, _, _ = live
    staffing = {
        **OUTAGE,
        "event_id": "s-1",
        "type": "staffing",
        "value": 40,
        "ts": "2026-01-05T14:30:00Z",
    }
    r = client.post(
        "/v1/capacity/events",
        json={"events": [staffing, OUTAGE]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 200, r.text
    nodes = {n["node_id"]: n for n in client.get("/v1/capacity").json()["nodes"]}
    assert nodes["ST-CHI"]["changed_at"] == {
        "nominal_capacity": None,
        "staffing": "2026-01-05T14:30:00+00:00",
        "outage": "2026-01-05T15:00:00+00:00",
    }
    assert nodes["WH-EAST"]["changed_at"] == dict.fromkeys(
        ("nominal_capacity", "staffing", "outage")
    )
    with tiny_router(tmp_path, state=state_location, scores=False) as again:
        chi = next(
            n for n in capacity_payload(again)["nodes"] if n["node_id"] == "ST-CHI"
        )
        assert chi["changed_at"] == nodes["ST-CHI"]["changed_at"]


def test_the_map_names_the_event_that_set_each_nodes_state(
    live: Any, state_location: Path | str, tmp_path: Path
) -> None:
    """Each node names the event that last set its outage, staffing and
    nominal capacity (``changed_by``: its ``event_id``, null where none did):
    an operator read ST-CHI "closed since 15:00" and not which event closed
    it. A stale event of the same kind (older) changes nothing and is not
    named; another replica following the store, and a router opened on it
    afterwards from a snapshot (a restart), name the same."""
    client, router, _ = live
    key = {"X-API-Key": API_KEY}
    with tiny_router(tmp_path / "b", state=state_location, scores=False) as there:
        staffing = {**OUTAGE, "event_id": "s-1", "type": "staffing", "value": 40}
        older = {**OUTAGE, "event_id": "o-old", "ts": "2026-01-05T14:00:00Z"}
        r = client.post(
            "/v1/capacity/events", json={"events": [staffing, OUTAGE]}, headers=key
        )
        assert r.status_code == 200, r.text
        r = client.post("/v1/capacity/events", json={"events": [older]}, headers=key)
        assert r.json()["stale"] == 1, r.text
        nodes = {n["node_id"]: n for n in client.get("/v1/capacity").json()["nodes"]}
        assert nodes["ST-CHI"]["changed_by"] == {
            "nominal_capacity": None,
            "staffing": "s-1",
            "outage": "ops-1",
        }
        assert nodes["WH-EAST"]["changed_by"] == dict.fromkeys(
            ("nominal_capacity", "staffing", "outage")
        )
        there.refresh()
        chi = next(
            n for n in capacity_payload(there)["nodes"] if n["node_id"] == "ST-CHI"
        )
        assert chi["changed_by"] == nodes["ST-CHI"]["changed_by"]
    with router.lock:
        router.monitor.snapshot()  # a restart reads the ids from the snapshot
    with tiny_router(tmp_path / "c", state=state_location, scores=False) as again:
        chi = next(
            n for n in capacity_payload(again)["nodes"] if n["node_id"] == "ST-CHI"
        )
        assert chi["changed_by"] == nodes["ST-CHI"]["changed_by"]
    spec = client.get("/openapi.json").json()["components"]["schemas"]
    assert "changed_by" in spec["NodeCapacityOut"]["properties"]


@pytest.mark.parametrize("staffing", [200.0, 80.0])
def test_utilization_is_the_committed_share_of_the_staffed_capacity(
    live: Any, staffing: float
) -> None:
    """ST-CHI (capacity 100) staffed at 200 % with a backlog of 50 is a
    quarter used, not -50 % (it was 1 - free / nominal, negative whenever
    extra staff outweighs the work); at 80 % staff the same work is 62.5 % of
    what it can do today, not 70 % (lost staff counted as work)."""
    client, _, _ = live
    at = {"ts": OUTAGE["ts"], "node_id": "ST-CHI"}
    events = [
        {**at, "event_id": "s", "type": "staffing", "value": staffing},
        {**at, "event_id": "b", "type": "backlog", "value": 50},
    ]
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    chi = next(
        n
        for n in client.get("/v1/capacity").json()["nodes"]
        if n["node_id"] == "ST-CHI"
    )
    claims = 50 + chi["forecast_rest_of_day"]
    assert chi["utilization"] == round(claims / staffing, 4) >= 0.25


def test_a_backlog_on_a_tiny_capacity_reads_capped_not_a_500(live: Any) -> None:
    """Valid but absurd: 1e9 units of backlog on a capacity of 1e-300 (and a
    subnormal capacity with no staff) overflow the ratios; the map caps them."""
    client, _, _ = live
    at = {"ts": OUTAGE["ts"]}
    events = [
        {**at, "event_id": "a", "node_id": "ST-CHI", "type": "nominal_capacity", "value": 1e-300},
        {**at, "event_id": "b", "node_id": "ST-CHI", "type": "backlog", "value": 1e9},
        {**at, "event_id": "c", "node_id": "WH-EAST", "type": "nominal_capacity", "value": 5e-324},
        {**at, "event_id": "d", "node_id": "WH-EAST", "type": "staffing", "value": 0},
    ]  # fmt: skip
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    cap = client.get("/v1/capacity")
    assert cap.status_code == 200, cap.text
    nodes = {n["node_id"]: n for n in cap.json()["nodes"]}
    assert (nodes["ST-CHI"]["utilization"], nodes["ST-CHI"]["score"]) == (1e6, 0.0)
    assert (nodes["WH-EAST"]["utilization"], nodes["WH-EAST"]["score"]) == (1.0, 0.0)


def test_a_node_of_no_capacity_scores_zero_not_minus_zero(live: Any) -> None:
    """A node whose capacity is set to 0 with work left (taken out of
    service) scored -0.0: its free room times the map's 0 for 1 / 0, kept by
    the clip. The API said ``"score":-0.0``, ``capacity show`` -0.000 and the
    metric -0.0, of a score in [0, 1]."""
    client, _, _ = live
    chi, text = _chicago_after(
        client, [("n0", "nominal_capacity", 0), ("b", "backlog", 15)]
    )
    assert (chi["score"], math.copysign(1.0, chi["score"])) == (0.0, 1.0)
    assert '"score":-0.0' not in text
    assert 'tierflow_capacity_score{node="ST-CHI"} 0.0' in client.get("/metrics").text


def test_no_free_room_reads_zero_not_minus_zero(live: Any) -> None:
    """Free room a hair below zero (a capacity of 0.3 less a backlog of 0.1
    + 0.2: -5.6e-17) read ``"free_capacity":-0.0``; ``capacity show`` was
    mended to say 0 and the API's map rounds on its own."""
    client, _, _ = live
    chi, text = _chicago_after(
        client,
        [
            ("n3", "nominal_capacity", 0.3),
            ("b1", "backlog", 0.1),
            ("b2", "backlog_delta", 0.2),
        ],
    )
    free = chi["free_capacity"]
    assert (free, math.copysign(1.0, free)) == (0.0, 1.0)
    assert "-0.0" not in text


def _chicago_after(
    client: Any, events: list[tuple[str, str, float]]
) -> tuple[dict[str, Any], str]:
    """ST-CHI's entry in ``GET /v1/capacity`` and the whole answer's text,
    after ``(event_id, type, value)`` events posted for it at the outage's
    time."""
    at = {"ts": OUTAGE["ts"], "node_id": "ST-CHI"}
    body = [{**at, "event_id": e, "type": kind, "value": v} for e, kind, v in events]
    r = client.post(
        "/v1/capacity/events", json={"events": body}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    text = client.get("/v1/capacity").text
    chi = next(n for n in json.loads(text)["nodes"] if n["node_id"] == "ST-CHI")
    return chi, text


def test_events_are_refused_without_a_store(tmp_path: Path) -> None:
    """A server whose store could not be opened cannot log an event: applied
    in its memory alone, it would reach no other replica and be lost at a
    restart (it answered 200 applied)."""
    state = f"postgresql://tierflow@/tierflow?host={tmp_path / 'no-server'}"
    router = OnlineRouter.open(load_network(TINY_NETWORK), state)
    assert router.store is None
    with serve_in_thread(create_app(router, api_key=API_KEY)) as server:
        r = httpx.post(
            f"{server.url}/v1/capacity/events",
            json={"events": [OUTAGE]},
            headers={"X-API-Key": API_KEY},
            timeout=30,
        )
        # and the map says it is nominal, from no store, as the answers do
        cap = httpx.get(f"{server.url}/v1/capacity", timeout=30).json()
    assert cap["degraded"] is True
    assert cap["notes"] == list(router.unavailable_store)
    assert cap["notes"][0].startswith("state store unavailable (")
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable"
    assert r.json()["message"] == (
        "no state store: the events cannot be logged, so they would reach no "
        "other replica and be lost at a restart; nothing applied"
    )
    assert not router.monitor.outage.any()


def test_a_feed_capacity_ingest_takes_is_taken(shared_live: Any) -> None:
    """The JSON-lines contract of ``capacity ingest``: integer ids, ids up to
    200 characters, ISO 8601 instants without seconds or with a compact
    offset (the HTTP schema refused all four, stricter than the feed)."""
    client, router, _ = shared_live
    seq = router.monitor.last_seq
    base = {"node_id": "WH-WEST", "type": "staffing", "value": 90}
    events = [
        {**base, "event_id": 4242, "ts": "2026-01-05T10:00:00Z"},
        {**base, "event_id": "L" * 200, "ts": "2026-01-05T10:01:00Z"},
        {**base, "event_id": "short-ts", "ts": "2026-01-05T10:02Z"},
        {**base, "event_id": "compact", "ts": "2026-01-05T15:33:00+0530"},
    ]
    # a service on an event that ignores it is ignored, whatever it is
    events[0]["service"] = 3
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == 4 and router.monitor.last_seq == seq + 4


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"value": "85"}, r"field 'events\[1\]\.value': value '85': not a number"),
        ({"event_id": 1.5}, r"field 'events\[1\]\.event_id': value 1\.5: must be a "
         "string or an integer"),
        ({"event_id": "L" * 201}, r"field 'events\[1\]\.event_id': value 'L+…: "
         "longer than 200 characters"),
        ({"type": "staffng"}, r"field 'events\[1\]\.type': value 'staffng': unknown "
         r"event type \(one of .*\)"),
        ({"node_id": 5}, r"field 'events\[1\]\.node_id': value 5: unknown node"),
        ({"value": None}, r"field 'events\[1\]\.value': missing \(null\)"),
        ({"ts": "yesterday"}, r"field 'events\[1\]\.ts': value 'yesterday': not an "
         "ISO 8601 instant with offset.*"),
    ],
)  # fmt: skip
def test_a_bad_value_gets_the_feeds_words(
    shared_live: Any, event: dict[str, Any], message: str
) -> None:
    """At the field itself, as ``capacity ingest`` says it (a string value
    was "events[1].value.bool: Input should be a valid boolean")."""
    client, router, _ = shared_live
    good = {**OUTAGE, "node_id": "WH-WEST"}
    bad = {**OUTAGE, "event_id": "ops-2", "type": "staffing", "value": 80, **event}
    r = client.post(
        "/v1/capacity/events",
        json={"events": [good, bad]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422, r.text
    assert re.fullmatch(message, r.json()["message"]), r.json()["message"]
    assert not router.monitor.outage.any()


def test_a_staffing_fraction_is_refused_with_the_feeds_words(
    shared_live: Any,
) -> None:
    """0.5 meant half the staff and was applied as 0.5 % (QA 2026-12-06):
    422 at the field, in ``capacity ingest``'s words, and nothing of the
    request applied (its good outage neither)."""
    client, router, _ = shared_live
    seq, staffing = router.monitor.last_seq, router.monitor.staffing.copy()
    good = {**OUTAGE, "node_id": "WH-WEST"}
    half = {**OUTAGE, "event_id": "ops-half", "type": "staffing", "value": 0.5}
    r = client.post(
        "/v1/capacity/events",
        json={"events": [good, half]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422, r.text
    assert (r.json()["field"], r.json()["message"]) == (
        "events[1].value",
        "field 'events[1].value': value 0.5: staffing is a percent of planned "
        "staff (0-300): 0.5 means 0.5 %; for 50 % of the staff send 50",
    )
    assert router.monitor.last_seq == seq and not router.monitor.outage.any()
    assert (router.monitor.staffing == staffing).all()


def test_a_number_no_float_holds_is_named_as_written(shared_live: Any) -> None:
    """``1e400`` reads as infinity: the refusal said "value inf", a value
    the caller never sent."""
    client, router, _ = shared_live
    body = (
        '{"events": [{"event_id": "big-1", "ts": "2026-01-05T14:00:00Z", '
        '"node_id": "WH-WEST", "type": "backlog", "value": 1e400}]}'
    )
    r = client.post(
        "/v1/capacity/events",
        content=body,
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["message"] == (
        "field 'events[0].value': value 1e400: must be in [0, 1e+09]"
    )
    assert router.monitor.backlog.max() < 1e9


def test_an_event_dated_ahead_of_the_servers_clock_is_refused(live: Any) -> None:
    """An operator's event dated 2027-06-01 was applied at once and stood
    over every correction of its kind until then (the "open again" an
    operator sent at the clock's time was stale). The server's clock (pinned
    at 15:00 UTC, given as ``server_time``) may be passed by 5 minutes at
    most; the served document's dates run to the clock's date at the widest
    offset (a pattern sees dates) and its description says the rule."""
    client, router, _ = live
    cap = client.get("/v1/capacity").json()
    assert cap["server_time"] == "2026-01-05T15:00:00+00:00"
    key = {"X-API-Key": API_KEY}
    ahead = {**OUTAGE, "ts": "2026-01-05T15:05:01Z"}
    r = client.post("/v1/capacity/events", json={"events": [ahead]}, headers=key)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "events[0].ts"
    assert r.json()["message"] == (
        "field 'events[0].ts': value '2026-01-05T15:05:01Z': more than 5 minutes "
        "ahead of the receiving clock (2026-01-05T15:00:00Z): a live event says "
        "what has happened, and one dated ahead would stand over every "
        "correction of its kind until then; send a change when it happens (a "
        "day's planned events go to allocate --events)"
    )
    assert not router.monitor.outage.any() and router.store is not None
    assert router.store.events_after(0) == []
    edge = {**OUTAGE, "event_id": "ops-2", "ts": "2026-01-05T10:05:00-05:00"}
    r = client.post("/v1/capacity/events", json={"events": [edge]}, headers=key)
    assert r.status_code == 200, r.text
    pattern = client.get("/openapi.json").json()["components"]["schemas"]
    ts = pattern["CapacityEventIn"]["oneOf"][0]["properties"]["ts"]
    assert ts["description"].endswith(
        "says 2016-06-03 .. 2026-01-06: 2 days less at the start, so that "
        "every offset is inside, and to the clock's local date at the widest "
        "offset, so that every instant up to the clock matches."
    )


@pytest.mark.parametrize(("metrics", "said"), [(True, 0), (False, None)])
def test_the_map_says_this_servers_worker_restarts(
    tmp_path: Path, metrics: bool, said: int | None
) -> None:
    """``worker_restarts``: the supervisor's count of this server (0 for a
    single process, which none starts again; null with metrics off, when
    nothing counts). A supervisor's count: ``test_serve.py``'s
    ``test_a_dead_workers_values_are_added_up_and_its_files_go``."""
    with live_server(tmp_path, metrics=metrics) as (server, _):
        cap = httpx.get(server.url + "/v1/capacity", timeout=10).json()
    assert cap["worker_restarts"] == said


def test_a_batch_past_the_event_limit_is_refused_as_the_docs_say(
    shared_live: Any,
) -> None:
    """One post takes at most ``MAX_EVENTS`` events: past it, 422 at
    ``events`` and nothing applied. ``docs/service.md`` said no limit (the
    stock write's 1,000 changes it did), so a feed that posted a capacity
    ingest file of 600 events whole learnt it from the refusal alone."""
    from tierflow.service.schemas import MAX_EVENTS

    client, router, _ = shared_live
    seq = router.monitor.last_seq
    base = {"node_id": "WH-WEST", "type": "staffing", "value": 90}
    events = [
        {**base, "event_id": f"limit-{i}", "ts": "2026-01-05T09:00:00Z"}
        for i in range(MAX_EVENTS + 1)
    ]
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert (r.status_code, r.json()["field"]) == (422, "events"), r.text
    assert f"at most {MAX_EVENTS} items" in r.json()["message"]
    assert router.monitor.last_seq == seq
    text = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("| `POST /v1/capacity/events` |")
    )
    assert f"{MAX_EVENTS} events at most" in row
