"""Stage timing: one stopwatch per call, a no-op unless profiling is on."""

from __future__ import annotations

from pathlib import Path

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.orchestration.checkout.timing import StageTimer

#: The stages of one answer, in the order they first run.
STAGES = [
    "validate",
    "capacity",
    "stock",
    "cltv",
    "bid_prices",
    "pricing",
    "decision",
    "decide",
    "build",
    "remember",
    "total",
]


def test_idle_timer_records_nothing() -> None:
    timer = StageTimer(False)
    watch = timer.start()
    watch.lap("a")
    with watch.measure("b"):
        pass
    watch.stop()
    assert timer.timings == {}


def test_laps_measures_and_total() -> None:
    timer = StageTimer(True)
    watch = timer.start()
    watch.lap("a")
    with watch.measure("inner"):
        pass
    watch.lap("b")
    watch.stop()
    assert list(timer.timings) == ["a", "inner", "b", "total"]
    assert all(len(v) == 1 and v[0] >= 0 for v in timer.timings.values())
    assert timer.timings["total"][0] >= timer.timings["a"][0] + timer.timings["b"][0]


def test_router_profile(tmp_path: Path) -> None:
    with tiny_router(tmp_path, profile=True) as r:
        r.generate_fulfillment_options("C5", [("TEE", 1)], "606", now=MONDAY_10)
        assert r.profile and list(r.timings) == STAGES
        r.timings.clear()  # the benchmark clears after its warm-up
        answer = r.generate_fulfillment_options("C5", [("TEE", 1)], "606")
        r.requote(answer.request_id)  # no validate, no total
        assert len(r.timings["total"]) == 1 and len(r.timings["build"]) == 2
    with tiny_router(tmp_path / "off") as r:
        r.generate_fulfillment_options("C5", [("TEE", 1)], "606", now=MONDAY_10)
        assert not r.profile and r.timings == {}
