"""Stateless replicas on one PostgreSQL store: any replica answers any call of
a checkout, capacity events and confirmed work reach every replica's map
within a second (tiny network, pinned clock; ``tests/service_fixtures.py``)."""

from __future__ import annotations

import itertools
import os
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import OUTAGE, Listener, by_id, post_options
from tests.service.replicas import (
    FOLLOWER_ONLY_POLL_S,
    post_events,
    replicas,
    stock_up,
)
from tests.service_fixtures import TEE_TO_CHICAGO
from tierflow.data.store.local_postgres import LocalPostgres

_databases = itertools.count()


@pytest.fixture
def pg(postgres_server: LocalPostgres) -> str:
    """A fresh PostgreSQL database for a fleet."""
    return postgres_server.create_database(f"fleet_{os.getpid()}_{next(_databases)}")


def _wait(check: Any, timeout: float = 5.0) -> float:
    """Seconds until ``check()`` is true (fails after ``timeout``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - start


#: Outage events posted to one replica while another's stream is timed:
#: ST-CHI down, up, down, up, down (the last one stays).
TOGGLES = 5
#: The issue's bound on an event's delivery to another replica's stream,
#: met by the median of :data:`TOGGLES` deliveries ...
DELIVERY_S = 1.0
#: ... and a looser one every delivery meets: one sample on a busy 2-core
#: machine read 1.26 s (0.1 s typical), so one sample against 1 s failed
#: the suite without a slow delivery.
DELIVERY_EACH_S = 3.0


def _delivery(
    follow: Listener, url: str, event: dict[str, Any], gold: list[str]
) -> tuple[float, dict[str, Any]]:
    """Seconds from posting ``event`` to ``url`` until ``follow``'s stream
    brings an option set whose Gold ships from ``gold``; that event."""
    before = {id(e) for e in list(follow.events)}
    posted = time.monotonic()
    post_events(url, event)
    update = follow.wait_for(
        lambda e: (
            id(e) not in before
            and e["event"] == "options"
            and by_id(e["data"]["option_set"])["gold"]["nodes"] == gold
        )
    )
    return time.monotonic() - posted, update


def test_any_replica_answers_any_call(tmp_path: Path, pg: str) -> None:
    """Select on A, confirm on B, cancel on A; a requote on B (its stream,
    after an outage posted to A) that A then holds. The outage's delivery
    to B's stream is timed over :data:`TOGGLES` events (down and up again):
    the median within the issue's second, every one within
    :data:`DELIVERY_EACH_S`. The hubs poll the log only every
    :data:`FOLLOWER_ONLY_POLL_S`: B's capacity follower must bring each
    (at the fixture's 0.1 s poll the hub's own pull brought them with the
    follower 1.2 s late, and the test passed)."""
    fleet = replicas(tmp_path, pg, app_kw={"poll_s": FOLLOWER_ONLY_POLL_S})
    with (
        fleet as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url) as a,
        httpx.Client(base_url=sb.url) as b,
    ):
        rid = post_options(a, "C5", **TEE_TO_CHICAGO)["request_id"]
        held = a.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.json()["status"] == "held"
        done = b.post(f"/v1/checkouts/{rid}/confirm")
        assert (done.status_code, done.json()["nodes"]) == (200, ["ST-CHI"])
        assert a.post(f"/v1/checkouts/{rid}/confirm").json() == done.json()
        late = a.post(f"/v1/checkouts/{rid}/cancel")
        assert (late.status_code, late.json()["error"]) == (409, "conflict")
        # a checkout made on A, followed on B; the outage is posted to A
        rid = post_options(a, "C5", **TEE_TO_CHICAGO)["request_id"]
        # B never saw it: the store's checkout is checked for its customer
        other = b.post(f"/v1/checkouts/{rid}/requote", headers={"X-Customer-Id": "C6"})
        assert (other.status_code, other.json()["field"]) == (403, "X-Customer-Id")
        follow = Listener(f"{sb.url}/v1/stream?request_id={rid}")
        follow.wait_for(lambda e: e["event"] == "capacity")
        took = []
        for k in range(TOGGLES):
            down = k % 2 == 0
            event = {**OUTAGE, "event_id": f"ops-{k + 1}", "value": down}
            nodes = ["WH-EAST"] if down else ["ST-CHI"]
            seconds, update = _delivery(follow, sa.url, event, nodes)
            took.append(seconds)
        assert statistics.median(took) < DELIVERY_S, took
        assert max(took) < DELIVERY_EACH_S, took
        gold = next(c for c in update["data"]["changes"] if c["option_id"] == "gold")
        assert gold["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]
        held = a.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.json()["nodes"] == ["WH-EAST"]  # A holds B's requote
        first = a.post(f"/v1/checkouts/{rid}/cancel")
        assert first.json()["status"] == "cancelled"
        assert b.post(f"/v1/checkouts/{rid}/cancel").json() == first.json()
        follow.wait_for(lambda e: e["event"] == "closed")


def test_events_reach_every_replica_within_a_second(tmp_path: Path, pg: str) -> None:
    with replicas(tmp_path, pg, n=3) as fleet:
        post_events(fleet[0][0].url, OUTAGE)
        for server, router in fleet[1:]:
            took = _wait(lambda r=router: bool(r.monitor.outage.any()))
            assert took < 1.0
            cap = httpx.get(f"{server.url}/v1/capacity").json()
            assert {n["node_id"]: n["outage"] for n in cap["nodes"]}["ST-CHI"]


def _checkout(client: httpx.Client, customer: str, dest: str, sku: str) -> str:
    """Options, the recommended option held and confirmed; its request id."""
    answer = post_options(
        client, customer, items=[{"sku": sku, "quantity": 1}], dest=dest
    )
    rid = answer["request_id"]
    best = next(o for o in answer["options"] if o["tier"] != "overflow")
    r = client.post(
        f"/v1/checkouts/{rid}/select", json={"option_id": best["option_id"]}
    )
    assert r.json()["status"] == "held", r.text
    r = client.post(f"/v1/checkouts/{rid}/confirm")
    assert r.json()["status"] == "confirmed", r.text
    return str(rid)


@pytest.mark.slow
def test_confirmed_checkouts_move_every_replicas_map_by_their_work(
    tmp_path: Path, pg: str
) -> None:
    """1,000 checkouts confirmed on two replicas: each node's backlog grows by
    exactly the work of its confirmed lines, its utilization and score by
    that over its nominal capacity, on both replicas."""
    stock_up(pg, 100_000)
    with replicas(tmp_path, pg) as fleet, ExitStack() as stack:
        nominal = {"WH-EAST": 5000.0, "WH-WEST": 5000.0, "ST-CHI": 5000.0}
        post_events(fleet[0][0].url, *(
            {"event_id": f"cap-{n}", "ts": "2026-01-05T06:00:00Z", "node_id": n,
             "type": "nominal_capacity", "value": v}
            for n, v in nominal.items()
        ))  # fmt: skip
        clients = [
            stack.enter_context(httpx.Client(base_url=s.url, timeout=30))
            for s, _ in fleet
        ]
        before = [httpx.get(f"{s.url}/v1/capacity").json() for s, _ in fleet]
        dests = ["606", "100", "900", "981", "331"]
        for k in range(1000):
            client = clients[k % 2]
            _checkout(client, f"C{k % 11}", dests[k % 5], ["TEE", "MUG"][k % 2])
        router = fleet[0][1]
        assert router.store is not None
        orders = router.store.online_orders()
        assert orders["order_id"].nunique() == 1000
        work = router.network.sku_complexity[router.network.sku_idx(orders["sku"])]
        per_node = (
            (orders.assign(w=work * orders["quantity"])).groupby("node_id")["w"].sum()
        )
        for (server, replica), old in zip(fleet, before, strict=True):
            _wait(lambda r=replica: r.monitor.last_seq >= router.monitor.last_seq)
            new = httpx.get(f"{server.url}/v1/capacity").json()
            _moved_by(per_node.to_dict(), nominal, old, new)


def _moved_by(
    work: dict[str, float],
    nominal: dict[str, float],
    old: dict[str, Any],
    new: dict[str, Any],
) -> None:
    """Backlog, utilization and score moved by the work (to their rounding)."""
    was = {n["node_id"]: n for n in old["nodes"]}
    for node in new["nodes"]:
        w = work.get(node["node_id"], 0.0)
        prior = was[node["node_id"]]
        share = w / nominal[node["node_id"]]
        assert abs(node["backlog"] - prior["backlog"] - w) <= 0.01
        assert abs(node["utilization"] - prior["utilization"] - share) <= 2e-4
        assert abs(prior["score"] - node["score"] - share) <= 2e-4 or node["score"] == 0


def test_a_node_filled_by_checkouts_alone_offers_overflow(
    tmp_path: Path, pg: str
) -> None:
    """MUGs are only at WH-EAST (20); with room for 20 units of work today,
    checkouts confirmed on A fill it until B offers the overflow tier."""
    with (
        replicas(tmp_path, pg) as [(sa, _), (sb, rb)],
        httpx.Client(base_url=sa.url) as a,
        httpx.Client(base_url=sb.url) as b,
    ):
        post_events(sa.url, {
            "event_id": "small", "ts": "2026-01-05T06:00:00Z", "node_id": "WH-EAST",
            "type": "nominal_capacity", "value": 20,
        })  # fmt: skip
        mug = {"items": [{"sku": "MUG", "quantity": 1}], "dest": "100"}
        offered = []
        for k in range(40):
            answer = post_options(b, "C3", **mug)
            offered = [o["tier"] for o in answer["options"]]
            if "overflow" in offered:
                break
            assert k == 0 or "could serve" not in answer["missing"].get("overflow", "")
            _checkout(a, "C3", "100", "MUG")
            _wait(lambda k=k: rb.monitor.n_applied >= k + 2)
        assert "overflow" in offered
        assert rb.monitor.backlog[rb.network.node_idx("WH-EAST")] > 0.85 * 20 - 2
        assert not rb.monitor.outage.any() and rb.monitor.staffing.min() == 1.0
