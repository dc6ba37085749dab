"""Stock routes: ``POST /v1/stock`` (an operator write, API key) and
``GET /v1/stock`` (an operator read), on both store backends.

Tiny network (``tests/data/tiny_network/inventory.csv``): TEE 100 at
WH-EAST, 50 at WH-WEST, 5 at ST-CHI; TEE to Chicago ships Gold from ST-CHI
(arrives 2026-01-06, $10.00), from WH-EAST without ST-CHI's (2026-01-08,
$13.00).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_NETWORK
from tests.postgres import run_sql
from tests.service.helpers import Listener, by_id, post_options
from tests.service.replicas import replicas
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO
from tierflow.data.network import load_network
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

KEY = {"X-API-Key": API_KEY}


def _post(
    client: httpx.Client, mode: str, *changes: tuple[str, str, Any]
) -> httpx.Response:
    body = {
        "mode": mode,
        "changes": [{"node_id": n, "sku": s, "on_hand": q} for n, s, q in changes],
    }
    return client.post("/v1/stock", json=body, headers=KEY)


def _gold(answer: dict[str, Any]) -> tuple[list[str], str, float]:
    gold = next(o for o in answer["options"] if o["tier"] == "gold")
    return gold["nodes"], gold["delivery_date"], gold["price"]


def test_stock_posted_to_one_replica_is_in_the_next_answer_of_another(
    tmp_path: Path, state_location: Path | str
) -> None:
    with (
        replicas(tmp_path, state_location) as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        assert _gold(post_options(b, "C1", **TEE_TO_CHICAGO)) == (
            ["ST-CHI"], "2026-01-06", 10.0,
        )  # fmt: skip
        r = _post(a, "set", ("ST-CHI", "TEE", 0))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "mode": "set",
            "positions": 1,
            "changed": 1,
            "units_up": 0,
            "units_down": 5,
            "changes": [
                {
                    "node_id": "ST-CHI",
                    "sku": "TEE",
                    "before": 5,
                    "after": 0,
                    "reserved": 0,
                }
            ],
        }
        assert _gold(post_options(b, "C1", **TEE_TO_CHICAGO)) == (
            ["WH-EAST"], "2026-01-08", 13.0,
        )  # fmt: skip
        r = _post(b, "add", ("ST-CHI", "TEE", 3), ("WH-EAST", "TEE", -10))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "mode": "add",
            "positions": 2,
            "changed": 2,
            "units_up": 3,
            "units_down": 10,
            "changes": [
                {"node_id": "ST-CHI", "sku": "TEE", "before": 0, "after": 3, "reserved": 0},
                {"node_id": "WH-EAST", "sku": "TEE", "before": 100, "after": 90, "reserved": 0},
            ],
        }  # fmt: skip
        assert _gold(post_options(a, "C1", **TEE_TO_CHICAGO)) == (
            ["ST-CHI"], "2026-01-06", 10.0,
        )  # fmt: skip
        for client in (a, b):
            r = client.get("/v1/stock", params={"sku": "TEE"})
            assert r.status_code == 200, r.text
            assert r.json() == [
                {
                    "node_id": n,
                    "sku": "TEE",
                    "on_hand": q,
                    "reserved": 0,
                    "available": q,
                }
                for n, q in (("ST-CHI", 3), ("WH-EAST", 90), ("WH-WEST", 50))
            ]


#: The bound one delivery to another replica's stream meets, as for a
#: capacity event (``tests/service/test_replicas.py``: ``DELIVERY_EACH_S``).
DELIVERY_EACH_S = 3.0


def test_a_stock_change_reaches_the_open_checkouts_of_its_skus(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A checkout of TEE followed on B; a count posted to A sets its Gold
    node's TEE (ST-CHI) to 0: B's stream sends the new options (Gold from
    WH-EAST, revision 2) as after a capacity event. A change of MUG alone
    re-answers no TEE checkout (the receipt after it is revision 3, not 4),
    and a checkout of MUG is sent nothing by TEE's changes."""
    with (
        replicas(tmp_path, state_location) as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        tee = post_options(b, "C1", **TEE_TO_CHICAGO)
        assert _gold(tee) == (["ST-CHI"], "2026-01-06", 10.0)
        mug = post_options(b, "C2", items=[{"sku": "MUG", "quantity": 1}], dest="60601")
        follow = Listener(f"{sb.url}/v1/stream?request_id={tee['request_id']}")
        other = Listener(f"{sb.url}/v1/stream?request_id={mug['request_id']}")
        for listener in (follow, other):
            listener.wait_for(lambda e: e["event"] == "capacity")
        posted = time.monotonic()
        assert _post(a, "set", ("ST-CHI", "TEE", 0)).status_code == 200
        update = follow.wait_for(lambda e: e["event"] == "options")
        took = time.monotonic() - posted
        assert took < DELIVERY_EACH_S, took
        data = update["data"]
        assert (data["request_id"], data["revision"]) == (tee["request_id"], 2)
        gold = by_id(data["option_set"])["gold"]
        assert (gold["nodes"], gold["delivery_date"], gold["price"]) == (
            ["WH-EAST"], "2026-01-08", 13.0,
        )  # fmt: skip
        moved = next(c for c in data["changes"] if c["option_id"] == "gold")
        assert moved["fields"]["nodes"] == [["ST-CHI"], ["WH-EAST"]]
        # an unrelated SKU's change (a receipt of MUG at ST-CHI, which
        # makes the MUG checkout's faster node possible), then one of TEE
        assert _post(a, "add", ("ST-CHI", "MUG", 3)).status_code == 200
        faster = other.wait_for(lambda e: e["event"] == "options")
        assert faster["data"]["revision"] == 2  # TEE's count answered it not
        assert _gold(faster["data"]["option_set"])[0] == ["ST-CHI"]
        assert _post(a, "add", ("ST-CHI", "TEE", 5)).status_code == 200
        back = follow.wait_for(
            lambda e: e["event"] == "options" and e["data"]["revision"] > 2
        )
        assert back["data"]["revision"] == 3  # MUG's receipt answered it not
        assert _gold(back["data"]["option_set"]) == (["ST-CHI"], "2026-01-06", 10.0)
        sent = [e["data"]["revision"] for e in follow.events if e["event"] == "options"]
        assert sent == [2, 3]
        sent = [e["data"]["revision"] for e in other.events if e["event"] == "options"]
        assert sent == [2]


def _select_at(client: httpx.Client, answer: dict[str, Any], node: str) -> None:
    """Hold the option of ``answer`` that ships from ``node`` alone."""
    option = next(o for o in answer["options"] if o["nodes"] == [node])
    rid = answer["request_id"]
    r = client.post(
        f"/v1/checkouts/{rid}/select", json={"option_id": option["option_id"]}
    )
    assert r.json()["status"] == "held", r.text


def test_a_hold_that_takes_the_last_units_reaches_the_open_checkouts_of_its_sku(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A checkout of one TEE followed on B offers Gold from ST-CHI (5 TEE).
    Holds on A of one TEE there each leave units: no news, the page keeps
    its answer. The hold of the last one: B's stream sends the new options
    (Gold from WH-EAST, revision 2), as after a count to 0; before, the page
    kept offering ST-CHI until its select was refused."""
    with (
        replicas(tmp_path, state_location) as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        tee = post_options(b, "C1", **TEE_TO_CHICAGO)
        assert _gold(tee) == (["ST-CHI"], "2026-01-06", 10.0)
        follow = Listener(f"{sb.url}/v1/stream?request_id={tee['request_id']}")
        follow.wait_for(lambda e: e["event"] == "capacity")
        for customer in ("C2", "C3", "C4", "C5"):  # 4, 3, 2, 1 left
            _select_at(a, post_options(a, customer, **TEE_TO_CHICAGO), "ST-CHI")
        posted = time.monotonic()
        _select_at(a, post_options(a, "C6", **TEE_TO_CHICAGO), "ST-CHI")
        update = follow.wait_for(lambda e: e["event"] == "options")
        took = time.monotonic() - posted
        assert took < DELIVERY_EACH_S, took
        data = update["data"]
        assert (data["request_id"], data["revision"]) == (tee["request_id"], 2)
        assert _gold(data["option_set"]) == (["WH-EAST"], "2026-01-08", 13.0)
        sent = [e["data"]["revision"] for e in follow.events if e["event"] == "options"]
        assert sent == [2]  # the holds that left units answered it not


def test_another_shoppers_cancel_brings_back_the_node_it_frees(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Five holds on A take ST-CHI's five TEE: the checkout followed on B
    moves its Gold to WH-EAST (revision 2). Another shopper's cancel on A
    gives one back to the sold-out position: B's stream sends Gold from
    ST-CHI again (revision 3) within the bound of a count's news, not at the
    minute's re-answer; until 2026-12-06 a cancel sent no stock news. A
    second cancel (1 there, 1 back) sends none."""
    with (
        replicas(tmp_path, state_location) as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        tee = post_options(b, "C1", **TEE_TO_CHICAGO)
        follow = Listener(f"{sb.url}/v1/stream?request_id={tee['request_id']}")
        follow.wait_for(lambda e: e["event"] == "capacity")
        held = []
        for customer in ("C2", "C3", "C4", "C5", "C6"):
            held.append(post_options(a, customer, **TEE_TO_CHICAGO))
            _select_at(a, held[-1], "ST-CHI")
        gone = follow.wait_for(lambda e: e["event"] == "options")
        assert _gold(gone["data"]["option_set"])[0] == ["WH-EAST"]
        posted = time.monotonic()
        r = a.post(f"/v1/checkouts/{held[0]['request_id']}/cancel")
        assert r.json()["status"] == "cancelled", r.text
        back = follow.wait_for(
            lambda e: e["event"] == "options" and e["data"]["revision"] > 2
        )
        took = time.monotonic() - posted
        assert took < DELIVERY_EACH_S, took
        assert back["data"]["revision"] == 3
        assert _gold(back["data"]["option_set"]) == (["ST-CHI"], "2026-01-06", 10.0)
        r = a.post(f"/v1/checkouts/{held[1]['request_id']}/cancel")
        assert r.json()["status"] == "cancelled", r.text
        time.sleep(1.0)  # a count's news reaches it within 0.4 s
        sent = [e["data"]["revision"] for e in follow.events if e["event"] == "options"]
        assert sent == [2, 3]


#: Seconds a hold lasts in the lapse test: long enough for its select and
#: the stream's re-answer to the hold, short enough to wait out.
_SHORT_TTL_S = 2.0


def test_a_lapsed_hold_brings_back_the_node_it_held_with_no_other_write(
    tmp_path: Path, state_location: Path | str
) -> None:
    """ST-CHI counted to 1 TEE; a hold on A takes it (TTL 2 s): the
    checkout of one TEE followed on B moves its Gold to WH-EAST. Nobody
    writes after it. Once the hold lapses, B's stream sends Gold from
    ST-CHI again within 1.5 s of its expiry: the servers sweep lapsed holds
    on time. Until 2026-12-06 only a later write swept it, and on a quiet
    store the page kept WH-EAST (never told, on the pinned clock)."""
    with (
        replicas(tmp_path, state_location, reservation_ttl_s=_SHORT_TTL_S) as [
            (sa, _),
            (sb, _),
        ],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        tee = post_options(b, "C1", **TEE_TO_CHICAGO)
        follow = Listener(f"{sb.url}/v1/stream?request_id={tee['request_id']}")
        follow.wait_for(lambda e: e["event"] == "capacity")
        assert _post(a, "set", ("ST-CHI", "TEE", 1)).status_code == 200
        last = post_options(a, "C2", **TEE_TO_CHICAGO)
        option = next(o for o in last["options"] if o["nodes"] == ["ST-CHI"])
        r = a.post(
            f"/v1/checkouts/{last['request_id']}/select",
            json={"option_id": option["option_id"]},
        )
        assert r.json()["status"] == "held", r.text
        expires = dt.datetime.fromisoformat(r.json()["expires_at"]).timestamp()
        gone = follow.wait_for(lambda e: e["event"] == "options")
        assert _gold(gone["data"]["option_set"])[0] == ["WH-EAST"]
        assert time.time() < expires  # told of the hold before it lapsed
        revision = gone["data"]["revision"]
        back = follow.wait_for(
            lambda e: e["event"] == "options" and e["data"]["revision"] > revision,
            timeout=_SHORT_TTL_S + 5.0,
        )
        late = time.time() - expires
        assert late < 1.5, late
        assert _gold(back["data"]["option_set"]) == (["ST-CHI"], "2026-01-06", 10.0)


def test_a_count_that_changes_nothing_says_so(shared_live: Any) -> None:
    client, _, _ = shared_live
    r = _post(client, "set", ("WH-WEST", "SPRAY", 10), ("WH-WEST", "TEE", 50))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "mode": "set",
        "positions": 2,
        "changed": 0,
        "units_up": 0,
        "units_down": 0,
        "changes": [],
    }


def test_stock_read_per_node_and_sku(shared_live: Any) -> None:
    client, _, _ = shared_live
    r = client.get("/v1/stock", params={"node_id": "WH-WEST"})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"node_id": "WH-WEST", "sku": s, "on_hand": q, "reserved": 0, "available": q}
        for s, q in (("SPRAY", 10), ("TEE", 50))
    ]
    r = client.get("/v1/stock", params={"node_id": "WH-WEST", "sku": "SPRAY"})
    assert [p["on_hand"] for p in r.json()] == [10]
    # a node the network has but that stocks no SKU: no positions, no error
    assert (
        client.get("/v1/stock", params={"sku": "SOFA", "node_id": "ST-CHI"}).json()
        == []
    )
    r = client.get("/v1/stock", params={"node_id": "WH-NOPE"})
    message = (
        "field 'node_id': value 'WH-NOPE': unknown node_id (not in the network "
        "nor the store)"
    )
    assert (r.status_code, r.json()) == (
        422,
        {
            "error": "invalid_request",
            "message": message,
            "field": "node_id",
            "errors": [
                {
                    "field": "node_id",
                    "message": "value 'WH-NOPE': unknown node_id (not in the "
                    "network nor the store)",
                    "type": "invalid_request",
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("mode", "bad", "field", "message"),
    [
        (
            "set",
            ("WH-NOPE", "TEE", 1),
            "changes[1].node_id",
            "value 'WH-NOPE': unknown node",
        ),
        ("set", ("WH-EAST", "HAT", 1), "changes[1].sku", "value 'HAT': unknown SKU"),
        # a case-only twin is named, as an orders file's line names it (it
        # said "unknown SKU" alone beside a network that has 'MUG')
        (
            "set",
            ("WH-EAST", "mug", 1),
            "changes[1].sku",
            "value 'mug': unknown SKU; the network has 'MUG', which differs in "
            "case only (ids are case-sensitive)",
        ),
        (
            "set",
            ("wh-east", "MUG", 1),
            "changes[1].node_id",
            "value 'wh-east': unknown node; the network has 'WH-EAST', which "
            "differs in case only (ids are case-sensitive)",
        ),
        (
            "set",
            ("WH-EAST", "MUG", -1),
            "changes[1].on_hand",
            "value -1: on_hand would be -1: below 0",
        ),
        (
            "add",
            ("WH-EAST", "MUG", -21),
            "changes[1].on_hand",
            "value -21: on_hand would be -1 (20 on hand, -21 added): below 0",
        ),
        (
            "add",
            ("WH-EAST", "MUG", 1_000_000_000),
            "changes[1].on_hand",
            "value 1000000000: on_hand would be 1000000020 (20 on hand, "
            "1000000000 added): above 1000000000",
        ),
        (
            "set",
            ("WH-EAST", "MUG", 1_000_000_001),
            "changes[1].on_hand",
            # was pydantic's "Input should be less than or equal to 1000000000"
            "value 1000000001: on_hand would be 1000000001: above 1000000000",
        ),
        (
            "add",
            ("WH-EAST", "MUG", -1_000_000_001),
            "changes[1].on_hand",
            "value -1000000001: on_hand would be -999999981 (20 on hand, "
            "-1000000001 added): below 0",
        ),
        (  # past what any column of a file takes: refused before the store, in
            # its words (was "Input should be less than or equal to 1000000000000")
            "set",
            ("WH-EAST", "MUG", 10**13),
            "changes[1].on_hand",
            "value 10000000000000: on_hand would be 10000000000000: above 1000000000",
        ),
        (  # below 0 in set mode too (the message was empty: found by the fuzz)
            "set",
            ("WH-EAST", "MUG", -(10**13)),
            "changes[1].on_hand",
            "value -10000000000000: on_hand would be -10000000000000: below 0",
        ),
        (
            "add",
            ("WH-EAST", "MUG", -(10**30)),
            "changes[1].on_hand",
            f"value {-(10**30)}: on_hand would be below 0 ({-(10**30)} added)",
        ),
        (
            "set",
            ("WH-EAST", "MUG", 2.5),
            "changes[1].on_hand",
            "value 2.5: Input should be a valid integer",
        ),
        (
            "set",
            ("WH-EAST", "MUG", "3"),
            "changes[1].on_hand",
            "value '3': Input should be a valid integer",
        ),
        (
            "set",
            ("WH-WEST", "TEE", 7),
            "changes[1]",
            "WH-WEST/TEE given twice (first at index 0)",
        ),
    ],
)
def test_a_bad_change_writes_nothing_and_is_named(
    shared_live: Any, mode: str, bad: tuple[str, str, Any], field: str, message: str
) -> None:
    client, _, _ = shared_live
    before = client.get("/v1/stock").json()
    r = _post(client, mode, ("WH-WEST", "TEE", 1), bad)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["error"], body["field"], body["message"]) == (
        "invalid_request",
        field,
        f"field '{field}': {message}",
    )
    assert body["errors"][0]["field"] == field
    assert client.get("/v1/stock").json() == before  # nothing written


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"changes": [{"node_id": "WH-EAST", "sku": "TEE", "on_hand": 1}]}, "mode", "Field required"),
        (
            {"mode": "replace", "changes": [{"node_id": "WH-EAST", "sku": "TEE", "on_hand": 1}]},
            "mode",
            "value 'replace': Input should be 'set' or 'add'",
        ),
        ({"mode": "set", "changes": []}, "changes", "List should have at least 1 item after validation, not 0"),
        ({"mode": "set", "changes": [{"node_id": "WH-EAST", "sku": "TEE"}]}, "changes[0].on_hand", "Field required"),
        (
            {"mode": "set", "changes": [{"node_id": "WH-EAST", "sku": "TEE", "on_hand": 1, "quantity": 1}]},
            "changes[0].quantity",
            "value 1: Extra inputs are not permitted",
        ),
    ],
)  # fmt: skip
def test_a_malformed_body_is_named(
    shared_live: Any, body: dict[str, Any], field: str, message: str
) -> None:
    client, _, _ = shared_live
    r = client.post("/v1/stock", json=body, headers=KEY)
    assert r.status_code == 422, r.text
    assert (r.json()["field"], r.json()["message"]) == (
        field,
        f"field '{field}': {message}",
    )


