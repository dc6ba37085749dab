"""`tierflow simulate` end to end on the sample network (small day, given
scores: ``small_day`` in ``conftest.py``, the run the report's tests read too)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.orchestration.simulation.conftest import CHECKOUTS, SmallDay
from tests.promises import platinum_promise_achievable
from tierflow.capacity.demand_forecast import (
    DemandForecast,
    business_day_start,
    local_order_dates,
)
from tierflow.cli.simulate_cmd import _screen
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.order_generator import generate_orders, read_shoppers
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.store import SqliteStore
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.simulation import day as sim_day
from tierflow.orchestration.simulation.day import (
    SimulationSettings,
    _say_unscored_shoppers,
    rest_of_day_forecast,
    simulate,
    staffed_capacity,
)


def test_simulate_a_small_day(small_day: SmallDay) -> None:
    result, out = small_day.invoked, small_day.out
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.pop("report") == str(out / "report.html")
    summary = json.loads((out / "summary.json").read_text())
    assert printed == summary
    assert _screen(summary, out).startswith("tierflow simulate — 2026-01-19\n")
    assert summary["checkouts"] == CHECKOUTS
    assert (
        summary["confirmed"] + summary["abandoned"] + summary["cancelled"] <= CHECKOUTS
    )
    assert summary["confirmed"] > 0.75 * CHECKOUTS
    assert summary["outage_node"] is not None
    _check_policies(summary, out)
    checkouts = pd.read_csv(out / "checkouts.csv")
    assert len(checkouts) == CHECKOUTS
    offered_platinum = checkouts["offered"].fillna("").str.contains("platinum")
    assert set(checkouts.loc[offered_platinum, "segment"]) <= {"platinum"}
    confirmed = checkouts[checkouts["status"] == "confirmed"]
    orders = pd.read_csv(out / "orders.csv")
    assert orders["order_id"].nunique() == len(confirmed)
    assert set(orders["tier"]) <= {"platinum", "gold", "silver", "overflow"}
    page = (out / "report.html").read_text()
    assert page.count("<img") == 4
    _check_upgrades(summary, checkouts, page)
    for name in (
        "cost.png",
        "service.png",
        "capacity.png",
        "overflow.png",
        "allocations.csv",
        "capacity_scores.csv",
    ):
        assert (out / name).stat().st_size > 0


def test_every_policy_s_lines_are_written(small_day: SmallDay) -> None:
    """The compared policies' line-level files sit beside the main policy's
    ``allocations.csv``, with its columns and every confirmed order's lines
    (only the main policy's file was written: hindsight and the nearest
    node could not be audited line by line)."""
    out = small_day.out
    main = pd.read_csv(out / "allocations.csv")
    orders = pd.read_csv(out / "orders.csv")
    summary = json.loads((out / "summary.json").read_text())
    for name, file_name in (
        ("hindsight", "allocations_hindsight.csv"),
        ("nearest", "allocations_nearest.csv"),
    ):
        rows = pd.read_csv(out / file_name)
        assert list(rows.columns) == list(main.columns)
        assert set(rows["order_id"]) == set(orders["order_id"])
        figures = summary["policies"][name]
        assert rows["cost"].sum() == pytest.approx(figures["total_cost"], abs=0.01)


def test_checkout_costs_are_written_without_a_float_s_residue(
    small_day: SmallDay,
) -> None:
    """A confirmed option's ``cost`` in checkouts.csv read ``14.860000000000001``
    on 48 of 283 confirmed checkouts of a 300-checkout day (its parts summed
    in floating point); it has 6 decimals at most, as allocations.csv's."""
    costs = pd.read_csv(small_day.out / "checkouts.csv", dtype=str)["cost"]
    decimals = costs.str.partition(".")[2].str.len()
    assert len(costs) and (decimals <= 6).all(), costs[decimals > 6].tolist()


