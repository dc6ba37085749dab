"""What the pages load: sample customers and carts, the latest allocation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from tests.service.helpers import by_id, post_options
from tests.service_fixtures import TEE_TO_CHICAGO, live_server
from tierflow.data.store import SqliteStore


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
