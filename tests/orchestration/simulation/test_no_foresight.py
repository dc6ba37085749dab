"""No checkout of the simulated day reads its future: what every shopper was
offered and chose, the capacity scores the monitor showed and the node that
went down stay the same when every cart after an instant is changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierflow.capacity.demand_forecast import DemandForecast
from tierflow.data.network import Network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.store import SqliteStore
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.simulation import day
from tierflow.orchestration.simulation.checkouts import (
    run_checkouts,
    seeded_request_ids,
)
from tierflow.orchestration.simulation.forecast import staffed_capacity
from tierflow.orchestration.simulation.settings import SimulationSettings

DAY = dt.date(2026, 1, 14)
#: Checkouts up to this instant are compared (15:00 in New York), after the
#: outage (13:00).
CUT = pd.Timestamp("2026-01-14T20:00:00", tz="UTC")


def _carts(net: Network) -> pd.DataFrame:
    carts = generate_orders(
        net, n_orders=160, days=1, seed=5, start=DAY, spike=Spike.parse("16:00,3")
    )
    carts["created_at"] = pd.to_datetime(carts["created_at"], utc=True)
    return carts.sort_values("created_at", kind="stable").reset_index(drop=True)


def _altered_future(carts: pd.DataFrame) -> pd.DataFrame:
    """The same day with every cart after ``CUT`` different: half of them
    gone, the rest to the first destination in five times the quantity."""
    late = carts["created_at"] > CUT
    ids = carts.loc[late, "order_id"].unique()
    changed = carts[~carts["order_id"].isin(ids[::2])].copy()
    moved = changed["order_id"].isin(ids[1::2])
    changed.loc[moved, "dest"] = sorted(carts["dest"].unique())[0]
    changed.loc[moved, "quantity"] = changed.loc[moved, "quantity"] * 5
    return changed.reset_index(drop=True)


def test_checkouts_do_not_change_when_later_carts_do(
    tmp_path: Path, tiny_network: Network
) -> None:
    net = tiny_network
    past = generate_orders(
        net, n_orders=7 * 160, days=7, seed=6, start=DAY - dt.timedelta(days=7)
    )
    history = read_orders(write_orders(past, tmp_path / "h.csv"), net)
    demand = DemandForecast.from_history(history, net)
    settings = SimulationSettings(
        day=DAY, checkouts=160, seed=9, utilization=0.97, outage_at=dt.time(13)
    )
    capacity = staffed_capacity(net, demand, settings.utilization)
    customers = sorted(set(past["customer_id"].astype(str)))
    scores = pd.DataFrame(
        {
            "customer_id": customers,
            "predicted_spend": np.linspace(10.0, 900.0, len(customers)),
            "p_active": 0.5,
            "segment": "gold",
        }
    )

    def run(carts: pd.DataFrame, name: str) -> tuple[pd.DataFrame, ...]:
        state = tmp_path / f"{name}.db"
        with SqliteStore(state) as store:
            store.put_cltv_scores(scores, as_of=DAY, model_version="test")
        with OnlineRouter.open(
            network=net.source, state=state, request_ids=seeded_request_ids(1)
        ) as router:
            checkouts, ticks, node, _event = run_checkouts(
                net, router, carts, capacity, settings, demand
            )
        at = pd.to_datetime(checkouts["at"], utc=True)
        tick_at = pd.to_datetime(ticks["at"], utc=True)
        return (
            checkouts[at <= CUT].reset_index(drop=True),
            ticks[tick_at <= CUT].reset_index(drop=True),
            pd.DataFrame({"outage": [node]}),
        )

    carts = _carts(net)
    before = run(carts, "a")
    after = run(_altered_future(carts), "b")
    checkouts = before[0]
    assert len(checkouts) > 45
    # the day is one where the future could matter: overflow offered, a
    # node down, shoppers choosing apart from the recommendation
    assert checkouts["overflow_offered"].any() and checkouts["overrode"].any()
    assert before[2]["outage"].iloc[0] is not None
    for seen, again in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(seen, again)


@pytest.mark.slow
def test_the_day_s_allocation_does_not_change_when_later_carts_do(
    tmp_path: Path, tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole simulated day (``simulate``: checkouts, the confirmed
    orders handed to the allocator, the outage, the batches with bid prices
    from the history): every line the main policy released before ``CUT``
    is the same when every cart after it changes (12 s: slow; the
    checkouts alone are checked above, the allocator alone in
    ``tests/orchestration/allocation/test_no_foresight.py``)."""
    net = tiny_network
    settings = SimulationSettings(
        day=DAY,
        checkouts=160,
        seed=9,
        utilization=0.97,
        spike="16:00,3",
        outage_at=dt.time(13),
        engine="greedy",
        hindsight_time_limit_s=0.5,
        deterministic=True,
    )
    carts = _carts(net)
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {
            "customer_id": sorted(set(carts["customer_id"].astype(str))),
            "predicted_spend": 100.0,
            "p_active": 0.5,
            "segment": "gold",
        }
    ).to_csv(scores, index=False)

    def run(day_carts: pd.DataFrame, name: str) -> pd.DataFrame:
        monkeypatch.setattr(day, "_carts", lambda *_a: day_carts)
        out = tmp_path / name
        result = day.simulate(
            net,
            tmp_path / f"{name}.db",
            out,
            settings,
            publish_cltv=day.published_scores(scores),
        )
        assert result.outage_node is not None
        rows = result.policies["greedy + bid prices"].rows
        released = pd.to_datetime(rows["released_at"], utc=True, errors="coerce")
        keep = rows[(rows["status"] == "allocated") & (released <= CUT)]
        return keep.sort_values(["order_id", "sku"]).reset_index(drop=True)

    before = run(carts, "a")
    after = run(_altered_future(carts), "b")
    assert len(before) > 20
    # the values, not their dtypes: the rows' order_id is a str column or an
    # object one depending on how the day's batch frames concatenate
    pd.testing.assert_frame_equal(before, after, check_dtype=False)
