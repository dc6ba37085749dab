"""The HTTP API against a live uvicorn server on loopback (tiny network, pinned
clock; the expected values are derived in ``tests/service_fixtures.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.service_fixtures import (
    API_KEY,
    TEE_TO_CHICAGO,
    live_server,
    tiny_router,
)
from tierflow.data.errors import InputError
from tierflow.data.store import SqliteStore
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import RunningServer

OUTAGE = {
    "event_id": "ops-1",
    "ts": "2026-01-05T15:00:00Z",
    "node_id": "ST-CHI",
    "type": "outage",
    "value": True,
}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[httpx.Client, OnlineRouter, RunningServer]]:
    with (
        live_server(tmp_path) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, router, server


def _options(client: httpx.Client, customer: str, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/options", json={"customer_id": customer, **body})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["option_id"]: o for o in answer["options"]}


class Listener:
    """Reads a server-sent-event stream in a thread; tests wait on its events."""

    def __init__(self, url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.ended = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", url) as resp,
            ):
                event: dict[str, Any] = {"status": resp.status_code}
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event["event"] = line[6:].strip()
                    elif line.startswith("data:"):
                        event["data"] = json.loads(line[5:])
                    elif line == "" and "event" in event:
                        with self._cond:
                            self.events.append(event)
                            self._cond.notify_all()
                        event = {"status": resp.status_code}
        except BaseException as exc:  # reported by the test
            self.error = exc
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first event that matches (fails after ``timeout`` seconds)."""
        with self._cond:
            found = self._cond.wait_for(
                lambda: next((e for e in self.events if match(e)), None) or self.ended,
                timeout,
            )
            hit = next((e for e in self.events if match(e)), None)
        assert found and hit is not None, (self.events, self.error)
        return hit

    def wait_ended(self, timeout: float = 10.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.ended, timeout)
        self._thread.join(timeout)