def test_every_policy_s_lines_are_written_as_allocate_writes_them(
    small_day: SmallDay,
) -> None:
    """Each policy's file prints its floats as ``tierflow allocate`` does
    (``docs/cli.md``: the cost with 6 decimals, its parts with 9): the
    day's three files printed the rows' float residue, a split line's
    penalty ``3.999999999999999`` and a waiting line's ``29.251424576160737``
    on 243 of 534 rows of a 300-checkout day, where ``allocate`` prints
    4.0 and 29.251424576 for the same rows."""
    for file_name in (
        "allocations.csv",
        "allocations_hindsight.csv",
        "allocations_nearest.csv",
    ):
        rows = pd.read_csv(small_day.out / file_name, dtype=str)
        for column, most in (
            ("cost", 6),
            ("shipping", 9),
            ("handling", 9),
            ("penalty", 9),
        ):
            decimals = rows[column].dropna().str.partition(".")[2].str.len()
            assert (decimals <= most).all(), (
                file_name,
                column,
                rows.loc[decimals[decimals > most].index, column].tolist()[:3],
            )


def _check_policies(summary: dict[str, Any], out: Path) -> None:
    """Every policy above the bound and re-priced to the cent; the batch
    policy's bid prices from the generated history."""
    bound = summary["lp_bound"]
    assert bound and bound > 0
    for name in ("hindsight", "cpsat + bid prices", "nearest"):
        figures = summary["policies"][name]
        assert figures["total_cost"] >= bound - 1e-6
        assert figures["repriced_total_cost"] == pytest.approx(
            figures["total_cost"], abs=0.005
        )
    assert summary["policies"]["cpsat + bid prices"]["forecast"] == "history"
    # the others use no forecast (hindsight said "intraday": it sees the day)
    assert summary["policies"]["hindsight"]["forecast"] == "none"
    assert summary["policies"]["nearest"]["forecast"] == "none"
    assert (out / "history.csv").stat().st_size > 0


def _check_upgrades(
    summary: dict[str, Any], checkouts: pd.DataFrame, page: str
) -> None:
    """The upgrade accounting agrees with the checkouts it summarizes."""
    u = summary["upgrades"]
    done = checkouts[
        (checkouts["status"] == "confirmed") & (checkouts["pricing"] == "upgrade")
    ]
    assert (done["chosen"] == "platinum").all() and u["confirmed"] == len(done)
    assert u["spend"] == pytest.approx(done["upgrade_cost"].sum())
    assert u["customers"] == done["customer_id"].nunique()
    offered = checkouts["offered"].fillna("").str.contains("platinum")
    assert u["offered_as_upgrade"] + u["offered_priced"] == offered.sum()
    main = summary["policies"]["cpsat + bid prices"]["total_cost"]
    assert u["fulfilment_cost"] == main
    assert u["share_of_fulfilment_cost_pct"] == pytest.approx(100 * u["spend"] / main)
    assert "<h2>Platinum upgrades</h2>" in page


def _staffed(out: Path, network: Network) -> np.ndarray:
    """The node capacities the day opened with (its ``sim-cap-*`` events)."""
    with SqliteStore(out / "state.db") as store:
        opened = {
            e.node_id: e.payload["value"]
            for e in store.events_after(0)
            if e.event_id.startswith("sim-cap-")
        }
    return np.array([opened[n] for n in network.node_ids])


def _workload(path: Path, network: Network, before: np.datetime64 | None) -> float:
    """Mean work per day of an orders file's orders placed before ``before``,
    over their dates at their destinations."""
    orders = read_orders(path, network)
    if before is not None:
        orders = orders.take(orders.created_at < before)
    days = np.unique(local_order_dates(orders, network)).size
    return float(orders.workload(network).sum()) / days


def _plan(out: Path, network: Network, utilization: float) -> np.ndarray:
    """The capacities that put the history's mean day (what had arrived when
    the day began) at ``utilization`` of the network."""
    start = business_day_start(dt.date(2026, 1, 19), network)
    plan = _workload(out / "history.csv", network, start)
    scale = plan / (utilization * float(network.capacity.sum()))
    return np.asarray(network.capacity * scale, dtype=np.float64)


