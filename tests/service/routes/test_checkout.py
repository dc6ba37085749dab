"""Checkout routes against a live server (tiny network, pinned clock; the
expected values are derived in ``tests/service_fixtures.py``)."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from tests.postgres import new_database
from tests.service.helpers import OUTAGE, by_id, post_options
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres

_KEY = {"X-API-Key": API_KEY}


def test_options_follow_the_customers_cltv(live: Any) -> None:
    client, _, _ = live
    high = post_options(client, "C10", **TEE_TO_CHICAGO)
    low = post_options(client, "C1", **TEE_TO_CHICAGO)
    assert high["customer"]["platinum_eligible"] and high["customer"]["segment"] == (
        "platinum"
    )
    plat = by_id(high)["platinum"]
    assert (plat["label"], plat["guaranteed"], plat["nodes"]) == (
        "Guaranteed next-day",
        True,
        ["WH-EAST"],
    )
    assert plat["delivery_date"] == "2026-01-06"
    assert "platinum" not in by_id(low)
    assert low["missing"]["platinum"] == (
        "predicted spend $10.00 is below the Platinum threshold $90.00 (90% percentile)"
    )
    gold = by_id(low)["gold"]
    assert (gold["nodes"], gold["delivery_date"], gold["price"]) == (
        ["ST-CHI"],
        "2026-01-06",
        10.0,
    )
    # the options come best first and the first is the recommendation
    scores = [o["satisfaction_score"] for o in low["options"]]
    assert scores == sorted(scores, reverse=True)
    assert low["recommended"] == low["options"][0]["option_id"]


def test_select_override_confirm_cancel(live: Any) -> None:
    client, router, _ = live
    answer = post_options(client, "C10", **TEE_TO_CHICAGO)
    rid = answer["request_id"]
    assert answer["recommended"] == "gold"
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert held.status_code == 200
    assert (held.json()["status"], held.json()["nodes"]) == ("held", ["ST-CHI"])
    # the customer overrides the recommendation: the hold swaps to WH-EAST
    swap = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "platinum"})
    assert (swap.json()["status"], swap.json()["nodes"]) == ("held", ["WH-EAST"])
    assert router.store is not None
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 5
    assert router.store.available("WH-EAST", ["TEE"])["TEE"] == 99
    done = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (done.status_code, done.json()["status"], done.json()["option_id"]) == (
        200,
        "confirmed",
        "platinum",
    )
    again = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (again.status_code, again.json()["status"]) == (200, "confirmed")
    orders = router.store.online_orders()
    assert orders[["order_id", "tier", "sku", "node_id"]].values.tolist() == [
        [rid, "platinum", "TEE", "WH-EAST"]
    ]
    cancel = client.post(f"/v1/checkouts/{rid}/cancel")
    assert cancel.status_code == 409 and cancel.json()["field"] == "request_id"
    assert "already confirmed" in cancel.json()["message"]
    # the checkout is over: selecting again is a conflict
    gone = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert (gone.status_code, gone.json()["error"]) == (409, "conflict")
    # cancel releases a hold
    other = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    client.post(f"/v1/checkouts/{other}/select", json={"option_id": "gold"})
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 4
    r = client.post(f"/v1/checkouts/{other}/cancel")
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert router.store.available("ST-CHI", ["TEE"])["TEE"] == 5
    assert router.store.check_consistency() == []


def test_checkout_errors(live: Any) -> None:
    client, _, _ = live
    rid = post_options(client, "C1", **TEE_TO_CHICAGO)["request_id"]
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


def test_concurrent_selects_of_the_last_units_never_oversell(
    tmp_path: Path, state_location: Path | str
) -> None:
    """WH-EAST holds the only 2 SOFAs: 12 checkouts of 2 race for them."""
    n = 12
    with (
        live_server(tmp_path, router_kw={"state": state_location}) as (server, router),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        answers = [
            post_options(
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


def test_a_checkout_refused_for_old_dates_is_requoted_over_http(live: Any) -> None:
    """A select refused 409 "options expired: … closed since it was offered
    (outage): requote for the new options" left an HTTP caller no requote
    to call (only an open stream got one, from the live hub): ``POST
    …/requote`` answers the checkout again, same request id, revision + 1."""
    client, _, _ = live
    first = post_options(client, "C9", **TEE_TO_CHICAGO)
    rid = first["request_id"]
    assert by_id(first)["gold"]["nodes"] == ["ST-CHI"]
    events = {"events": [OUTAGE]}
    posted = client.post("/v1/capacity/events", json=events, headers=_KEY)
    assert posted.status_code == 200, posted.text
    refused = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert refused.status_code == 409 and "requote" in refused.json()["message"]
    again = client.post(f"/v1/checkouts/{rid}/requote")
    assert again.status_code == 200, again.text
    answer = again.json()
    assert (answer["request_id"], answer["revision"]) == (rid, 2)
    gold = by_id(answer)["gold"]
    assert (gold["nodes"], gold["delivery_date"], gold["price"]) == (
        ["WH-EAST"],
        "2026-01-08",
        13.0,
    )
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert (held.status_code, held.json()["nodes"]) == (200, ["WH-EAST"])
    assert client.post(f"/v1/checkouts/{rid}/confirm").status_code == 200
    done = client.post(f"/v1/checkouts/{rid}/requote")
    assert (done.status_code, done.json()["message"]) == (
        409,
        f"field 'request_id': value '{rid}': checkout already confirmed",
    )
    unknown = client.post("/v1/checkouts/nobody-asked/requote")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


def test_a_hold_at_a_node_closed_since_is_refused_at_confirm(live: Any) -> None:
    """Gold held at ST-CHI, then an outage there: the confirm is refused 409
    "options expired" as the select would be, nothing ordered and the hold
    standing; after a requote the order is placed at WH-EAST, on the date it
    keeps. It answered 200 ``confirmed`` at ST-CHI: the order in the store
    at the closed node, promised for 2026-01-06."""
    client, router, _ = live
    first = post_options(client, "C9", **TEE_TO_CHICAGO)
    rid = first["request_id"]
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert (held.status_code, held.json()["nodes"]) == (200, ["ST-CHI"])
    posted = client.post("/v1/capacity/events", json={"events": [OUTAGE]}, headers=_KEY)
    assert posted.status_code == 200, posted.text
    refused = client.post(f"/v1/checkouts/{rid}/confirm")
    why = (
        "options expired: option 'gold' ships from ST-CHI, closed since it was "
        "offered (outage): requote for the new options"
    )
    body = refused.json()
    assert (refused.status_code, body["error"], body["field"]) == (
        409,
        "conflict",
        "request_id",
    )
    assert body["message"] == f"field 'request_id': value '{rid}': {why}"
    assert router.store is not None and router.store.online_orders().empty
    again = client.post(f"/v1/checkouts/{rid}/requote")
    assert again.status_code == 200, again.text
    gold = by_id(again.json())["gold"]
    assert (gold["nodes"], gold["delivery_date"]) == (["WH-EAST"], "2026-01-08")
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
    assert (held.status_code, held.json()["nodes"]) == (200, ["WH-EAST"])
    done = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (done.status_code, done.json()["status"], done.json()["nodes"]) == (
        200,
        "confirmed",
        ["WH-EAST"],
    )
    orders = router.store.online_orders()
    assert orders[["node_id", "delivery_date"]].values.tolist() == [
        ["WH-EAST", "2026-01-08"]
    ]


def test_the_options_say_when_their_ids_stop_working(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``expires_at``: the instant after which a select of the answer's
    options is refused 409 "options expired" (the quote's expiry, which
    every server of the store refuses at; a requote keeps it). A client
    learned it only from that 409."""
    ttl = 1.0
    router_kw = {"state": state_location, "quote_ttl_s": ttl}
    with (
        live_server(tmp_path, router_kw=router_kw) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        before = time.time()
        first = post_options(client, "C5", **TEE_TO_CHICAGO)
        after = time.time()
        rid = first["request_id"]
        expires = dt.datetime.fromisoformat(first["expires_at"])
        assert expires.utcoffset() == dt.timedelta(0)
        assert router.store is not None
        stored = router.store.get_quote(rid)
        assert stored is not None
        assert abs(expires.timestamp() - stored.expires_at) < 1e-6  # to the µs
        assert before + ttl - 1e-6 <= expires.timestamp() <= after + ttl + 1e-6
        again = client.post(f"/v1/checkouts/{rid}/requote")
        assert again.status_code == 200, again.text
        assert again.json()["revision"] == 2
        assert again.json()["expires_at"] == first["expires_at"]
        time.sleep(max(0.0, expires.timestamp() - time.time()) + 0.05)
        late = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert (late.status_code, late.json()["message"]) == (
            409,
            f"field 'request_id': value '{rid}': options expired (older than "
            f"{ttl:g} s): generate them again",
        )


def test_a_repeated_select_of_a_standing_hold_answers_as_the_first_past_the_expiry(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A select repeated (its answer lost, the client retries) after the
    option set's ``expires_at``, while the hold it took still stands,
    answers as the first ("a repeat answers as the first"). It was a 409
    "options expired: generate them again" although the hold stood (and
    its confirm was taken): a shopper sent to new options held the
    checkout's stock twice, and of the last unit its new select was refused
    as taken, by its own hold. Another option, or a select once the hold
    lapsed, is refused as before; nothing is written by the repeat."""
    ttl = 1.0
    router_kw = {"state": state_location, "quote_ttl_s": ttl}
    with (
        live_server(tmp_path, router_kw=router_kw) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        first = post_options(client, "C5", **TEE_TO_CHICAGO)
        rid = first["request_id"]
        held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert (held.status_code, held.json()["status"]) == (200, "held")
        expires = dt.datetime.fromisoformat(first["expires_at"])
        time.sleep(max(0.0, expires.timestamp() - time.time()) + 0.05)
        assert router.store is not None
        stock = router.store.available("ST-CHI", ["TEE"])["TEE"]
        again = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert (again.status_code, again.json()) == (200, held.json())
        named = client.post(
            f"/v1/checkouts/{rid}/select",
            json={"option_id": "gold", "customer_id": "C6"},
        )
        assert (named.status_code, named.json()["error"]) == (403, "forbidden")
        assert router.store.available("ST-CHI", ["TEE"])["TEE"] == stock
        other = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "silver"})
        assert (other.status_code, other.json()["message"]) == (
            409,
            f"field 'request_id': value '{rid}': options expired (older than "
            f"{ttl:g} s): generate them again",
        )
        done = client.post(f"/v1/checkouts/{rid}/confirm")
        assert (done.status_code, done.json()["status"]) == (200, "confirmed")
        late = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert (late.status_code, late.json()["error"]) == (409, "conflict")
        assert router.store.check_consistency() == []


def test_a_server_reads_the_scores_whole_before_its_first_checkout(
    tmp_path: Path, state_location: Path | str
) -> None:
    """At startup the server reads the latest day of CLTV scores whole (11
    here): its options calls read no score, and answer with each one."""
    with (
        live_server(tmp_path, router_kw={"state": state_location}) as (server, router),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        customers = [
            post_options(client, c, items=[{"sku": "MUG", "quantity": 1}], dest="606")[
                "customer"
            ]
            for c in ("C9", "C3", "stranger")
        ]
        assert [(c["predicted_spend"], c["platinum_eligible"]) for c in customers] == [
            (90.0, True), (30.0, False), (50.0, False),
        ]  # fmt: skip
        assert not router._customers.wants_score("C4")


def test_a_new_day_of_scores_is_judged_by_its_own_threshold_over_http(
    tmp_path: Path, postgres_server: LocalPostgres
) -> None:
    """A server on PostgreSQL that read a day of scores whole at startup:
    another process publishes the next day (every score doubled), and the
    follower reads it whole at its next check (``cltv_refresh_s`` later;
    its clock set back here) before the server's threshold is due. The next
    options call judges the new score by the new day's threshold ($180),
    not the old one's ($90, which offered Platinum to $140)."""
    url = new_database(postgres_server)
    with (
        live_server(tmp_path, router_kw={"state": url, "cltv_refresh_s": 60.0}) as (
            server,
            router,
        ),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        mug = {"items": [{"sku": "MUG", "quantity": 1}], "dest": "606"}
        before = post_options(client, "C9", **mug)["customer"]
        assert (before["platinum_threshold"], before["platinum_eligible"]) == (
            90.0,
            True,
        )
        with open_store(url) as writer:
            writer.put_cltv_scores(
                pd.DataFrame(
                    {
                        "customer_id": [f"C{i}" for i in range(11)],
                        "predicted_spend": [i * 20.0 for i in range(11)],
                        "p_active": 0.5,
                        "segment": "silver",
                    }
                ),
                as_of=dt.date(2026, 1, 5),
                model_version="next",
            )
        router._customers._day_checked = -math.inf  # the follower's next check
        assert router.load_scores()
        answer = post_options(client, "C7", **mug)
        assert answer["customer"]["source"] == "CLTV scores of 2026-01-05"
        assert "platinum" not in by_id(answer)
        assert answer["missing"]["platinum"] == (
            "predicted spend $140.00 is below the Platinum threshold $180.00 "
            "(90% percentile)"
        )


def test_an_outage_reads_closed_over_http(live: Any) -> None:
    """An outage posted as a capacity event closes WH-WEST, the only holder
    of SPRAY: ``unavailable`` says closed (it said "fully booked today"),
    ``missing`` names the outage; "Ship later" is refused alike (it was
    offered from WH-WEST, closed)."""
    client, _, _ = live
    event = {**OUTAGE, "node_id": "WH-WEST"}
    posted = client.post("/v1/capacity/events", json={"events": [event]}, headers=_KEY)
    assert posted.status_code == 200, posted.text
    cart = {"items": [{"sku": "SPRAY", "quantity": 1}], "dest": "90001"}
    answer = post_options(client, "C10", **cart)
    assert answer["options"] == []
    assert answer["missing"]["gold"] == (
        "every node that could ship it is closed (outage)"
    )
    assert answer["missing"]["overflow"] == (
        "every node that could ship it (WH-WEST) is closed (outage)"
    )
    assert answer["unavailable"] == {
        "platinum": "Guaranteed next-day isn't available right now: a location "
        "that ships your items is temporarily closed.",
        "gold": "Standard shipping isn't available right now: a location that "
        "ships your items is temporarily closed.",
        "silver": "Lowest price isn't available right now: a location that "
        "ships your items is temporarily closed.",
        "overflow": "Ship later isn't available right now: a location that "
        "ships your items is temporarily closed.",
    }


def test_a_split_ship_later_is_offered_held_and_confirmed_over_http(
    live: Any,
) -> None:
    """MUG and SPRAY, which ST-CHI alone holds both of, every node short
    and ST-CHI closed (capacity events posted): ``POST /v1/options`` offers
    "Ship later" split over WH-EAST (MUG) and WH-WEST (SPRAY), open (it was
    refused, "every node that could ship it (ST-CHI) is closed (outage)");
    selected, it holds each line at its node, and confirmed, each line is
    an order line of its node."""
    client, router, _ = live
    assert router.store is not None
    router.store.upsert_inventory(
        pd.DataFrame(
            {"node_id": ["ST-CHI"] * 2, "sku": ["MUG", "SPRAY"], "on_hand": [5, 5]}
        )
    )
    net = router.network
    events = [
        {"event_id": f"busy-{node}", "ts": "2026-01-05T14:00:00Z", "node_id": node,
         "type": "backlog", "value": float(net.capacity[i]) * 0.95}
        for i, node in enumerate(net.node_ids)
    ]  # fmt: skip
    events.append({**OUTAGE, "event_id": "chi-shut"})
    posted = client.post("/v1/capacity/events", json={"events": events}, headers=_KEY)
    assert posted.status_code == 200, posted.text
    cart = {
        "items": [{"sku": "MUG", "quantity": 1}, {"sku": "SPRAY", "quantity": 1}],
        "dest": "60601",
    }
    answer = post_options(client, "C5", **cart)
    assert "overflow" not in answer["missing"], answer["missing"]
    over = by_id(answer)["overflow"]
    assert over["nodes"] == ["WH-EAST", "WH-WEST"]
    shipments = {s["node_id"]: s for s in over["shipments"]}
    assert {n: [x["sku"] for x in s["lines"]] for n, s in shipments.items()} == {
        "WH-EAST": ["MUG"],
        "WH-WEST": ["SPRAY"],
    }
    assert over["ship_date"] == max(s["ship_date"] for s in shipments.values())
    assert over["ship_date"] > "2026-01-05"
    rid = answer["request_id"]
    held = client.post(f"/v1/checkouts/{rid}/select", json={"option_id": "overflow"})
    assert held.status_code == 200, held.text
    assert (held.json()["status"], held.json()["nodes"]) == (
        "held",
        ["WH-EAST", "WH-WEST"],
    )
    assert router.store.available("WH-EAST", ["MUG"])["MUG"] == 19
    assert router.store.available("WH-WEST", ["SPRAY"])["SPRAY"] == 9
    assert router.store.available("ST-CHI", ["MUG", "SPRAY"]) == {"MUG": 5, "SPRAY": 5}
    done = client.post(f"/v1/checkouts/{rid}/confirm")
    assert (done.status_code, done.json()["status"]) == (200, "confirmed")
    orders = router.store.online_orders()
    assert sorted(orders[["order_id", "tier", "sku", "node_id"]].values.tolist()) == [
        [rid, "overflow", "MUG", "WH-EAST"],
        [rid, "overflow", "SPRAY", "WH-WEST"],
    ]
    inv = router.store.inventory_frame().set_index(["node_id", "sku"])
    assert inv.loc[("WH-EAST", "MUG")].tolist() == [19, 0]
    assert inv.loc[("WH-WEST", "SPRAY")].tolist() == [9, 0]
    assert router.store.check_consistency() == []