# ------------------------------------------------------------------- options
def test_options_follow_the_customers_cltv(live: Any) -> None:
    client, _, _ = live
    high = _options(client, "C10", **TEE_TO_CHICAGO)
    low = _options(client, "C1", **TEE_TO_CHICAGO)
    assert high["customer"]["platinum_eligible"] and high["customer"]["segment"] == (
        "platinum"
    )
    plat = _by_id(high)["platinum"]
    assert (plat["label"], plat["guaranteed"], plat["nodes"]) == (
        "Guaranteed next-day",
        True,
        ["WH-EAST"],
    )
    assert plat["delivery_date"] == "2026-01-06"
    assert "platinum" not in _by_id(low)
    assert low["missing"]["platinum"] == (
        "predicted spend $10.00 is below the Platinum threshold $90.00 (90% percentile)"
    )
    gold = _by_id(low)["gold"]
    assert (gold["nodes"], gold["delivery_date"], gold["price"]) == (
        ["ST-CHI"],
        "2026-01-06",
        10.0,
    )
    # the options come best first and the first is the recommendation
    scores = [o["satisfaction_score"] for o in low["options"]]
    assert scores == sorted(scores, reverse=True)
    assert low["recommended"] == low["options"][0]["option_id"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"items": [{"sku": "TEE", "quantity": 0}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": "1"}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": 2.5}]}, 422, "items[0].quantity"),
        ({"items": [{"sku": "TEE", "quantity": 10**30}]}, 422, "items[0].quantity"),
        (
            {"items": [{"sku": "TEE", "quantity": 1}, {"sku": "HAT", "quantity": 1}]},
            422,
            "items[1].sku",
        ),
        ({"items": []}, 422, "items"),
        ({"items": "TEE:1"}, 422, "items"),
        ({"dest": "999"}, 422, "dest"),
        ({"dest": "6060"}, 422, "dest"),
        ({"dest": None}, 422, "dest"),
        ({"customer_id": ""}, 422, "customer_id"),
        ({"customer_id": "x" * 65}, 422, "customer_id"),
        ({"preferences": {"speed": -1}}, 422, "preferences.speed"),
        ({"preferences": {"fast": 1}}, 422, "preferences.fast"),
        ({"preferences": {"speed": 0, "cost": 0, "eco": 0}}, 422, "preferences"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_requests_get_4xx_json_naming_the_field(
    live: Any, body: dict[str, Any], status: int, field: str
) -> None:
    client, _, _ = live
    request = {"customer_id": "C1", **TEE_TO_CHICAGO, **body}
    r = client.post("/v1/options", json=request)
    assert r.status_code == status, r.text
    error = r.json()
    assert error["error"] == "invalid_request"
    assert error["field"] == field
    assert field.split("[")[0].split(".")[0] in error["message"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 422, "invalid_request"),
        (b"[1, 2]", 422, "invalid_request"),
        (b"", 422, "invalid_request"),
        (b"\xff\xfe{", 400, "bad_request"),  # not UTF-8
    ],
)
def test_malformed_bodies(live: Any, content: bytes, status: int, error: str) -> None:
    client, _, _ = live
    r = client.post(
        "/v1/options", content=content, headers={"Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (
        status,
        error,
        "body",
    )


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


def test_unexpected_errors_are_json_500s_without_a_trace(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, router, _ = live

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("boom in /secret/internal/path.py")

    monkeypatch.setattr(router, "generate_fulfillment_options", broken)
    r = client.post("/v1/options", json={"customer_id": "C1", **TEE_TO_CHICAGO})
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error"
    assert body["message"].startswith("internal error (incident ")
    assert "boom" not in r.text and "secret" not in r.text
    assert "Traceback" not in r.text and "File " not in r.text


def test_unknown_paths_and_methods(live: Any) -> None:
    client, _, _ = live
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.delete("/v1/options")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


# ----------------------------------------------------------------- checkout
def test_select_override_confirm_cancel(live: Any) -> None:
    client, router, _ = live
    answer = _options(client, "C5", **TEE_TO_CHICAGO)
    rid = answer["request_id"]
    assert answer["recommended"] == "gold"
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert held.status_code == 200
    assert (held.json()["status"], held.json()["nodes"]) == ("held", ["ST-CHI"])
    # the customer overrides the recommendation: the hold swaps to WH-EAST
    swap = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "silver"})
    assert (swap.json()["status"], swap.json()["nodes"]) == ("held", ["WH-EAST"])
    assert router.store is not None
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 5
    assert router.store.available("WH-EAST", ["TEE"])["TEE"] == 99
    done = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (done.status_code, done.json()["status"], done.json()["option_id"]) == (
        200,
        "confirmed",
        "silver",
    )
    again = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (again.status_code, again.json()["status"]) == (200, "confirmed")
    orders = router.store.online_orders()
    assert orders[["order_id", "tier", "sku", "node_id"]].values.tolist() == [
        [rid, "silver", "TEE", "WH-EAST"]
    ]
    cancel = client.post(f"/v1/checkouts/{rid}/cancel")
    assert cancel.status_code == 409 and cancel.json()["field"] == "request_id"
    assert "already confirmed" in cancel.json()["message"]
    # the quote is closed: selecting again is an unknown request
    gone = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert gone.status_code == 404
    # cancel releases a hold
    other = _options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    client.post(f"/v1/checkouts/{other}/select", json={"option_id": "gold"})
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 4
    r = client.post(f"/v1/checkouts/{other}/cancel")
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 5
    assert router.store.check_consistency() == []


def test_checkout_errors(live: Any) -> None:
    client, _, _ = live
    rid = _options(client, "C1", **TEE_TO_CHICAGO)["request_id"]
    r = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "platinum"})
    assert (r.status_code, r.json()["field"]) == (422, "option_id")
    r = client.post(f"/v1/checkouts/{rid}/confirm")  # nothing selected yet
    assert r.status_code == 409
    assert "no option selected" in r.json()["message"]
    r = client.post("/v1/checkouts/0123abc/confirm")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client.post("/v1/checkouts/bad%20id/confirm")
    assert (r.status_code, r.json()["field"]) == (422, "request_id")
    r = client.post(f"/v1/checkouts/{rid}/select", json={})
    assert (r.status_code, r.json()["field"]) == (422, "option_id")