def test_the_day_is_staffed_from_the_history_not_its_own_carts(
    small_day: SmallDay, sample_network: Network
) -> None:
    """The capacities were scaled so the day's own carts, the 19:00 spike's
    included, were exactly the utilization: staffed in the morning for what
    came. They are the history's mean day at 0.92; this day (seed 7: 179.0
    units of work against the history's 182.25) comes in below that plan."""
    out, utilization = small_day.out, SimulationSettings().utilization
    staffed = _staffed(out, sample_network)
    assert staffed.tolist() == _plan(out, sample_network, utilization).tolist()
    came = _workload(out / "carts.csv", sample_network, None)
    assert float(staffed.sum()) > came / utilization


def test_a_day_busier_than_planned_runs_past_the_utilization(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A spike day that brings more work than the history's mean day (seed
    4: 76.5 units against 58.11) is not staffed for it: its capacities are
    the plan's, below the day's work / 0.92 (they were exactly that)."""
    settings = SimulationSettings(
        checkouts=12, seed=4, spike="10:00,5.0", outage_at=None, engine="greedy",
        time_limit_s=1.0, hindsight_time_limit_s=1.0,
    )  # fmt: skip
    simulate(
        tiny_network,
        tmp_path / "state.db",
        tmp_path,
        settings,
        publish_cltv=lambda _store, _as_of: {},
    )
    staffed = _staffed(tmp_path, tiny_network)
    plan = _plan(tmp_path, tiny_network, settings.utilization)
    assert staffed.tolist() == plan.tolist()
    came = _workload(tmp_path / "carts.csv", tiny_network, None)
    assert came == 76.5
    assert float(staffed.sum()) < came / settings.utilization


def test_a_day_is_not_staffed_without_a_history(tiny_network: Network) -> None:
    with pytest.raises(InputError) as caught:
        staffed_capacity(tiny_network, DemandForecast.intraday(tiny_network), 0.92)
    assert str(caught.value) == ("field 'history': no orders to staff the day from")


def test_the_day_share_comes_from_the_history(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Two weeks generated with the generator's intraday profile: the
    forecast learns it, each zone's orders on its own clock (by 12:00 New
    York, 4.49 of the profile's 16.71 at New York's 39 % of the population,
    3.95 at Chicago's 30 %, 2.75 at Los Angeles' 30 %: 20 %; hours 0-11 of
    New York's profile alone said 27 %)."""
    day = dt.date(2026, 1, 19)
    past = generate_orders(
        tiny_network, n_orders=14 * 400, days=14, seed=2, start=day - dt.timedelta(14)
    )
    history = read_orders(write_orders(past, tmp_path / "h.csv"), tiny_network)
    demand = DemandForecast.from_history(history, tiny_network)
    assert demand.share_before(day, 0.0) == 0.0
    assert demand.share_before(day, 12 * 3600.0) == pytest.approx(0.204, abs=0.03)
    assert demand.share_before(day, 30 * 3600.0) == pytest.approx(1.0)


def test_forecast_shrinks_run_rate_toward_the_prior() -> None:
    prior = np.array([100.0, 100.0])
    early = rest_of_day_forecast(np.array([50.0, 0.0]), prior, 0.01)
    assert early[0] < 300  # one busy hour does not project a 50x day
    late = rest_of_day_forecast(np.array([150.0, 10.0]), prior, 0.9)
    assert late[0] > late[1]
    assert rest_of_day_forecast(np.array([1.0]), np.array([1.0]), 1.0)[0] == 0.0


