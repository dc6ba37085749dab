"""The service's rest-of-day forecast, refreshed from the orders confirmed
today as the store records them, on real servers over each backend (flat
history of ``tests/demand_history.py``: by 10:00 New York the profile
expects 20 of its 60 orders)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_NETWORK
from tests.demand_history import flat_history
from tests.service.helpers import confirm_tee
from tests.service.replicas import post_events, stock_up
from tests.service_fixtures import MONDAY_10, live_server
from tierflow.data.network import load_network
from tierflow.service import feed
from tierflow.service.feed import DEMAND_MIN_S

#: Nominal capacity of every node: room enough that no score is clipped.
NOMINAL = 2000.0
#: The refresh cadence (``feed.DEMAND_MIN_S``, 5 s) the in-process servers
#: run at where waiting for the next refresh is all a test does: each wait
#: for one took up to 5 s, 20 of the module's 46 s. What a refresh does
#: does not depend on how often it runs.
QUICK_S = 0.5


def _capacity(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/capacity", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _until(url: str, check: Any, timeout: float = DEMAND_MIN_S + 2.0) -> dict[str, Any]:
    """The first ``/v1/capacity`` answer of ``url`` that ``check`` accepts
    (within the refresh cadence, by default)."""
    start = time.monotonic()
    while True:
        cap = _capacity(url)
        if cap["demand_forecast"] is not None and check(cap["demand_forecast"]):
            return cap
        assert time.monotonic() - start < timeout, cap["demand_forecast"]
        time.sleep(0.05)


def _nodes(cap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in cap["nodes"]}


def test_a_burst_of_confirms_raises_the_forecast_on_every_replica(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 checkouts confirmed on A at 10:00 (three times the profile): A and
    B forecast more orders to come and lower the scores of the nodes the
    orders go to, within the refresh cadence (:data:`QUICK_S` here); C,
    whose clock reads 08:00, counts none of them (they are in its future),
    only its own."""
    monkeypatch.setattr(feed, "DEMAND_MIN_S", QUICK_S)
    stock_up(state_location, 100_000)
    demand = flat_history(tmp_path, load_network(TINY_NETWORK))
    kw = {"state": state_location, "demand": demand}
    early = MONDAY_10 - dt.timedelta(hours=2)
    with ExitStack() as stack:
        a, b, c = (
            stack.enter_context(
                live_server(tmp_path / name, router_kw=kw, clock=lambda t=t: t)
            )[0].url
            for name, t in (("a", MONDAY_10), ("b", MONDAY_10), ("c", early))
        )
        post_events(a, *(
            {"event_id": f"cap-{n}", "ts": "2026-01-05T06:00:00Z", "node_id": n,
             "type": "nominal_capacity", "value": NOMINAL}
            for n in ("WH-EAST", "WH-WEST", "ST-CHI")
        ))  # fmt: skip
        # a slow day so far: no order by 10:00 lowers the profile's 40 to come
        before = _until(b, lambda f: f["observed_orders"] == 0)
        slow = before["demand_forecast"]
        assert slow["source"] == "history" and slow["multiplier"] < 1.0
        assert 0 < slow["expected_orders"] < 40.0
        client = stack.enter_context(httpx.Client(base_url=a, timeout=30))
        for k in range(60):
            confirm_tee(client, f"C{k % 9}")
        confirmed = time.monotonic()
        for url in (a, b):
            after = _until(url, lambda f: f["observed_orders"] == 60)
            assert time.monotonic() - confirmed < QUICK_S + 2.0
            _raised(before, after)
        c_client = stack.enter_context(httpx.Client(base_url=c, timeout=30))
        confirm_tee(c_client, "C1")  # stamped 08:00: C's only order of the day
        mine = _until(c, lambda f: f["observed_orders"] >= 1)["demand_forecast"]
        assert mine["observed_orders"] == 1
        # on B (10:00) C's order is in the past: it counts
        _until(b, lambda f: f["observed_orders"] == 61)


