"""``GET /metrics`` against a live server: the counters move by exactly what
the calls did, the gauges say what the store and the capacity map say.

The counters are process-wide (the test process runs many apps), so each
test compares two scrapes; the gauges are read from the test's own store
and map, so they are compared as they are. ``--workers N`` (the counts of
several processes added up) is tested in ``tests/cli/test_serve.py``.
"""

from __future__ import annotations

import random
import string
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.helpers import post_options
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server, tiny_router
from tierflow.data.store import StoreUnavailable, on_store_error
from tierflow.data.vocabulary import Tier
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.metrics import (
    METHODS,
    OTHER_METHOD,
    UNMATCHED,
    instruments,
)
from tierflow.service.server import serve_in_thread

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Scrape:
    """Every sample of ``/metrics`` by name and labels."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(m: Scrape, name: str, **labels: str) -> float:
    """One sample (0 when absent)."""
    return m.get((name, frozenset(labels.items())), 0.0)


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    """How far a counter moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[httpx.Client, OnlineRouter]]:
    with (
        live_server(tmp_path) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, router


def _call(client: httpx.Client, rid: str, action: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/v1/checkouts/{rid}/{action}", json=body or None)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_every_tier_series_is_there_at_zero_before_any_offer(tmp_path: Path) -> None:
    """A rate over ``tierflow_options_offered_total{tier=...}`` needs the
    series before its first offer; :func:`value` reads an absent one as 0,
    so no test saw whether they were there (both places that make them,
    ``instruments`` and ``ServiceMetrics``, cut to one tier: every test
    passed). The instruments are the process's, and other tests' offers
    made them in this one: a fresh interpreter's first scrape is read."""
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from prometheus_client import generate_latest
        from tests.service_fixtures import tiny_router
        from tierflow.service.metrics import ServiceMetrics
        router = tiny_router(Path({str(tmp_path)!r}))
        print(generate_latest(ServiceMetrics(router).registry).decode())
        router.close()
        """
    )
    text = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    first = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    for tier in Tier:
        assert first.get(f'tierflow_options_offered_total{{tier="{tier.value}"}}') == 0
    for stage in ("offered", "selected", "confirmed"):
        assert first.get(f'tierflow_overflow_total{{stage="{stage}"}}') == 0


def test_checkouts_move_the_counters_exactly(
    live: tuple[httpx.Client, OnlineRouter],
) -> None:
    """Four answers; A held and confirmed (each twice: the repeats count
    once), B held then cancelled, C cancelled unselected (twice), D held."""
    client, _ = live
    before = scrape(client)
    a, b, c, d = (
        post_options(client, k, **TEE_TO_CHICAGO) for k in ("C9", "C4", "C2", "C10")
    )
    ta, tb, td = a["recommended"], b["recommended"], d["recommended"]
    _drive(client, a, b, c, d)
    after = scrape(client)

    def by(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    def outcome(call: str, status: str, tier: str) -> float:
        return by("tierflow_checkouts_total", call=call, status=status, tier=tier)

    assert by("tierflow_option_sets_total") == 4
    offered = Counter(o["tier"] for x in (a, b, c, d) for o in x["options"])
    assert offered["platinum"] >= 2 and offered["gold"] == 4  # C9, C10: Platinum
    held = Counter([ta, tb, td])
    for tier in Tier:
        assert by("tierflow_options_offered_total", tier=tier.value) == offered[tier]
        assert outcome("select", "held", tier.value) == held[tier]
    assert outcome("confirm", "confirmed", ta) == 1
    assert outcome("cancel", "cancelled", tb) == 1
    assert outcome("cancel", "cancelled", "none") == 1
    for stage in ("offered", "selected", "confirmed"):
        assert by("tierflow_overflow_total", stage=stage) == 0
    assert by("tierflow_degraded_answers_total") == 0
    calls = {
        "/v1/options": 4,
        "/v1/checkouts/{request_id}/select": 4,
        "/v1/checkouts/{request_id}/confirm": 2,
        "/v1/checkouts/{request_id}/cancel": 3,
    }
    latency = "tierflow_http_request_duration_seconds"
    for route, n in calls.items():
        post = {"method": "POST", "route": route}
        assert by("tierflow_http_requests_total", **post, status="200") == n
        assert by(f"{latency}_count", **post) == n
        assert by(f"{latency}_bucket", **post, le="+Inf") == n
    # gauges: this test's store and map
    for tier in Tier:
        assert value(after, "tierflow_holds", tier=tier.value, state="active") == (
            tier == td
        )
        assert value(after, "tierflow_holds", tier=tier.value, state="expired") == 0
    _scores_match_the_map(client, after)


def _drive(client: httpx.Client, *answers: dict[str, Any]) -> None:
    """A selected and confirmed twice, B selected then cancelled, C cancelled
    twice unselected, D selected."""
    a, b, c, d = answers
    ta, tb, td = a["recommended"], b["recommended"], d["recommended"]
    for _ in range(2):
        assert (
            _call(client, a["request_id"], "select", option_id=ta)["status"] == "held"
        )
    for _ in range(2):
        assert _call(client, a["request_id"], "confirm")["status"] == "confirmed"
    assert _call(client, b["request_id"], "select", option_id=tb)["status"] == "held"
    assert _call(client, b["request_id"], "cancel")["status"] == "cancelled"
    for _ in range(2):
        assert _call(client, c["request_id"], "cancel")["status"] == "cancelled"
    assert _call(client, d["request_id"], "select", option_id=td)["status"] == "held"


def _scores_match_the_map(client: httpx.Client, m: Scrape) -> None:
    """``tierflow_capacity_score`` is ``GET /v1/capacity``'s score per node."""
    nodes = client.get("/v1/capacity").json()["nodes"]
    for node in nodes:
        got = value(m, "tierflow_capacity_score", node=node["node_id"])
        assert got == pytest.approx(node["score"], abs=5e-5)


def test_overflow_offers_and_uptake(live: tuple[httpx.Client, OnlineRouter]) -> None:
    """Every node full (backlog = nominal capacity): the overflow tier is
    offered, held and confirmed; the scores on /metrics fall with the map."""
    client, router = live
    events = [
        {"event_id": f"full-{node}", "ts": "2026-01-05T14:00:00Z", "node_id": node,
         "type": "backlog", "value": float(router.network.capacity[i])}
        for i, node in enumerate(router.network.node_ids)
    ]  # fmt: skip
    r = client.post(
        "/v1/capacity/events", json={"events": events}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200, r.text
    before = scrape(client)
    answer = post_options(
        client, "C4", items=[{"sku": "TEE", "quantity": 2}], dest="606"
    )
    assert "overflow" in [o["tier"] for o in answer["options"]], answer["missing"]
    rid = answer["request_id"]
    assert _call(client, rid, "select", option_id="overflow")["status"] == "held"
    assert _call(client, rid, "select", option_id="overflow")["status"] == "held"
    assert _call(client, rid, "confirm")["status"] == "confirmed"
    after = scrape(client)
    for stage in ("offered", "selected", "confirmed"):
        assert moved(before, after, "tierflow_overflow_total", stage=stage) == 1
    assert moved(before, after, "tierflow_options_offered_total", tier="overflow") == 1
    scores = [
        value(after, "tierflow_capacity_score", node=n) for n in router.network.node_ids
    ]
    assert max(scores) < router.policy.overflow_score_threshold
    _scores_match_the_map(client, after)


def test_holds_turn_expired(tmp_path: Path) -> None:
    """A hold left alone past its TTL (1 s) goes from active to expired."""
    with (
        live_server(tmp_path, router_kw={"reservation_ttl_s": 1.0}) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answer = post_options(client, "C4", **TEE_TO_CHICAGO)
        tier = answer["recommended"]
        _call(client, answer["request_id"], "select", option_id=tier)
        m = scrape(client)
        # the hold may already have lapsed on a slow machine: one or the other
        states = [
            value(m, "tierflow_holds", tier=tier, state=s)
            for s in ("active", "expired")
        ]
        assert sorted(states) == [0, 1]

        def expired() -> bool:
            m = scrape(client)
            return value(m, "tierflow_holds", tier=tier, state="expired") == 1

        _wait_for(expired)
        m = scrape(client)
        assert value(m, "tierflow_holds", tier=tier, state="active") == 0


def test_a_lost_store_counts_errors_and_degraded_answers(
    live: tuple[httpx.Client, OnlineRouter],
) -> None:
    """The store goes away: the answer is degraded (counted once), every
    store error the backend raised is counted, the select is unavailable."""
    client, router = live
    raised: list[str] = []
    on_store_error(lambda backend, _error: raised.append(backend))
    before = scrape(client)
    n0 = len(raised)
    assert router.store is not None
    router.store.close()
    answer = post_options(client, "C4", **TEE_TO_CHICAGO)
    assert answer["degraded"]
    r = client.post(
        f"/v1/checkouts/{answer['request_id']}/select",
        json={"option_id": answer["recommended"]},
    )
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    n = len(raised) - n0
    after = scrape(client)
    # the live hub's poll may raise more meanwhile (it reads the closed store)
    n_after = len(raised) - n0
    assert n >= 2 and set(raised[n0:]) == {"sqlite"}  # reads, then the hold
    counted = moved(
        before,
        after,
        "tierflow_store_errors_total",
        backend="sqlite",
        kind="unavailable",
    )
    assert n <= counted <= n_after, (n, counted, n_after)
    assert moved(before, after, "tierflow_degraded_answers_total") == 1
    assert (
        moved(
            before,
            after,
            "tierflow_checkouts_total",
            call="select",
            status="unavailable",
            tier=answer["recommended"],
        )
        == 1
    )


def test_a_confirm_the_lost_store_refused_is_counted_under_the_tier_held(
    live: tuple[httpx.Client, OnlineRouter],
) -> None:
    """A held, B never selected; the store goes away and both confirms are
    503: A's under the tier its select held (this process took the hold),
    B's under ``unknown`` (no hold known here). Both were ``none``, the
    label of a cancel before any select."""
    client, router = live
    a, b = (post_options(client, k, **TEE_TO_CHICAGO) for k in ("C9", "C4"))
    _call(client, a["request_id"], "select", option_id=a["recommended"])
    before = scrape(client)
    assert router.store is not None
    router.store.close()
    for answer in (a, b):
        r = client.post(f"/v1/checkouts/{answer['request_id']}/confirm")
        assert (r.status_code, r.json()["status"]) == (503, "unavailable"), r.text
    after = scrape(client)

    def confirms(tier: str) -> float:
        return moved(
            before,
            after,
            "tierflow_checkouts_total",
            call="confirm",
            status="unavailable",
            tier=tier,
        )

    assert (confirms(a["recommended"]), confirms("unknown"), confirms("none")) == (
        1,
        1,
        0,
    )


def test_a_select_the_lost_store_refused_names_no_tier_the_client_made_up(
    live: tuple[httpx.Client, OnlineRouter],
) -> None:
    """With the store down, a select of a checkout this process does not
    keep is answered ``unavailable`` before its option id is checked: its
    ``tier`` label was that id as sent, so each made-up id (up to 32
    characters of anything) made a series of its own while the store was
    down. A tier's id is kept; any other id is ``unknown``."""
    client, router = live
    before = scrape(client)
    assert router.store is not None
    router.store.close()
    made_up = [f"zz{k}" for k in range(5)] + ["x\u00e9y", 'q"}\n']
    for k, option_id in enumerate([*made_up, "gold"]):
        r = client.post(
            f"/v1/checkouts/elsewhere-{k}/select", json={"option_id": option_id}
        )
        assert (r.status_code, r.json()["status"]) == (503, "unavailable"), r.text
    after = scrape(client)
    tiers = {
        dict(labels)["tier"]
        for (name, labels), _ in after.items()
        if name == "tierflow_checkouts_total"
    }
    assert tiers <= {t.value for t in Tier} | {"none", "unknown"}, tiers

    def selects(tier: str) -> float:
        return moved(
            before,
            after,
            "tierflow_checkouts_total",
            call="select",
            status="unavailable",
            tier=tier,
        )

    assert (selects("unknown"), selects("gold")) == (len(made_up), 1)


def test_one_failed_store_call_is_one_error(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Each backend reports each failed operation once."""
    with tiny_router(tmp_path, state=state_location) as router:
        store = router.store
        assert store is not None
        backend = "sqlite" if isinstance(state_location, Path) else "postgres"
        labels = {"backend": backend, "kind": "unavailable"}
        errors = instruments().store_errors
        start = _sample(errors, "tierflow_store_errors_total", **labels)
        store.close()
        with pytest.raises(StoreUnavailable):
            store.available_by_sku(["TEE"])
        assert _sample(errors, "tierflow_store_errors_total", **labels) == start + 1


def test_metrics_off(tmp_path: Path) -> None:
    """``metrics=False`` (``serve --no-metrics``): no /metrics, nothing counted;
    the request id and the answers are the same."""
    counter = instruments().option_sets
    with tiny_router(tmp_path) as router:
        app = create_app(router, api_key=API_KEY, metrics=False)
        with (
            serve_in_thread(app) as server,
            httpx.Client(base_url=server.url, timeout=10) as client,
        ):
            start = _sample(counter, "tierflow_option_sets_total")
            answer = client.post(
                "/v1/options", json={"customer_id": "C4", **TEE_TO_CHICAGO}
            )
            assert answer.status_code == 200 and answer.headers["X-Request-ID"]
            assert client.get("/metrics").status_code == 404
            assert _sample(counter, "tierflow_option_sets_total") == start
            paths = client.get("/openapi.json").json()["paths"]
            assert "/metrics" not in paths and "/v1/options" in paths


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_request_labels_stay_bounded_whatever_clients_send(
    tmp_path: Path, http: str
) -> None:
    """Random paths and methods make no series of their own: ``route`` is a
    route template or ``unmatched``, ``method`` one of ``METHODS`` or
    ``other``. h11 hands any token to the app as the method (httptools
    refuses most with its own 400, before the app), so each made-up method
    once made a new series: a scanner could grow the scrape without bound."""
    rng = random.Random(7)
    token = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
    # the routes the requests below can reach (and the scrape's own)
    reached = {UNMATCHED, "/healthz", "/v1/checkouts/{request_id}/select", "/metrics"}
    with (
        tiny_router(tmp_path) as router,
        serve_in_thread(create_app(router, api_key=API_KEY), http=http) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        before = _series(client)  # the counters are the process's
        methods = ["get", "Post", "PROPFIND", "MKCOL", "PURGE", "SEARCH"]
        methods += ["".join(rng.choices(token, k=8)) for _ in range(40)]
        for k, method in enumerate(methods):
            path = "/" + "".join(rng.choices(string.ascii_lowercase, k=12))
            for target in (path, f"/v1/checkouts{path}/select", "/healthz"):
                client.request(method, target)
            client.request(rng.choice(sorted(METHODS)), f"{path}/{k}")
        after = _series(client)
    new = after - before
    assert {method for method, _ in after} <= METHODS | {OTHER_METHOD}
    assert {route for _, route in new} <= reached
    assert (OTHER_METHOD, UNMATCHED) in after
    # at most every allowed method on each route reached
    assert len(new) <= len(METHODS | {OTHER_METHOD}) * len(reached)


def test_requests_answered_outside_the_api_routes_name_their_route(
    tmp_path: Path,
) -> None:
    """A body over the limit (413, answered before routing), the OpenAPI
    document and a static file are counted under their routes: they were
    ``unmatched``, as a scanner's paths are. A request is counted once its
    app returns, which can be just after the client has read the answer (a
    file's last chunk): the counts are read until they settle (5 s at most)."""
    expected = {
        ("POST", "/v1/options", "413"): 1, ("GET", "/openapi.json", "200"): 1,
        ("GET", "/static/{path}", "200"): 1, ("GET", UNMATCHED, "404"): 1,
        ("POST", UNMATCHED, "413"): 0, ("GET", UNMATCHED, "200"): 0,
    }  # fmt: skip
    with (
        tiny_router(tmp_path) as router,
        serve_in_thread(create_app(router, api_key=API_KEY)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        before = scrape(client)
        big = client.post("/v1/options", content=b"{" + b" " * 2_000_000 + b"}",
                          headers={"content-type": "application/json"})  # fmt: skip
        assert big.status_code == 413
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/static/app.css").status_code == 200
        assert client.get("/no-such-page").status_code == 404
        deadline = time.monotonic() + 5.0
        while True:
            after = scrape(client)
            counted = {
                key: moved(
                    before, after, "tierflow_http_requests_total",
                    method=key[0], route=key[1], status=key[2],
                )
                for key in expected
            }  # fmt: skip
            if counted == expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert counted == expected


def _series(client: httpx.Client) -> set[tuple[str, str]]:
    """The ``(method, route)`` label pairs of the request metrics."""
    return {
        (s.labels["method"], s.labels["route"])
        for family in text_string_to_metric_families(client.get("/metrics").text)
        if family.name
        in ("tierflow_http_requests", "tierflow_http_request_duration_seconds")
        for s in family.samples
    }


def _sample(collector: Any, name: str, **labels: str) -> float:
    """A sample of one process-wide instrument (0 when absent)."""
    for family in collector.collect():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def _wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    tick = threading.Event()  # never set: a wait that cannot be cut short
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        tick.wait(0.05)
    raise AssertionError("timed out")