def test_confirmed_orders_reach_the_allocator_in_an_order_their_ids_do_not_set() -> (
    None
):
    from tierflow.orchestration.simulation.day import _by_content

    def lines(first: str, second: str) -> pd.DataFrame:
        """Two orders confirmed in the same second, the store's order (by id)."""
        rows = [
            (first, "t0", "C2", "100", "gold", "MUG", 1, 5.0),
            (first, "t0", "C2", "100", "gold", "TEE", 2, 5.0),
            (second, "t0", "C1", "100", "gold", "TEE", 1, 5.0),
            ("z-last", "t1", "C0", "100", "gold", "TEE", 1, 9.0),
        ]
        frame = pd.DataFrame(
            rows,
            columns=["order_id", "created_at", "customer_id", "dest", "tier", "sku",
                     "quantity", "confirmed_at"],
        )  # fmt: skip
        return frame.sort_values(["confirmed_at", "order_id", "sku"])

    a = _by_content(lines("a", "b"))
    b = _by_content(lines("b", "a"))
    content = ["customer_id", "sku", "quantity"]
    assert a[content].equals(b[content])
    assert list(a["customer_id"]) == ["C1", "C2", "C2", "C0"]
    assert list(a["sku"][1:3]) == ["MUG", "TEE"]


def test_scores_that_match_no_shopper_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A network without customers.csv makes its shoppers up: scores given
    with --cltv-scores matched none of them, every shopper was new and no
    Platinum was offered, without a word."""
    state = tmp_path / "state.db"
    carts = pd.DataFrame({"customer_id": ["G11-1", "G11-2", "G11-1"]})
    scores = pd.DataFrame(
        {
            "customer_id": ["W1", "W2"],
            "predicted_spend": [10.0, 200.0],
            "p_active": [0.5, 0.9],
            "segment": ["silver", "platinum"],
        }
    )
    with SqliteStore(state) as store:
        store.put_cltv_scores(scores, as_of=dt.date(2026, 1, 18), model_version="v")
    with caplog.at_level("WARNING", logger="tierflow.simulate"):
        _say_unscored_shoppers(state, carts)
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            "none of the day's 2 shoppers has a published CLTV score: every one "
            "is a new customer to the checkout (the network's customers.csv "
            "names the shoppers; the scores must be theirs)"
        ]
        caplog.clear()
        _say_unscored_shoppers(state, pd.DataFrame({"customer_id": ["W2"]}))
        assert caplog.records == []


def test_the_history_s_platinum_orders_are_ones_checkout_could_offer(
    small_day: SmallDay, sample_network: Network
) -> None:
    """The 14 days of orders the day's forecast (and its bid prices) are
    made from passed checkout too: each is Platinum only where checkout
    could have offered it then. Drawn Platinum whenever placed, the
    history held Platinum orders on its Sundays and past the evening's
    cutoffs, promises no node could keep."""
    achievable = platinum_promise_achievable(
        sample_network, small_day.out / "history.csv"
    )
    assert len(achievable) > 20
    assert [o for o, ok in achievable.items() if not ok] == []


def test_a_history_quieter_than_the_day_staffs_for_its_own_volume(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The history was generated at the day's own ``--checkouts``, so the
    forecast and the staffing knew the day's volume in expectation (a peak
    day was never a surprise). ``history_checkouts`` sets the history's
    mean day: at half the day's, the history holds half the orders and the
    day is staffed for about half the work."""
    shoppers = read_shoppers(tiny_network)
    staffed = {}
    for name, history_checkouts in (("same", None), ("half", 40)):
        settings = SimulationSettings(checkouts=80, history_checkouts=history_checkouts)
        out = tmp_path / name
        out.mkdir()
        demand = sim_day._history_forecast(
            tiny_network, settings, out, shoppers, TierPolicy()
        )
        orders = pd.read_csv(out / "history.csv")
        assert orders["order_id"].nunique() == (history_checkouts or 80) * 14
        staffed[name] = staffed_capacity(tiny_network, demand, settings.utilization)
    ratio = float(staffed["half"].sum() / staffed["same"].sum())
    assert ratio == pytest.approx(0.5, abs=0.05)