def _raised(before: dict[str, Any], after: dict[str, Any]) -> None:
    """More orders expected, a busier day, and the nodes' scores lowered by
    their backlog and their (larger) forecast over nominal."""
    was, now = before["demand_forecast"], after["demand_forecast"]
    assert now["multiplier"] > 1.0 > was["multiplier"]
    assert now["expected_orders"] > 40.0 > was["expected_orders"]
    assert now["work"] > was["work"]
    old, new = _nodes(before), _nodes(after)
    rose = [
        n
        for n in new
        if new[n]["forecast_rest_of_day"] > old[n]["forecast_rest_of_day"]
    ]
    assert rose
    for n in rose:
        claims = new[n]["backlog"] + new[n]["forecast_rest_of_day"]
        assert abs(new[n]["score"] - (1 - claims / NOMINAL)) <= 2e-4
        by_backlog = old[n]["score"] - (new[n]["backlog"] - old[n]["backlog"]) / NOMINAL
        assert new[n]["score"] < by_backlog - 1e-3


def _forecasts(url: str) -> dict[str, tuple[float, float]]:
    """Each node's ``(forecast_rest_of_day, backlog)``."""
    return {
        n: (v["forecast_rest_of_day"], v["backlog"])
        for n, v in _nodes(_capacity(url)).items()
    }


def test_an_explicit_forecast_stands_over_the_refresh_until_orders_use_it_up(
    tmp_path: Path, state_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's ``forecast`` events (09:30 New York, the clock 10:00)
    stand over the service's own estimate after its refresh (the next
    refresh overwrote them at once, so the CLI's map and the server's
    disagreed): WH-EAST's 500 less the work of the order it ships after the
    event (now in its backlog; taken off at the confirm), WH-WEST's 0. A later event exhausted by the
    orders after it gives the node back to the estimate. The refresh runs at
    its own cadence (5 s) until the confirm's work is seen taken off at once
    (no refresh can have done it), then every :data:`QUICK_S`."""
    stock_up(state_location, 1000)
    demand = flat_history(tmp_path, load_network(TINY_NETWORK))
    kw = {"state": state_location, "demand": demand}
    with (
        live_server(tmp_path, router_kw=kw) as (server, router),
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        url = server.url
        post_events(url, *(
            {"event_id": f"cap-{n}", "ts": "2026-01-05T06:00:00Z", "node_id": n,
             "type": "nominal_capacity", "value": NOMINAL}
            for n in ("WH-EAST", "WH-WEST", "ST-CHI")
        ))  # fmt: skip
        _until(url, lambda f: f["observed_orders"] == 0)
        post_events(url, *(
            {"event_id": f"ops-{n}", "ts": "2026-01-05T14:30:00Z", "node_id": n,
             "type": "forecast", "value": v}
            for n, v in (("WH-EAST", 500.0), ("WH-WEST", 0.0))
        ))  # fmt: skip
        before = _forecasts(url)
        assert before["WH-EAST"][0] == 500.0 and before["WH-WEST"][0] == 0.0
        confirm_tee(client, "C1")  # created 10:00, shipped from WH-EAST
        # at once, not at the next refresh (up to 5 s in which the order's
        # work was in the backlog and still in the forecast: counted twice)
        moved = _forecasts(url)
        used = moved["WH-EAST"][1] - before["WH-EAST"][1]
        assert used > 0 and moved["WH-EAST"][0] == round(500.0 - used, 2)
        monkeypatch.setattr(feed, "DEMAND_MIN_S", QUICK_S)
        _until(url, lambda f: f["observed_orders"] == 1)  # refreshed since
        after = _forecasts(url)
        used = after["WH-EAST"][1] - before["WH-EAST"][1]
        assert used > 0
        assert after["WH-EAST"][0] == round(500.0 - used, 2)
        assert after["WH-WEST"][0] == 0.0
        assert router.demand is not None
        own = router.demand.outlook
        east = router.network.node_idx("WH-EAST")
        assert own is not None and own.work[east] != 500.0 - used  # not its own
        # a later forecast the orders after it exceed: the estimate's again
        post_events(url, {"event_id": "ops-low", "ts": "2026-01-05T14:45:00Z",
                          "node_id": "WH-EAST", "type": "forecast",
                          "value": used / 2})  # fmt: skip
        start = time.monotonic()
        while _forecasts(url)["WH-EAST"][0] == round(used / 2, 2):
            assert time.monotonic() - start < DEMAND_MIN_S + 2.0
            time.sleep(0.05)
        assert _forecasts(url)["WH-EAST"][0] == round(float(own.work[east]), 2)
