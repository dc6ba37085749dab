"""What the pages load: sample customers and carts, the latest allocation."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from tests.conftest import TINY_NETWORK
from tests.service.helpers import by_id, post_options
from tests.service_fixtures import API_KEY, MONDAY_10, TEE_TO_CHICAGO, live_server
from tierflow.data.network import load_network
from tierflow.data.store import SqliteStore, open_store
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.allocation_view import latest_allocation
from tierflow.service.app import create_app
from tierflow.service.samples import sample_customers
from tierflow.service.schemas import ID_CHARS, ID_PATTERN
from tierflow.service.server import serve_in_thread


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
    assert "platinum" in by_id(post_options(client, "C9", **TEE_TO_CHICAGO))
    assert "platinum" not in by_id(post_options(client, "C4", **TEE_TO_CHICAGO))


def test_the_new_sample_customer_shows_the_models_prior(
    state_location: Path | str,
) -> None:
    """The picker's never-scored customer shows the prior its checkout gets:
    the model's, stored with the scores, where they carry one."""
    network = load_network(TINY_NETWORK)
    with open_store(state_location) as store:
        scores = pd.DataFrame(
            {"customer_id": ["C1", "C2", "C3"], "predicted_spend": [0.0, 0.01, 90.0],
             "p_active": 0.5, "segment": ["silver", "silver", "platinum"]}
        )  # fmt: skip
        day = dt.date(2026, 1, 4)
        store.put_cltv_scores(scores, as_of=day, model_version="old")
        customers, _ = sample_customers(store, TierPolicy(), network)
        assert customers[-1] == {
            "customer_id": "NEW-CUSTOMER",
            "segment": "new",
            "predicted_spend": 0.01,
            "source": "new-customer prior (50% percentile of the latest scores)",
        }
        store.put_cltv_scores(
            scores, as_of=day, model_version="v", new_customer_spend=41.234
        )
        customers, _ = sample_customers(store, TierPolicy(), network)
        assert customers[-1] == {
            "customer_id": "NEW-CUSTOMER",
            "segment": "new",
            "predicted_spend": 41.23,
            "source": "new-customer prior (the CLTV model's forecast of a "
            "customer acquired on 2026-01-04)",
        }


def test_samples_without_scores_use_the_prior(tmp_path: Path) -> None:
    with live_server(tmp_path, scores=False) as (server, _):
        samples = httpx.get(f"{server.url}/v1/samples").json()
    assert {c["segment"] for c in samples["customers"]} == {"new"}
    assert samples["note"].startswith("no CLTV scores in the state store")


def test_samples_offer_only_customer_ids_a_request_takes(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A network's ``customers.csv`` and the CLTV scores may hold ids the
    API's pattern refuses (a space, a slash, a non-ASCII letter, 65
    characters): the picker offered them and the page's first request with
    one was a 422. Now the first acceptable ids are offered, and a segment's
    example is the median of its acceptable ids; every sample posts."""
    net = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, net)
    bad = ["C 1", "C/2", "Ä3", "x" * 65]
    rows = [*bad, "C-5", "C.6", "C:7", "C8"]
    (net / "customers.csv").write_text(
        "customer_id,home_zip3\n" + "".join(f"{c},606\n" for c in rows),
        encoding="utf-8",
    )
    with (
        OnlineRouter.open(
            load_network(net),
            open_store(state_location),
            capacity_refresh_s=0.0,
            cltv_refresh_s=0.0,
        ) as router,
        serve_in_thread(
            create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10)
        ) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        unscored = client.get("/v1/samples").json()
        assert [c["customer_id"] for c in unscored["customers"]] == [
            "C-5",
            "C.6",
            "C:7",
        ]
        assert router.store is not None
        router.store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": ["P 1", "P2", "S/1", "S2", "S3", "S 4", "S5"],
                    "predicted_spend": [80.0, 90.0, 30.0, 20.0, 10.0, 25.0, 40.0],
                    "p_active": 0.5,
                    "segment": ["platinum"] * 2 + ["silver"] * 5,
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="test",
        )
        scored = client.get("/v1/samples").json()
        # the medians were "P 1" (of 80, 90) and "S 4" (of 10, 20, 25, 30, 40);
        # of the acceptable ids: P2 (90) and S2 (of S3 10, S2 20, S5 40)
        assert [c["customer_id"] for c in scored["customers"]] == [
            "P2",
            "S2",
            "NEW-CUSTOMER",
        ]
        cart = {
            "items": unscored["carts"][0]["items"],
            "dest": unscored["destinations"][0]["zip"],
        }
        for sample in unscored["customers"] + scored["customers"]:
            post_options(client, sample["customer_id"], **cart)
        for customer in bad:
            r = client.post("/v1/options", json={"customer_id": customer, **cart})
            assert (r.status_code, r.json()["field"]) == (422, "customer_id")


def test_the_id_characters_are_the_pattern_s() -> None:
    """The store's filter of sample ids spells out the pattern's characters."""
    for code in range(0x300):
        c = chr(code)
        assert (c in ID_CHARS) == bool(re.fullmatch(ID_PATTERN, c)), repr(c)


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
    # unfinished: the store cannot tell a run at work from one killed mid-way
    assert a["run_id"] == "run-a" and a["note"].endswith(
        "(unfinished: its batches up to 0 committed, the summary theirs only; "
        "still running, or stopped before its end: the same allocate command "
        "resumes it)"
    )
    assert a["summary"] == {
        "n_orders": 2,
        "n_lines": 2,
        "n_allocated": 1,
        "n_deferred": 1,
        "n_unfillable": 0,
        "total_cost": 12.5,
    }


def test_a_stored_run_is_said_unfinished_until_it_ends(tmp_path: Path) -> None:
    """A run that committed no batch, or died mid-way, was said "still
    running" for good; the note says how far it got, and nothing once the
    run has finished."""
    with SqliteStore(tmp_path / "state.db") as store:
        store.start_allocation_run("run-b", {"x": 2})
        empty = latest_allocation(None, store)
        store.finish_allocation_run("run-b")
        ended = latest_allocation(None, store)
    assert empty["run_id"] == "run-b" and empty["note"] == (
        "from the state store's latest allocation run (unfinished: no batch "
        "committed yet; still running, or stopped before its end: the same "
        "allocate command resumes it)"
    )
    assert empty["summary"] == {"n_orders": 0, "n_lines": 0}
    assert ended["note"] == "from the state store's latest allocation run"


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


def test_the_allocation_answer_names_no_server_path(tmp_path: Path) -> None:
    """``GET /v1/allocation`` needs no key, and said where the server's files
    are: "from summary.json and allocations.csv in /srv/…/sim", the store's
    path or database URL as its ``source``. It names the folder only."""
    out = tmp_path / "sim"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"run_id": "r1", "n_orders": 1}))
    missing = tmp_path / "nothing-here"
    missing.mkdir()
    answers: list[dict[str, Any]] = []
    for folder in (out, missing, None):
        with live_server(tmp_path / str(len(answers)), allocation_dir=folder) as (
            server,
            router,
        ):
            answers.append(httpx.get(f"{server.url}/v1/allocation").json())
            assert router.store is not None
            store_at = router.store.location
    shown = json.dumps(answers)
    assert str(tmp_path) not in shown and store_at not in shown, shown
    assert answers[0]["note"] == (
        "from summary.json and allocations.csv of the allocation folder 'sim'"
    )
    assert answers[0]["source"] == "allocation folder 'sim'"
    assert answers[1]["note"].startswith(
        "no summary.json in the allocation folder 'nothing-here': "
    )
