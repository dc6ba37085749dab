"""The stock-out days benchmark builds its days from the seed alone, as the
docs describe them, and its rows hold together."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tierflow.benchmarks import stockout_days
from tierflow.data.network import load_network


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("family", stockout_days.FAMILIES)
def test_a_day_is_the_seed_s_alone(tmp_path: Path, family: str) -> None:
    """The same seed writes the same network and orders byte for byte; the
    next seed another day."""
    for work in ("a", "b"):
        stockout_days.build_day(family, 3, tmp_path / work)
    stockout_days.build_day(family, 4, tmp_path / "a")
    first = _files(tmp_path / "a" / f"{family}-3")
    assert first == _files(tmp_path / "b" / f"{family}-3")
    assert first != _files(tmp_path / "a" / f"{family}-4")


@pytest.mark.parametrize(("family", "last"), [("qa-21h", "20:56"), ("qa-24h", "23:55")])
def test_the_qa_days_are_the_described_network_and_orders(
    tmp_path: Path, family: str, last: str
) -> None:
    """500 units of SKU-001 at each of WH-A, WH-B and ST-C, ST-C's room 300;
    300 orders of SKU-001 from 01:00 New York time to ``last``."""
    net_dir, path = stockout_days.build_day(family, 1, tmp_path)
    net = load_network(net_dir)
    assert net.node_ids == ("WH-A", "WH-B", "ST-C")
    assert net.sku_ids == stockout_days.SKUS
    assert net.inventory[:, 0].tolist() == [500, 500, 500]
    assert net.inventory[:, 1:].sum() == 0
    assert net.capacity.tolist() == [3500, 3500, 300]
    orders = pd.read_csv(path, dtype=str)
    assert len(orders) == 300
    assert set(orders["sku"]) == {"SKU-001"}
    assert orders["created_at"].iloc[0] == "2026-01-14T01:00:00-05:00"
    assert orders["created_at"].iloc[-1][11:16] == last
    assert orders["quantity"].astype(int).between(1, 10).all()


@pytest.mark.parametrize(("family", "skus"), [("gen-1sku", 1), ("gen-3sku", 3)])
def test_the_generated_days_are_short_of_stock(
    tmp_path: Path, family: str, skus: int
) -> None:
    """Each SKU's stock is 82-100 % of its units ordered, in thirds over the
    nodes; ST-C's room 60 % of its stock."""
    net_dir, path = stockout_days.build_day(family, 2, tmp_path)
    net = load_network(net_dir)
    orders = pd.read_csv(path, dtype={"quantity": int})
    assert orders["order_id"].nunique() == 600
    ordered = orders.groupby("sku")["quantity"].sum()
    assert list(net.sku_ids) == list(stockout_days.SKUS[:skus])
    for k, sku in enumerate(net.sku_ids):
        stock = net.inventory[:, k]
        assert stock.max() - stock.min() <= 1
        assert 0.82 * ordered[sku] - 1 <= stock.sum() <= ordered[sku]
    room = net.capacity[net.node_ids.index("ST-C")]
    assert room == round(0.6 * net.inventory[2].sum())


def test_a_day_s_row_holds_together(tmp_path: Path) -> None:
    """One QA-like day allocated both ways: the policy costs no less than the
    hindsight plan, the gap is their ratio, and the counts are the day's."""
    out = tmp_path / "rows.csv"
    stockout_days.main(
        [
            "--family",
            "qa-21h",
            "--seeds",
            "2",
            "--work",
            str(tmp_path),
            "--out",
            str(out),
        ]
    )
    rows = pd.read_csv(out)
    assert len(rows) == 1
    row = rows.iloc[0]
    orders = pd.read_csv(tmp_path / "qa-21h-2" / "orders.csv", dtype=str)
    platinum = orders[orders["tier"] == "platinum"]
    assert row["orders"] == 300
    assert row["units"] == orders["quantity"].astype(int).sum()
    assert row["stock"] == 1500
    assert row["platinum_orders"] == len(platinum)
    assert 0 <= row["platinum_waiting"] <= row["platinum_orders"]
    assert 0 <= row["platinum_waiting_plan"] <= row["platinum_orders"]
    assert row["hindsight"] > 0
    assert row["batch"] >= row["hindsight"]
    assert row["gap_pct"] == pytest.approx(100 * (row["batch"] / row["hindsight"] - 1))


def test_plans_of_an_earlier_run_are_reused_for_their_family(tmp_path: Path) -> None:
    """``--plans``: a day's plan cost and Platinum orders waiting are the
    CSV's row of its family and seed, not solved again (another family's
    row of the seed is not its plan)."""
    plans = tmp_path / "plans.csv"
    pd.DataFrame(
        {
            "family": ["gen-1sku", "qa-21h"],
            "seed": [2, 2],
            "hindsight": [5.0, 1000.0],
            "platinum_waiting_plan": [9, 7],
        }
    ).to_csv(plans, index=False)
    out = tmp_path / "rows.csv"
    args = ["--family", "qa-21h", "--seeds", "2", "--work", str(tmp_path)]
    stockout_days.main([*args, "--out", str(out), "--plans", str(plans)])
    row = pd.read_csv(out).iloc[0]
    assert row["hindsight"] == 1000.0
    assert row["platinum_waiting_plan"] == 7
    assert row["gap_pct"] == pytest.approx(100 * (row["batch"] / 1000.0 - 1))