def test_concurrent_selects_of_the_last_units_never_oversell(tmp_path: Path) -> None:
    """WH-EAST holds the only 2 SOFAs: 12 checkouts of 2 race for them."""
    n = 12
    with (
        live_server(tmp_path) as (server, router),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        answers = [
            _options(
                client,
                f"C{i % 11}",
                items=[{"sku": "SOFA", "quantity": 2}],
                dest="10001",
            )
            for i in range(n)
        ]
        assert all(a["options"] for a in answers)
        barrier = threading.Barrier(n)
        results: list[httpx.Response] = []
        lock = threading.Lock()

        def select(answer: dict[str, Any]) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as own:
                barrier.wait()
                r = own.post(
                    f"/v1/checkouts/{answer['request_id']}/select",
                    json={"option_id": answer["recommended"]},
                )
            with lock:
                results.append(r)

        threads = [threading.Thread(target=select, args=(a,)) for a in answers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [409] * (n - 1)
        rejected = [r.json() for r in results if r.status_code == 409]
        assert {r["status"] for r in rejected} == {"rejected"}
        assert rejected[0]["shortfall"][0]["sku"] == "SOFA"
        winner = next(r.json() for r in results if r.status_code == 200)
        assert (
            client.post(f"/v1/checkouts/{winner['request_id']}/confirm").json()[
                "status"
            ]
            == "confirmed"
        )
        assert router.store is not None
        inv = router.store.inventory_frame().set_index(["node_id", "sku"])
        assert inv.loc[("WH-EAST", "SOFA")].tolist() == [0, 0]  # on hand, reserved
        assert (router.store.inventory_frame()["on_hand"] >= 0).all()
        assert router.store.check_consistency() == []


# ----------------------------------------------------------------- capacity
def test_capacity_map(live: Any) -> None:
    client, _, _ = live
    cap = client.get("/v1/capacity").json()
    nodes = {n["node_id"]: n for n in cap["nodes"]}
    assert set(nodes) == {"WH-EAST", "WH-WEST", "ST-CHI"}
    assert nodes["ST-CHI"]["score"] == 1.0 and not nodes["ST-CHI"]["outage"]
    assert (nodes["WH-EAST"]["lat"], nodes["WH-EAST"]["kind"]) == (40.5187, "warehouse")
    assert cap["overflow_threshold"] == 0.15 and cap["as_of"] is None


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
    assert writes == {"/v1/capacity/events"}  # every operator write is listed here
    for path in writes:
        r = client.post(path, json=body)
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
        r = client.post(path, json=body, headers={"X-API-Key": "wrong-key-0123456789"})
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
        r = client.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 403
    assert not router.monitor.outage.any()  # nothing refused was applied
    r = client.post("/v1/capacity/events", json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200 and r.json() == {
        "applied": 1,
        "duplicates": 0,
        "last_seq": 1,
    }
    r = client.post(
        "/v1/capacity/events", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert r.json()["duplicates"] == 1  # the same event id is never applied twice
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
    ],
)
def test_bad_events_apply_nothing_and_are_named(
    live: Any, event: dict[str, Any], field: str
) -> None:
    client, router, _ = live
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


def test_create_app_needs_a_real_key(tmp_path: Path) -> None:
    with (
        tiny_router(tmp_path) as router,
        pytest.raises(InputError, match=r"field 'api_key': must be at least 16"),
    ):
        create_app(router, api_key="short")


# ------------------------------------------------------------------ stream
def test_stream_pushes_capacity_and_the_checkouts_new_options(live: Any) -> None:
    client, _, server = live
    answer = _options(client, "C5", **TEE_TO_CHICAGO)
    rid = answer["request_id"]
    other = _options(client, "C6", **TEE_TO_CHICAGO)["request_id"]
    mine = Listener(f"{server.url}/v1/stream?request_id={rid}")
    ops = Listener(f"{server.url}/v1/stream")
    first = mine.wait_for(lambda e: e["event"] == "capacity")
    assert first["status"] == 200 and first["data"]["version"] == [0, 0]
    ops.wait_for(lambda e: e["event"] == "capacity")
    r = client.post(
        "/v1/capacity/events", json={"events": [OUTAGE]}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200
    update = mine.wait_for(lambda e: e["event"] == "options")
    data = update["data"]
    assert (data["request_id"], data["revision"]) == (rid, 2)
    gold = next(c for c in data["changes"] if c["option_id"] == "gold")
    assert gold["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]
    assert gold["fields"]["delivery_date"] == ["2026-01-06", "2026-01-08"]
    assert gold["fields"]["price"] == [10.0, 13.0]
    assert _by_id(data["option_set"])["gold"]["delivery_date"] == "2026-01-08"
    closed = ops.wait_for(
        lambda e: e["event"] == "capacity" and e["data"]["version"] != [0, 0]
    )
    assert {n["node_id"]: n["outage"] for n in closed["data"]["nodes"]}["ST-CHI"]
    # the ops stream (no request id) never sees a checkout; mine only its own
    assert all(e["event"] == "capacity" for e in ops.events)
    assert all(e["data"].get("request_id", rid) == rid for e in mine.events)
    assert other not in json.dumps(mine.events)
    # a checkout that ends closes its stream
    client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    client.post(f"/v1/checkouts/{rid}/confirm")
    end = mine.wait_for(lambda e: e["event"] == "closed")
    assert end["data"] == {"request_id": rid, "reason": "checkout finished"}
    mine.wait_ended()
    assert mine.error is None


def test_stream_catches_up_a_checkout_made_before_a_change(live: Any) -> None:
    """Capacity changes between the options call and the page's subscription:
    the first events already carry the new options."""
    client, _, server = live
    rid = _options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    client.post(
        "/v1/capacity/events", json={"events": [OUTAGE]}, headers={"X-API-Key": API_KEY}
    )
    mine = Listener(f"{server.url}/v1/stream?request_id={rid}")
    update = mine.wait_for(lambda e: e["event"] == "options")
    assert _by_id(update["data"]["option_set"])["gold"]["nodes"] == ["WH-EAST"]


def test_stream_of_an_unknown_checkout_is_404(live: Any) -> None:
    client, _, _ = live
    r = client.get("/v1/stream", params={"request_id": "0123abcd"})
    assert (r.status_code, r.json()["field"]) == (404, "request_id")


def test_server_shutdown_ends_open_streams_cleanly(tmp_path: Path) -> None:
    with live_server(tmp_path) as (server, _):
        listener = Listener(f"{server.url}/v1/stream")
        listener.wait_for(lambda e: e["event"] == "capacity")
    listener.wait_ended()
    assert listener.error is None  # the stream ended, it was not cut off
    assert not server.thread.is_alive()


# ------------------------------------------------------------- page data
def test_samples_span_the_cltv_segments(live: Any) -> None:
    client, _, _ = live
    samples = client.get("/v1/samples").json()
    assert [
        (c["customer_id"], c["segment"], c["predicted_spend"])
        for c in samples["customers"]
    ] == [
        ("C9", "platinum", 90.0),
        ("C4", "silver", 40.0),
        ("NEW-CUSTOMER", "new", 50.0),
    ]
    assert samples["carts"][0]["items"] == [{"sku": "TEE", "quantity": 1}]
    assert [d["zip"] for d in samples["destinations"]][:2] == ["606", "100"]
    # the picked customers get the tiers their segment promises
    assert "platinum" in _by_id(_options(client, "C9", **TEE_TO_CHICAGO))
    assert "platinum" not in _by_id(_options(client, "C4", **TEE_TO_CHICAGO))


def test_samples_without_scores_use_the_prior(tmp_path: Path) -> None:
    with live_server(tmp_path, scores=False) as (server, _):
        samples = httpx.get(f"{server.url}/v1/samples").json()
    assert {c["segment"] for c in samples["customers"]} == {"new"}
    assert samples["note"].startswith("no CLTV scores in the state store")


def test_latest_allocation_from_a_folder_and_from_the_store(tmp_path: Path) -> None:
    out = tmp_path / "alloc"
    out.mkdir()
    (out / "summary.json").write_text(
        json.dumps(
            {
                "n_orders": 2,
                "n_allocated": 1,
                "n_deferred": 1,
                "total_cost": 12.5,
                "service_level_by_tier": {"gold": 1.0, "platinum": None},
                "lp_bound": float("nan"),
                "run_id": "r1",
            }
        )
    )
    (out / "allocations.csv").write_text(
        "order_id,sku,quantity,node_id,service,ship_date,promised_date,cost,batch,"
        "status,reason,delivery_date\n"
        "O1,TEE,3,WH-EAST,ground,2026-01-05,2026-01-08,12.5,0,allocated,,2026-01-08\n"
        "O2,MUG,1,,,,,,0,deferred,capacity,\n"
    )
    with live_server(tmp_path, allocation_dir=out) as (server, _):
        a = httpx.get(f"{server.url}/v1/allocation").json()
    assert (a["run_id"], a["summary"]["total_cost"], a["summary"]["lp_bound"]) == (
        "r1",
        12.5,
        None,
    )
    assert a["by_node"] == [
        {"node_id": "WH-EAST", "lines": 1, "units": 3, "cost": 12.5}
    ]
    assert (a["by_status"], a["by_service"]) == (
        {"allocated": 1, "deferred": 1},
        {"ground": 1},
    )
    # from the store's latest run
    store_dir = tmp_path / "s"
    store_dir.mkdir()
    with SqliteStore(store_dir / "state.db") as store:
        store.start_allocation_run("run-a", {"x": 1})
        rows = pd.read_csv(out / "allocations.csv", dtype={"order_id": str})
        store.write_allocation_batch("run-a", 0, rows.drop(columns=["batch"]))
    with live_server(store_dir) as (server, _):
        a = httpx.get(f"{server.url}/v1/allocation").json()
    assert a["run_id"] == "run-a" and a["note"].endswith("(still running)")
    assert a["summary"] == {
        "n_orders": 2,
        "n_lines": 2,
        "n_allocated": 1,
        "n_deferred": 1,
        "n_unfillable": 0,
        "total_cost": 12.5,
    }


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
    outline = client.get("/v1/map").json()
    assert len(outline["lon"]) == len(outline["lat"]) > 1000


def test_latest_allocation_from_a_simulate_folder(tmp_path: Path) -> None:
    """``tierflow simulate --out`` writes a summary with one entry per policy:
    the page shows the engine with bid prices."""
    out = tmp_path / "sim"
    out.mkdir()
    policy = {
        "total_cost": 99.5,
        "gap_to_bound_pct": 1.25,
        "n_allocated": 3,
        "n_deferred": 0,
        "rerouted": 1,
        "platinum_on_time_rate": 1.0,
        "service_level_by_tier": {"gold": 1.0},
        "batch_solve_p95_s": 0.1,
    }
    (out / "summary.json").write_text(
        json.dumps(
            {
                "day": "2026-01-19",
                "checkouts": 5,
                "confirmed": 3,
                "tier_mix": {"gold": 2, "silver": 1},
                "lp_bound": 98.0,
                "policies": {
                    "hindsight": {**policy, "total_cost": 98.0},
                    "cpsat + bid prices": policy,
                    "nearest": {**policy, "total_cost": 120.0},
                },
            }
        )
    )
    with live_server(tmp_path, allocation_dir=out) as (server, _):
        a = httpx.get(f"{server.url}/v1/allocation").json()
    s = a["summary"]
    assert (s["engine"], s["total_cost"], s["n_orders"], s["checkouts"]) == (
        "cpsat + bid prices",
        99.5,
        3,
        5,
    )
    assert s["tier_mix"] == {"gold": 2, "silver": 1} and s["gap_to_bound_pct"] == 1.25
    assert a["by_node"] == []  # no allocations.csv in this folder
