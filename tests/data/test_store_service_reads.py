"""The store's reads for the checkout service: sample customers per CLTV
segment and the latest allocation run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tests.postgres import run_sql
from tierflow.data.store import open_store


def test_one_median_customer_per_segment(state_location: Path | str) -> None:
    with open_store(state_location) as store:
        assert store.cltv_segment_examples() == []
        store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": ["a", "b", "c", "d", "e", "f"],
                    "predicted_spend": [500.0, 300.0, 40.0, 30.0, 20.0, 10.0],
                    "p_active": 0.5,
                    "segment": ["gold", "gold", "silver", "silver", "silver", "silver"],
                }
            ),
            as_of=dt.date(2026, 1, 3),
            model_version="old",
        )
        # only the latest day counts
        store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": ["a", "b", "c", "d", "e"],
                    "predicted_spend": [900.0, 300.0, 40.0, 30.0, 20.0],
                    "p_active": 0.5,
                    "segment": ["platinum", "gold", "silver", "silver", "silver"],
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="new",
        )
        got = store.cltv_segment_examples()
    # silver: 20, 30, 40 -> rank 2 of 3 is 30 (d); ordered by spend, highest first
    assert [(s.customer_id, s.segment, s.predicted_spend) for s in got] == [
        ("a", "platinum", 900.0),
        ("b", "gold", 300.0),
        ("d", "silver", 30.0),
    ]
    assert {s.as_of for s in got} == {dt.date(2026, 1, 4)}
    assert {s.model_version for s in got} == {"new"}


def test_the_median_of_the_ids_a_caller_can_send(state_location: Path | str) -> None:
    """With ``id_chars`` and ``max_id_length`` only ids made of those
    characters and no longer count, the median taken among them (the
    checkout page's samples offer only ids the HTTP API takes)."""
    ids = ["g 1", "g2", "g3", "G-4", "s/1", "s:2", "x" * 9, "s%3", "p 1"]
    spend = [25.0, 40.0, 30.0, 20.0, 9.0, 8.0, 7.0, 6.0, 99.0]
    with open_store(state_location) as store:
        store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "predicted_spend": spend,
                    "p_active": 0.5,
                    "segment": ["gold"] * 4 + ["silver"] * 4 + ["platinum"],
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="m",
        )
        every = store.cltv_segment_examples()
        sendable = store.cltv_segment_examples(
            id_chars="".join(sorted(set("g234Gsx:-"))), max_id_length=8
        )
    # gold 20, 25, 30, 40: rank 2 is "g 1"; silver 6, 7, 8, 9: "x" * 9
    assert [s.customer_id for s in every] == ["p 1", "g 1", "x" * 9]
    # gold: 20 (G-4), 30 (g3), 40 (g2) -> g3; silver: 8 (s:2) alone; no platinum
    assert [s.customer_id for s in sendable] == ["g3", "s:2"]


def test_latest_allocation_run(state_location: Path | str) -> None:
    with open_store(state_location) as store:
        assert store.latest_allocation_run() is None
        store.start_allocation_run("first", {"engine": "cpsat"})
        store.start_allocation_run("second", {"engine": "greedy"})
        run = store.latest_allocation_run()
        assert run is not None
        assert (run.run_id, run.params, run.finished_at) == (
            "second",
            {"engine": "greedy"},
            None,
        )
        store.finish_allocation_run("second")
        run = store.latest_allocation_run()
        assert run is not None and run.finished_at is not None
        assert run.finished_at >= run.created_at


def test_runs_started_in_the_same_instant_keep_their_order(
    state_location: Path | str,
) -> None:
    open_store(state_location).close()
    run_sql(
        state_location,
        "INSERT INTO allocation_runs (run_id, params, created_at) "
        "VALUES ('b', '{}', 5.0), ('a', '{}', 5.0)",
    )
    with open_store(state_location) as store:
        run = store.latest_allocation_run()
    assert run is not None and run.run_id == "a"  # the later insert


def test_the_median_of_tied_spends_is_the_same_customer_on_both_backends(
    locale_state_location: Path | str,
) -> None:
    """Ties of ``predicted_spend`` are ranked by the id's bytes on both
    backends: on a PostgreSQL database with a locale's collation (ICU
    ``en-US`` here, any ``en_US.UTF-8`` cluster) the checkout page's sample
    customer was another one than on SQLite (``aa`` for ``a-2``; QA,
    2026-12-08)."""
    ids = ["a-2", "A1", "b", "B_0", "aa"]  # bytes: A1 B_0 a-2 aa b
    with open_store(locale_state_location) as store:
        store.put_cltv_scores(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "predicted_spend": 5.0,
                    "p_active": 0.5,
                    "segment": "gold",
                }
            ),
            as_of=dt.date(2026, 1, 4),
            model_version="m",
        )
        got = store.cltv_segment_examples()
    assert [s.customer_id for s in got] == ["a-2"]


def test_stock_reads_come_in_byte_order_on_both_backends(
    locale_state_location: Path | str,
) -> None:
    """The inventory's reads (``stock show``, ``GET /v1/stock``, the
    allocator's starting stock) list positions by the ids' bytes on both
    backends: a database with a locale's collation listed ``Mug`` before
    ``MUG`` where SQLite lists ``MUG`` first, and so did the orders an
    export wrote and an allocation's rows (2026-12-08)."""
    open_store(locale_state_location).close()
    rows = [("a-2", "Mug"), ("A1", "MUG"), ("a-2", "MUG"), ("aa", "mug"), ("A1", "b")]
    run_sql(
        locale_state_location,
        "INSERT INTO inventory (node_id, sku, on_hand) VALUES "
        + ", ".join(f"('{n}', '{s}', 3)" for n, s in rows),
    )
    with open_store(locale_state_location) as store:
        frame = store.inventory_frame()
        levels = store.stock_levels(now=0.0)
    expected = sorted(rows, key=lambda r: (r[0].encode(), r[1].encode()))
    assert list(zip(frame["node_id"], frame["sku"], strict=True)) == expected
    assert list(zip(levels["node_id"], levels["sku"], strict=True)) == expected