def test_stock_held_by_a_checkout_cannot_be_counted_away(live: Any) -> None:
    client, _, _ = live
    answer = post_options(client, "C1", **TEE_TO_CHICAGO)
    option = answer["options"][0]["option_id"]
    r = client.post(
        f"/v1/checkouts/{answer['request_id']}/select", json={"option_id": option}
    )
    assert r.status_code == 200, r.text
    r = _post(client, "set", ("WH-WEST", "TEE", 1), ("ST-CHI", "TEE", 0))
    assert r.status_code == 422, r.text
    assert r.json()["message"] == (
        "field 'changes[1].on_hand': value 0: on_hand would be 0, below the 1 "
        "units reserved (held by open checkouts): cut_holds (tierflow stock "
        "load --cut-holds) writes it and releases the newest holds there"
    )
    assert client.get(
        "/v1/stock", params={"node_id": "ST-CHI", "sku": "TEE"}
    ).json() == [
        {"node_id": "ST-CHI", "sku": "TEE", "on_hand": 5, "reserved": 1, "available": 4}
    ]
    assert (
        client.get("/v1/stock", params={"node_id": "WH-WEST", "sku": "TEE"}).json()[0][
            "on_hand"
        ]
        == 50
    )  # the good change before it was not written either


def test_a_count_with_cut_holds_cuts_the_newest_checkout(live: Any) -> None:
    """ST-CHI's 5 TEE, 1 held by A and then 1 by B: a count of 1 with
    ``cut_holds`` is written and cuts B (the newest); A confirms, B's
    confirm is refused naming the position recounted, and its select again
    is the answer of a stock run out; the count's retry cuts nothing again,
    and its id sent without ``cut_holds`` is another change (409)."""
    client, _, _ = live
    rids, options = [], []
    for customer in ("C1", "C2"):
        answer = post_options(client, customer, **TEE_TO_CHICAGO)
        rid = answer["request_id"]
        option = answer["options"][0]
        assert option["nodes"] == ["ST-CHI"]
        r = client.post(
            f"/v1/checkouts/{rid}/select", json={"option_id": option["option_id"]}
        )
        assert r.status_code == 200, r.text
        rids.append(rid)
        options.append(option["option_id"])
    body = {
        "mode": "set",
        "changes": [{"node_id": "ST-CHI", "sku": "TEE", "on_hand": 1}],
        "change_id": "count-7",
        "cut_holds": True,
    }
    r = client.post("/v1/stock", json=body, headers=KEY)
    assert r.status_code == 200, r.text
    summary = {
        "mode": "set",
        "positions": 1,
        "changed": 1,
        "units_up": 0,
        "units_down": 4,
        "changes": [
            {"node_id": "ST-CHI", "sku": "TEE", "before": 5, "after": 1, "reserved": 1}
        ],
        "change_id": "count-7",
        "duplicate": False,
        "applied_at": r.json()["applied_at"],  # its instant: the test just above
        "holds_cut": [
            {"request_id": rids[1], "node_id": "ST-CHI", "sku": "TEE", "units": 1}
        ],
    }
    assert r.json() == summary
    again = client.post("/v1/stock", json=body, headers=KEY)
    assert again.json() == {**summary, "duplicate": True}
    # the id's request was sent with cut_holds: without it, another change
    r = client.post("/v1/stock", json={**body, "cut_holds": False}, headers=KEY)
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (
        409,
        "conflict",
        "change_id",
    )
    r = client.post(f"/v1/checkouts/{rids[1]}/confirm")
    assert r.status_code == 409, r.text
    assert (r.json()["error"], r.json()["field"]) == ("conflict", "request_id")
    assert r.json()["message"].startswith(
        f"field 'request_id': value '{rids[1]}': hold cut at "
    )
    assert r.json()["message"].endswith(
        ": the stock of TEE at ST-CHI was recounted below what open checkouts "
        "held; select an option again"
    )
    r = client.post(f"/v1/checkouts/{rids[0]}/confirm")
    assert (r.status_code, r.json()["status"]) == (200, "confirmed")
    # selected again, B finds the stock gone: rejected, naming the recount
    r = client.post(f"/v1/checkouts/{rids[1]}/select", json={"option_id": options[1]})
    assert r.status_code == 409, r.text
    assert (r.json()["status"], r.json()["shortfall"]) == (
        "rejected",
        [{"node_id": "ST-CHI", "sku": "TEE", "requested": 1, "available": 0}],
    )
    assert r.json()["message"].endswith(
        ": the stock of TEE at ST-CHI was recounted below what open checkouts "
        "held: ask for options again"
    )
    assert r.json()["message"].startswith("hold cut at ")


def test_the_write_needs_the_key_before_the_body_is_read(shared_live: Any) -> None:
    client, _, _ = shared_live
    body = {
        "mode": "set",
        "changes": [{"node_id": "WH-EAST", "sku": "TEE", "on_hand": 0}],
    }
    r = client.post("/v1/stock", json=body)
    assert (r.status_code, r.json()["field"]) == (401, "X-API-Key")
    r = client.post(
        "/v1/stock", content="{bad", headers={"X-API-Key": "wrong-key-0123456789"}
    )
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    assert (
        client.get("/v1/stock", params={"node_id": "WH-EAST", "sku": "TEE"}).json()[0][
            "on_hand"
        ]
        == 100
    )


def test_stock_is_refused_without_a_store(tmp_path: Path) -> None:
    """A server whose store could not be opened holds no stock to write or
    read: 503, the reason, and when to retry (the server tries the store
    again each second)."""
    state = f"postgresql://tierflow@/tierflow?host={tmp_path / 'no-server'}"
    router = OnlineRouter.open(load_network(TINY_NETWORK), state)
    assert router.store is None
    with (
        serve_in_thread(create_app(router, api_key=API_KEY)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        posted = _post(client, "set", ("WH-EAST", "TEE", 0))
        read = client.get("/v1/stock")
    router.close()
    for r, message in (
        (posted, "no state store: the stock cannot be written; nothing written"),
        (read, "no state store: the stock cannot be read"),
    ):
        assert (r.status_code, r.json()["error"], r.json()["message"]) == (
            503,
            "unavailable",
            message,
        )
        assert r.headers["Retry-After"] == "1"


def _receipt(change_id: Any, *changes: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "mode": "add",
        "change_id": change_id,
        "changes": [{"node_id": n, "sku": s, "on_hand": q} for n, s, q in changes],
    }


def test_a_retried_change_says_when_the_first_was_applied(live: Any) -> None:
    """A change with an id says when it was applied (``applied_at``, the
    store's clock), and its retry the first's instant, on any replica: the
    retry's answer gave the first's figures and no time, so an operator
    comparing them with ``GET /v1/stock`` could not tell when they held.
    Without an id the answer is as it was."""
    client, _, _ = live
    body = _receipt("rcv-9", ("ST-CHI", "TEE", 3))
    before = dt.datetime.now(dt.UTC)
    first = client.post("/v1/stock", json=body, headers=KEY).json()
    applied = dt.datetime.fromisoformat(first["applied_at"])
    assert before <= applied <= dt.datetime.now(dt.UTC)
    assert applied.utcoffset() == dt.timedelta(0)
    time.sleep(0.01)
    again = client.post("/v1/stock", json=body, headers=KEY).json()
    assert again == {**first, "duplicate": True}
    plain = {k: v for k, v in body.items() if k != "change_id"}
    assert "applied_at" not in client.post("/v1/stock", json=plain, headers=KEY).json()


def test_a_receipt_retried_with_its_change_id_is_added_once(
    live: Any, state_location: Path | str
) -> None:
    """The WMS lost the first answer and sends the receipt again: the
    first's summary, marked a duplicate, and the stock added once; the id
    under another body is a conflict that names it; and so is the receipt
    replayed after ``state prune`` dropped its answer (it was added again)."""
    client, router, _ = live
    body = _receipt("rcv-0042", ("ST-CHI", "TEE", 3), ("WH-EAST", "TEE", -10))
    summary = {
        "mode": "add",
        "positions": 2,
        "changed": 2,
        "units_up": 3,
        "units_down": 10,
        "changes": [
            {"node_id": "ST-CHI", "sku": "TEE", "before": 5, "after": 8, "reserved": 0},
            {"node_id": "WH-EAST", "sku": "TEE", "before": 100, "after": 90, "reserved": 0},
        ],
        "change_id": "rcv-0042",
    }  # fmt: skip
    first = client.post("/v1/stock", json=body, headers=KEY)
    summary["applied_at"] = first.json()["applied_at"]  # its instant: the test above
    assert (first.status_code, first.json()) == (200, {**summary, "duplicate": False})
    again = client.post("/v1/stock", json=body, headers=KEY)
    assert (again.status_code, again.json()) == (200, {**summary, "duplicate": True})
    other = _receipt("rcv-0042", ("ST-CHI", "TEE", 4), ("WH-EAST", "TEE", -10))
    r = client.post("/v1/stock", json=other, headers=KEY)
    assert r.status_code == 409, r.text
    assert r.json() == {
        "error": "conflict",
        "message": "field 'change_id': value 'rcv-0042': already used by another "
        "stock change (another mode, changes or cut_holds): a change_id is an idempotency "
        "key; nothing written",
        "field": "change_id",
        "errors": [
            {
                "field": "change_id",
                "message": "value 'rcv-0042': already used by another stock "
                "change (another mode, changes or cut_holds): a change_id is an idempotency "
                "key; nothing written",
                "type": "conflict",
            }
        ],
    }
    stock = client.get("/v1/stock", params={"sku": "TEE"}).json()
    assert [(p["node_id"], p["on_hand"]) for p in stock] == [
        ("ST-CHI", 8), ("WH-EAST", 90), ("WH-WEST", 50),
    ]  # fmt: skip
    # the spaces around an id are removed, as an event id's: the same receipt
    r = client.post("/v1/stock", json={**body, "change_id": " rcv-0042 "}, headers=KEY)
    assert (r.status_code, r.json()["duplicate"]) == (200, True)
    received = float(int(time.time())) - 20 * 86_400
    run_sql(state_location, f"UPDATE stock_changes SET received_at = {received}")
    router.store.prune_state(7, upgrade_period_days=7)
    r = client.post("/v1/stock", json=body, headers=KEY)
    assert r.status_code == 409, r.text
    applied = dt.datetime.fromtimestamp(received, dt.UTC).isoformat()
    assert r.json()["message"] == (
        f"field 'change_id': value 'rcv-0042': applied on {applied}; `tierflow "
        "state prune` dropped its answer, so a repeat of it is refused, never "
        "applied again; nothing written"
    )
    stock = client.get("/v1/stock", params={"sku": "TEE"}).json()
    assert [(p["node_id"], p["on_hand"]) for p in stock] == [
        ("ST-CHI", 8), ("WH-EAST", 90), ("WH-WEST", 50),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change_id", "message"),
    [
        ("   ", "value '': missing or empty change id"),  # stripped first
        ("r\u0000", "value 'r\\x00': has a character no store can hold (U+0000, NUL)"),
        ("r" * 201, f"value {repr('r' * 201)[:200]}…: longer than 200 characters"),
        (42, "value 42: Input should be a valid string"),
    ],
)
def test_a_bad_change_id_is_refused_and_writes_nothing(
    shared_live: Any, change_id: Any, message: str
) -> None:
    client, _, _ = shared_live
    body = _receipt(change_id, ("WH-EAST", "TEE", 1))
    r = client.post("/v1/stock", json=body, headers=KEY)
    assert r.status_code == 422, r.text
    assert (r.json()["field"], r.json()["message"]) == (
        "change_id",
        f"field 'change_id': {message}",
    )
    stock = client.get("/v1/stock", params={"node_id": "WH-EAST", "sku": "TEE"})
    assert stock.json()[0]["on_hand"] == 100


def test_a_null_change_id_is_one_the_document_takes(shared_live: Any) -> None:
    """``"change_id": null`` is taken as no id (a WMS client serializing an
    unset field as null), so the OpenAPI document says null is valid: it
    said a string only, so a client validating its requests against the
    document refused what the server takes, and the document broke its
    promise that a request it refuses gets a 4xx."""
    client, _, _ = shared_live
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    branches = schema["StockRequest"]["properties"]["change_id"]["anyOf"]
    assert {"type": "null"} in branches
    assert any(b.get("type") == "string" for b in branches)
    r = client.post(
        "/v1/stock", json=_receipt(None, ("WH-WEST", "TEE", 0)), headers=KEY
    )
    assert r.status_code == 200, r.text
    assert "change_id" not in r.json() and "duplicate" not in r.json()


def test_a_position_only_the_store_knows_is_a_filter_the_document_takes(
    live: Any,
) -> None:
    """``GET /v1/stock`` filters by a node or SKU the network or the store
    knows (a position written by a server of the store on another network,
    listed by the unfiltered read), so the document's filters take such ids:
    they were the network's ``enum``, so a client validating its requests
    against the document could not ask for a position the server lists and
    answers (and the document's own 422 said "neither the network nor the
    store knows")."""
    from tierflow.data.sample_network import sample_network_dir
    from tierflow.orchestration.stock_load import load_stock

    client, router, _ = live
    other = load_network(sample_network_dir())
    load_stock(router.store, other, [("WH-EWR", "HOM-0575", 3)], mode="set")
    r = client.get("/v1/stock", params={"node_id": "WH-EWR", "sku": "HOM-0575"})
    assert r.status_code == 200, r.text
    assert [(p["node_id"], p["sku"], p["on_hand"]) for p in r.json()] == [
        ("WH-EWR", "HOM-0575", 3)
    ]
    read = client.get("/openapi.json").json()["paths"]["/v1/stock"]["get"]
    filters = {p["name"]: p["schema"] for p in read["parameters"]}
    for name, value in (("node_id", "WH-EWR"), ("sku", "HOM-0575")):
        assert value in filters[name].get("enum", [value]), name
        assert filters[name]["type"] == "string"
        assert "store" in filters[name]["description"]
